"""ZeroGPU's start-up on the CPU: the real `spaces` package patches torch as on a Space
(tests/zerogpu_cpu.py lets it run on a CPU build), and nothing the app does before the GPU
function may touch CUDA: `torch._C._cuda_init` raises, as `spaces` makes it.

Each check runs in a child process (the patching is for the whole process) against the fake
of ZeroGPU's device API (tests/zerogpu_fake.py), with a tiny random Llama saved as a model
folder (tests/fakes.py). What needs a GPU (the worker, a run on CUDA) is in bench/zerogpu_check.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import tiny_model_folder
from tests.zerogpu_fake import ZeroGpuFake

ROOT = Path(__file__).resolve().parent.parent
LOW_LEVEL = "Low-level CUDA init"
RESULT = "RESULT "  # the child's line with what it saw


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    return tiny_model_folder(tmp_path_factory.mktemp("tiny-llama"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def on_zerogpu(code: str, fake: ZeroGpuFake, tmp_path: Path, *args: str) -> dict:
    """Run `code` (with `args` in sys.argv[1:]) in a child process on "ZeroGPU" (the real
    `spaces`, CUDA init raising); what it printed after RESULT, as JSON."""
    script = "import json, sys\nimport tests.zerogpu_cpu  # noqa: F401\n" + code
    environment = {
        **os.environ, "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": fake.url,
        # where `spaces` packs the tensors at launch, and which mapped files it may delete then
        "ZEROGPU_OFFLOAD_DIR": str(tmp_path / "offload"), "ZEROGPU_MMAP_AUTOPRUNE_PATTERN": str(tmp_path / "none" / "*"),
        "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (result,) = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    return json.loads(result.removeprefix(RESULT))


LOAD = '''
import spaces  # noqa: F401  patches torch, as app.py's first import does
from pipeline import PipelineError
from pipeline.model import load_model
try:
    lm = load_model(sys.argv[1], device="cuda", load_on_cpu=sys.argv[2] == "True")
    print("RESULT " + json.dumps({"device": str(next(lm.model.parameters()).device), "dtype": lm.dtype}))
except PipelineError as exc:
    print("RESULT " + json.dumps({"error": str(exc)}))
'''


@pytest.mark.parametrize("load_on_cpu", [False, True])
def test_loading_with_transformers_placing_the_weights_trips_zerogpu_and_on_the_cpu_then_moved_does_not(
        tiny_folder, tmp_path, load_on_cpu):
    with ZeroGpuFake() as fake:
        seen = on_zerogpu(LOAD, fake, tmp_path, tiny_folder, str(load_on_cpu))
    if load_on_cpu:
        # Emulated: the tensors are recorded as on CUDA and stay on the CPU until a GPU call.
        assert seen == {"device": "cuda:0", "dtype": "bfloat16"}
    else:
        # What a real H200 showed with device_map="cuda": the check above can fail.
        assert LOW_LEVEL in seen["error"]


STARTUP = '''
import app
demo = app.serve("127.0.0.1", int(sys.argv[2]), prevent_thread_lock=True, quiet=True, model=sys.argv[1])
try:
    print("RESULT " + json.dumps({"ready": app.MODEL.ready.is_set(), "error": app.MODEL.error, "name": app.MODEL.name,
                      "device": app.MODEL.loaded_device, "dtype": app.MODEL.dtype, "line": app.MODEL.line(),
                      "offered": list(app.CONTROLLER.offered.names), "free": app.CONTROLLER.offered.free}))
finally:
    demo.close()
'''


def start(model: str, fake: ZeroGpuFake, tmp_path: Path) -> dict:
    return on_zerogpu(STARTUP, fake, tmp_path, model, str(free_port()))


def test_the_app_starts_on_zerogpu_with_its_model_on_cuda_and_reports_to_the_device_api(tiny_folder, tmp_path):
    with ZeroGpuFake() as fake:
        seen = start(tiny_folder, fake, tmp_path)
        paths = fake.paths()
    assert seen["error"] is None, seen["error"]
    assert seen["ready"] and seen["device"] == "cuda" and seen["dtype"] == "bfloat16"
    assert "ZeroGPU" in seen["line"] and "ready" in seen["line"]
    # Only the model loaded at start-up can reach the GPU: it is the only one offered.
    assert seen["offered"] == [tiny_folder] and not seen["free"]
    assert "/startup-report" in paths  # `spaces` packed the model's tensors and told the API


@pytest.mark.slow
def test_the_bundled_model_starts_on_zerogpu_too(tmp_path):
    with ZeroGpuFake() as fake:
        seen = start("bundled", fake, tmp_path)
    assert seen["error"] is None and seen["device"] == "cuda"


def test_a_model_that_cannot_be_had_is_said_on_the_line_not_a_cuda_error(tmp_path):
    with ZeroGpuFake() as fake:
        seen = start("someone/not-in-the-cache", fake, tmp_path)
    assert seen["ready"] and seen["error"] and LOW_LEVEL not in seen["error"]
    assert "HF_HUB_OFFLINE" in seen["error"] and "could not be loaded" in seen["line"]


def test_models_beyond_the_start_up_one_are_refused_at_start_up(tiny_folder, tmp_path):
    code = ("import app\ntry:\n    app.main(['--model', sys.argv[1], '--models', 'bundled', '--port', sys.argv[2]])\n"
            "except SystemExit as exc:\n    print('RESULT ' + json.dumps({'exit': str(exc)}))\n")
    with ZeroGpuFake() as fake:
        seen = on_zerogpu(code, fake, tmp_path, tiny_folder, str(free_port()))
    assert "On ZeroGPU only the model loaded at start-up" in seen["exit"] and "--models naming bundled" in seen["exit"]

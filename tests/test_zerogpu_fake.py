"""ZeroGPU without a GPU: the device API's fake against the real `spaces` client, the GPU
durations we ask for, and the app's wiring to `spaces.GPU` (fast, CPU).

What needs a CUDA torch (ZeroGPU's patching, its forked worker, a real schedule around a
real run) is in bench/zerogpu_check.py, run on a GPU machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline import Chunk, Settings
from pipeline import model as models
from tests.fakes import FakeEngine, fake_lm
from tests.pdf_factory import paper, simple_pdf
from tests.zerogpu_fake import MAX_DURATION, PLACEHOLDER_UUID, ZeroGpuFake, local_gpu
from webapp import gpu_time

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# the fake, driven by the real client (spaces/zero/client.py imports without ZeroGPU on; its
# api_client() reads Config.zero_device_api_url at each call)


@pytest.fixture
def zero_client(monkeypatch):
    from spaces.config import Config
    from spaces.zero import client

    def connect(fake: ZeroGpuFake):
        monkeypatch.setattr(Config, "zero_device_api_url", fake.url)
        return client
    return connect


def refusal(call) -> str:
    """The message of the gr.Error the client raises."""
    import gradio as gr

    with pytest.raises(gr.Error) as raised:
        call()
    return str(raised.value.message)


def test_an_approved_schedule_names_the_gpu_and_its_token_is_released(zero_client):
    with ZeroGpuFake() as fake:
        client = zero_client(fake)
        client.startup_report()
        answer = client.schedule(task_id=7, duration=timedelta(seconds=95))
        assert (answer.nvidiaIndex, answer.nvidiaUUID) == local_gpu() and answer.idle
        assert fake.unreleased() == {answer.allowToken}
        client.release(answer.allowToken, fail=True)
        client.release(answer.allowToken)
        assert fake.paths() == ["/startup-report", "/schedule", "/release", "/release"]
        (schedule,) = fake.schedules()
        assert schedule.duration == 95 and schedule.params["taskId"] == "7"
        assert schedule.params["cgroupPath"]  # read from /proc/self/cgroup by the client
        assert [(r.token, r.fail) for r in fake.releases()] == [(answer.allowToken, True), (answer.allowToken, False)]
        assert fake.unreleased() == set()


def test_without_a_duration_the_client_asks_for_its_default(zero_client):
    with ZeroGpuFake() as fake:
        answer = zero_client(fake).schedule(task_id=0)
        assert fake.schedules()[0].duration == 60 and answer.allowToken


def test_a_queued_schedule_streams_pings_then_the_gpu(zero_client):
    with ZeroGpuFake(mode="queued", pings=3) as fake:
        answer = zero_client(fake).schedule(task_id=1, duration=timedelta(seconds=40))
        assert answer.nvidiaUUID == local_gpu()[1]
        assert fake.unreleased() == {answer.allowToken}


def test_quota_no_gpu_and_a_failed_queue_are_refusals_the_visitor_can_read(zero_client):
    with ZeroGpuFake(mode="quota") as fake:
        client = zero_client(fake)
        assert "reached its GPU limit" in refusal(lambda: client.schedule(task_id=0))
        fake.set_mode("no-gpu")
        assert refusal(lambda: client.schedule(task_id=0)) == "No GPU was available"
        fake.set_mode("queue-failed")
        assert "No GPU was available after 60s" in refusal(lambda: client.schedule(task_id=0))
        assert [c.status for c in fake.schedules()] == [429, 503, 200]
        assert fake.tokens == set() and fake.releases() == []


def test_a_duration_over_the_maximum_is_refused_as_illegal(zero_client):
    with ZeroGpuFake() as fake:
        message = refusal(lambda: zero_client(fake).schedule(task_id=0, duration=timedelta(seconds=MAX_DURATION + 1)))
        assert f"({MAX_DURATION + 1}s) is larger than the maximum" in message


def test_a_mode_for_the_next_calls_only_then_the_global_one(zero_client):
    with ZeroGpuFake() as fake:
        client = zero_client(fake)
        fake.set_mode("no-gpu", times=1)
        refusal(lambda: client.schedule(task_id=0))
        assert client.schedule(task_id=0).allowToken
        assert [c.params["_mode"] for c in fake.schedules()] == ["no-gpu", "approved"]
        with pytest.raises(ValueError):
            fake.set_mode("sometimes")


def test_releasing_an_unknown_token_is_a_404_the_client_warns_about(zero_client):
    with ZeroGpuFake() as fake:
        with pytest.warns(UserWarning, match="404"):
            zero_client(fake).release("never-handed-out")
        assert fake.releases()[0].status == 404


def test_allow_and_the_queue_size(zero_client):
    with ZeroGpuFake() as fake:
        client = zero_client(fake)
        token = client.schedule(task_id=0).allowToken
        client.allow(token)
        assert client.api_client().get_queue_size() == 0
        assert fake.calls[1].path == "/allow" and fake.calls[1].params["pid"] == str(os.getpid())


def test_the_gpu_is_the_first_of_nvidia_smi_or_a_placeholder():
    index, name = local_gpu()
    assert index >= 0 and name.startswith("GPU-")
    if not any(Path(p, "nvidia-smi").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        assert (index, name) == (0, PLACEHOLDER_UUID)


# ---------------------------------------------------------------------------------------------
# the durations we ask for (webapp/gpu_time.py)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdfs")
    made = {}
    for pages in (1, 4):
        made[pages] = folder / f"{pages}.pdf"
        made[pages].write_bytes(paper(pages=pages).pdf)
    return made


def test_run_seconds_grows_with_pages_tokens_and_batches(pdfs, monkeypatch):
    base = dict(max_new_tokens=256, chunk_size=500, batch_size=1)
    one, four = (gpu_time.run_seconds(str(pdfs[n]), Settings(**base)) for n in (1, 4))
    assert one < four
    # The page count is read in a child process (above); here it is given, which is faster.
    monkeypatch.setattr(gpu_time, "_pages_in", lambda path, settings: 3)
    by_tokens = [gpu_time.run_seconds("3.pdf", Settings(**{**base, "max_new_tokens": n})) for n in (64, 256, 1024)]
    assert by_tokens[0] <= by_tokens[1] < by_tokens[2]
    # A bigger batch is fewer decoding passes: less time.
    by_batch = [gpu_time.run_seconds("3.pdf", Settings(**{**base, "batch_size": n})) for n in (1, 4, 16)]
    assert by_batch[0] > by_batch[1] >= by_batch[2]


@pytest.mark.parametrize("pages", [1, 12, 10_000])
def test_run_seconds_stays_within_its_limits_and_zerogpus_maximum(pages, monkeypatch):
    monkeypatch.setattr(gpu_time, "_pages_in", lambda path, settings: pages)
    low, high = gpu_time.RUN_LIMITS
    assert high <= MAX_DURATION
    for tokens in (1, 16, 512, 4096, 100_000):
        for chunk, batch in [(200, 1), (500, 0), (1500, 2), (4000, 16)]:
            seconds = gpu_time.run_seconds("some.pdf", Settings(max_new_tokens=tokens, chunk_size=chunk,
                                                                batch_size=batch, max_pages=10_000))
            assert isinstance(seconds, int) and low <= seconds <= high
    assert gpu_time.run_seconds("some.pdf", Settings(max_new_tokens=100_000, chunk_size=200, batch_size=1)) == high
    assert gpu_time.run_seconds("some.pdf", Settings(max_new_tokens=1, chunk_size=4000)) == low


def test_chunk_seconds_stays_within_its_limits():
    low, high = gpu_time.CHUNK_LIMITS
    assert high <= MAX_DURATION
    chunk = Chunk(index=0, text="a few words", first_page=1, last_page=1)
    seconds = [gpu_time.chunk_seconds(chunk, Settings(max_new_tokens=n)) for n in (1, 512, 2048, 100_000)]
    assert seconds == sorted(seconds) and seconds[0] == low and seconds[-1] == high
    assert all(isinstance(s, int) and low <= s <= high for s in seconds)


# ---------------------------------------------------------------------------------------------
# the app's wiring: app.py imported on "ZeroGPU" with `spaces` faked at the boundary

STUB_SPACES = '''
"""A stand-in for the `spaces` package: GPU(duration=...) records what it wraps."""
WRAPPED = []  # (the wrapped function's name, its duration)
CALLS = []  # the wrapped function's name, each time a wrapper runs


def GPU(task=None, *, duration=None, size=None):
    def wrap(function):
        WRAPPED.append((function.__name__, duration))

        def wrapper(*args, **kwargs):
            CALLS.append(function.__name__)
            return function(*args, **kwargs)
        wrapper.zerogpu = None
        return wrapper
    return wrap(task) if callable(task) else wrap


def gradio_auto_wrap(fn):
    return fn
'''

PROBE = '''
import json
import app
import spaces
from webapp import gpu_time

wrapped = [(name, getattr(duration, "__qualname__", repr(duration))) for name, duration in spaces.WRAPPED]
print(json.dumps({
    "device": app.DEVICE,
    "zero_gpu": app.ZERO_GPU,
    "model_zero_gpu": app.MODEL.zero_gpu,
    "controller_zero_gpu": app.CONTROLLER.zero_gpu,
    "wrapped": wrapped,
    "durations_are_ours": [d for _, d in spaces.WRAPPED] == [gpu_time.run_seconds, gpu_time.chunk_seconds],
    "stub": spaces.__file__,
}))
'''


def test_on_zerogpu_the_app_runs_on_cuda_and_wraps_both_generating_functions(tmp_path):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "__init__.py").write_text(STUB_SPACES)
    env = {**os.environ, "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["stub"].startswith(str(tmp_path))  # the stub, not the installed package
    assert seen["device"] == "cuda" and seen["zero_gpu"] and seen["model_zero_gpu"] and seen["controller_zero_gpu"]
    assert seen["wrapped"] == [["in_worker", "run_seconds"], ["in_worker", "chunk_seconds"]]
    assert seen["durations_are_ours"]


# The controller with the fake engine (as tests/test_controller.py drives it), on "ZeroGPU":
# an on_gpu that records which generating function it ran and with which duration.

PARAGRAPHS = [" ".join([word] * 60) + "." for word in ("alpha", "bravo", "delta", "gamma")]
FORM = dict(rules_only=False, chunk_size=400, batch_size=1, temperature=0, max_new_tokens=64,
            guard_policy="fallback", max_chars=100_000)


@pytest.fixture
def gpu_controller(tmp_path, monkeypatch):
    from pipeline import engine
    from webapp.controller import RunController
    from webapp.form import ServerLimits
    from webapp.model_service import ModelStatus
    from webapp.offered import OfferedModels
    from webapp.sessions import Line, Sessions

    FakeEngine.reset(per_step=8, delay=0)
    monkeypatch.setattr(engine, "Engine", FakeEngine)
    loaded = fake_lm()
    monkeypatch.setattr(models, "get_model", lambda name=models.BUNDLED, **_: loaded)
    ran: list[tuple[str, object]] = []

    def on_gpu(events, duration):
        def scheduled(*args):
            ran.append((events.__name__, duration))
            yield from events(*args)
        return scheduled

    model = ModelStatus(zero_gpu=True)
    model.start(models.BUNDLED, background=False)
    controller = RunController(Sessions(tmp_path / "sessions", 3600), Line(4), model,
                               limits=ServerLimits(upload=50 * 2**20),
                               offered=OfferedModels.decide(models.BUNDLED, None, None, "0.0.0.0", False, False),
                               zero_gpu=True, on_gpu=on_gpu)
    controller.ran = ran
    pdf = tmp_path / "four chunks.pdf"
    pdf.write_bytes(simple_pdf(["\n\n".join(PARAGRAPHS)]))
    return controller, str(pdf)


def test_reading_and_rules_only_runs_ask_for_no_gpu(gpu_controller):
    controller, pdf = gpu_controller
    document, raw = controller.extract(pdf, {})
    assert "alpha" in raw
    updates = list(controller.clean(pdf, "tab", {**FORM, "rules_only": True}))
    state = updates[-1].state
    assert not state.busy and len(state.done) == len(state.plan.chunks) == 4 and state.error is None
    assert controller.ran == []


def test_a_model_run_and_a_regeneration_each_ask_once_with_our_durations(gpu_controller):
    controller, pdf = gpu_controller
    list(controller.clean(pdf, "tab", FORM))
    assert controller.ran == [("run_events", gpu_time.run_seconds)]
    list(controller.regenerate("tab", 1, FORM))
    assert controller.ran[1:] == [("clean_one_events", gpu_time.chunk_seconds)]



def test_a_pdf_that_cannot_be_read_fails_inside_the_gpu_function_as_the_visitors_error(gpu_controller, tmp_path):
    from tests.pdf_factory import encrypted_pdf
    from webapp.errors import UserError

    controller, _ = gpu_controller
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(encrypted_pdf(user_password="s3cret"))
    with pytest.raises(UserError, match="encrypted"):
        list(controller.clean(str(secret), "tab", FORM))
    # Asked for the GPU: the reading happens in the run, so on ZeroGPU the slot must be released.
    assert controller.ran == [("run_events", gpu_time.run_seconds)]

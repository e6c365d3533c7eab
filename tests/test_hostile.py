"""Hostile and broken uploads (tests/hostile_corpus.py) through the command line and the web
app's API: each case gets its own specific error, or its text, whatever the file tries.

The command line runs as `python -m pipeline FILE -o OUT --no-llm`, one subprocess per case,
under the harness's own hard limits (60 s, then its whole process group is killed; 2 GB of
address space per process), so a case the pipeline fails to contain fails its test instead
of hanging CI or eating the machine. For the error cases, one more subprocess (under the
same limits) calls pipeline.run() on each file to check the error's class. No assert is on
time: bench/hostile.py measures it.

The API tests send every case to /clean (rules only), and the error cases to /extract too,
through gradio_client against the `server` fixture; one test sends the prompt injection and
the markup through the bundled model.

Slow (--slow): the cases marked heavy, and every API test (the server loads the model).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import errors
from tests.hostile_corpus import (
    CASES,
    INJECTIONS,
    MARKUP,
    Case,
    by_name,
    cli_args,
    cli_problems,
)

ROOT = Path(__file__).resolve().parent.parent
HARD_TIMEOUT = 60  # seconds per subprocess or API call: a hang fails the test
ADDRESS_SPACE = 2_000_000_000  # bytes per process, so a bomb the pipeline misses cannot eat the machine


def params(cases) -> list:
    from pipeline.ocr import tesseract_missing

    no_ocr = pytest.mark.skip(reason=f"Tesseract is not installed here: {tesseract_missing()}")
    return [pytest.param(c, id=c.name, marks=([pytest.mark.slow] if c.heavy else [])
                         + ([no_ocr] if c.ocr and tesseract_missing() else [])) for c in cases]


ERROR_CASES = [c for c in CASES if c.error]

# Sets the address-space limit, then becomes the command: no preexec_fn, which is unsafe
# while the in-process server's threads run.
_LIMITED = "import os, resource, sys; resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]),) * 2); os.execv(sys.argv[2], sys.argv[2:])"

# Runs the pipeline on [name, path, password] jobs; prints how each ended as a JSON line.
_RUN = """
import json, sys
from pipeline import Settings, run
for name, path, password in json.loads(sys.argv[1]):
    try:
        for _ in run(path, Settings(use_llm=False, password=password or None)):
            pass
        error, message = None, ""
    except Exception as exc:
        error, message = type(exc).__name__, str(exc)
    print(json.dumps({"name": name, "error": error, "message": message}), flush=True)
"""


def limited(*args: str, timeout: float = HARD_TIMEOUT) -> tuple[int | None, str, str]:
    """Run `python *args` under the hard limits: (exit code or None when killed, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _LIMITED, str(ADDRESS_SPACE), sys.executable, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        return None, out, err
    return child.returncode, out, err


def write(case: Case, folder: Path) -> Path:
    path = folder / f"{case.name}.pdf"
    path.write_bytes(case.make())
    return path


# --------------------------------------------------------------------------- the table


def test_every_expected_error_is_a_pipeline_error():
    for case in ERROR_CASES:
        cls = getattr(errors, case.error, None)
        assert isinstance(cls, type) and issubclass(cls, errors.PipelineError), case.name
        assert case.message and not (case.present or case.absent or case.note), case.name
    for case in CASES:
        assert case.error or case.present, f"{case.name}: a text case must say what comes out"
    assert len({c.name for c in CASES}) == len(CASES)


def test_generated_files_are_small():
    # Everything but the size-limit case stays small: the cost is in reading, not in bytes.
    for case in CASES:
        if case.name != "file-over-50mb" and not case.heavy:
            assert len(case.make()) < 100_000, case.name


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("case", params(CASES))
def test_cli(case, tmp_path):
    path, out = write(case, tmp_path), tmp_path / "out.txt"
    code, _, stderr = limited("-m", "pipeline", *cli_args(case, str(path), str(out)))
    text = out.read_text(encoding="utf-8") if out.exists() else None
    problems = cli_problems(case, code, stderr, text)
    assert not problems, f"{problems}\n--- stderr:\n{stderr[-2000:]}"


@pytest.fixture(scope="module")
def run_outcomes(request, tmp_path_factory) -> dict[str, dict]:
    """How pipeline.run() ends on each error case (heavy ones with --slow only), all from one
    subprocess under the hard limits: one interpreter start instead of one per case."""
    slow = request.config.getoption("--slow")
    folder = tmp_path_factory.mktemp("run")
    jobs = [[c.name, str(write(c, folder)), c.password or ""] for c in ERROR_CASES if slow or not c.heavy]
    code, stdout, stderr = limited("-c", _RUN, json.dumps(jobs), timeout=2 * HARD_TIMEOUT)
    outcomes = {o["name"]: o for o in map(json.loads, stdout.splitlines())}
    outcomes["stderr"] = {"error": f"exit code {code}", "message": stderr[-2000:]}
    return outcomes


@pytest.mark.parametrize("case", params(ERROR_CASES))
def test_run_raises_the_expected_class(case, run_outcomes):
    outcome = run_outcomes.get(case.name, run_outcomes["stderr"])
    assert outcome["error"] == case.error, outcome
    assert case.message.lower() in outcome["message"].lower(), outcome


# --------------------------------------------------------------------------- web app API

OUTPUTS = ("document", "progress", "cleaned", "table", "picker", "raw", "files")


@pytest.fixture
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def clean(client, path: Path, case: Case, **settings) -> dict:
    from gradio_client import handle_file

    job = client.submit(handle_file(str(path)), api_name="/clean", password=case.password or "", **settings)
    return dict(zip(OUTPUTS, job.result(timeout=HARD_TIMEOUT)))


@pytest.mark.slow
@pytest.mark.parametrize("case", params(CASES))
def test_api(case, client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = write(case, tmp_path)
    if case.error == "FileTooLargeError":
        # Over the server's upload limit: the client refuses to send it, as the page does.
        with pytest.raises(ValueError, match="exceeds the maximum file size"):
            clean(client, path, case, rules_only=True)
        return
    if case.error:
        with pytest.raises(AppError) as raised:
            clean(client, path, case, rules_only=True)
        assert case.message.lower() in str(raised.value).lower()
        job = client.submit(handle_file(str(path)), case.password or "", "", 100_000, api_name="/extract")
        if case.error == "NoTextError":  # the panel reads the text layer only, and names the pages OCR will read
            document, raw = job.result(timeout=HARD_TIMEOUT)
            assert "(read by OCR when you run)" in document and raw == ""
            return
        with pytest.raises(AppError) as raised:
            job.result(timeout=HARD_TIMEOUT)
        assert case.message.lower() in str(raised.value).lower()
        return
    out = clean(client, path, case, rules_only=True)
    assert out["progress"].startswith("done:"), out["progress"]
    missing = [s[:60] for s in case.present if s not in out["cleaned"]]
    extra = [s[:60] for s in case.absent if s in out["cleaned"]]
    assert not missing and not extra, (missing, extra)
    if case.note:
        shown = out["document"] + "\n" + out["progress"]
        assert case.note.lower() in shown.lower(), f"no {case.note!r} in the document panel or progress:\n{shown}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hidden-prompt-injection", "markup-in-text"])
def test_api_with_the_model_gives_plain_text(name, client, tmp_path):
    case = by_name(name)
    out = clean(client, write(case, tmp_path), case, max_new_tokens=48, seed=0, batch_size=0)
    assert out["progress"].startswith("done:"), out["progress"]
    assert isinstance(out["cleaned"], str) and out["cleaned"].strip()
    # The input reaches the model as data: the extracted text holds it literally...
    for line in (INJECTIONS if name == "hidden-prompt-injection" else MARKUP):
        assert line in out["raw"], line
    # ...and what comes back is plain text: never escaped or rendered as HTML or Markdown.
    for marker in ("&lt;", "&gt;", "&amp;", "<a href", "<p>", "<br"):
        assert marker not in out["cleaned"], marker
    rows = out["table"]["data"] if isinstance(out["table"], dict) else out["table"]
    assert rows and all(row[2] in ("cleaned", "input kept (guard)") for row in rows), rows
    files = [Path(f if isinstance(f, str) else f["path"]) for f in out["files"]]
    clean_txt = next(p for p in files if p.name.endswith(".clean.txt"))
    assert clean_txt.read_text(encoding="utf-8").strip() == out["cleaned"].strip()

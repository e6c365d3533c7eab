"""The app as Hugging Face Spaces' ZeroGPU runs it, against a fake of ZeroGPU's device API.

    python bench/zerogpu_check.py                   # GPU machine: every check; CPU: what can run
    python bench/zerogpu_check.py --save-tokenizer build/tokenizer   # here: the tokenizer's files
    python bench/zerogpu_check.py --tokenizer build/tokenizer        # a machine without the bundled model

On a machine with a CUDA torch it:
  1. starts the device API's fake (tests/zerogpu_fake.py) on 127.0.0.1;
  2. builds a random-weight model folder of Llama-3.2-1B's shape (bench/throughput.py's
     `--random-config llama-3.2-1b`) with the bundled model's tokenizer, in a temp folder;
  3. starts `python app.py --model FOLDER` with SPACES_ZERO_GPU=true and the fake's address,
     so `spaces` patches torch, schedules each GPU call with the fake and runs it in its
     forked worker;
  4. checks through gradio_client: reading and rules-only runs ask for no GPU; a model run
     streams chunk by chunk, asks for gpu_time.run_seconds of that PDF (within ZeroGPU's
     maximum); Stop keeps the finished chunks; a regeneration asks for chunk_seconds; a
     visitor over quota and a Space without a free GPU get a clear error while the server
     keeps serving; an error inside the GPU function reaches the visitor; every /schedule has
     its /release; the app started with a damaged copy of the model folder says why at each
     model run and still runs rules only;
  5. without ZeroGPU, on the local GPU: `python -m pipeline` and `python app.py` with one run.
It prints a table (check, result, detail) and the fake's calls; exit status 1 if any failed.

Without CUDA (ZeroGPU's patching needs a CUDA build of torch) the same script runs what it
can, so it is itself exercised: a tiny random model (2 layers), the app without ZeroGPU, the
CLI on the CPU; the ZeroGPU checks are listed as skipped. It takes under a minute there.
What it does not do: no real ZeroGPU (no cgroups, no quota server, no MIG slice), no quality
figures (the weights are random: the guard keeps most inputs). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.zerogpu_fake import MAX_DURATION, ZeroGpuFake  # noqa: E402
from tests.page_outputs import named, rows  # noqa: E402

NEEDS_CUDA = "skipped: needs a CUDA torch"
START_SECONDS = 600  # the app's start: a 1B model loaded, and packed by ZeroGPU, before launch
RUN_SECONDS = 300  # one run at most
ZEROGPU_CHECKS = ("the page comes up, startup reported", "reading and rules-only runs ask for no GPU",
                  "a model run streams and asks for gpu_time.run_seconds", "Stop releases the GPU",
                  "a regeneration asks for gpu_time.chunk_seconds", "quota: a clear error, the server keeps serving",
                  "no GPU: a clear error, the server keeps serving", "an error in the run releases the GPU",
                  "every /schedule has its /release", "a model that cannot load: each run says why")
# A tiny model for machines without CUDA: quick to build and to run on a CPU.
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, tie_word_embeddings=True, max_position_embeddings=4096, head_dim=16)


@dataclass
class Budget:
    """The form values of the runs: small, so that a run takes seconds, in a few chunks."""

    max_chars: int
    chunk_size: int
    max_new_tokens: int
    batch_size: int = 1
    max_pages: int = 500
    seed: int = 0
    temperature: float = 0.0

    def form(self, **changes) -> dict:
        return {**vars(self), **changes}


# ---------------------------------------------------------------------------------------------
# the table


class Checks:
    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    @contextlib.contextmanager
    def check(self, name: str):
        """A check: passed unless its block raises; `note` (a list) collects its detail."""
        note: list[str] = []
        try:
            yield note
        except Exception as exc:  # a failed check is reported, the next ones still run
            detail = f"{type(exc).__name__}: {exc}".strip()
            if not isinstance(exc, AssertionError):
                detail += " | " + traceback.format_exc(limit=3).splitlines()[-3].strip()
            self.rows.append((name, "FAILED", detail[:400]))
        else:
            self.rows.append((name, "passed", "; ".join(note)))

    def skip(self, name: str, why: str = NEEDS_CUDA) -> None:
        self.rows.append((name, why, ""))

    @property
    def failed(self) -> int:
        return sum(status == "FAILED" for _, status, _ in self.rows)

    def print(self) -> None:
        width = max(len(name) for name, _, _ in self.rows)
        print(f"\n{'check':<{width}}  result   detail")
        for name, status, detail in self.rows:
            print(f"{name:<{width}}  {status:<7}  {detail}")


# ---------------------------------------------------------------------------------------------
# the model folder, the PDFs, the server


def bundled_tokenizer() -> Path:
    """The bundled model's converted folder (its tokenizer's ids all fit Llama's vocabulary),
    converted first if it is not yet."""
    from pipeline import PipelineError
    from pipeline.model import bundled_cache_dir, load_model

    try:
        folder = bundled_cache_dir()
        if not folder.is_dir():
            load_model("bundled", device="cpu")
    except (OSError, ValueError, PipelineError) as exc:
        raise SystemExit(f"no bundled model here ({exc}): pass --tokenizer DIR "
                         "(written on another machine by --save-tokenizer DIR)") from None
    return folder


def save_tokenizer(target: Path) -> None:
    """The bundled tokenizer's files (a few MB, no weights), for a machine without the model."""
    import shutil

    source = bundled_tokenizer()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    print(f"{target}: {', '.join(sorted(p.name for p in target.iterdir()))}")


def build_model(folder: Path, cuda: bool, tokenizer_dir: Path | None) -> str:
    """A random-weight Llama saved in `folder`: Llama-3.2-1B's shape on CUDA, a tiny one without."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from throughput import RANDOM_CONFIGS

    tokenizer_dir = tokenizer_dir or bundled_tokenizer()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    shape = RANDOM_CONFIGS["llama-3.2-1b"] if cuda else {**TINY, "vocab_size": len(tokenizer)}
    config = LlamaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if cuda else torch.float32
    model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    return f"{params / 1e6:.0f}M parameters ({'Llama-3.2-1B' if cuda else 'tiny'} shape, {dtype})"


def write_pdfs(folder: Path) -> dict[str, str]:
    from tests.pdf_factory import encrypted_pdf, paper

    files = {"paper.pdf": paper(2).pdf, "long.pdf": paper(6).pdf,
             "secret.pdf": encrypted_pdf(user_password="s3cret")}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name.removesuffix(".pdf"): str(folder / name) for name in files}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class App:
    """`python app.py` in a child process, its output in a log file."""

    def __init__(self, model: str, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        self._out = open(log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--model", model, "--port", str(self.port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = START_SECONDS) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"app.py exited ({self.process.returncode}): {self.tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url, timeout=5) as page:
                    if page.status == 200:
                        return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"no page after {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        if not self._out.closed:
            self._out.flush()
        return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()


# ---------------------------------------------------------------------------------------------
# talking to the page


def chunks_done(out: dict) -> int:
    return sum(1 for row in rows(out["table"]) if row[2] in ("cleaned", "input kept (guard)", "failed"))


def wait_for(job, condition, timeout: float = RUN_SECONDS) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for values in job.outputs():
            if condition(named(values)):
                return named(values)
        if job.done():
            break
        time.sleep(0.05)
    last = named(job.outputs()[-1])["progress"] if job.outputs() else None
    raise AssertionError(f"condition never met; last progress: {last!r}")


def refused(call, *words: str) -> str:
    """The page's error message for `call`, which must name each of `words`."""
    from gradio_client.exceptions import AppError

    try:
        call()
    except AppError as exc:
        message = str(exc)
        missing = [w for w in words if w.lower() not in message.lower()]
        assert not missing, f"the error does not say {missing}: {message!r}"
        return message
    raise AssertionError("no error")


def settled(fake: ZeroGpuFake, timeout: float = 30) -> set[str]:
    """The tokens still out once the releases had time to come in (the worker releases after
    the handler's last yield)."""
    deadline = time.monotonic() + timeout
    while fake.unreleased() and time.monotonic() < deadline:
        time.sleep(0.1)
    return fake.unreleased()


# ---------------------------------------------------------------------------------------------
# the checks


def page_checks(checks: Checks, app: App, fake: ZeroGpuFake | None, pdfs: dict, small: Budget,
                stoppable: Budget, label: str, device: str | None = None) -> None:
    """Everything checked through the page's API; `fake` is None without ZeroGPU; `device`:
    the one the model run must say it ran on."""
    from gradio_client import Client, handle_file

    from pipeline import Settings
    from webapp import gpu_time

    zero = fake is not None

    def scheduled(since: int) -> list:
        return fake.schedules()[since:] if zero else []

    def mark() -> int:
        return len(fake.schedules()) if zero else 0

    def client() -> Client:
        return Client(app.url, verbose=False)

    with checks.check(f"{label}: the page comes up") as note:
        note.append(f"{app.wait_up():.0f} s")
        if zero:
            assert "/startup-report" in fake.paths(), f"no /startup-report: {fake.paths()}"
            note.append("startup reported")
    if app.process.poll() is not None:
        return

    no_gpu = " asks for no GPU" if zero else ""
    with checks.check(f"{label}: /extract{no_gpu}") as note:
        before = mark()
        document, raw = client().predict(handle_file(pdfs["paper"]), "", "", small.max_chars, api_name="/extract")
        assert "pages: 2" in document and raw.strip(), document
        assert not scheduled(before), "a /schedule for reading"
        note.append(f"{len(raw)} characters")

    with checks.check(f"{label}: a rules-only /clean{no_gpu}") as note:
        before = mark()
        out = named(client().predict(handle_file(pdfs["paper"]), api_name="/clean",
                                     **small.form(rules_only=True)))
        assert out["progress"].startswith("done:"), out["progress"]
        assert not scheduled(before), "a /schedule for a rules-only run"
        note.append(out["progress"][:60])

    run_client = client()
    with checks.check(f"{label}: /clean with the model streams chunk by chunk") as note:
        before = mark()
        if zero:  # through ZeroGPU's queue: its event stream, then the GPU
            fake.set_mode("queued", times=1)
        job = run_client.submit(handle_file(pdfs["paper"]), api_name="/clean", **small.form())
        final = wait_for(job, lambda o: o["progress"].startswith(("done:", "stopped:")))
        job.result(timeout=RUN_SECONDS)
        outputs = [named(values) for values in job.outputs()]
        counts = sorted({chunks_done(o) for o in outputs if isinstance(o["table"], (list, dict))})
        total = len(rows(final["table"]))
        assert total >= 3, f"only {total} chunks: raise max_chars"
        assert len(counts) >= 3, f"chunks done as the page saw them: {counts}"
        assert final["progress"].startswith(f"done: {total}/{total}"), final["progress"]
        note.append(f"{total} chunks, seen done: {counts}; {final['progress'][:70]}")
        if device:
            assert f" on {device}" in final["progress"], f"not on {device}: {final['progress']!r}"
    if zero:
        with checks.check(f"{label}: the run asked for gpu_time.run_seconds") as note:
            asked = scheduled(before)
            assert len(asked) == 1, f"{len(asked)} /schedule for one run"
            expected = gpu_time.run_seconds(pdfs["paper"], Settings(**small.form()))
            assert asked[0].duration == expected, f"asked {asked[0].duration} s, run_seconds says {expected} s"
            assert asked[0].duration <= MAX_DURATION
            note.append(f"{asked[0].duration} s (maximum {MAX_DURATION} s)")

    with checks.check(f"{label}: /regenerate cleans one chunk again") as note:
        before = mark()
        regen = run_client.predict(1, api_name="/regenerate", **small.form(max_new_tokens=small.max_new_tokens // 2))
        assert regen[3].startswith("done:"), regen[3]
        note.append(regen[3][:60])
        if zero:
            asked = scheduled(before)
            assert len(asked) == 1, f"{len(asked)} /schedule for one regeneration"
            expected = gpu_time.chunk_seconds(None, Settings(**small.form(max_new_tokens=small.max_new_tokens // 2)))
            assert asked[0].duration == expected, f"asked {asked[0].duration} s, chunk_seconds says {expected} s"
            note.append(f"asked {asked[0].duration} s")

    with checks.check(f"{label}: Stop ends the run and keeps the finished chunks") as note:
        stopper = client()
        job = stopper.submit(handle_file(pdfs["long"]), api_name="/clean", **stoppable.form())
        wait_for(job, lambda o: chunks_done(o) >= 1 or o["progress"].startswith("done:"))
        pressed = time.monotonic()
        stopped = named(stopper.predict(api_name="/stop"))
        took = time.monotonic() - pressed
        table = rows(stopped["table"])
        done = chunks_done(stopped)
        assert stopped["progress"].startswith("stopped:"), f"not stopped (too fast a run?): {stopped['progress']!r}"
        assert 1 <= done < len(table), stopped["progress"]
        assert stopped["cleaned"].strip(), "nothing kept"
        job.result(timeout=60)
        note.append(f"{done}/{len(table)} kept; answered in {took:.1f} s")
        if zero:
            assert not settled(fake), f"the GPU was not released after Stop: {fake.unreleased()}"
            note.append("the GPU released")

    with checks.check(f"{label}: an error in the run reaches the visitor") as note:
        before = mark()
        message = refused(lambda: client().predict(handle_file(pdfs["secret"]), api_name="/clean",
                                                   **small.form()), "encrypted")
        note.append(message[:90])
        if zero:
            assert len(scheduled(before)) == 1, f"{len(scheduled(before))} /schedule"
            assert not settled(fake), f"the GPU was not released: {fake.unreleased()}"
            note.append("the GPU released")

    if not zero:
        return

    for mode, words in (("quota", ("GPU limit",)), ("no-gpu", ("No GPU was available",))):
        with checks.check(f"{label}: {mode}: a clear error, the server keeps serving") as note:
            fake.set_mode(mode, times=1)
            message = refused(lambda: client().predict(handle_file(pdfs["paper"]), api_name="/clean",
                                                       **small.form()), *words)
            document, _ = client().predict(handle_file(pdfs["paper"]), "", "", small.max_chars, api_name="/extract")
            assert "pages: 2" in document
            note.append(message[:90])

    with checks.check(f"{label}: every /schedule has its /release") as note:
        out = settled(fake)
        assert not out, f"{len(out)} of {len(fake.tokens)} not released"
        fails = sum(call.fail for call in fake.releases())
        note.append(f"{len(fake.tokens)} approved, {len(fake.releases())} released ({fails} with fail=true)")


def damaged_check(checks: Checks, model: Path, env: dict, pdfs: dict, small: Budget, label: str,
                  folder: Path) -> None:
    """`python app.py --model DAMAGED` (the model folder with its weights cut in half): the
    start-up load fails, each model run says why, and rules-only runs go on."""
    import shutil

    from gradio_client import Client, handle_file

    damaged = folder / "damaged-model"
    shutil.copytree(model, damaged)
    for weights in damaged.glob("*.safetensors"):
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    app = App(str(damaged), env, folder / f"damaged-{label.replace(' ', '-')}.log")
    try:
        with checks.check(f"{label}: a model that cannot load: each run says why") as note:
            app.wait_up()
            client = Client(app.url, verbose=False)
            for _ in range(2):
                message = refused(lambda: client.predict(handle_file(pdfs["paper"]), api_name="/clean", **small.form()),
                                  "weight files cannot be read")
            out = named(client.predict(handle_file(pdfs["paper"]), api_name="/clean", **small.form(rules_only=True)))
            assert out["progress"].startswith("done:"), out["progress"]
            note.append(message[:90])
    finally:
        app.close()


def cli_check(checks: Checks, model: str, pdf: str, small: Budget, device: str, folder: Path) -> None:
    with checks.check(f"python -m pipeline on {device}") as note:
        out = folder / "paper.clean.txt"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", pdf, "-o", str(out), "--model", model,
             "--max-chars", str(small.max_chars), "--chunk-size", str(small.chunk_size),
             "--max-new-tokens", str(small.max_new_tokens), "--batch-size", str(small.batch_size),
             "--temperature", "0", "--report", str(folder / "paper.report.jsonl")],
            cwd=ROOT, capture_output=True, text=True, timeout=RUN_SECONDS)
        assert done.returncode == 0, done.stderr[-800:]
        assert out.read_text(encoding="utf-8").strip(), "an empty text"
        note.append(f"{time.monotonic() - started:.0f} s, {len(out.read_text(encoding='utf-8'))} characters")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: the bundled model's)")
    parser.add_argument("--save-tokenizer", type=Path, metavar="DIR",
                        help="only write the bundled tokenizer's files to DIR (for --tokenizer elsewhere)")
    parser.add_argument("--cpu", action="store_true", help="run as on a machine without CUDA")
    parser.add_argument("--no-local", action="store_true", help="only the ZeroGPU checks (a shorter GPU run)")
    args = parser.parse_args(argv)
    if args.save_tokenizer:
        save_tokenizer(args.save_tokenizer)
        return 0

    import torch

    cuda = torch.cuda.is_available() and torch.version.cuda is not None and not args.cpu
    if cuda:
        small = Budget(max_chars=3000, chunk_size=600, max_new_tokens=64)
        stoppable = Budget(max_chars=9000, chunk_size=600, max_new_tokens=256)
    else:
        small = Budget(max_chars=1500, chunk_size=300, max_new_tokens=16)
        stoppable = Budget(max_chars=12000, chunk_size=300, max_new_tokens=64)
    checks = Checks()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zerogpu-check-") as temp, ZeroGpuFake() as fake:
        temp = Path(temp)
        print(f"device API fake: {fake.url} (GPU {fake.gpu_index}, {fake.gpu_uuid})")
        model = temp / "model"
        with checks.check("a random-weight model folder") as note:
            note.append(build_model(model, cuda, args.tokenizer))
        if not model.is_dir():
            checks.print()
            return 1
        pdfs = write_pdfs(temp)
        base_env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                    "PYTHONUNBUFFERED": "1"}

        if cuda:
            zero_env = {**base_env, "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": fake.url}
            app = App(str(model), zero_env, temp / "zerogpu-app.log")
            try:
                page_checks(checks, app, fake, pdfs, small, stoppable, "ZeroGPU")
            finally:
                app.close()
                print(f"\nZeroGPU app log (last lines): {app.tail(25)}")
            damaged_check(checks, model, zero_env, pdfs, small, "ZeroGPU", temp)
        else:
            for name in ZEROGPU_CHECKS:
                checks.skip(f"ZeroGPU: {name}")

        device = "cuda" if cuda else "cpu"
        if not args.no_local:
            cli_check(checks, str(model), pdfs["paper"], small, device, temp)
            local = App(str(model), base_env, temp / "local-app.log")
            try:
                page_checks(checks, local, None, pdfs, small, stoppable, f"local {device}", device)
            finally:
                local.close()
            damaged_check(checks, model, base_env, pdfs, small, f"local {device}", temp)

        checks.print()
        print(f"\nthe fake's calls ({len(fake.calls)}):")
        for call in fake.calls:
            shown = {k: v for k, v in call.params.items() if k in ("durationSeconds", "allowToken", "fail", "_mode")}
            print(f"  {call.method:4} {call.path:16} {call.status}  {shown}")
        print(f"\n{time.monotonic() - started:.0f} s; {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

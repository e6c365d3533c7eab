"""A real OpenAI-compatible server for slow tests and benchmarks: llama.cpp's (llama-cpp-python)
with the bundled model's GGUF file.

    with llama_server() as url:        # "http://127.0.0.1:PORT/v1"
        Settings(api_base=url, model=ALIAS)
    with llama_server(defaults=True) as url:   # as llama-cpp-python's README starts it
        ...

It starts `python -m llama_cpp.server` on a free loopback port, waits until GET /v1/models
answers (at most `wait` seconds; if the server dies or never answers, RuntimeError with the
tail of its output), yields the base URL and stops the server at the end (terminate, then
kill); if it died while in use, the same error follows the test. Without llama_cpp installed,
the calling test is skipped, saying how to install it.

The server answers to any model name (an unknown one means its only model); ALIAS is the one
/v1/models lists. It has no parallel slots and no continuous batching (`--help` offers no such
flag; requests take a lock around the one model), so requests beyond the first wait their turn
in the server. llama.cpp's own C++ `llama-server` has `--parallel N`; it is not used here. It
ignores `stream_options`, so its streams carry no usage: the stage counts deltas.

By default it is started with `--interrupt_requests False`, a context of `n_ctx` tokens and
`threads` threads, quiet. At its own defaults `--interrupt_requests` is True: it cuts a stream
short (ends it with [DONE], no finish reason) whenever another request is waiting, and the
served stage then drops to one request at a time (pipeline.served). `defaults=True` starts it
as llama-cpp-python's README does, `python -m llama_cpp.server --model FILE`, with only the
address (loopback, a free port) and the alias added: every other flag at its default (a context
of 2048 tokens, --interrupt_requests True, its own thread counts, verbose).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ALIAS = "bundled"  # the name /v1/models lists (--model_alias)
INSTALL = "pip install 'llama-cpp-python[server]'"


def available() -> str | None:
    """Why a llama.cpp server cannot start here, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama_cpp is not installed ({INSTALL})"
    return None


@contextlib.contextmanager
def llama_server(gguf: str | os.PathLike | None = None, *, n_ctx: int = 4096, threads: int = 2,
                 wait: float = 120.0, defaults: bool = False):
    """Start the server, yield its base URL, stop it. Skips the test when it cannot run here.
    `defaults`: as its README starts it (n_ctx and threads are then not passed; see above)."""
    reason = available()
    if reason is not None:
        import pytest

        pytest.skip(reason)
    from tests.app_process import free_port, stop_process  # here: `python tests/llama_server.py` sets the path first

    if gguf is None:
        from pipeline.model import bundled_gguf

        gguf = bundled_gguf()
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
    ]
    if not defaults:
        command += [
            "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
            # By default it ends a stream (with [DONE], no finish reason) as soon as another request
            # waits: the stage would go one request at a time, and a test of concurrency or of
            # a stop with several chunks in flight would test that instead.
            "--interrupt_requests", "False",
            "--verbose", "False",
        ]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, log, wait)
            yield url
            if process.poll() is not None:  # the tests saw only refused connections: say why
                raise RuntimeError(f"llama.cpp's server died while in use (exit code {process.returncode}):\n"
                                   + _tail(log))
        finally:
            stop_process(process, 10)


def _wait_ready(url: str, process: subprocess.Popen, log, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp's server exited with code {process.returncode} before it answered:\n"
                               + _tail(log))
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as answer:
                json.load(answer)
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            time.sleep(0.2)
    raise RuntimeError(f"llama.cpp's server did not answer GET {url}/models within {wait:g} s:\n" + _tail(log))


def _tail(log, lines: int = 20) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])


def main() -> None:
    """Serve the bundled model until Ctrl-C: `python tests/llama_server.py`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with llama_server() as url:
        print(f"serving the bundled model at {url} as {ALIAS!r}; Ctrl-C ends", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


if __name__ == "__main__":
    main()

"""`python app.py` in a child process, as an operator starts it, for tests that need the
server's own start-up (its flags, its model's load).

    with app_process(["--model", folder], log=tmp / "server.log") as url:
        Client(url)

It starts app.py on a free loopback port, waits until the page's /config answers (failing
with the tail of its log if the server exits or never answers), yields the page's address
and stops the server at the end (terminate, then kill).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def app_process(flags: list[str], *, log: Path, env: dict[str, str] | None = None, wait: float = 300.0):
    import httpx

    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), *flags],
            cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + wait
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("never happened: the server answers")
            try:
                if httpx.get(url + "config", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process, 30)


def stop_process(process: subprocess.Popen, grace: float) -> None:
    """Terminate a test's server, and kill it if it is still there after `grace` seconds."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

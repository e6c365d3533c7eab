"""A fake of ZeroGPU's device API, for checks of the app as Hugging Face Spaces runs it.

    with ZeroGpuFake(mode="approved") as fake:     # fake.url = "http://127.0.0.1:PORT"
        env = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": fake.url}
        ...
        fake.set_mode("quota", times=1)            # the next /schedule only; then "approved"
        fake.calls, fake.schedules(), fake.releases(), fake.unreleased()

It answers the requests of the `spaces` package (spaces/zero/api.py, APIClient) the way its
client (spaces/zero/client.py) reads them:

    POST /startup-report                  200
    POST /schedule?cgroupPath&taskId&enableQueue&tokenVersion[&durationSeconds][&gpuSize][&token]
        approved      200 JSON {idle, nvidiaIndex, nvidiaUUID, allowToken}
        queued        200 text/event-stream: `event: ping` a few times, then
                      `event: succeeded` + `data: {...the same JSON...}`, one event per read
        queue-failed  200 text/event-stream: pings, then `event: failed` ("No GPU was
                      available after 60s")
        quota         429 JSON {left, wait}: wait > 0 is "quota exceeded, try again in ..."
        no-gpu        503 ("No GPU was available")
      A durationSeconds above `max_duration` gets what the real API gives: 429 with a
      negative wait ("larger than the maximum allowed").
    POST /allow?allowToken&pid            200 (the forked worker, before CUDA starts)
    POST /release?allowToken&fail         200; 404 for a token it never handed out
    GET  /queue-size                      200 JSON 0

Every request is recorded in `calls` (a `Call`: path, params, the duration asked, the
token). What it does not do: no GPU of its own, no cgroups, no real scheduling or queue;
the GPU it names is the first of `nvidia-smi -L` where there is one, else index 0 and a
placeholder UUID. Standard library only (http.server in a thread, loopback, a free port).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("approved", "queued", "queue-failed", "quota", "no-gpu")
MAX_DURATION = 300  # seconds: no such constant in `spaces`; the longest a regular visitor gets
PLACEHOLDER_UUID = "GPU-00000000-0000-0000-0000-000000000000"
PING_SECONDS = 0.05  # between two events of a queue's stream: each must arrive as its own read


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    status: int = 200
    at: float = field(default_factory=time.monotonic)

    @property
    def duration(self) -> int | None:
        """The duration asked by a /schedule, in seconds."""
        value = self.params.get("durationSeconds")
        return int(value) if value is not None else None

    @property
    def token(self) -> str | None:
        """The allow token of a /allow or /release."""
        return self.params.get("allowToken")

    @property
    def fail(self) -> bool:
        """A /release's fail flag (httpx sends Python's booleans as "true"/"false")."""
        return self.params.get("fail", "").lower() == "true"


def local_gpu() -> tuple[int, str]:
    """The first GPU's index and UUID from `nvidia-smi -L`; (0, placeholder) without one.
    ZeroGPU's worker puts the UUID in CUDA_VISIBLE_DEVICES, so on a GPU machine it must be real."""
    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        found = re.search(r"GPU (\d+):.*?\(UUID: (GPU-[0-9a-fA-F-]+)\)", listing)
        if found:
            return int(found.group(1)), found.group(2)
    return 0, PLACEHOLDER_UUID


class ZeroGpuFake:
    def __init__(self, mode: str = "approved", *, max_duration: int = MAX_DURATION, pings: int = 3,
                 quota_left: int = 0, quota_wait: int = 120):
        self._check(mode)
        self.mode = mode
        self.max_duration = max_duration
        self.pings = pings  # ping events before a queue's answer
        self.quota_left, self.quota_wait = quota_left, quota_wait  # seconds, in a 429's body
        self.calls: list[Call] = []
        self.tokens: set[str] = set()  # handed out by an approved /schedule
        self._next: list[str] = []  # modes for the next /schedule calls, before `mode` again
        self._lock = threading.Lock()
        self.gpu_index, self.gpu_uuid = local_gpu()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def _check(mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")

    def set_mode(self, mode: str, times: int | None = None) -> None:
        """Answer /schedule in `mode` from now on, or for the next `times` calls only."""
        self._check(mode)
        with self._lock:
            if times is None:
                self.mode, self._next = mode, []
            else:
                self._next.extend([mode] * times)

    def _take_mode(self) -> str:
        with self._lock:
            return self._next.pop(0) if self._next else self.mode

    # -- what was asked --------------------------------------------------------------------------

    def paths(self) -> list[str]:
        return [call.path for call in self.calls]

    def schedules(self) -> list[Call]:
        return [call for call in self.calls if call.path == "/schedule"]

    def releases(self) -> list[Call]:
        return [call for call in self.calls if call.path == "/release"]

    def unreleased(self) -> set[str]:
        """Tokens handed out that no /release has given back."""
        return self.tokens - {call.token for call in self.releases()}

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.tokens.clear()

    # -- the server ------------------------------------------------------------------------------

    def __enter__(self) -> ZeroGpuFake:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _approval(self) -> dict:
        token = uuid.uuid4().hex
        with self._lock:
            self.tokens.add(token)
        return {"idle": True, "nvidiaIndex": self.gpu_index, "nvidiaUUID": self.gpu_uuid, "allowToken": token}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked streams: one event per chunk, so per read

            def log_message(self, *_args) -> None:
                pass

            def _record(self, status: int) -> Call:
                parts = urlsplit(self.path)
                params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
                call = Call(self.command, parts.path, params, status)
                with fake._lock:
                    fake.calls.append(call)
                return call

            def _reply(self, status: int, body=None, headers: dict | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("X-Queuing-Reason", "node")
                self.end_headers()
                try:
                    for event in events:
                        time.sleep(PING_SECONDS)
                        data = event.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the visitor went away while queued

            def _body(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)

            def do_GET(self) -> None:
                if urlsplit(self.path).path == "/queue-size":
                    self._record(200)
                    self._reply(200, 0)
                else:
                    self._record(404)
                    self._reply(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                self._body()
                path = urlsplit(self.path).path
                if path == "/schedule":
                    return self._schedule()
                if path == "/release":
                    call = self._record(200)
                    known = call.token in fake.tokens
                    call.status = 200 if known else 404
                    return self._reply(call.status, None if known else {"detail": "Unknown allow token"})
                if path in ("/startup-report", "/allow"):
                    self._record(200)
                    return self._reply(200)
                self._record(404)
                self._reply(404, {"detail": "Not Found"})

            def _schedule(self) -> None:
                call = self._record(200)
                mode = fake._take_mode()
                call.params["_mode"] = mode
                if call.duration is not None and call.duration > fake.max_duration:
                    call.status = 429
                    return self._reply(429, {"left": fake.quota_left, "wait": -1},
                                       {"X-Approve-Result": "illegal-duration"})
                if mode == "approved":
                    return self._reply(200, fake._approval())
                if mode == "quota":
                    call.status = 429
                    return self._reply(429, {"left": fake.quota_left, "wait": fake.quota_wait},
                                       {"X-Approve-Result": "quota-exceeded"})
                if mode == "no-gpu":
                    call.status = 503
                    return self._reply(503, {"detail": "No GPU available"})
                pings = ["event: ping\n\n"] * fake.pings
                if mode == "queue-failed":
                    return self._stream([*pings, "event: failed\n\n"])
                answer = json.dumps(fake._approval())
                self._stream([*pings, f"event: succeeded\ndata: {answer}\n\n"])

        return Handler

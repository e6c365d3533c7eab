"""A tiny OpenAI-compatible chat completions server, for tests of the served model stage.

    with FakeServer() as fake:                      # echoes each chunk back, a word per delta
        Settings(api_base=fake.url, model="fake")   # fake.url = "http://127.0.0.1:PORT/v1"
        ...
        fake.requests, fake.max_in_flight, fake.closed

    with FakeServer(interrupt=True) as fake:        # as llama-cpp-python's server at its defaults
        ...
        fake.cut, fake.arrived_with

`script(request, attempt)` decides each answer (a `Reply`): `request` is the JSON body (plus
"_headers"), `attempt` how many requests for the same user text came before. It streams SSE
the way vLLM and llama.cpp do (`data: {...}` chunks, a usage chunk, `data: [DONE]`), or an
HTTP error, or raw lines (malformed streams), or keeps the stream open with keep-alive comments
until the client goes away. A client that closes a stream before its end is counted in
`closed`: that is how a test sees a request cancelled. A request counts as in flight from its
arrival until its answer's last line is about to be written (or the client went away), so a
request the client sends after reading an end never finds the one before still counted;
`arrived_with` holds, per request, how many were in flight when it came (itself included).

`interrupt=True` answers as llama-cpp-python's server does with --interrupt_requests at its
default (True): one request at a time (the others wait, their answers not yet started), and a
stream is cut short, ended with [DONE] and no finish reason, after a delta written while another
request waits. `cut` counts the streams it cut.

Standard library only (http.server in a thread, loopback, a free port).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"
KEEP_ALIVE = 0.02  # seconds between two keep-alive comments of a hanging stream
HANG_LIMIT = 30.0  # a hanging stream ends by itself after this, so a broken test cannot hang


@dataclass
class Reply:
    status: int = 200  # not 200: an HTTP error with `body`
    pieces: list[str] | None = None  # the deltas; None = the user's text, a word per delta
    delay: float = 0.0  # seconds before each delta
    before: float = 0.0  # seconds before the response starts (headers included)
    finish: str | None = "stop"  # finish_reason of the last delta; None = none sent
    hang: bool = False  # after the deltas, keep the stream open until the client closes it
    raw: list[str] | None = None  # SSE data lines sent as they are, instead of the deltas
    body: str = '{"error": {"message": "fake error"}}'


def echo(request: dict, attempt: int) -> Reply:
    """The default script: the user's text back, as a cleaner that changes nothing would write it."""
    return Reply()


class FakeServer:
    def __init__(self, script=echo, *, interrupt: bool = False):
        self.script = script
        self.interrupt = interrupt
        self.requests: list[dict] = []
        self.arrived_with: list[int] = []  # requests in flight when each came, itself included
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = 0  # streams the client closed before their end
        self.cut = 0  # streams cut short because another request waited (interrupt=True)
        self.waiting = 0  # requests waiting for the model (interrupt=True)
        self.model = threading.Lock()  # the one model (interrupt=True)
        self.lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                request["_headers"] = dict(self.headers)
                user = next((m["content"] for m in request.get("messages", []) if m.get("role") == "user"), "")
                with fake.lock:
                    attempt = fake._attempts.get(user, 0)
                    fake._attempts[user] = attempt + 1
                    fake.requests.append(request)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.arrived_with.append(fake.in_flight)
                ended = False

                def end() -> None:
                    nonlocal ended
                    with fake.lock:
                        if not ended:
                            ended = True
                            fake.in_flight -= 1

                try:
                    reply = fake.script(request, attempt)
                    if fake.interrupt:
                        with fake.lock:
                            fake.waiting += 1
                        fake.model.acquire()
                        with fake.lock:
                            fake.waiting -= 1
                        try:
                            fake._answer(self, reply, user, end)
                        finally:
                            fake.model.release()
                    else:
                        fake._answer(self, reply, user, end)
                except (BrokenPipeError, ConnectionResetError):
                    with fake.lock:
                        fake.closed += 1
                finally:
                    end()
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="openai-fake", daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_closed(self, count: int, timeout: float = 5.0) -> bool:
        """True once `count` streams were closed by the client (within `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.closed >= count:
                return True
            time.sleep(0.01)
        return False

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply, user: str, end) -> None:
        time.sleep(reply.before)
        if reply.status != 200:
            end()
            body = reply.body.encode()
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")  # the body ends when the connection does
        handler.end_headers()

        def send(data: str) -> None:
            handler.wfile.write(f"data: {data}\n\n".encode())
            handler.wfile.flush()

        if reply.raw is not None:
            end()
            for line in reply.raw:
                send(line)
            return
        pieces = reply.pieces if reply.pieces is not None else re.findall(r"\S+\s*", user)
        for n, piece in enumerate(pieces):
            time.sleep(reply.delay)
            last = n == len(pieces) - 1 and not reply.hang
            send(json.dumps(_chunk({"content": piece}, reply.finish if last else None)))
            if self.interrupt and not last and self.waiting:
                with self.lock:
                    self.cut += 1
                end()
                send("[DONE]")
                return
        if not pieces and not reply.hang:
            send(json.dumps(_chunk({}, reply.finish)))
        if reply.hang:
            started = time.monotonic()
            while time.monotonic() - started < HANG_LIMIT:
                handler.wfile.write(b": keep-alive\n\n")
                handler.wfile.flush()
                time.sleep(KEEP_ALIVE)
            return
        usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
        send(json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                         "choices": [], "usage": usage}))
        end()
        send("[DONE]")


def _chunk(delta: dict, finish: str | None) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }

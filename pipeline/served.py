"""The model stage on a served model: any OpenAI-compatible chat completions server.

    stage = ServedStage()   # settings.api_base = "http://127.0.0.1:8000/v1", settings.model = its name
    for event in stage.clean(chunks, settings, stop=stop, keep=keep):
        ...  # ChunkProgress, ChunkDone (document order; see pipeline.stage), at most one Notice

Each chunk is one streaming chat completion (pipeline.prompt.build_messages: the system prompt,
then the chunk alone), sent with the `openai` client to settings.api_base under the name
settings.model (vLLM, llama.cpp's server, Ollama, TGI...). What comes back is tidied
(pipeline.prompt.tidy_output) and finished as ChunkDone(source="llm"); the caller's final
guard judges it as it judges the in-process engine's.

What the served path does instead of copy-anchored decoding: a server gives no logits, so the
copy bias and the drafts of pipeline.engine cannot run there. What keeps a served model
faithful is the rest of the design:

- **Greedy decoding** by default (settings.temperature 0), with top_p and seed as set.
- **Per-row budget.** max_tokens is pipeline.schedule.row_budget of the chunk's size, as for the
  engine. No tokenizer is loaded on this path, so the source tokens are estimated from the
  characters: one token per CHARS_PER_TOKEN. On the KD survey's chunks SmolLM2's tokenizer
  averages 4.3 characters a token, 2.6 on the densest chunk (numbers, citations); at 3.5 the
  budget still covers that chunk whole. Erring high costs only a longer runaway, which the
  online guard stops; erring low would cut good chunks short. finish_reason "length" is the
  engine's "budget": the chunk is finished as it stands and the final guard judges it (a
  cut-off chunk is rejected there).
- **Online guard.** pipeline.guard.OnlineGuard looks at the streamed text every GUARD_EVERY
  tokens; a text sure to be rejected (a loop, runaway length, a preamble, an echoed prompt)
  ends its stream at once and the chunk is finished with `halted` set.
- **Final guard**, applied by the caller (pipeline.runner.process_chunks), as for the engine.

Not sent: `logit_bias` (it needs the server's token ids for the chunk, and our copy bias moves
with the text written so far, which a fixed per-request bias cannot), and OpenAI's predicted
outputs (`prediction`): vLLM's pull requests adding it (#23450, #24568) were closed unmerged
and llama.cpp's server documents no such field, so a server would ignore or refuse it.

Scheduling: up to settings.concurrency requests in flight, chunks admitted in document order.
They run as asyncio tasks on one event loop in the stage's worker thread (pipeline.stage.deliver)
rather than in a thread pool: cancelling a task closes its HTTP connection at once, even while
it waits for the server's next bytes, whereas a thread blocked in a socket read cannot be
interrupted from outside. Until the server has answered once, only the first chunk is sent, so
an unreachable server costs one chunk's tries, not one per chunk. Requests wait for their turn
in document order (the earliest waiting chunk goes first).

A server that cuts streams short (a stream that ends with no finish reason) while another of
our requests is in flight is taken to do so because of the concurrency: llama-cpp-python's
server, started as its README says (--interrupt_requests is on by default), ends a stream as soon
as another request waits. The rest of the run then sends one request at a time (requests
already in flight go on; no new one is sent until they are over), the chunks cut short are
sent again without counting as a failed try, and the stage yields one Notice saying so. A
stream cut short with no other request in flight is an error like any other (below).

Errors (one line each, naming settings.api_base and what to check): connection refused or
unreachable, HTTP 4xx/5xx, no answer within settings.request_timeout (the whole request,
streaming included, not its wait for a turn), an unreadable stream, a stream cut short. A
failed request is tried again up to settings.retries times after a short backoff (a 4xx other
than 408 and 429 is not: it would fail the same way), then the chunk is
ChunkDone(source="failed", output=its text, error=message) and the run goes on. If every try of
the first chunk finds no server at all, or one that refuses any request (HTTP 401, 403, 404: the
key, the address or the model name), ModelUnavailableError is raised instead, before any other
chunk is sent.

The API key is settings.api_key, else the environment's PDF_CLEANER_API_KEY, else a placeholder
(local servers check none). It is sent as a bearer token and never logged or written.

Not here: the guard's verdict, prompts (pipeline.prompt), delivery in order (pipeline.stage).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence

import openai

from pipeline.errors import ModelUnavailableError
from pipeline.events import Chunk, ChunkDone, ChunkProgress, Notice
from pipeline.prompt import build_messages, default_system_prompt, neutralise, tidy_output
from pipeline.schedule import GUARD_EVERY, PROGRESS_INTERVAL, row_budget
from pipeline.settings import Settings
from pipeline.stage import Keep, deliver

CHARS_PER_TOKEN = 3.5  # source tokens estimated from characters (no tokenizer here; see above)
KEY_ENV = "PDF_CLEANER_API_KEY"
NO_KEY = "not-needed"  # what is sent when no key is set: local servers accept anything
HALT_POLL = 0.02  # seconds between two looks at the stop flag
BACKOFF, MAX_BACKOFF = 0.5, 4.0  # seconds before the first retry, doubling, at most
CONNECT_TIMEOUT = 10.0  # seconds to open a connection, at most (within request_timeout)
REFUSED = (401, 403, 404)  # HTTP statuses no chunk gets past: a wrong key, address or model name


def api_key(settings: Settings) -> str:
    """The key to send: the setting, the environment, or a placeholder."""
    return settings.api_key or os.environ.get(KEY_ENV) or NO_KEY


def list_models(api_base: str, key: str | None = None, timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """The model names the server lists (GET /models), or ModelUnavailableError in words: the
    server could not be reached, or answered with an error."""
    client = openai.OpenAI(base_url=api_base, api_key=key or os.environ.get(KEY_ENV) or NO_KEY, timeout=timeout,
                           max_retries=0)
    try:
        return [item.id for item in client.models.list()]
    except openai.APIStatusError as exc:
        raise ModelUnavailableError(
            f"The server at {api_base} answered {exc.status_code} when asked for its models: check the address "
            f"(it usually ends in /v1) and the key ({KEY_ENV}).") from None
    except openai.APIError as exc:
        raise ModelUnavailableError(
            f"The server at {api_base} cannot be reached ({type(exc).__name__}): check that it is running and "
            "the address.") from None
    finally:
        client.close()


def estimate_tokens(text: str) -> int:
    """Source tokens of a chunk, estimated: estimate_tokens("a" * 35) -> 10."""
    return math.ceil(len(neutralise(text)) / CHARS_PER_TOKEN)


class ServedStage:
    """The model stage on a model served over the OpenAI-compatible API at settings.api_base."""

    def __init__(self, *, system_prompt: str | None = None):
        self.system_prompt = system_prompt

    def clean(self, chunks: Sequence[Chunk], settings: Settings, *, stop: threading.Event | None = None,
              keep: Keep | None = None) -> Iterator[ChunkProgress | ChunkDone | Notice]:
        if not settings.api_base:
            raise ValueError("ServedStage needs settings.api_base")
        if not chunks:
            return iter(())
        stop = stop if stop is not None else threading.Event()
        system = self.system_prompt or settings.system_prompt or default_system_prompt()
        work = _Run(chunks, settings, system)
        return _with_notices(deliver(chunks, work.run, stop, keep, name="pdf-cleaner-served"), work.notices)


def _with_notices(events: Iterator, notices: queue.SimpleQueue) -> Iterator:
    """`events`, with each notice the worker put into `notices` yielded before the next event
    (and at the end). Closing this generator closes `events`, which stops the worker."""
    try:
        for event in events:
            while not notices.empty():
                yield notices.get()
            yield event
        while not notices.empty():
            yield notices.get()
    finally:
        events.close()


class _Failed(Exception):
    """One request that did not give a chunk; `message` is for the user."""

    def __init__(self, message: str, *, retry: bool, unavailable: bool = False, cut: bool = False):
        super().__init__(message)
        self.message = message
        self.retry = retry
        # No server answered, or it refuses any request of ours (key, address, model name).
        self.unavailable = unavailable
        self.cut = cut  # the stream ended with no finish reason


class _Flight:
    """One request in flight. `overlapped`: another of ours was in flight at some moment of its life."""

    def __init__(self, overlapped: bool):
        self.overlapped = overlapped


class _Malformed(Exception):
    """The server's stream has a shape no OpenAI-compatible server sends."""


class _Run:
    """One call of ServedStage.clean, in the stage's worker thread."""

    def __init__(self, chunks: Sequence[Chunk], settings: Settings, system: str):
        self.settings = settings
        self.system = system
        self.address = settings.api_base
        self.pending: deque[Chunk] = deque(sorted(chunks, key=lambda c: c.index))
        self.first = self.pending[0].index
        self.limit = max(1, int(settings.concurrency))  # requests in flight at most; 1 once streams are cut
        self.flights: set[_Flight] = set()
        self.waiting: set[int] = set()  # indexes of the chunks whose request waits for its turn
        self.notices: queue.SimpleQueue[Notice] = queue.SimpleQueue()  # read by ServedStage.clean's caller

    def run(self, emit, halt) -> None:
        """The stage's work (pipeline.stage.deliver)."""
        self.emit, self.halt = emit, halt
        asyncio.run(self._main())

    async def _main(self) -> None:
        s = self.settings
        self.answered = asyncio.Event()  # the server has answered once: the other slots open
        self.turn = asyncio.Event()  # set when a request ends or starts: the waiting ones look again
        self.client = openai.AsyncOpenAI(
            base_url=s.api_base,
            api_key=api_key(s),
            max_retries=0,  # retries are ours: counted per chunk, interruptible by stop
            timeout=openai.Timeout(s.request_timeout, connect=min(CONNECT_TIMEOUT, s.request_timeout)),
        )
        slots = max(1, min(int(s.concurrency), len(self.pending)))
        tasks = {asyncio.create_task(self._slot(n)) for n in range(slots)}
        try:
            while tasks and not self.halt.is_set():
                done, tasks = await asyncio.wait(tasks, timeout=HALT_POLL, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # a worker's exception (ModelUnavailableError, a bug) ends the run
        finally:
            for task in tasks:
                task.cancel()  # stop: each task closes its stream on the way out
            if tasks:
                await asyncio.wait(tasks)
            await self.client.close()

    async def _slot(self, number: int) -> None:
        """One request in flight at a time: the next chunk in document order, until none is left."""
        if number > 0:
            await self.answered.wait()
        while self.pending and not self.halt.is_set():
            chunk = self.pending.popleft()
            self.emit(await self._chunk(chunk))

    async def _chunk(self, chunk: Chunk) -> ChunkDone:
        """One chunk, tried up to 1 + retries times."""
        started = time.perf_counter()
        tries = 1 + max(0, int(self.settings.retries))
        unavailable = True
        failure: _Failed | None = None
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(min(MAX_BACKOFF, BACKOFF * 2 ** (attempt - 1)))
            try:
                return await self._try(chunk, started)
            except _Failed as failed:
                failure = failed
                unavailable = unavailable and failed.unavailable
                if not failed.retry:
                    break
        if chunk.index == self.first:
            if unavailable:
                raise ModelUnavailableError(failure.message)
            self.answered.set()  # reachable but failing: the other chunks may fare better
        return ChunkDone(index=chunk.index, chunk=chunk, output=chunk.text, source="failed", error=failure.message)

    async def _try(self, chunk: Chunk, started: float) -> ChunkDone:
        """One try of `chunk`: a request in its turn, sent again while the server cuts its stream
        short because another request of ours is in flight (that is no failure of the chunk)."""
        while True:
            flight = await self._admit(chunk)
            try:
                return await self._request(chunk, started)
            except _Failed as failed:
                if not (failed.cut and flight.overlapped):
                    raise
                self._one_at_a_time(len(self.flights))
            finally:
                self._release(flight)

    async def _admit(self, chunk: Chunk) -> _Flight:
        """Wait until fewer than `limit` requests are in flight and no earlier chunk waits; then
        the chunk's request is in flight. After the drop to one at a time no request overlaps
        another, so a cut then is the chunk's own failure and this cannot go on for ever."""
        self.waiting.add(chunk.index)
        try:
            # One event loop: nothing runs between the check and the wait, so no wake-up is missed.
            while not (len(self.flights) < self.limit and chunk.index == min(self.waiting)):
                self.turn.clear()
                await self.turn.wait()
        finally:
            self.waiting.discard(chunk.index)
        flight = _Flight(overlapped=bool(self.flights))
        for other in self.flights:
            other.overlapped = True
        self.flights.add(flight)
        self.turn.set()  # the next waiting chunk may go too
        return flight

    def _release(self, flight: _Flight) -> None:
        self.flights.discard(flight)
        self.turn.set()

    def _one_at_a_time(self, in_flight: int) -> None:
        """The server cut a stream while another request of ours was in flight: one at a time
        from now on, said once."""
        if self.limit == 1:
            return
        self.limit = 1
        self.notices.put(Notice(
            f"The model server at {self.address} cut a stream short while {in_flight} requests "
            "were in flight (llama-cpp-python's server does so unless started with --interrupt_requests False): "
            "the rest of this run sends one request at a time, and the chunks cut short are sent again. "
            "--concurrency 1 avoids this from the start."))

    async def _request(self, chunk: Chunk, started: float) -> ChunkDone:
        """One streaming request for `chunk`: its ChunkDone, or _Failed."""
        from pipeline.guard import OnlineGuard

        s = self.settings
        optional = {"seed": s.seed} if s.seed is not None else {}
        pieces: list[str] = []
        deltas = events = 0
        usage = finish = halted = None
        stream = None
        guard = OnlineGuard(chunk.text, self.system)
        last_emit = 0.0
        try:
            async with asyncio.timeout(s.request_timeout):
                stream = await self.client.chat.completions.create(
                    model=s.model,
                    messages=build_messages(chunk.text, self.system),
                    temperature=float(s.temperature or 0.0),
                    top_p=float(s.top_p),
                    max_tokens=row_budget(estimate_tokens(chunk.text), s.max_new_tokens),
                    stream=True,
                    stream_options={"include_usage": True},  # the true token count, where the server gives it
                    **optional,
                )
                self.answered.set()
                async for event in stream:
                    events += 1
                    text, reason, counted = _read(event)
                    usage = counted if counted is not None else usage
                    finish = reason or finish
                    if not text:
                        continue
                    pieces.append(text)
                    deltas += 1  # one delta is one token on the servers we know
                    look = deltas >= guard.next_look
                    now = time.perf_counter()
                    due = now - last_emit >= PROGRESS_INTERVAL
                    if not (look or due):
                        continue
                    written = "".join(pieces)
                    if look:
                        halted = guard.look(written, deltas, GUARD_EVERY)
                        if halted is not None:
                            break
                    if due:
                        last_emit = now
                        self.emit(ChunkProgress(index=chunk.index, text=written, tokens=deltas))
        except TimeoutError:
            raise _Failed(self._timeout(), retry=True) from None
        except openai.APITimeoutError as error:
            # A connection that cannot even be opened in time means no server, as a refusal does.
            no_server = stream is None and type(error.__cause__).__name__ == "ConnectTimeout"
            raise _Failed(self._timeout(), retry=True, unavailable=no_server) from None
        except openai.APIConnectionError as error:
            raise _Failed(self._unreachable(error, stream is not None), retry=True,
                          unavailable=stream is None) from None
        except openai.APIStatusError as error:
            self.answered.set()
            status = error.status_code
            raise _Failed(self._status(error), retry=status in (408, 429) or status >= 500,
                          unavailable=status in REFUSED) from None
        except openai.APIError as error:  # an error event inside the stream
            raise _Failed(f"The model server at {self.address} reported an error while writing: "
                          f"{_one_line(error.message)}. Check the server's log.", retry=True) from None
        except (json.JSONDecodeError, _Malformed) as error:
            raise _Failed(self._malformed(error), retry=True) from None
        finally:
            if stream is not None:
                await stream.close()  # halted, stopped or failed: the server stops writing this chunk
        if not events:  # a 200 answer with no stream in it: not an OpenAI-compatible streaming server
            raise _Failed(self._malformed(_Malformed("an answer with no stream events")), retry=True)
        if halted is None and finish is None:
            raise _Failed(self._cut_short(), retry=True, cut=True)
        raw = "".join(pieces)
        tokens = usage if usage is not None and halted is None else deltas
        return ChunkDone(
            index=chunk.index,
            chunk=chunk,
            output=tidy_output(raw, chunk.text),
            source="llm",
            model_output=raw,
            seconds=round(time.perf_counter() - started, 3),
            tokens=tokens,
            halted=halted,
        )

    # --- messages a user can act on -------------------------------------------------------

    def _timeout(self) -> str:
        return (f"The model server at {self.address} did not finish a chunk within {self.settings.request_timeout:g} s. "
                "Check that it is not overloaded, or raise the request timeout (--request-timeout) "
                "or lower the concurrency (--concurrency).")

    def _unreachable(self, error: openai.APIConnectionError, answered: bool) -> str:
        cause = _one_line(str(error.__cause__ or error))
        if answered:
            return (f"The connection to the model server at {self.address} broke while it was writing ({cause}). "
                    "Check the server's log.")
        return (f"Cannot reach the model server at {self.address} ({cause}). Check that the server is running "
                "and that the address (--api-base) is right, including its /v1.")

    def _status(self, error: openai.APIStatusError) -> str:
        status = error.status_code
        detail = _detail(error)
        hint = {
            401: "Check the API key (the PDF_CLEANER_API_KEY environment variable).",
            403: "Check the API key (the PDF_CLEANER_API_KEY environment variable).",
            404: f"Check the address (it usually ends in /v1) and the model name ({self.settings.model!r}): "
                 "it must be one the server serves.",
            408: "The server gave up waiting: check that it is not overloaded.",
            429: "The server is busy: lower the concurrency (--concurrency).",
        }.get(status)
        if hint is None:
            hint = ("Check the server's log." if status >= 500 else
                    f"The server refused the request: check the model name ({self.settings.model!r}) and that its "
                    "context holds a chunk (or lower --chunk-size).")
        return f"The model server at {self.address} answered HTTP {status}" + (f": {detail}" if detail else "") + \
            f". {hint}"

    def _cut_short(self) -> str:
        # llama-cpp-python's server does this to a stream whenever another request waits: with
        # none of ours in flight (_try), another client's may have been.
        return (f"The model server at {self.address} ended a chunk's stream without a finish reason. "
                "If it is llama-cpp-python's server, start it with --interrupt_requests False "
                "or use --concurrency 1; otherwise check the server's log.")

    def _malformed(self, error: Exception) -> str:
        return (f"The model server at {self.address} sent a stream PDF Cleaner cannot read "
                f"({_one_line(str(error))}). Check that the address is an OpenAI-compatible API (chat completions).")


def _read(event) -> tuple[str, str | None, int | None]:
    """(new text, finish reason, completion tokens) of one streamed chunk; _Malformed if it has
    the shape of no chat completion chunk. The last chunk may have no choices, only usage."""
    choices = getattr(event, "choices", None)
    usage = getattr(event, "usage", None)
    counted = getattr(usage, "completion_tokens", None) if usage is not None else None
    if not isinstance(choices, list) or (not choices and usage is None):
        raise _Malformed("a chunk with no choices")
    text, finish = "", None
    for choice in choices:
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None) if delta is not None else None
        if content is not None and not isinstance(content, str):
            raise _Malformed("a delta whose content is not text")
        text += content or ""
        finish = getattr(choice, "finish_reason", None) or finish
    return text, finish, counted if isinstance(counted, int) else None


def _detail(error: openai.APIStatusError) -> str:
    """The server's own words about an HTTP error, on one line."""
    body = error.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    if body is None:
        try:
            body = error.response.text
        except Exception:  # noqa: BLE001 - a body we cannot read says nothing more
            body = ""
    return _one_line(str(body))


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

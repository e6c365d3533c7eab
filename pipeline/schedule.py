"""Scheduling chunks through the in-process engine: which chunk runs when, and what comes out.

    stage = EngineStage(get_model("bundled"))
    for event in stage.clean(chunks, settings, stop=stop, keep=keep):
        ...  # ChunkProgress, ChunkDone (document order; see pipeline.stage)

One worker thread drives one `pipeline.engine.Engine`:

- **Refill.** Chunks are admitted in document order; a row that finishes frees its slot at
  once and the next chunk takes it. At most one admission between two passes, also while the
  slots fill up after the first chunk: a prefill costs about a pass, so the rows in flight
  keep streaming (the page never falls silent for a whole refill) and Stop is seen between
  any two of them. No row waits for a slower one. The system prompt's keys and values are
  computed once per engine and copied into each new row.
- **First chunks first.** Until the first chunk is finished only the first chunk runs, so
  it comes back within seconds and the ETA follows it; then the slots fill up.
- **Budgets.** Each row may write at most ceil(1.3 x its source tokens) + 32 tokens, and never
  more than settings.max_new_tokens.
- **Online guard.** While a row writes, `pipeline.guard.OnlineGuard` looks at its text every
  few tokens; a row sure to be rejected (a loop, runaway length, a preamble, an echoed
  prompt) is stopped at once and finished with `halted` set, so its input stands in.
- **Out of memory.** The engine is rebuilt with half the slots and the chunks in flight start
  again; a chunk that runs out of memory alone fails (ChunkDone source="failed").
- **Other exceptions.** Before any chunk was cleaned, an exception is a bug and propagates.
  After, the chunks in flight are retried one at a time and one that fails alone becomes
  ChunkDone(source="failed", error=...); the rest go on.
- **Stop.** `stop` (or closing the stream) ends the work within one decoder layer: the engine
  looks at it inside each pass (pipeline.engine, `interrupt`) and between passes and
  admissions; chunks in flight are dropped, finished ones are kept (pipeline.stage).

Batch size: settings.batch_size, or `choose_slots`. Decoding: temperature, top_p, seed,
copy bias (settings.copy_bias, or the model's default: pipeline.model.default_copy_bias) and
draft length (settings.draft_tokens).

Not here: the decoding itself (pipeline.engine), prompts (pipeline.prompt), the final guard.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pipeline import engine as engines
from pipeline.errors import ModelUnavailableError
from pipeline.events import Chunk, ChunkDone, ChunkProgress
from pipeline.prompt import default_system_prompt, prompt_ids, source_ids, tidy_output
from pipeline.settings import Settings
from pipeline.stage import Keep, deliver

PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one chunk, at most
GUARD_EVERY = 16  # tokens between two online-guard looks at a row
BUDGET_RATIO, BUDGET_SLACK = 1.3, 32  # a row writes at most ratio x source tokens + slack
ROOM_MARGIN = 256  # time slots beyond the longest row, so the cache is packed less often
MIN_PREFIX_TOKENS = 8  # below this, sharing the system prompt's cache is not worth a copy
DEVICE_SLOTS = {"cpu": 8, "mps": 16, "cuda": 64}  # rows at once at most (cpu: measured, docs/PERFORMANCE.md)
CPU_CACHE_BUDGET = 768 << 20  # bytes of cache on a CPU: keeps the bundled model under 2 GB


def row_budget(source_tokens: int, max_new_tokens: int) -> int:
    """New tokens a row may write: a cleaned chunk is about as long as its source."""
    return max(1, min(max_new_tokens, math.ceil(BUDGET_RATIO * source_tokens) + BUDGET_SLACK))


def _memory_budget(device: str) -> int:
    """Bytes the cache may take."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free * 0.5)
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:  # pragma: no cover
        available = 4 << 30
    return int(min(available * 0.25, CPU_CACHE_BUDGET))


def choose_slots(model, device: str, capacity: int, chunks: int) -> int:
    """Rows at once when settings.batch_size is None: the device's cap (cpu 8, mps 16, cuda
    64), no more rows than the cache budget holds at `capacity` slots each (cuda: half the free
    memory; cpu/mps: a quarter of available RAM, at most 768 MiB), and no more than chunks."""
    cap = DEVICE_SLOTS.get(device.split(":")[0], 8)
    per_row = capacity * engines.kv_bytes_per_token(model)
    return max(1, min(cap, _memory_budget(device) // max(1, per_row), chunks))


def _is_oom(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _free_memory(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    if not rows:
        return 0
    first = rows[0]
    n = min(len(r) for r in rows)
    for row in rows[1:]:
        k = 0
        while k < n and row[k] == first[k]:
            k += 1
        n = k
    return n


@dataclass
class Plan:
    """Everything the worker needs, computed once per call."""

    chunks: dict[int, Chunk]
    requests: list[engines.Request]  # in document order
    prefix: list[int]
    decoding: engines.Decoding
    slots: int
    capacity: int
    eos: set[int]
    end_token: int
    instructions: str  # the system prompt: the online guard watches for echoes of it


def plan(chunks: Sequence[Chunk], settings: Settings, lm, system_prompt: str | None = None,
         engine_class=None) -> Plan:
    from pipeline.model import default_copy_bias

    engine_class = engine_class or engines.Engine
    reason = engine_class.supports(lm.model)
    if reason is not None:
        raise ModelUnavailableError(
            f"The model {lm.name!r} cannot run in PDF Cleaner's engine: {reason}. Choose another model."
        )
    tokenizer = lm.tokenizer
    system = system_prompt or settings.system_prompt or default_system_prompt()
    ordered = sorted(chunks, key=lambda c: c.index)
    ids = [prompt_ids(tokenizer, c.text, system) for c in ordered]
    requests = []
    for chunk, prompt in zip(ordered, ids):
        source = source_ids(tokenizer, chunk.text)
        requests.append(engines.Request(chunk.index, prompt, source, row_budget(len(source), settings.max_new_tokens)))
    # The prompt before the chunk: what every chunk's prompt shares (two made-up chunks make
    # it so for a single chunk too, where "shared" would otherwise be its whole prompt).
    probes = [prompt_ids(tokenizer, probe, system) for probe in ("a", "b")]
    prefix = min(_common_prefix(ids + probes), min(len(x) for x in ids) - 1) if ids else 0
    draft = max(0, int(settings.draft_tokens))
    capacity = max(len(r.prompt) + r.budget for r in requests) + draft + 2 + ROOM_MARGIN if requests else 1
    bias = settings.copy_bias if settings.copy_bias is not None else default_copy_bias(lm.name)
    decoding = engines.Decoding(
        temperature=float(settings.temperature or 0.0),
        top_p=float(settings.top_p),
        copy_bias=float(bias),
        draft_tokens=draft,
        seed=settings.seed,
    )
    slots = settings.batch_size or choose_slots(lm.model, str(lm.device), capacity, len(requests))
    eos = eos_ids(lm.model, tokenizer)
    end_token = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else min(eos)
    return Plan(
        chunks={c.index: c for c in ordered},
        requests=requests,
        prefix=ids[0][:prefix] if prefix >= MIN_PREFIX_TOKENS else [],
        decoding=decoding,
        slots=max(1, int(slots)),
        capacity=capacity,
        eos=eos | {end_token},
        end_token=end_token,
        instructions=system,
    )


class EngineStage:
    """The model stage on an in-process model (a pipeline.model.LoadedModel)."""

    def __init__(self, lm, *, system_prompt: str | None = None, engine_class=None):
        self.lm = lm
        self.system_prompt = system_prompt
        # None: pipeline.engine.Engine, looked up at each run (tests put a fake in its place)
        self.engine_class = engine_class

    def clean(self, chunks: Sequence[Chunk], settings: Settings, *, stop: threading.Event | None = None,
              keep: Keep | None = None) -> Iterator[ChunkProgress | ChunkDone]:
        if not chunks:
            return iter(())
        stop = stop if stop is not None else threading.Event()
        engine_class = self.engine_class or engines.Engine
        work = _Worker(self.lm, engine_class, plan(chunks, settings, self.lm, self.system_prompt, engine_class))
        return deliver(chunks, work.run, stop, keep)


def clean_chunks(chunks: Sequence[Chunk], settings: Settings, lm, *, stop: threading.Event | None = None,
                 keep: Keep | None = None, system_prompt: str | None = None) -> Iterator[ChunkProgress | ChunkDone]:
    """`EngineStage(lm).clean(...)`, for callers that hold a model, not a stage."""
    return EngineStage(lm, system_prompt=system_prompt).clean(chunks, settings, stop=stop, keep=keep)


class _Worker:
    """One run of the engine over a plan, in the stage's worker thread."""

    def __init__(self, lm, engine_class, plan: Plan):
        self.lm = lm
        self.engine_class = engine_class
        self.plan = plan
        self.pending: deque[engines.Request] = deque(plan.requests)
        self.slots = plan.slots
        self.suspects: set[int] = set()  # chunks in flight when a pass raised: run them alone
        self.cleaned_any = False
        self.first_done = False
        self.last_emit: dict[int, float] = {}
        self.guards: dict[int, object] = {}
        self._admitting: engines.Request | None = None  # the chunk being admitted, if any

    def _engine(self):
        p = self.plan
        return self.engine_class(self.lm, p.decoding, slots=self.slots, capacity=p.capacity,
                                 prefix=p.prefix, eos_ids=p.eos, end_token=p.end_token, interrupt=self.halt.is_set)

    def run(self, emit, halt) -> None:
        """The stage's work (pipeline.stage.deliver): `emit` hands events over; `halt.is_set()`
        says the run must end."""
        self.emit, self.halt = emit, halt
        engine = None
        while (self.pending or (engine is not None and engine.rows)) and not halt.is_set():
            try:
                if engine is None:
                    engine = self._engine()
                self._drive(engine)
            except engines.Interrupted:
                return  # stopped inside a pass: the chunks in flight are dropped, as between passes
            except Exception as error:  # noqa: BLE001 - memory errors and per-chunk failures
                engine = self._recover(engine, error)

    def _drive(self, engine) -> None:
        """Admit and step until nothing is pending or in flight, or the run is halted."""
        while (self.pending or engine.rows) and not self.halt.is_set():
            if self._admit_next(engine):
                self._admitting = self.pending.popleft()
                row = engine.admit(self._admitting)
                self._admitting = None
                self._look(engine, row)
                if self.halt.is_set():
                    return
            for row in engine.step():
                self._look(engine, row)

    def _admit_next(self, engine) -> bool:
        """Whether to admit the next pending chunk before the next pass. At most one between
        two passes: a prefill costs as much as a pass, so the rows in flight keep streaming
        while the slots fill up, and Stop is seen between any two of them."""
        if not self.pending or not engine.free:
            return False
        if self.suspects or not self.first_done:
            # One at a time until the suspects are through; the first chunk alone, so that it
            # comes back within seconds.
            return not engine.rows
        return True

    def _look(self, engine, row) -> None:
        """After a row changed: finish it, stop it, or report its progress."""
        from pipeline.guard import OnlineGuard

        key = row.request.key
        chunk = self.plan.chunks[key]
        if row.finished:
            self._finish(engine, row, None)
            return
        now = time.perf_counter()
        guard = self.guards.get(key)
        if guard is None:
            guard = self.guards[key] = OnlineGuard(chunk.text, self.plan.instructions)
        text = None
        if len(row.tokens) >= guard.next_look:
            text = self.lm.tokenizer.decode(row.tokens, skip_special_tokens=True)
            reason = guard.look(text, len(row.tokens), GUARD_EVERY)
            if reason is not None:
                self._finish(engine, row, reason)
                return
        if now - self.last_emit.get(key, 0.0) >= PROGRESS_INTERVAL:
            text = text if text is not None else self.lm.tokenizer.decode(row.tokens, skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                self.last_emit[key] = now
                self.emit(ChunkProgress(index=key, text=text, tokens=len(row.tokens)))

    def _finish(self, engine, row, halted: str | None) -> None:
        key = row.request.key
        chunk = self.plan.chunks[key]
        raw = self.lm.tokenizer.decode(row.tokens, skip_special_tokens=True)
        engine.release(row)
        self.guards.pop(key, None)
        self.suspects.discard(key)
        self.cleaned_any = True
        self.first_done = True
        self.emit(ChunkDone(
            index=key,
            chunk=chunk,
            output=tidy_output(raw, chunk.text),
            source="llm",
            model_output=raw,
            seconds=round(time.perf_counter() - row.started, 3),
            tokens=len(row.tokens) + (1 if row.finished == "end" else 0),
            drafted=row.drafted,
            accepted=row.accepted,
            halted=halted,
        ))

    def _recover(self, engine, error: Exception):
        """After an exception in admit or step: put the chunks in flight back, and decide."""
        oom = _is_oom(error)
        if not oom and not self.cleaned_any:
            raise error  # nothing has worked yet: a bug or a broken model, not a bad chunk
        in_flight = [row.request for row in engine.rows] if engine is not None else []
        if self._admitting is not None:
            in_flight.append(self._admitting)
            self._admitting = None
        self.guards.clear()
        _free_memory(str(self.lm.device))
        if oom and self.slots > 1:
            self.slots = max(1, self.slots // 2)  # and stay smaller
        elif oom or (len(in_flight) == 1 and in_flight[0].key in self.suspects):
            # Alone and failing: this chunk is the problem. (Out of memory with an empty
            # engine means even one row does not fit: the next chunk fails, the run goes on.)
            failed = in_flight.pop() if in_flight else (self.pending.popleft() if self.pending else None)
            if failed is None:
                raise error
            self.suspects.discard(failed.key)
            why = f"out of memory while cleaning this chunk ({type(error).__name__})" if oom else (
                f"cleaning this chunk failed: {type(error).__name__}: {' '.join(str(error).split())[:200]}"
            )
            chunk = self.plan.chunks[failed.key]
            self.emit(ChunkDone(index=chunk.index, chunk=chunk, output=chunk.text, source="failed", error=why))
        elif not in_flight:
            raise error
        else:
            self.suspects.update(r.key for r in in_flight)  # retried one at a time
        for request in sorted(in_flight, key=lambda r: r.key, reverse=True):
            self.pending.appendleft(request)
        return None  # a fresh engine: the failed pass may have left the cache half written

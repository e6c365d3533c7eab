"""The engine PDF Cleaner had before copy-anchored decoding: plain batched generate(), kept
as a baseline for bench/throughput.py and bench/quality.py (it is not used by the app).

Chunks go through transformers' generate() in left-padded batches, length-sorted within
windows of 4 batches, with the system prompt's key/value cache shared; every row of a batch
waits for the batch's longest row, and a row runs until end of text or max_new_tokens. The
prompts are the app's own (pipeline.prompt), so a comparison measures decoding only.

    for event in clean_chunks(chunks, settings, lm):
        ...  # ChunkProgress, ChunkDone (document order)
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from pipeline.engine import _attention_backends, kv_bytes_per_token
from pipeline.events import Chunk, ChunkDone, ChunkProgress
from pipeline.schedule import _common_prefix, _free_memory, _is_oom, _memory_budget, eos_ids
from pipeline.stage import deliver
from pipeline.prompt import default_system_prompt, prompt_ids, tidy_output
from pipeline.settings import Settings

PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one chunk, at most
WINDOW_BATCHES = 4  # chunks are length-sorted within windows of this many batches
MIN_PREFIX_TOKENS = 8  # below this, reusing the shared prefix is not worth a copy
STATIC_CACHE_DEVICES = {"cpu"}  # where a preallocated cache beats a growing one (measured)
# Prompt tokens per prefill forward pass: bounds the activations of a wide batch (on CPU,
# -250 MB peak resident for 16 rows at the same speed); None = the whole prompt at once.
PREFILL_CHUNK = {"cpu": 128, "mps": 256}

# ---------------------------------------------------------------------------------------------
# batch size


DEVICE_CAPS = {"cpu": 16, "mps": 16, "cuda": 64}


def choose_batch_size(model, device: str, lengths: Sequence[int], max_new_tokens: int) -> int:
    """Chunks per generate() call when settings.batch_size is None.

    The rule: the largest size that (a) is at most the device cap (cpu 16, mps 16, cuda 64),
    (b) keeps the batch's key/value cache, (longest prompt + max_new_tokens) tokens per row,
    within budget (cuda: half the free memory; cpu/mps: a quarter of available RAM, at most
    768 MiB, which keeps the bundled model under 2 GB resident; a dynamic cache counts twice,
    since it is copied as it grows), and (c) is no larger than the number of chunks; then
    evened out so the batches have about equal sizes (20 chunks at cap 16 -> 2 batches of 10).
    Bundled model on CPU, prompts up to ~650 tokens, before evening out: 16 at 64-256 new
    tokens, 14 at 512 (102 chunks: batches of 15, or of 13 at 512).
    """
    n = len(lengths)
    if n == 0:
        return 1
    kind = device.split(":")[0]
    cap = DEVICE_CAPS.get(kind, 8)
    copies = 1 if kind in STATIC_CACHE_DEVICES else 2
    row_bytes = (max(lengths) + max_new_tokens) * kv_bytes_per_token(model) * copies
    size = max(1, min(cap, _memory_budget(device) // max(1, row_bytes), n))
    batches = -(-n // size)
    return -(-n // batches)


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions grouped into batches: length-sorted within windows of WINDOW_BATCHES batches
    in document order; in each window the batch holding the earliest chunk runs first.

    plan_batches([5, 9, 6, 8], 2) -> [[2, 0], [1, 3]]
    """
    if batch_size <= 1:
        return [[i] for i in range(len(lengths))]
    window = batch_size * WINDOW_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(lengths), window):
        positions = sorted(range(start, min(start + window, len(lengths))), key=lambda i: (-lengths[i], i))
        group = [positions[k : k + batch_size] for k in range(0, len(positions), batch_size)]
        group.sort(key=min)
        batches.extend(group)
    return batches


# ---------------------------------------------------------------------------------------------
# streaming and stopping


class BatchStreamer:
    """Receives generate()'s tokens for a whole batch; decodes each row's new tokens.

    generate() first calls put() with the (batch, prompt) input ids, then once per decoding
    step with a (batch,) tensor of the new tokens. Rows that have produced an EOS are done:
    generate keeps feeding them pad tokens, which are ignored here.
    """

    def __init__(self, tokenizer, rows: Sequence[int], eos_ids: set[int], emit, interval: float | None = None):
        self.tokenizer = tokenizer
        self.rows = list(rows)  # chunk index of each row
        self.eos_ids = eos_ids
        self.emit = emit  # called with a ChunkProgress
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.ids: list[list[int]] = [[] for _ in self.rows]
        self.done = [False] * len(self.rows)
        self.finished_at: list[float | None] = [None] * len(self.rows)
        self.last_emit = [0.0] * len(self.rows)
        self.emitted_tokens = [0] * len(self.rows)
        self.prompt_seen = False
        self.steps = 0
        self.ended = False

    # BaseStreamer interface (duck-typed: transformers only calls put() and end())
    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True  # the first call carries the prompt ids: not new text
            return
        tokens = value.reshape(-1).tolist()
        self.steps += 1
        now = time.perf_counter()
        for row, token in enumerate(tokens[: len(self.rows)]):
            if self.done[row]:
                continue
            self.ids[row].append(token)
            if token in self.eos_ids:
                self.done[row] = True
                self.finished_at[row] = now
            self._maybe_emit(row, now)

    def end(self) -> None:
        self.ended = True

    def text(self, row: int) -> str:
        ids = self.ids[row]
        if ids and ids[-1] in self.eos_ids:
            ids = ids[:-1]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _maybe_emit(self, row: int, now: float) -> None:
        if self.done[row] or now - self.last_emit[row] < self.interval:
            return  # a finished row is reported by its ChunkDone
        text = self.text(row)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return
        self.last_emit[row] = now
        self.emitted_tokens[row] = len(self.ids[row])
        self.emit(ChunkProgress(index=self.rows[row], text=text, tokens=len(self.ids[row])))


class StopOnEvent:
    """StoppingCriteria: every row stops at the next step once the event is set."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


@functools.lru_cache(maxsize=None)
def _stop_class():
    from transformers import StoppingCriteria

    class _Stop(StopOnEvent, StoppingCriteria):
        pass

    return _Stop


def _stopping_criteria_list(*events):
    from transformers import StoppingCriteriaList

    return StoppingCriteriaList([_stop_class()(*events)])


@functools.lru_cache(maxsize=None)
def _streamer_class():
    from transformers.generation.streamers import BaseStreamer

    class _Streamer(BatchStreamer, BaseStreamer):
        pass

    return _Streamer


# ---------------------------------------------------------------------------------------------
# the engine


@dataclass
class _Job:
    """What the worker thread needs; shared read-only with the consumer."""

    chunks: list[Chunk]
    ids: list[list[int]]
    prefix: int  # shared prompt tokens whose cache is reused (0 = no reuse)
    batches: deque
    settings: Settings
    lm: Any
    generate_kwargs: dict
    cap: int
    cache_kind: str | None = None  # "static", "dynamic", or None: generate() builds its own
    prefix_cache: Any = None
    eos: set = field(default_factory=set)
    cleaned_any: bool = False  # some batch finished: a later exception is that chunk's, not a bug
    emit: Any = None  # hands an event to the consumer (pipeline.stage.deliver)
    halted: Any = None  # set when the run must stop (is_set())


def _cache_kind(model, device: str) -> str | None:
    """"static" or "dynamic" when the engine can build and prefill the cache itself, else None.

    Only full-attention layers qualify (a sliding-window or linear-attention layer cannot be
    extended after a shared prefix this way). On CPU a preallocated static cache is faster:
    a dynamic cache concatenates (copies) every layer's keys and values at every step.
    """
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        layers = DynamicCache(config=model.config).layers
    except Exception:  # an architecture whose cache cannot be built standalone
        return None
    if not layers or not all(type(layer) is DynamicLayer for layer in layers):
        return None
    return "static" if device.split(":")[0] in STATIC_CACHE_DEVICES else "dynamic"


def _prefix_cache(job: _Job):
    import torch
    from transformers import DynamicCache

    model = job.lm.model
    ids = torch.tensor([job.ids[0][: job.prefix]], device=model.device)
    with torch.no_grad():
        out = model(input_ids=ids, past_key_values=DynamicCache(config=model.config), use_cache=True)
    return out.past_key_values


def _batch_inputs(job: _Job, positions: list[int], max_new_tokens: int):
    """input_ids, attention_mask and cache for one batch: [prefix][pad][tail] rows."""
    import torch

    pad = job.lm.tokenizer.pad_token_id
    p = job.prefix
    tails = [job.ids[i][p:] for i in positions]
    width = max(len(t) for t in tails)
    input_ids, mask = [], []
    for tail in tails:
        gap = width - len(tail)
        input_ids.append(job.ids[positions[0]][:p] + [pad] * gap + tail)
        mask.append([1] * p + [0] * gap + [1] * len(tail))
    device = job.lm.model.device
    rows = len(positions)
    cache = None
    if job.cache_kind == "static":
        from transformers import StaticCache

        cache = StaticCache(config=job.lm.model.config, max_cache_len=p + width + max_new_tokens)
        if p:
            for layer, shared in zip(cache.layers, job.prefix_cache.layers):
                layer.update(shared.keys.expand(rows, -1, -1, -1), shared.values.expand(rows, -1, -1, -1))
    elif p:
        cache = copy.deepcopy(job.prefix_cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
    return (
        torch.tensor(input_ids, dtype=torch.long, device=device),
        torch.tensor(mask, dtype=torch.long, device=device),
        cache,
    )


def _sampling_kwargs(settings: Settings) -> dict:
    if settings.temperature and settings.temperature > 0:
        return {"do_sample": True, "temperature": float(settings.temperature), "top_p": float(settings.top_p)}
    return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}


def _run_batch(job: _Job, positions: list[int]) -> None:
    """Generate one batch and put a ChunkDone on the queue for each finished row."""
    import torch

    lm = job.lm
    emit = job.emit
    streamer = _streamer_class()(lm.tokenizer, [job.chunks[i].index for i in positions], job.eos, emit)
    max_new_tokens = int(job.generate_kwargs.get("max_new_tokens", job.settings.max_new_tokens))
    input_ids, mask, cache = _batch_inputs(job, positions, max_new_tokens)
    kwargs = dict(
        input_ids=input_ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        pad_token_id=lm.tokenizer.pad_token_id,
        eos_token_id=sorted(job.eos),
        streamer=streamer,
        stopping_criteria=_stopping_criteria_list(job.halted),
        **_sampling_kwargs(job.settings),
    )
    if cache is not None:
        kwargs["past_key_values"] = cache
        chunk = PREFILL_CHUNK.get(lm.device.split(":")[0])
        if chunk:
            kwargs["prefill_chunk_size"] = chunk
    kwargs.update(job.generate_kwargs)
    if job.settings.seed is not None:
        torch.manual_seed(job.settings.seed)
    started = time.perf_counter()
    with torch.inference_mode(), _attention_backends(lm.device):
        sequences = lm.model.generate(**kwargs)
    ended = time.perf_counter()
    new = sequences[:, input_ids.shape[1] :].tolist()
    limit = kwargs["max_new_tokens"]
    for row, position in enumerate(positions):
        tokens = new[row]
        cut = next((k for k, t in enumerate(tokens) if t in job.eos), None)
        finished = cut is not None or len(tokens) >= limit
        if not finished:
            continue  # stopped before this row ended: not a result
        kept = tokens[:cut] if cut is not None else tokens
        raw = lm.tokenizer.decode(kept, skip_special_tokens=True)
        chunk = job.chunks[position]
        finished_at = streamer.finished_at[row] or ended
        emit(
            ChunkDone(
                index=chunk.index,
                chunk=chunk,
                output=tidy_output(raw, chunk.text),
                source="llm",
                model_output=raw,
                guard=None,
                seconds=round(finished_at - started, 3),
                tokens=len(kept) + (1 if cut is not None else 0),
            )
        )


def _work(job: _Job) -> None:
    """Run batches until done or stopped (in pipeline.stage.deliver's worker thread)."""
    if job.prefix:
        job.prefix_cache = _prefix_cache(job)
    while job.batches and not job.halted.is_set():
        positions = job.batches.popleft()
        if len(positions) > job.cap:  # an earlier batch ran out of memory: stay smaller
            job.batches.appendleft(positions[job.cap :])
            positions = positions[: job.cap]
        try:
            _run_batch(job, positions)
            job.cleaned_any = True
        except Exception as error:  # noqa: BLE001 - memory errors and per-chunk failures
            oom = _is_oom(error)
            if not oom and not job.cleaned_any:
                raise  # nothing has worked yet: a bug or a broken model, not a bad chunk
            if oom:
                _free_memory(job.lm.device)
            if len(positions) > 1:
                if oom:  # halve and stay smaller; other errors: find the chunk, one at a time
                    half = len(positions) // 2
                    job.cap = max(1, half)
                    job.batches.appendleft(positions[half:])
                    job.batches.appendleft(positions[:half])
                else:
                    job.batches.extendleft([p] for p in reversed(positions))
                continue
            chunk = job.chunks[positions[0]]
            why = f"out of memory while cleaning this chunk ({type(error).__name__})" if oom else (
                f"cleaning this chunk failed: {type(error).__name__}: {' '.join(str(error).split())[:200]}"
            )
            job.emit(ChunkDone(index=chunk.index, chunk=chunk, output=chunk.text, source="failed", error=why))


def clean_chunks(
    chunks: Sequence[Chunk],
    settings: Settings,
    model,
    *,
    stop: threading.Event | None = None,
    system_prompt: str | None = None,
    generate_kwargs: dict | None = None,
    reuse_prefix: bool = True,
) -> Iterator[ChunkProgress | ChunkDone]:
    """Clean `chunks` with `model` (a pipeline.model.LoadedModel); yield progress and results.

    ChunkProgress events may come for any chunk in flight; ChunkDone events come once per
    finished chunk, in chunk index order. `stop` ends the work within one decoding step;
    closing this generator does too. `system_prompt` overrides settings.system_prompt and
    prompts/clean.txt. `generate_kwargs` are passed on to model.generate (benchmarks pass
    min_new_tokens); `reuse_prefix=False` encodes the system prompt in every row instead of
    reusing its cache (for measuring).
    """
    ordered = sorted(chunks, key=lambda c: c.index)
    if not ordered:
        return
    lm = model
    tokenizer = lm.tokenizer
    system = system_prompt or settings.system_prompt or default_system_prompt()
    ids = [prompt_ids(tokenizer, c.text, system) for c in ordered]
    lengths = [len(x) for x in ids]
    size = settings.batch_size or choose_batch_size(lm.model, lm.device, lengths, settings.max_new_tokens)
    size = max(1, int(size))
    cache_kind = _cache_kind(lm.model, lm.device)
    prefix = 0
    if reuse_prefix and cache_kind is not None:
        prefix = min(_common_prefix(ids), min(lengths) - 1)
        if prefix < MIN_PREFIX_TOKENS:
            prefix = 0
    stop = stop if stop is not None else threading.Event()
    job = _Job(
        chunks=ordered,
        ids=ids,
        prefix=prefix,
        batches=deque(plan_batches(lengths, size)),
        settings=settings,
        lm=lm,
        generate_kwargs=dict(generate_kwargs or {}),
        cap=size,
        cache_kind=cache_kind,
        eos=eos_ids(lm.model, tokenizer),
    )

    def work(emit, halted) -> None:
        job.emit, job.halted = emit, halted
        _work(job)

    yield from deliver(ordered, work, stop, name="pdf-cleaner-generate")

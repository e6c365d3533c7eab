"""The in-process decoding engine: many rows at once, drafts from the source, a copy bias.

    engine = Engine(lm, Decoding(...), slots=8, capacity=1600, prefix=ids[:p])
    engine.admit(Request(key=0, prompt=ids, source=src, budget=420))   # prefill one row
    for row in engine.step():   # one forward pass for every row; rows that changed
        ...                     # row.tokens, row.finished ("end", "budget")
    engine.release(row)         # frees its slot for the next chunk

**Drafts from the source.** Each row carries an `Anchor` (pipeline.anchor) into its chunk's
token ids. While the row copies, the next k source tokens are its draft; one forward pass
verifies every row's draft at once, and each row keeps its longest agreeing prefix plus the
model's own next token. Greedy decoding keeps exactly the tokens plain greedy decoding would
write; sampling uses speculative sampling (a draft token d is kept with probability p(d), and a
rejected one is replaced by a draw from p without d), which draws from the same distribution
as plain sampling. The prefill of a new row verifies its first draft too.

**Copy bias.** With `copy_bias` b > 0, the token copying would write next gets +b on its
logit before the choice, so a small model edits only where it prefers the edit by more than
b, and once the row has copied its whole source the end of text is forced. b = 0 is plain
decoding: drafts then only save time.

**Rows of different lengths.** All rows share one time axis in a preallocated cache
(`SlotCache`: per layer, keys and values of shape (slots, kv heads, capacity, head dim)). A
forward pass writes the same q slots of every row; a per-row mask of valid slots says what
each row may attend to, and per-row position ids keep every token at its own position. A
rejected draft token leaves an invalid slot behind; rows accept different lengths without
waiting for each other. When the axis is full, each row's valid slots are packed to the right
(`_compact`). A new row is prefilled alone, right-aligned to the current end of the axis, with
the system prompt's keys and values copied in (computed once per engine). Active rows are
kept packed in slots 0..n-1, so each pass runs on n rows only.

The first forward pass checks that the model's output head on its hidden states gives its
logits; the engine then computes logits only where a choice is made. Models whose layers are
not all full attention (sliding windows, linear attention) are refused: `supports(model)`.

**Stopping inside a pass.** With `interrupt` (a function saying the run must end), the
engine looks at it before each decoder layer, at most every INTERRUPT_EVERY seconds, and
abandons the pass with `Interrupted`: a long prefill or a pass of many rows stops within
a layer. The cache is then half written, so the caller discards the engine (the run ends).

Not here: which chunk goes into which slot and when, out-of-memory halving
(pipeline.schedule); prompts (pipeline.prompt).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pipeline.anchor import Anchor

ATTENTION = "pdf_cleaner_sdpa"
INTERRUPT_EVERY = 0.02  # seconds between two looks at the stop signal inside a forward pass


class Interrupted(Exception):
    """A forward pass was abandoned because the run is stopping (Engine's `interrupt`). The
    engine's cache is left half written: the engine is not used again."""


# ---------------------------------------------------------------------------------------------
# attention: scaled_dot_product_attention on grouped heads without copying the keys


def _grouped_sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """SDPA with grouped-query heads handled by the kernel on CPU (`enable_gqa`).

    transformers' own SDPA path copies every key and value `num_key_value_groups` times when a
    mask is given; on a CPU that copy was 47% of a 16-row verification pass (measured with the
    profiler). With a boolean mask the CPU kernel takes grouped heads directly. Everything else
    (CUDA, float masks, no mask) goes to transformers' own function.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if (
        query.device.type == "cpu"
        and groups > 1
        and attention_mask is not None
        and attention_mask.dtype == torch.bool
        and attention_mask.dim() == 4
    ):
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, scale=scaling, enable_gqa=True
        )
        return out.transpose(1, 2).contiguous(), None
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


@functools.lru_cache(maxsize=None)
def _register_attention() -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION, _grouped_sdpa)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, sdpa_mask)
    return ATTENTION


def _attention_kind(model) -> str:
    """Make the model's attention take our 4-D masks; "bool" or "float" masks from then on."""
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl == "eager":
        return "float"
    if impl != ATTENTION:
        model.set_attn_implementation(_register_attention())
    return "bool"


def _attention_backends(device: str):
    """On CUDA: scaled_dot_product_attention without its cuDNN backend.

    Measured on an H100 (torch 2.11, docs/PERFORMANCE.md): in a worker thread, cuDNN's
    per-shape set-up made each decoding step 3-4x slower; flash and memory-efficient
    attention had no such cost. The key length changes every step here too.
    """
    if not device.startswith("cuda"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def supports(model) -> str | None:
    """None when the engine can run `model`, else why not (in words)."""
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        layers = DynamicCache(config=model.config).layers
    except Exception as error:  # noqa: BLE001 - an architecture whose cache cannot be built standalone
        return f"its cache cannot be built ({type(error).__name__})"
    if not layers or not all(type(layer) is DynamicLayer for layer in layers):
        return "some of its layers are not full attention (sliding-window or linear attention)"
    return None


def kv_bytes_per_token(model) -> int:
    """Bytes of keys and values one token takes in the cache, all layers."""
    config = getattr(model.config, "get_text_config", lambda: model.config)()
    layers = getattr(config, "num_hidden_layers", 24)
    heads = getattr(config, "num_attention_heads", 16)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "hidden_size", 2048) // heads
    element = next(model.parameters()).element_size()
    return 2 * layers * kv_heads * head_dim * element


# ---------------------------------------------------------------------------------------------
# stopping inside a forward pass

# The stop check of the pass running in this thread (None: not interruptible). Hooks are put on
# a model's layers once and read it, so a model shared by several engines and threads only
# answers to the check of the pass it is running.
_STOP_CHECK: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar("pdf_cleaner_stop",
                                                                                         default=None)


def _decoder_layers(base) -> list:
    """The decoder's layers (the `layers` list transformers' decoders have), or [] if none."""
    import torch.nn as nn

    layers = getattr(base, "layers", None)
    return list(layers) if isinstance(layers, nn.ModuleList) else []


def _before_layer(module, args) -> None:
    check = _STOP_CHECK.get()
    if check is not None and check():
        raise Interrupted()


def _make_interruptible(base) -> bool:
    """Look at the stop check before each decoder layer (hooks put on once per model); False
    when the model has no layers to hook (it then stops between passes only)."""
    if getattr(base, "_pdf_cleaner_interruptible", None) is None:
        layers = _decoder_layers(base)
        for layer in layers:
            layer.register_forward_pre_hook(_before_layer)
        base._pdf_cleaner_interruptible = bool(layers)
    return base._pdf_cleaner_interruptible


class _Throttled:
    """`interrupt()` at most every INTERRUPT_EVERY seconds: a file-based stop signal costs a
    system call, and a layer of a small model takes well under a millisecond on a GPU."""

    def __init__(self, interrupt: Callable[[], bool]):
        self.interrupt, self.next_look = interrupt, 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self.next_look:
            return False
        self.next_look = now + INTERRUPT_EVERY
        return bool(self.interrupt())


# ---------------------------------------------------------------------------------------------
# the cache


class _Window:
    """Where the next forward pass writes: rows [first, last) of the slots, from time slot `at`;
    attention sees time slots from `low` on (no row of the pass has a valid slot before it)."""

    __slots__ = ("first", "last", "at", "low")

    def __init__(self):
        self.first, self.last, self.at, self.low = 0, 0, 0, 0


def _slot_layer_class():
    from transformers.cache_utils import CacheLayerMixin

    class SlotLayer(CacheLayerMixin):
        """One layer's keys and values on the shared time axis; writes where the window says."""

        is_sliding = False

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, window: _Window):
            super().__init__()
            self.keys, self.values, self.window = keys, values, window
            self.device = keys.device
            self.is_initialized = True

        def lazy_initialization(self, key_states, value_states) -> None:  # preallocated
            pass

        def update(self, key_states, value_states, *args, **kwargs):
            w = self.window
            stop = w.at + key_states.shape[-2]
            self.keys[w.first : w.last, :, w.at : stop] = key_states
            self.values[w.first : w.last, :, w.at : stop] = value_states
            return self.keys[w.first : w.last, :, w.low : stop], self.values[w.first : w.last, :, w.low : stop]

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.window.at + query_length - self.window.low, self.window.low

        def get_seq_length(self) -> int:
            return self.window.at

        def get_max_length(self) -> int:
            return self.keys.shape[2]

    return SlotLayer


def make_slot_cache(model, slots: int, capacity: int):
    """A transformers Cache whose layers hold preallocated (slots, kv heads, capacity, head dim)
    keys and values, all written through one shared `_Window` (the cache's `.window`)."""
    from transformers.cache_utils import Cache

    config = getattr(model.config, "get_text_config", lambda: model.config)()
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    param = next(model.parameters())
    window = _Window()
    layer = _slot_layer_class()
    shape = (slots, kv_heads, capacity, head_dim)
    layers = [
        layer(torch.zeros(shape, dtype=param.dtype, device=param.device),
              torch.zeros(shape, dtype=param.dtype, device=param.device), window)
        for _ in range(config.num_hidden_layers)
    ]
    cache = Cache(layers=layers)
    cache.window = window
    return cache


# ---------------------------------------------------------------------------------------------
# rows


@dataclass(frozen=True)
class Decoding:
    """How rows choose their tokens."""

    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    copy_bias: float = 0.0  # logit bonus for the token copying would write; > 0 also forces the end
    draft_tokens: int = 32  # source tokens verified per pass at most; 0 = no drafting
    seed: int | None = None


@dataclass(frozen=True)
class Request:
    """One chunk for the engine."""

    key: int  # the caller's name for it (the chunk index)
    prompt: list[int]  # the templated prompt's ids
    source: list[int]  # the ids of the chunk itself (drafts and bias come from it)
    budget: int  # new tokens at most


@dataclass
class Row:
    request: Request
    anchor: Anchor
    pending: int = -1  # the last token chosen, not yet in the cache
    position: int = 0  # its position id
    tokens: list[int] = field(default_factory=list)  # chosen tokens, the end token excluded
    finished: str | None = None  # "end" (end of text) or "budget"
    draft_len: int = 0  # tokens to draft next time: grows while drafts are kept, shrinks on a miss
    drafted: int = 0  # draft tokens offered
    accepted: int = 0  # draft tokens kept
    passes: int = 0  # forward passes this row took part in
    started: float = field(default_factory=time.perf_counter)


# ---------------------------------------------------------------------------------------------
# the engine


class Engine:
    supports = staticmethod(supports)

    def __init__(self, lm, decoding: Decoding, *, slots: int, capacity: int, prefix: list[int],
                 eos_ids: set[int], end_token: int, interrupt: Callable[[], bool] | None = None):
        self.lm = lm
        self.model = lm.model
        self.device = str(lm.device)
        self.decoding = decoding
        self.slots = slots
        self.capacity = capacity
        self.eos_ids = set(eos_ids)
        self.end_token = end_token
        self.mask_kind = _attention_kind(self.model)
        self.base = self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model.model
        self.head = self.model.get_output_embeddings()
        # Stop within a layer, not a whole pass: a prefill or a pass of many rows takes a
        # second or more on a CPU. Interrupted is raised from the pass; the caller drops us.
        self._stop_check = _Throttled(interrupt) if interrupt is not None and _make_interruptible(self.base) else None
        params = inspect.signature(self.base.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._cache_position = "cache_position" in params
        self.cache = make_slot_cache(self.model, slots, capacity)
        self.window = self.cache.window
        self.valid = torch.zeros(slots, capacity, dtype=torch.bool, device=self.model.device)
        self.end = 0  # time slots [0, end) are in use; valid[:, end:] is all False
        self.rows: list[Row] = []  # row i lives in slot i
        self._split_head = _remembered(self.model, "head", (), self._head_matches)
        self.generator = torch.Generator(device=self.model.device)
        if decoding.seed is not None:
            self.generator.manual_seed(int(decoding.seed))
        else:
            self.generator.seed()
        self.passes = 0
        self.tokens_in = 0  # tokens run through the model (prefill and verification), padding included
        self.tokens_used = 0  # of those, the ones a choice was made from or kept in the cache
        self.attended = 0  # query x key pairs attention covered
        self.compactions = 0
        self.prefix = list(prefix)
        self._prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        if self.prefix:
            self._encode_prefix()

    # --- forward ------------------------------------------------------------------------------

    def _head_matches(self) -> bool:
        """Does the output head on the decoder's hidden states give the model's own logits?
        Checked once on a two-token input. Models that scale or cap their logits in forward()
        fail it and get whole-model logits instead (more compute, same choices)."""
        ids = torch.tensor([[self.end_token, self.end_token]], device=self.model.device)
        with torch.inference_mode():
            full = self.model(input_ids=ids, use_cache=False).logits[:, -1].float()
            ours = self.head(self.base(input_ids=ids, use_cache=False).last_hidden_state[:, -1]).float()
        return bool(torch.allclose(ours, full, rtol=1e-4, atol=1e-4))

    def _forward(self, first: int, last: int, at: int, ids: torch.Tensor, positions: torch.Tensor,
                 key_valid: torch.Tensor) -> torch.Tensor:
        """Run rows [first, last) on `ids` (n, q) written at time slots [at, at + q); each query
        sees the keys `key_valid` (n, at) marks and the new ones causally. Returns what
        `_logits` turns into logits: hidden states, or the logits themselves.

        Attention starts at the first slot any of these rows uses: a new row's prefill does
        not pay for the slots other rows filled before it."""
        n, q = ids.shape
        used = key_valid.any(dim=0)
        low = int(used.to(torch.int8).argmax()) if bool(used.any()) else at
        key_valid = key_valid[:, low:]
        causal = torch.ones(q, q, dtype=torch.bool, device=ids.device).tril()
        mask = torch.cat([key_valid[:, None, None, :].expand(n, 1, q, at - low), causal.expand(n, 1, q, q)], dim=-1)
        if self.mask_kind == "float":
            dtype = next(self.model.parameters()).dtype
            mask = torch.zeros(mask.shape, dtype=dtype, device=ids.device).masked_fill(~mask, torch.finfo(dtype).min)
        self.window.first, self.window.last, self.window.at, self.window.low = first, last, at, low
        kwargs = {self._cache_arg: self.cache, "use_cache": True, "attention_mask": mask, "position_ids": positions}
        if self._cache_position:
            kwargs["cache_position"] = torch.arange(at, at + q, device=ids.device)
        self.passes += 1
        self.tokens_in += n * q
        self.attended += n * q * (at + q - low)
        watching = _STOP_CHECK.set(self._stop_check)
        try:
            with torch.inference_mode(), _attention_backends(self.device):
                if not self._split_head:
                    return self.model(input_ids=ids, **kwargs).logits
                return self.base(input_ids=ids, **kwargs).last_hidden_state
        finally:
            _STOP_CHECK.reset(watching)

    def _logits(self, outputs: torch.Tensor) -> torch.Tensor:
        """Float32 logits for the selected rows of `_forward`'s outputs (m, H or V)."""
        if not self._split_head:
            return outputs.float()
        with torch.inference_mode():
            return self.head(outputs).float()

    # --- prefix, admission, release -----------------------------------------------------------

    def _encode_prefix(self) -> None:
        """Keys and values of the shared system prompt: computed in slot 0 once, then kept
        with the model for the next engine with the same prompt."""

        def encode():
            p = len(self.prefix)
            self._make_room(p)
            device = self.model.device
            ids = torch.tensor([self.prefix], device=device)
            positions = torch.arange(p, device=device)[None]
            self._forward(0, 1, 0, ids, positions, self.valid[:1, :0])
            return [(layer.keys[0, :, :p].clone(), layer.values[0, :, :p].clone()) for layer in self.cache.layers]

        self._prefix_kv = _remembered(self.model, "prefix", tuple(self.prefix), encode)

    @property
    def free(self) -> int:
        return self.slots - len(self.rows)

    def admit(self, request: Request) -> Row:
        """Prefill `request` in the next free slot and choose its first tokens (its first draft
        is verified in the same pass). The row may already be finished."""
        if not self.free:
            raise RuntimeError("no free slot")
        i = len(self.rows)
        prompt = request.prompt
        shared = len(self.prefix) if self.prefix and prompt[: len(self.prefix)] == self.prefix else 0
        row = Row(request=request, anchor=Anchor(request.source, self.end_token), draft_len=self.decoding.draft_tokens)
        draft = self._draft(row)
        width = len(prompt) - shared + len(draft)
        self._make_room(len(draft), floor=len(prompt))
        if self.end < len(prompt):
            self.end = len(prompt)  # the other rows see nothing in the slots this skips
        start = self.end - len(prompt)
        self.valid[i, :] = False
        if shared:  # the system prompt's keys and values, computed once
            for layer, (keys, values) in zip(self.cache.layers, self._prefix_kv):
                layer.keys[i, :, start : start + shared] = keys
                layer.values[i, :, start : start + shared] = values
            self.valid[i, start : start + shared] = True
        device = self.model.device
        ids = torch.tensor([prompt[shared:] + draft], device=device)
        positions = torch.arange(shared, shared + width, device=device)[None]
        at = start + shared
        hidden = self._forward(i, i + 1, at, ids, positions, self.valid[i : i + 1, :at])
        decide_from = len(prompt) - shared - 1  # the prompt's last token predicts the first output token
        self.tokens_used += width
        logits = self._logits(hidden[0, decide_from:])
        self.valid[i, at : at + decide_from + 1] = True  # the prompt is in the cache
        kept = self._choose([row], [draft], [logits])[0]
        self.valid[i, at + decide_from + 1 : at + decide_from + 1 + kept] = True  # accepted drafts
        row.position = len(prompt) + kept
        self.end = at + width
        self.rows.append(row)
        return row

    def release(self, row: Row) -> None:
        """Free the row's slot: the last row moves into it, so rows stay packed."""
        i = self.rows.index(row)
        last = len(self.rows) - 1
        if i != last:
            for layer in self.cache.layers:
                layer.keys[i, :, : self.end] = layer.keys[last, :, : self.end]
                layer.values[i, :, : self.end] = layer.values[last, :, : self.end]
            self.valid[i] = self.valid[last]
            self.rows[i] = self.rows[last]
        self.valid[last] = False
        self.rows.pop()
        if not self.rows:
            self.end = 0

    # --- one pass -------------------------------------------------------------------------------

    def _draft(self, row: Row) -> list[int]:
        room = row.request.budget - len(row.tokens) - (1 if row.pending >= 0 else 0) - 1
        return row.anchor.draft(min(row.draft_len, room)) if room > 0 else []

    def step(self) -> list[Row]:
        """One forward pass for every unfinished row: verify drafts, choose tokens. Returns the
        rows that took part (each has one or more new tokens, and may be finished)."""
        rows = [r for r in self.rows if r.finished is None]
        if not rows:
            return []
        if len(rows) != len(self.rows):
            raise RuntimeError("release finished rows before the next step")
        n = len(rows)
        drafts = [self._draft(r) for r in rows]
        q = 1 + max(len(d) for d in drafts)
        self._make_room(q)
        device = self.model.device
        ids = torch.tensor([[r.pending] + d + [r.pending] * (q - 1 - len(d)) for r, d in zip(rows, drafts)], device=device)
        positions = torch.tensor([r.position for r in rows], device=device)[:, None] + torch.arange(q, device=device)
        at = self.end
        hidden = self._forward(0, n, at, ids, positions, self.valid[:n, :at])
        lengths = [1 + len(d) for d in drafts]
        self.tokens_used += sum(lengths)
        flat = torch.cat([hidden[k, :m] for k, m in enumerate(lengths)])
        logits = self._logits(flat).split(lengths)
        kept = self._choose(rows, drafts, list(logits))
        for k, (row, accepted) in enumerate(zip(rows, kept)):
            self.valid[k, at : at + 1 + accepted] = True  # the pending token and the kept drafts
            row.position += 1 + accepted
        self.end = at + q
        return rows

    def _choose(self, rows: list[Row], drafts: list[list[int]], logits: list[torch.Tensor]) -> list[int]:
        """Decide each row's new tokens from its logits (one per draft token, plus one), apply
        the copy bias and the forced end, and move its anchor. Returns drafts kept per row."""
        with torch.inference_mode():  # the logits are inference tensors, changed in place
            return [self._choose_row(row, draft, scores) for row, draft, scores in zip(rows, drafts, logits)]

    def _choose_row(self, row: Row, draft: list[int], scores: torch.Tensor) -> int:
        """One row's choice; returns how many of its draft tokens it kept."""
        dec = self.decoding
        scores = self._biased(row, scores)
        if dec.temperature and dec.temperature > 0:
            kept, chosen = self._sample(scores, draft)
        else:
            choice = scores.argmax(-1).tolist()
            kept = 0
            while kept < len(draft) and choice[kept] == draft[kept]:
                kept += 1
            chosen = choice[kept]
        row.drafted += len(draft)
        row.accepted += kept
        row.passes += 1
        # A kept draft doubles the next one (up to draft_tokens); a miss at position j
        # makes the next one j + 1 long, so a row that edits wastes little of each pass.
        if draft:
            full = kept == len(draft)
            row.draft_len = min(dec.draft_tokens, 2 * row.draft_len) if full else max(1, kept + 1)
        return self._take(row, draft[:kept] + [chosen])

    def _biased(self, row: Row, scores: torch.Tensor) -> torch.Tensor:
        """The copy bias on each position's expected token; the end forced where the source is
        used up. In place: `scores` are this pass's own logits, used once."""
        bias = self.decoding.copy_bias
        if not bias or not row.anchor.synced:
            return scores
        for j in range(scores.shape[0]):
            expected = row.anchor.expected(j)
            if expected is None:
                break
            if row.anchor.pointer + j >= len(row.anchor.source):  # the source is used up: end here
                scores[j].fill_(float("-inf"))
                scores[j, expected] = 0.0
                break
            scores[j, expected] += bias
        return scores

    def _sample(self, scores: torch.Tensor, draft: list[int]) -> tuple[int, int]:
        """Speculative sampling against a draft that proposes one token with certainty."""
        dec = self.decoding
        probs = _distribution(scores, dec.temperature, dec.top_p)
        kept = 0
        for j, token in enumerate(draft):
            u = torch.rand((), generator=self.generator, device=probs.device)
            if u < probs[j, token]:
                kept += 1
                continue
            rest = probs[j].clone()
            rest[token] = 0.0
            total = rest.sum()
            if total <= 0:  # the draft token had all the mass: it cannot be rejected
                kept += 1
                continue
            chosen = int(torch.multinomial(rest / total, 1, generator=self.generator))
            return kept, chosen
        chosen = int(torch.multinomial(probs[len(draft)], 1, generator=self.generator))
        return kept, chosen

    def _take(self, row: Row, tokens: list[int]) -> int:
        """Append chosen tokens to the row up to the end of text or its budget; returns how many
        of them are now in the cache's future (all but the last, which is pending)."""
        for n, token in enumerate(tokens):
            if token in self.eos_ids:
                row.finished = "end"
                return n
            row.tokens.append(token)
            row.anchor.advance(token)
            if len(row.tokens) >= row.request.budget:
                row.finished = "budget"
                return n
        row.pending = tokens[-1]
        return len(tokens) - 1

    # --- room on the time axis --------------------------------------------------------------------

    def _make_room(self, extra: int, floor: int = 0) -> None:
        """Room for `extra` slots after max(end, floor); packs the axis when it is full."""
        if max(self.end, floor) + extra <= self.capacity:
            return
        self._compact()
        if max(self.end, floor) + extra > self.capacity:
            raise RuntimeError(f"a row needs more than the cache's {self.capacity} slots")

    def _compact(self) -> None:
        """Pack each row's valid slots to the right of a new, smaller end of the time axis."""
        n = len(self.rows)
        self.compactions += 1
        if n == 0:
            self.end = 0
            return
        valid = self.valid[:n, : self.end]
        counts = valid.sum(dim=1)
        new_end = int(counts.max())
        # For row k, slot t < new_end takes old slot index[k, t]: its valid slots, in order,
        # right-aligned; the slots before them read old slot 0 and stay invalid.
        order = torch.argsort((~valid).to(torch.int32), dim=1, stable=True)  # valid slots first, in order
        pad = new_end - counts  # (n,)
        t = torch.arange(new_end, device=valid.device)[None, :].expand(n, new_end)
        source = (t - pad[:, None]).clamp(min=0)
        index = torch.gather(order, 1, source)
        index = torch.where(t >= pad[:, None], index, torch.zeros_like(index))
        for layer in self.cache.layers:
            for name in ("keys", "values"):
                tensor = getattr(layer, name)
                part = tensor[:n, :, : self.end]
                gathered = torch.gather(part, 2, index[:, None, :, None].expand(n, part.shape[1], new_end, part.shape[3]))
                tensor[:n, :, :new_end] = gathered
        self.valid[:n] = False
        self.valid[:n, :new_end] = t >= pad[:, None]
        self.end = new_end


def _remembered(model, kind: str, key: tuple, compute):
    """A value computed once per model and key, kept on the model (the last key per kind):
    the head check, and the system prompt's keys and values, which every run shares."""
    store = model.__dict__.setdefault("_pdf_cleaner_memo", {})
    held = store.get(kind)
    if held is None or held[0] != key:
        held = store[kind] = (key, compute())
    return held[1]


def _distribution(scores: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Probabilities after temperature and nucleus (top-p) filtering, one row per position."""
    probs = torch.softmax(scores / temperature, dim=-1)
    if top_p >= 1.0:
        return probs
    ordered, order = probs.sort(dim=-1, descending=True)
    before = ordered.cumsum(dim=-1) - ordered  # mass of the more likely tokens
    ordered = ordered.masked_fill(before >= top_p, 0.0)  # the most likely token always stays
    filtered = torch.zeros_like(probs).scatter(-1, order, ordered)
    return filtered / filtered.sum(dim=-1, keepdim=True)


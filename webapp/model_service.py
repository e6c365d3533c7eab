"""The web app's model: the default one, loaded once in the background at start-up, and the
line that tells visitors where it runs and how its load went.

    MODEL = ModelStatus(device=None, zero_gpu=False)
    MODEL.start(*pick_default_model(None))    # the bundled model, or a fallback, or none
    MODEL.ready.wait(); MODEL.line()          # "Device: CPU (2 threads) · Model: ... · ready ..."

With a served model (`served`: the operator's OpenAI-compatible server) nothing is loaded
here: the start-up check asks the server which models it serves, and the line says where
the model is served and whether the server answered.

What it does not do: no Gradio (app.py shows the line), no loading of its own
(pipeline.model loads and shares the model), no choice of what visitors may pick
(webapp/offered.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from pipeline import model as models
from pipeline.choose_model import AUTO, choose_model
from pipeline.errors import PipelineError

log = logging.getLogger("pdf_cleaner.app")

MODEL_ENV = "PDF_CLEANER_MODEL"
# Used when the bundled package is missing (a Space cannot install it with --no-deps).
FALLBACK_HUB_MODEL = "HuggingFaceTB/SmolLM2-360M-Instruct"


@dataclass
class ModelStatus:
    """The default model's background load: what, how far, how it went."""

    device: str | None = None  # the device asked for (None: the best one visible)
    zero_gpu: bool = False  # on a ZeroGPU Space a GPU is attached for each run
    name: str | None = None  # None: no model at all, rules only
    note: str = ""  # why this model (a fallback) or why none
    ready: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    seconds: float | None = None
    loaded_device: str = ""
    dtype: str = ""
    served: object | None = None  # webapp.form.ServedModel: the model runs on that server

    def start(self, name: str | None, note: str = "", *, background: bool = True) -> None:
        self.name, self.note = name, note
        self.ready.clear()
        if name is None:
            self.ready.set()
        elif background:
            threading.Thread(target=self._load, name="model-preload", daemon=True).start()
        else:
            self._load()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            if self.served is not None:
                names = served_model_names(self.served)
                if self.name not in names and len(names) > 0 and not _answers_any_name(names):
                    self.error = (f"the server at {self.served.api_base} does not serve {self.name!r}; "
                                  f"it serves: {', '.join(names)}.")
                return
            # On ZeroGPU, on the CPU first, then moved: its emulation catches only .to() (pipeline.model)
            loaded = models.get_model(self.name, device=self.device, load_on_cpu=self.zero_gpu)
            self.loaded_device, self.dtype = loaded.device, loaded.dtype
        except PipelineError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug: keep serving rules-only runs, but say it loudly
            log.exception("loading the model %r failed", self.name)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.seconds = time.perf_counter() - started
            self.ready.set()

    def device_label(self) -> str:
        if self.served is not None:
            return f"served at {self.served.api_base}"
        if self.zero_gpu:
            return "ZeroGPU (a GPU is attached for each run)"
        device = self.loaded_device or models.resolve_device(self.device)
        if device.startswith("cuda"):
            import torch

            return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
        if device == "mps":
            return "Apple GPU (MPS)"
        import torch

        return f"CPU ({torch.get_num_threads()} threads)"

    def watch(self, timeout: float = 600):
        """The line now, and again once the background load is over (a page load's handler)."""
        yield self.line()
        if not self.ready.is_set():
            self.ready.wait(timeout=timeout)
            yield self.line()

    def line(self) -> str:
        """One line: where the model runs, which model, and whether it is ready."""
        if self.name is None:
            state = self.note
        elif not self.ready.is_set():
            state = "loading…"
        elif self.error and self.served is not None:
            state = f"not available: {self.error} Tick 'rules only' in the settings to run without it."
        elif self.error:
            state = f"could not be loaded: {self.error} Tick 'rules only' in the settings to run without it."
        elif self.served is not None:
            state = f"the server answered in {self.seconds:.1f} s"
        else:
            state = f"ready ({self.dtype}, loaded in {self.seconds:.1f} s)"
            if self.note:
                state += f" · {self.note}"
        return f"Device: {self.device_label()} · Model: {model_label(self.name)} · {state}"


def pick_default_model(requested: str | None, served=None, device: str | None = None,
                       choose=None) -> tuple[str | None, str]:
    """The model to preload and a note for the page. A name given (the flag, else
    $PDF_CLEANER_MODEL) is used as it is; "auto" (the default) is the best model this machine
    can hold (pipeline.choose_model, whose reason becomes the note). When that is the bundled
    one and it is not installed: a small Hub model when the Hub may be reachable, else none
    (rules only). With a served model: its name (served_default_model). `choose`: the choice
    function (tests pass a fake)."""
    if served is not None:
        return served_default_model(requested, served), ""
    name = (requested or os.environ.get(MODEL_ENV) or AUTO).strip()
    note = ""
    if name == AUTO:
        choice = (choose or choose_model)(AUTO, device=device)
        name, note = choice.name, f"chosen as {choice.why}"
    if name != models.BUNDLED:
        return name, note
    try:
        models.bundled_gguf()
        return name, note
    except PipelineError as exc:
        if os.environ.get("HF_HUB_OFFLINE", "") in ("", "0"):
            return FALLBACK_HUB_MODEL, f"The bundled model is not installed here, so {FALLBACK_HUB_MODEL} is used. ({exc})"
        return None, f"No model is available, so runs are rules only. {exc}"


def served_default_model(requested: str | None, served) -> str:
    """The served model's name: the one the operator gave (--model or $PDF_CLEANER_MODEL),
    else the first the server lists; PipelineError in words when neither is there."""
    name = (requested or os.environ.get(MODEL_ENV) or "").strip()
    if name:
        return name
    names = served_model_names(served)
    if not names:
        raise PipelineError(f"the server at {served.api_base} lists no model: name it with --model.")
    return names[0]


def model_label(name: str | None) -> str:
    if name is None:
        return "none (rules only)"
    return "bundled SmolLM2-135M-Instruct" if name == models.BUNDLED else name


def served_model_names(served, timeout: float = 10.0) -> list[str]:
    """The model names the operator's server lists (pipeline.served.list_models)."""
    from pipeline.served import list_models

    return list_models(served.api_base, served.api_key, timeout)


def _answers_any_name(names: list[str]) -> bool:
    """llama.cpp's server lists its one model by file path and answers to any name."""
    return len(names) == 1 and names[0].endswith(".gguf")

"""The web app's model: the default one, loaded once in the background at start-up, and the
line that tells visitors where it runs and how its load went.

    MODEL = ModelStatus(device=None, zero_gpu=False)
    MODEL.start(*pick_default_model(None))    # the bundled model, or a fallback, or none
    MODEL.ready.wait(); MODEL.line()          # "Device: CPU (2 threads) · Model: ... · ready ..."

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
            loaded = models.get_model(self.name, device=self.device)
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
        elif self.error:
            state = f"could not be loaded: {self.error} Tick 'rules only' in the settings to run without it."
        else:
            state = f"ready ({self.dtype}, loaded in {self.seconds:.1f} s)"
            if self.note:
                state += f" · {self.note}"
        return f"Device: {self.device_label()} · Model: {model_label(self.name)} · {state}"


def pick_default_model(requested: str | None) -> tuple[str | None, str]:
    """The model to preload and a note for the page: the bundled one when it is installed,
    else a small Hub model when the Hub may be reachable, else none (rules only)."""
    name = (requested or os.environ.get(MODEL_ENV) or models.BUNDLED).strip()
    if name != models.BUNDLED:
        return name, ""
    try:
        models.bundled_gguf()
        return name, ""
    except PipelineError as exc:
        if os.environ.get("HF_HUB_OFFLINE", "") in ("", "0"):
            return FALLBACK_HUB_MODEL, f"The bundled model is not installed here, so {FALLBACK_HUB_MODEL} is used. ({exc})"
        return None, f"No model is available, so runs are rules only. {exc}"


def model_label(name: str | None) -> str:
    if name is None:
        return "none (rules only)"
    return "bundled SmolLM2-135M-Instruct" if name == models.BUNDLED else name

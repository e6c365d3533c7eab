"""The page's settings form: its fields, its choices, and one `Settings` from its values.

    values = dict(zip(FIELDS, page_values))          # what the page (or an API call) sent
    settings = settings_from_form(values, offered=..., server_model="bundled", limits=...)

A crafted API call can send what the page's fields would not, so nothing here is trusted:
the keep list is checked here, every other value by `Settings.validate` (the command line's
rules and messages), and the model against the models this server offers before anything is
loaded or looked up. A bad value raises UserError; nothing is clamped.

What it does not do: no Gradio (app.py lays the fields out), no loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import Settings
from pipeline import model as models
from pipeline.prompt import default_system_prompt
from pipeline.settings import CITATION_MODES, EDIT_MODES, MATH_MODES, OCR_MODES, SettingsError
from webapp.errors import UserError
from webapp.offered import ModelNotOffered, OfferedModels

# The settings inputs in the order the page sends them. New ones come last, so that API
# callers written before they existed keep working.
FIELDS = ("password", "pages", "max_chars", "model", "rules_only", "chunk_size", "batch_size", "temperature",
          "top_p", "max_new_tokens", "seed", "guard_policy", "system_prompt", "max_pages", "copy_bias",
          "layout", "keep", "math", "citations", "ocr", "ocr_language", "model_edits")
# The ones reading a PDF (the document panel) takes.
READING_FIELDS = ("password", "pages", "max_chars", "max_pages", "layout", "keep", "math", "citations", "ocr",
                  "ocr_language")

# Suggestions shown in the model field when visitors may type any model.
SUGGESTED_MODELS = [
    "bundled",
    "meta-llama/Llama-3.2-1B-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
]
# "Keep in the text": (label, value); value v sets Settings.keep_<v>.
KEEP_CHOICES = [
    ("figure and table captions", "captions"),
    ("footnotes", "footnotes"),
    ("author block (names, affiliations, e-mails)", "authors"),
    ("appendix", "appendix"),
    ("references", "references"),
]
MATH_CHOICES = [("drop", "drop"), ('an "[equation]" line', "placeholder"), ("keep their text", "keep")]
CITATION_CHOICES = [("remove", "remove"), ("keep", "keep")]
OCR_CHOICES = [("pages without text", "auto"), ("every page", "always"), ("never", "never")]
EDIT_CHOICES = [("cleaning edits only (a changed word goes back)", "cleaning"), ("every edit", "all")]
EDIT_INFO = ("Cleaning edits: debris, spacing, punctuation, markup, citations. A word the model deleted, added or "
             "changed goes back to the input's unless every edit is kept.")
assert [v for _, v in MATH_CHOICES] == list(MATH_MODES) and [v for _, v in CITATION_CHOICES] == list(CITATION_MODES)
assert [v for _, v in OCR_CHOICES] == list(OCR_MODES) and [v for _, v in EDIT_CHOICES] == list(EDIT_MODES)


@dataclass
class ServerLimits:
    """The server's limits, set by its operator, not by a visitor: they protect everyone
    else on the server."""

    upload: int  # bytes: the largest upload, also the pipeline's file size limit
    read_timeout: float = Settings().read_timeout  # seconds the reading process of one PDF may take
    read_memory_mb: int = Settings().read_memory_mb  # memory it may use
    ocr_page_seconds: float = Settings().ocr_page_seconds  # the time limit grows by this per OCR'd page

    def fields(self, max_pages=None) -> dict:
        """The Settings fields for the reading limits: the page's page limit, the upload limit
        as the pipeline's file size limit (both count MB of 2^20 bytes), and the time and
        memory limits of the reading process."""
        pages = Settings().max_pages if _blank(max_pages) else int(max_pages)
        return {"max_pages": pages, "max_file_mb": self.upload / 2**20, "read_timeout": self.read_timeout,
                "read_memory_mb": self.read_memory_mb, "ocr_page_seconds": self.ocr_page_seconds}


@dataclass(frozen=True)
class ServedModel:
    """A model served over the OpenAI-compatible API (vLLM, llama.cpp's server, Ollama), set
    by the operator. A visitor never gives an address: a public page must not send requests
    wherever a visitor points it."""

    api_base: str
    api_key: str | None = field(default=None, repr=False)  # from the environment only
    concurrency: int = Settings().concurrency
    request_timeout: float = Settings().request_timeout
    retries: int = Settings().retries

    def fields(self) -> dict:
        return {"api_base": self.api_base, "api_key": self.api_key, "concurrency": self.concurrency,
                "request_timeout": self.request_timeout, "retries": self.retries}


def _blank(value) -> bool:
    return value is None or value == ""


def _number(value, default, kind=int):
    return default if _blank(value) else kind(value)


def model_choices(offered: OfferedModels, suggest: bool = True) -> list[str]:
    """The model field's choices: the offered ones, and a few suggestions when any may be
    typed (`suggest=False` for a served model: its server's names are not ours to guess)."""
    names = list(offered.names)
    return names + [n for n in SUGGESTED_MODELS if n not in names] if offered.free and suggest else names


def ocr_languages() -> list[str]:
    """The OCR languages this server has (Tesseract's data), the default first."""
    from pipeline import ocr

    default = Settings().ocr_language
    return [default] + [code for code in ocr.languages() if code != default]


def default_prompt() -> str:
    return default_system_prompt()


def settings_from_form(values: dict, *, offered: OfferedModels, server_model: str | None,
                       limits: ServerLimits, served: ServedModel | None = None) -> Settings:
    """One checked Settings from the form's values (missing ones take their defaults); with
    `served`, the model is asked for over its API, never loaded here."""
    defaults = Settings()
    get = values.get
    prompt = (get("system_prompt") or "").strip()
    if prompt and prompt == default_prompt().strip():
        prompt = ""  # the default, as the pipeline would pick it
    batch = _number(get("batch_size"), 0)
    seed = _number(get("seed"), -1)
    bias = _number(get("copy_bias"), -1.0, float)
    chosen = (get("model") or "").strip() or (server_model or models.BUNDLED)
    if not get("rules_only"):
        try:
            offered.check(chosen)  # before anything is loaded or looked up
        except ModelNotOffered as exc:
            raise UserError(str(exc)) from None
    settings = Settings(
        password=get("password") or None,
        pages=(get("pages") or "").strip() or None,
        max_chars=_number(get("max_chars"), defaults.max_chars),
        chunk_size=_number(get("chunk_size"), defaults.chunk_size),
        use_llm=not get("rules_only"),
        model=chosen,
        system_prompt=prompt or None,
        temperature=_number(get("temperature"), defaults.temperature, float),
        top_p=_number(get("top_p"), defaults.top_p, float),
        max_new_tokens=_number(get("max_new_tokens"), defaults.max_new_tokens),
        batch_size=batch if batch > 0 else None,
        seed=seed if seed >= 0 else None,
        guard_policy=get("guard_policy") or defaults.guard_policy,
        model_edits=get("model_edits") or defaults.model_edits,
        copy_bias=bias if bias >= 0 else None,
        **limits.fields(get("max_pages")),
        **podcast_options(get("layout"), get("keep"), get("math"), get("citations")),
        **ocr_options(get("ocr"), get("ocr_language")),
        **(served.fields() if served is not None else {}),
    )
    return _validated(settings)


def reading_settings(values: dict, limits: ServerLimits) -> Settings:
    """The Settings for reading a PDF without the model (the document panel)."""
    get = values.get
    settings = Settings(
        use_llm=False,
        password=get("password") or None,
        pages=(get("pages") or "").strip() or None,
        max_chars=_number(get("max_chars"), Settings().max_chars),
        **limits.fields(get("max_pages")),
        **podcast_options(get("layout"), get("keep"), get("math"), get("citations")),
        **ocr_options(get("ocr"), get("ocr_language")),
    )
    return _validated(settings)


def ocr_options(mode=None, language=None) -> dict:
    """The OCR fields from the form: the mode, and the language as one code or a list of them
    (the page's multiple choice), joined as Tesseract takes them ("deu+eng"). Checked by
    Settings.validate; whether Tesseract has the language is found when it runs."""
    defaults = Settings()
    if isinstance(language, (list, tuple)):
        language = "+".join(str(code) for code in language)
    return {"ocr": defaults.ocr if _blank(mode) else mode,
            "ocr_language": defaults.ocr_language if _blank(language) else language}


def _validated(settings: Settings) -> Settings:
    try:
        return settings.validate()
    except SettingsError as exc:
        raise UserError(str(exc)) from None


def podcast_options(layout=None, keep=None, math=None, citations=None) -> dict:
    """The Settings fields of the structure stage from the form's values; None (an API caller
    that leaves one out) is the default. Gradio checks the choices of the keep group and of the
    radios itself, but not a checkbox's type; the keep list is checked here, the rest by
    Settings.validate, so that the page, the API, a direct call and the CLI follow one set of
    rules."""
    defaults = Settings()
    layout = defaults.layout if layout is None else layout
    keep_values = [value for _, value in KEEP_CHOICES]
    if keep is None:
        keep = [value for value in keep_values if getattr(defaults, f"keep_{value}")]
    if isinstance(keep, str) or not isinstance(keep, (list, tuple)):
        raise UserError(f"Keep in the text must be a list of some of: {', '.join(keep_values)}; not {keep!r}.")
    unknown = [value for value in keep if value not in keep_values]
    if unknown:
        raise UserError(f"Keep in the text: {', '.join(map(repr, unknown))} is not one of {', '.join(keep_values)}.")
    math = defaults.math if _blank(math) else math
    citations = defaults.citations if _blank(citations) else citations
    return {"layout": layout, "math": math, "citations": citations,
            **{f"keep_{value}": value in keep for value in keep_values}}

"""One place for every knob of a run.

The UI, the CLI, the benchmarks and the tests all build this one object. Defaults are the
NotebookLlama step-1 notebook's (100,000 characters, 1,000-character chunks, top_p 0.9, 512
new tokens) so that a run with defaults is comparable to it, but for the temperature: 0
(greedy), because cleaning is copying. On the ground-truth papers the notebook's 0.7 gave the
same text with the bundled model and took 13% longer (docs/QUALITY.md); 0.7 is one setting away.

This module holds values and their one set of rules (`Settings.validate`, used by the CLI
and the web app alike, with the same messages); it reads no files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pipeline.errors import PipelineError

GUARD_POLICIES = ("fallback", "keep")
MAX_COPY_BIAS = 50.0  # beyond this a copy bias changes nothing more: the source token always wins
MATH_MODES = ("drop", "placeholder", "keep")  # display math: removed, "[equation]", or its text
CITATION_MODES = ("remove", "keep")
EDIT_MODES = ("cleaning", "all")  # the model's edits kept: cleaning ones only (pipeline.edits), or all
OCR_MODES = ("auto", "always", "never")  # pages read by OCR: those without a text layer, all, none
_API_BASE = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
# A Tesseract language, or several joined by "+": "eng", "deu+eng".
_OCR_LANGUAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,31}(\+[A-Za-z][A-Za-z0-9_]{1,31}){0,7}")


@dataclass(frozen=True)
class Settings:
    # --- extraction ---
    password: str | None = None  # tried after the empty password; None = empty only
    pages: str | None = None  # page range such as "1-3,5,10-"; None = all pages
    max_chars: int = 100_000  # notebook's character budget, cut at a word boundary
    max_pages: int = 500  # pages read at most (the first ones of the selection)
    max_file_mb: float = 50  # files larger than this are refused before reading
    read_timeout: float = 12.0  # seconds the reading child process may take, opening included
    read_memory_mb: int = 1024  # address space of the reading child process

    # --- OCR of pages without a text layer (pipeline.ocr), in the reading process ---
    ocr: str = "auto"  # one of OCR_MODES: "auto" reads pages whose text layer is empty or junk
    ocr_language: str = "eng"  # Tesseract's language code(s), e.g. "deu" or "deu+eng"
    ocr_dpi: int = 300  # resolution pages are rendered at for OCR
    ocr_page_seconds: float = 60.0  # the reading's time limit grows by this for each OCR'd page

    # --- structure: layout-aware reading, and what a podcast writer keeps (pipeline.structure) ---
    layout: bool = True  # False = pypdf's plain text in content-stream order, no block classes
    # Always dropped with layout on: running headers and footers, page numbers, stamps,
    # figure and table internals, footnote marks. Each kept or dropped by choice:
    keep_captions: bool = False
    keep_footnotes: bool = False
    keep_authors: bool = False  # author names, affiliations and e-mails under the title
    keep_appendix: bool = False
    keep_references: bool = False  # the reference list / bibliography
    math: str = "drop"  # display math: one of MATH_MODES
    citations: str = "remove"  # "[12]", "(Smith et al., 2020)" -> "", "Smith et al. (2020)" -> "Smith et al."

    # --- chunking ---
    chunk_size: int = 1000  # target characters per chunk (notebook's CHUNK_SIZE)
    chunk_tokens: int | None = None  # optional token budget per chunk (needs a tokenizer)

    # --- LLM cleaning ---
    use_llm: bool = True  # False = rules-only path: extract + normalize, chunks joined
    model: str = "bundled"  # "bundled", a Hugging Face Hub id, or a local folder
    system_prompt: str | None = None  # None = prompts/clean.txt
    temperature: float = 0.0  # 0 = greedy (the default: cleaning is copying); the notebook used 0.7
    top_p: float = 0.9  # notebook's value
    max_new_tokens: int = 512  # notebook's value, per chunk
    batch_size: int | None = None  # chunks generated at once; None = adapt to device
    seed: int | None = None  # fixes sampling so a run can be repeated
    copy_bias: float | None = None  # logit bonus for copying the source; None = the model's default
    draft_tokens: int = 32  # source tokens verified per forward pass at most; 0 = no drafting

    # --- a served model (OpenAI-compatible API: vLLM, llama.cpp's server, Ollama, TGI) ---
    api_base: str | None = None  # e.g. "http://127.0.0.1:8000/v1"; None = the model runs in this process
    api_key: str | None = field(default=None, repr=False)  # sent as a bearer token; never written anywhere
    concurrency: int = 4  # chunks in flight at once against the server
    request_timeout: float = 120.0  # seconds one chunk's request may take, streaming included
    retries: int = 2  # further tries of a chunk whose request failed, before it is marked failed

    # --- faithfulness guard ---
    guard_policy: str = "fallback"  # "fallback": keep normalized input for a rejected chunk
    # Of a chunk the guard lets through, the model's edits kept: "cleaning" (debris, spacing,
    # punctuation, markup, citations; a changed word goes back to the input's) or "all".
    model_edits: str = "cleaning"

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (frozen dataclass helper)."""
        return replace(self, **changes)

    def validate(self) -> "Settings":
        """self, or SettingsError naming the first value out of range and what it may be.

        Each message names the setting as the command line spells it; the page's labels
        follow the same names.
        """
        at_least_one = ("max_chars", "chunk_size", "max_new_tokens", "max_pages")
        for name in at_least_one:
            if not _number(getattr(self, name)) or getattr(self, name) < 1:
                _refuse(name, "must be at least 1")
        for name in ("max_file_mb", "read_timeout", "ocr_page_seconds"):
            if not _number(getattr(self, name)) or not getattr(self, name) > 0:
                _refuse(name, "must be more than 0")
        if not _number(self.read_memory_mb) or self.read_memory_mb < 256:
            _refuse("read_memory_mb", "must be at least 256: the reading process needs that much to start")
        for name in ("chunk_tokens", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not _number(value) or value < 1):
                _refuse(name, "must be at least 1")
        if not _number(self.temperature) or not 0 <= self.temperature <= 2:
            _refuse("temperature", "must be between 0 (greedy) and 2")
        if not _number(self.top_p) or not 0 < self.top_p <= 1:
            _refuse("top_p", "must be more than 0 and at most 1")
        if self.copy_bias is not None and (not _number(self.copy_bias) or not 0 <= self.copy_bias <= MAX_COPY_BIAS):
            _refuse("copy_bias", f"must be between 0 (off) and {MAX_COPY_BIAS:g}")
        if not _number(self.draft_tokens) or self.draft_tokens < 0:
            _refuse("draft_tokens", "must be 0 (no drafting) or more")
        if self.seed is not None and (not _number(self.seed) or self.seed < 0):
            _refuse("seed", "must be 0 or more")
        if not _number(self.concurrency) or not 1 <= self.concurrency <= 256:
            _refuse("concurrency", "must be between 1 and 256")
        if not _number(self.retries) or not 0 <= self.retries <= 10:
            _refuse("retries", "must be between 0 and 10")
        if not _number(self.request_timeout) or not self.request_timeout > 0:
            _refuse("request_timeout", "must be more than 0")
        if self.api_base is not None and not _API_BASE.fullmatch(str(self.api_base)):
            _refuse("api_base", f"must be an http:// or https:// address such as http://127.0.0.1:8000/v1, "
                                f"not {self.api_base!r}")
        if not _number(self.ocr_dpi) or not 70 <= self.ocr_dpi <= 600:
            _refuse("ocr_dpi", "must be between 70 and 600")
        if not isinstance(self.ocr_language, str) or not _OCR_LANGUAGE.fullmatch(self.ocr_language):
            _refuse("ocr_language", f"must be Tesseract language codes such as eng or deu+eng, not {self.ocr_language!r}")
        for name, allowed in (("guard_policy", GUARD_POLICIES), ("math", MATH_MODES), ("citations", CITATION_MODES),
                              ("ocr", OCR_MODES), ("model_edits", EDIT_MODES)):
            if getattr(self, name) not in allowed:
                _refuse(name, f"must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("use_llm", "layout", "keep_captions", "keep_footnotes", "keep_authors",
                     "keep_appendix", "keep_references"):
            if not isinstance(getattr(self, name), bool):
                _refuse(name, f"must be true or false, not {getattr(self, name)!r}")
        return self


class SettingsError(PipelineError, ValueError):
    """A setting out of range; the message says which and what it may be."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


# The command line's flag where it is not the setting's name with dashes.
_FLAGS = {"layout": "--no-layout", "use_llm": "--no-llm", "max_file_mb": "--max-file-mb"}


def _refuse(name: str, rule: str) -> None:
    flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
    raise SettingsError(f"{name} ({flag}) {rule}.")

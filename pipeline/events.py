"""Typed events that `pipeline.run()` yields, in this order:

    DocumentInfo            once, as soon as the PDF is open
    OcrProgress             before a page is read by OCR (pages without a text layer)
    PageRead                once per selected page, as each is read
    ChunkPlan               once: the normalized text cut into chunks
    ChunkProgress           (LLM only) partial text of chunks in flight, as tokens arrive
    ChunkDone               once per chunk, in document order
    Notice                  (served model only) at most once each, among the chunk events: something
                            the run changed by itself that the user should know (pipeline.served)
    RunFinished             once, last: the joined text and what happened

Events are plain frozen dataclasses: they carry data, never behaviour, so the CLI, the
UI and the tests consume the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DocumentInfo:
    page_count: int
    title: str | None = None
    author: str | None = None
    subject: str | None = None
    creator: str | None = None
    producer: str | None = None
    created: str | None = None  # readable, e.g. "2024-03-11 01:50:30 UTC"
    modified: str | None = None
    encrypted: bool = False
    file_size: int = 0  # bytes


def document_fields(info: DocumentInfo) -> list[tuple[str, str | None]]:
    """The metadata a person reads, as (label, value) pairs in display order."""
    return [
        ("title", info.title),
        ("author", info.author),
        ("subject", info.subject),
        ("creator", info.creator),
        ("producer", info.producer),
        ("created", info.created),
        ("modified", info.modified),
    ]


@dataclass(frozen=True)
class OcrProgress:
    page: int  # 1-based page number that OCR is reading now
    position: int  # its 1-based position among the selected pages
    selected: int  # how many pages were selected


@dataclass(frozen=True)
class PageRead:
    page: int  # 1-based page number in the document
    position: int  # 1-based position among the selected pages
    selected: int  # how many pages were selected
    chars: int  # characters kept from this page (after the budget cut)
    error: str | None = None  # set when the page failed and was skipped
    budget_reached: bool = False  # the character budget stopped reading on this page
    ocr_confidence: float | None = None  # read by OCR: its mean word confidence, 0-100


# What the structure stage can take out of a page, in the order a person reads the counts.
REMOVED_CATEGORIES = (
    "header", "footer", "page number", "stamp", "figure", "table", "math", "caption",
    "footnote", "footnote mark", "authors", "references", "appendix", "citation",
)


@dataclass(frozen=True)
class Removed:
    page: int  # 1-based page the piece was on
    category: str  # one of REMOVED_CATEGORIES
    text: str  # the piece as extracted (one block, line or inline span)


def removed_counts(removed) -> dict[str, int]:
    """{category: pieces} in REMOVED_CATEGORIES order, categories with none left out."""
    counts = {category: 0 for category in REMOVED_CATEGORIES}
    for piece in removed:
        counts[piece.category] += 1
    return {category: n for category, n in counts.items() if n}


@dataclass(frozen=True)
class Chunk:
    index: int  # 0-based
    text: str  # normalized text that goes to the LLM
    first_page: int  # 1-based pages the chunk's text came from
    last_page: int
    separator: str = ""  # joins it to the previous chunk: " ", "\n\n" (new paragraph), "" (split word)


@dataclass(frozen=True)
class ChunkPlan:
    chunks: tuple[Chunk, ...]
    raw_chars: int  # characters extracted (after the budget)
    normalized_chars: int  # characters after the normalization rules
    pages_read: tuple[int, ...]  # pages that gave text
    failed_pages: tuple[int, ...]  # pages that raised and were skipped
    budget_stopped_at: int | None  # page where the character budget cut the text
    raw_text: str = field(repr=False, default="")  # extracted text, pages joined
    notes: tuple[str, ...] = ()  # one message per limit that cut the reading (budget, pages, time, memory)
    read_seconds: float | None = None  # wall time of the reading process
    read_peak_mb: float | None = None  # its peak resident memory, where measurable
    removed: tuple[Removed, ...] = field(repr=False, default=())  # what the structure stage took out
    ocr_pages: tuple[tuple[int, float], ...] = ()  # (page, mean word confidence 0-100) of pages read by OCR
    resumed: tuple[int, ...] = ()  # chunks taken from an earlier run's report, not cleaned again (pipeline.resume)
    resume_note: str | None = None  # why an earlier run's report was not used (PDF, settings or model changed)
    plain_pages: tuple[tuple[int, str], ...] = ()  # (page, why) read in plain order: its layout was not trusted


@dataclass(frozen=True)
class ChunkProgress:
    index: int  # chunk being generated
    text: str  # cleaned text so far (decoded from the new tokens only)
    tokens: int  # new tokens so far for this chunk


@dataclass(frozen=True)
class GuardReport:
    kept: float  # share of the input's content words found in the output
    invented: float  # share of the output's content words not in the input
    length_ratio: float  # output characters / input characters
    repetition: float  # share of output word n-grams that are repeats (loops)
    verdict: str  # "ok", "suspicious" or "rejected"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edit:
    """One edit the model made to a chunk (pipeline.edits): its kind, the input's words and
    the model's, and whether the result has the model's (kept) or the input's."""

    kind: str  # cleaning: spacing, punctuation, characters, markup, citation, debris;
    #            content: deleted, added, substituted, number
    before: str
    after: str
    kept: bool


@dataclass(frozen=True)
class ChunkDone:
    index: int
    chunk: Chunk
    output: str  # the text that goes into the result for this chunk
    source: str  # "rules" (no LLM), "llm", "fallback" (guard rejected), "failed"
    model_output: str | None = None  # raw model text, even when not used
    guard: GuardReport | None = None
    seconds: float = 0.0
    tokens: int = 0  # new tokens generated
    error: str | None = None
    drafted: int = 0  # source tokens offered as drafts
    accepted: int = 0  # draft tokens the model agreed with
    halted: str | None = None  # why the online guard stopped the chunk while it was written
    resumed: bool = False  # taken from an earlier run's report (pipeline.resume), not cleaned again
    edits: tuple[Edit, ...] = ()  # the model's edits to the input, kept or reverted (pipeline.edits)


@dataclass(frozen=True)
class Notice:
    message: str  # one line for the user, shown as a warning (the run goes on)


@dataclass(frozen=True)
class RunFinished:
    text: str  # finished chunks in document order; each run of missing ones marked (pipeline.output)
    chunks_done: int
    chunks_total: int
    stopped: bool  # True when a stop request ended the run early (partial result)
    seconds: float
    output_path: str | None = None
    report_path: str | None = None
    notes: tuple[str, ...] = ()  # the plan's limit notes: the text covers less than the selection
    gaps: tuple[tuple[int, int], ...] = ()  # (first, last) chunk indexes of each run of missing chunks


Event = DocumentInfo | OcrProgress | PageRead | ChunkPlan | ChunkProgress | ChunkDone | Notice | RunFinished

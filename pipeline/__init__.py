"""PDF Cleaner's pipeline: PDF bytes -> extracted pages -> normalized text -> chunks ->
(LLM-cleaned) text, as one generator of typed events.

    from pipeline import run, Settings
    for event in run("paper.pdf", Settings(use_llm=False)):
        ...

Plain Python: this package never imports gradio or spaces.
"""

from pipeline.errors import (
    DamagedPdfError,
    EmptyFileError,
    FileTooLargeError,
    ModelUnavailableError,
    NoTextError,
    NotAPdfError,
    PageRangeError,
    PasswordRequiredError,
    PipelineError,
    TooComplexError,
    WrongPasswordError,
)
from pipeline.events import (
    Chunk,
    ChunkDone,
    ChunkPlan,
    ChunkProgress,
    DocumentInfo,
    Event,
    GuardReport,
    OcrProgress,
    PageRead,
    RunFinished,
)
from pipeline.runner import run
from pipeline.settings import Settings

__all__ = [
    "run",
    "Settings",
    "Event",
    "DocumentInfo",
    "OcrProgress",
    "PageRead",
    "Chunk",
    "ChunkPlan",
    "ChunkProgress",
    "ChunkDone",
    "GuardReport",
    "RunFinished",
    "PipelineError",
    "NotAPdfError",
    "EmptyFileError",
    "DamagedPdfError",
    "PasswordRequiredError",
    "WrongPasswordError",
    "NoTextError",
    "PageRangeError",
    "ModelUnavailableError",
    "FileTooLargeError",
    "TooComplexError",
]


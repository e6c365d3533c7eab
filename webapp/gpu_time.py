"""How long a ZeroGPU slot to ask for: a run's and a one-chunk regeneration's duration, from
the work they will do.

    run_seconds(pdf_path, settings) -> 30..300     chunk_seconds(chunk, settings) -> 20..120

Asking for too little gets the run cut when its time is up; too much costs the visitor
queue priority. What it does not do: no scheduling (the `spaces` package does that), no
Gradio. The page count is read in the reading child process, never in the server's.
"""

from __future__ import annotations

import math

from pipeline import Chunk, PipelineError, Settings

# Seconds per decoding step of a ~1B model on a ZeroGPU slice, plus set-up time; measured
# loosely, rounded up.
STEP_SECONDS = 0.03
SETUP_SECONDS = 20
RUN_LIMITS = (30, 300)
CHUNK_LIMITS = (20, 120)


def _pages_in(pdf_path: str, settings: Settings) -> int:
    from pipeline import extract, sandbox

    try:
        return sandbox.read_info(extract.read_source(pdf_path, settings.max_file_mb), settings).page_count
    except PipelineError:
        return 1  # the run itself then says what is wrong with the file


def run_seconds(pdf_path: str, settings: Settings, *_args) -> int:
    """The duration for a whole run of `pdf_path` (extra arguments of the GPU function are ignored)."""
    pages = min(settings.max_pages, _pages_in(pdf_path, settings))
    chars = min(settings.max_chars, pages * 4000)
    chunks = math.ceil(chars / max(1, settings.chunk_size))
    batches = math.ceil(chunks / (settings.batch_size or 16))
    low, high = RUN_LIMITS
    return int(min(high, max(low, SETUP_SECONDS + batches * settings.max_new_tokens * STEP_SECONDS)))


def chunk_seconds(chunk: Chunk, settings: Settings, *_args) -> int:
    """The duration for cleaning one chunk again."""
    low, high = CHUNK_LIMITS
    return int(min(high, max(low, SETUP_SECONDS + settings.max_new_tokens * STEP_SECONDS)))

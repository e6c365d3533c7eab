"""Bytes the web app hands Gradio for the downloads during one run, before and after the
downloads were refreshed at most every few seconds.

    python bench/downloads.py                 # a 100-chunk run, 2.3 s per chunk
    python bench/downloads.py --seconds-per-chunk 10

Every time the page's Downloads output is sent, Gradio copies each offered file into its
cache (named by content, kept for hours), so the bytes of all offered files at each send are
what a run costs there. This replays a real rules-only run of a generated 17-page paper
(`pipeline.run` writing the cleaned text and the report as chunks finish, into a real
webapp.sessions.RunState folder) and, after each event, asks the same question the page's update
loop asks (RunState.take_dirty), on a simulated clock: one chunk finished every
--seconds-per-chunk (2.3 s is the bundled model's rate on the 2-core CPU, docs/PERFORMANCE.md)
and an update every second. "Before" sends the downloads after every finished chunk, as the
page did; "after" is RunState.take_dirty as it is. It measures the policy on real files;
it does not run Gradio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import ChunkDone, RunFinished, Settings, run  # noqa: E402
from webapp.sessions import FILES_EVERY, Sessions  # noqa: E402
from tests.pdf_factory import paper  # noqa: E402


def replay(pdf: bytes, seconds_per_chunk: float, throttled: bool) -> tuple[int, int, int]:
    """(sends, bytes copied, chunks) for one run under one policy."""
    with tempfile.TemporaryDirectory() as folder:
        state = Sessions(Path(folder), max_age=3600).new_run("tab", "paper.pdf", Settings(use_llm=False))
        clock, next_tick, sends, copied, chunks = 0.0, 1.0, 0, 0, 0

        def update(now: float) -> None:
            nonlocal sends, copied
            if throttled:
                sent = "files" in state.take_dirty(now)
            else:
                sent, state.dirty = "files" in state.dirty, set()
            if sent:
                sends += 1
                copied += sum(p.stat().st_size for p in state.downloads() if p.is_file())  # what the page sends

        for event in run(pdf, state.settings, output_path=str(state.clean_path), report_path=str(state.report_path)):
            with state.lock:
                if isinstance(event, ChunkDone):
                    chunks += 1
                    clock += seconds_per_chunk
                    while next_tick < clock:  # the heartbeat updates while the chunk was written
                        update(next_tick)
                        next_tick += 1.0
                state.apply(event)
                if isinstance(event, RunFinished):
                    state.finished.set()
                update(clock)  # the update right after the event
        return sends, copied, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-chunk", type=float, default=2.3)
    parser.add_argument("--pages", type=int, default=17)
    args = parser.parse_args()
    pdf = paper(pages=args.pages).pdf
    before = replay(pdf, args.seconds_per_chunk, throttled=False)
    after = replay(pdf, args.seconds_per_chunk, throttled=True)
    print(f"run: {before[2]} chunks, one every {args.seconds_per_chunk:g} s; downloads at most every {FILES_EVERY:g} s after")
    print(f"{'policy':<34} {'sends':>6} {'bytes copied':>14}")
    print(f"{'before: after every chunk':<34} {before[0]:>6} {before[1]:>14,}")
    print(f"{'after: RunState.take_dirty':<34} {after[0]:>6} {after[1]:>14,}")
    print(f"after / before: {after[1] / before[1]:.1%} of the bytes")


if __name__ == "__main__":
    main()

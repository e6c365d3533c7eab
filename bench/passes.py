"""Where a run's time goes in the engine: each prefill (admission of a chunk) and each forward
pass, timed on the real path (`pipeline.run()` with the page's defaults, the bundled model).

    python bench/passes.py                    # the KD survey as extracted, its first 13 chunks
    python bench/passes.py --chunks 30 --show 40

It wraps `pipeline.engine.Engine.admit` and `Engine.step` with a timer (nothing else changes),
runs the paper until `--chunks` chunks are finished, and prints: p50 / p95 / max seconds of a
prefill and of a pass (with the rows in it), and the first `--show` of them in order, so that
a stretch of prefills without a pass between them shows (Stop and streaming wait for it).
Between two of these the scheduler looks at Stop; inside one, the engine does, before each
of the model's layers (pipeline.engine, `interrupt`).

What it does not measure: the page (bench/stop.py), tokens per second (bench/throughput.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=13, help="stop once this many chunks are finished")
    parser.add_argument("--show", type=int, default=30, help="prefills and passes to list in order")
    args = parser.parse_args()

    from throughput import paper_pdf

    from pipeline import Settings, run
    from pipeline import engine as engines
    from pipeline.events import ChunkDone, ChunkPlan

    timed: list[tuple[str, float, int]] = []  # (kind, seconds, rows in the engine after it)
    admit, step = engines.Engine.admit, engines.Engine.step

    def timed_admit(self, request):
        started = time.perf_counter()
        row = admit(self, request)
        timed.append(("prefill", time.perf_counter() - started, len(self.rows)))
        return row

    def timed_step(self, *rest):
        started = time.perf_counter()
        rows = step(self, *rest)
        timed.append(("pass", time.perf_counter() - started, len(rows)))
        return rows

    engines.Engine.admit, engines.Engine.step = timed_admit, timed_step
    data, what = paper_pdf(None)
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "paper.pdf"
        pdf.write_bytes(data)
        started, finished = time.perf_counter(), 0
        events = run(str(pdf), Settings())
        try:
            for event in events:
                if isinstance(event, ChunkPlan):
                    print(f"{what}: {len(event.chunks)} chunks; the first {args.chunks} are run")
                elif isinstance(event, ChunkDone):
                    finished += 1
                    if finished >= args.chunks:
                        break
        finally:
            events.close()
        wall = time.perf_counter() - started

    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {wall:.1f} s for {finished} chunks\n")
    print(f"{'':<8} {'count':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for kind in ("prefill", "pass"):
        seconds = [s for k, s, _ in timed if k == kind]
        if seconds:
            print(f"{kind:<8} {len(seconds):>6} {percentile(seconds, 0.5):>7.3f} {percentile(seconds, 0.95):>7.3f} "
                  f"{max(seconds):>7.3f}")
    run_of_prefills, longest = 0.0, 0.0
    for kind, seconds, _ in timed:
        run_of_prefills = run_of_prefills + seconds if kind == "prefill" else 0.0
        longest = max(longest, run_of_prefills)
    print(f"longest stretch of prefills with no pass between them: {longest:.2f} s")
    print(f"\nthe first {args.show}, in order (rows: in the engine after a prefill, in a pass):")
    for kind, seconds, rows in timed[: args.show]:
        print(f"  {kind:<8} {seconds:6.3f} s  rows {rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

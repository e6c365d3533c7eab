"""Speed of the served model stage next to the in-process engine, on the same chunks.

    python bench/served.py                          # 16 chunks of the KD survey, concurrency 1, 4, 8
    python bench/served.py --chunks 8 --concurrency 1 4 --max-new-tokens 256 --json out.json

The chunks are the first `--chunks` of the KD survey (../shared/reference/...-extracted.txt,
drawn into a PDF and read back by pipeline.run(), rules only: bench/throughput.paper_pdf), or
of a generated paper when the reference text is missing. Each run goes through
pipeline.runner.process_chunks, so the final guard judges every chunk as it does in the app:

- **in-process**: pipeline.schedule.EngineStage on the bundled model (copy-anchored decoding,
  drafts, refill), torch limited to `--threads` threads;
- **served, concurrency N**: pipeline.served.ServedStage against llama.cpp's server
  (llama-cpp-python, tests/llama_server.py, started with --interrupt_requests False) on the
  bundled model's GGUF file, `--threads` threads, N requests in flight.

Same settings for all (greedy, seed 0, `--max-new-tokens`), one run each after a one-chunk
warm-up. Printed: wall seconds, chunks/s, new tokens written and tokens/s, the speed relative
to the in-process engine (its seconds / these seconds), and how many chunks the guard let the
model's text into the result (source "llm"; the rest fell back to their input or failed).

llama-cpp-python's server runs one request at a time (one model behind a lock, no parallel
slots or continuous batching), so concurrency above 1 only queues requests inside the server:
it shows what the client costs, not what a batching server (vLLM, llama.cpp's C++
`llama-server --parallel N`) would gain. (With its default --interrupt_requests True the server
ends a stream early whenever another request waits: the stage would then drop to one request at
a time, and every concurrency measured would be 1.) Tokens of served runs are the streamed pieces (this server sends no usage
in a stream; one piece is one token for it); the GGUF model is not the same file as the in-process one (the engine converts it), so
the two may write slightly different text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def plan_chunks(text: Path | None, count: int):
    """The first `count` chunks of the paper as the app would cut them, and where they came from."""
    from throughput import paper_pdf

    from pipeline import run
    from pipeline.events import ChunkPlan
    from pipeline.settings import Settings

    pdf, source = paper_pdf(text)
    plan = next(e for e in run(pdf, Settings(use_llm=False)) if isinstance(e, ChunkPlan))
    return list(plan.chunks[:count]), source


def timed(chunks, settings, model=None) -> dict:
    """One pass of process_chunks over `chunks`: seconds, tokens and what the guard kept."""
    from pipeline.events import ChunkDone
    from pipeline.runner import process_chunks

    started = time.perf_counter()
    done = [e for e in process_chunks(chunks, settings, model) if isinstance(e, ChunkDone)]
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "chunks": len(done),
        "tokens": sum(d.tokens for d in done),
        "kept": sum(d.source == "llm" for d in done),
        "fallback": sum(d.source == "fallback" for d in done),
        "failed": sum(d.source == "failed" for d in done),
        "halted": sum(d.halted is not None for d in done),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=16, help="chunks of the paper (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8],
                        help="requests in flight, one served run each (default: 1 4 8)")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="per chunk, for all runs (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, engine and server (default: %(default)s)")
    parser.add_argument("--text", type=Path, help="reference text file (default: ../shared/reference/...)")
    parser.add_argument("--no-engine", action="store_true", help="skip the in-process engine")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from tests.llama_server import ALIAS, available, llama_server

    from pipeline.settings import Settings

    chunks, source = plan_chunks(args.text, args.chunks)
    chars = sum(len(c.text) for c in chunks)
    print(f"paper      {source}: first {len(chunks)} chunks, {chars:,} characters")
    settings = Settings(seed=0, max_new_tokens=args.max_new_tokens)
    print(f"settings   greedy, seed 0, max_new_tokens {args.max_new_tokens}, {args.threads} threads, "
          f"cpus {os.cpu_count()}")
    rows: list[tuple[str, dict]] = []

    if not args.no_engine:
        import torch

        from pipeline.model import get_model

        torch.set_num_threads(args.threads)
        lm = get_model("bundled")
        timed(chunks[:1], settings, lm)  # warm-up: kernels, allocator, imports
        rows.append(("in-process engine", timed(chunks, settings, lm)))
        print(f"  done: in-process: {rows[-1][1]}", flush=True)

    reason = available()
    if reason is not None:
        print(f"served     skipped: {reason}")
    else:
        with llama_server(threads=args.threads) as url:
            print(f"server     llama-cpp-python at {url}: one request at a time (no parallel slots, no "
                  "continuous batching), --interrupt_requests False")
            served = settings.with_(api_base=url, model=ALIAS, request_timeout=600.0)
            timed(chunks[:1], served)  # warm-up
            for n in args.concurrency:
                rows.append((f"served, concurrency {n}", timed(chunks, served.with_(concurrency=n))))
                print(f"  done: concurrency {n}: {rows[-1][1]}", flush=True)

    base = rows[0][1]["seconds"] if rows and not args.no_engine else None
    print()
    print(f"{'':26} {'seconds':>8} {'chunks/s':>8} {'tokens':>7} {'tok/s':>6} {'vs in-process':>13} "
          f"{'kept by guard':>13} {'halted':>6} {'failed':>6}")
    for label, r in rows:
        speed = f"{base / r['seconds']:.2f}x" if base else "-"
        print(f"{label:26} {r['seconds']:8.1f} {r['chunks'] / r['seconds']:8.2f} {r['tokens']:7,d} "
              f"{r['tokens'] / r['seconds']:6.1f} {speed:>13} {r['kept']:>6d}/{r['chunks']:<6d} "
              f"{r['halted']:6d} {r['failed']:6d}")
    print("vs in-process: the engine's seconds / these seconds (above 1: faster than the engine)")
    if args.json:
        args.json.write_text(json.dumps({"source": source, "chunks": len(chunks), "max_new_tokens": args.max_new_tokens,
                                         "threads": args.threads, "runs": dict(rows)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

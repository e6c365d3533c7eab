"""A folder of papers through the real command, rules only against the bundled model; and resume.

    python bench/folders.py                         # both parts, small budgets (minutes on a CPU)
    python bench/folders.py --docs 4 --skip-resume  # a quicker folder run only

(a) Folder: `--docs` generated papers (tests/pdf_factory.paper, `--pages` pages each, a
different seed each, so no two are the same PDF) in one folder, cleaned by
`python -m pipeline FOLDER -o OUTDIR` in a subprocess, as a user runs it: once with --no-llm,
once with the bundled model. The character budget per document is small (`--max-chars`), so
that the model part takes minutes, not hours, on a CPU. Printed side by side: documents,
chunks, wall time, seconds per document, and how the model's chunks ended (summary.csv). The
model run's time includes loading the model once; its reading overlaps the model stage
(pipeline.batch), so the rules-only time is roughly what the read-ahead hides.

(b) Resume: one paper (`--resume-max-chars`) through the command with the bundled model, in
a subprocess killed with SIGKILL once its report holds half the chunks, then the same command
again. One chunk at a time (`--resume-batch-size 1`): in a batch, chunks finish together, and
a kill could not land between them. Printed: the chunks the killed run finished, how many of those the second run cleaned
again (the target is 0; counted from the new report's "resumed" flags), the second run's wall
time, and a fresh run of the same command for comparison (the time resume saved).

Runs on CPU unless the machine has a GPU; the settings used are printed first.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def cli(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True)
    return done, time.perf_counter() - started


def summary(outdir: Path) -> list[dict]:
    with open(outdir / "summary.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def chunk_records(report: Path) -> list[dict]:
    records = []
    for line in report.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line a kill cut short
        if "index" in record:
            records.append(record)
    return records


def folder(args, work: Path) -> None:
    from tests.pdf_factory import paper

    papers = work / "papers"
    papers.mkdir()
    for k in range(args.docs):
        (papers / f"paper-{k + 1:02d}.pdf").write_bytes(paper(pages=args.pages, seed=k + 1).pdf)
    budget = ["--max-chars", str(args.max_chars), "--chunk-size", str(args.chunk_size)]
    rows = []
    for label, extra in (("rules only", ["--no-llm"]), ("bundled model", ["--max-new-tokens", str(args.max_new_tokens)])):
        outdir = work / label.replace(" ", "-")
        done, seconds = cli(str(papers), "-o", str(outdir), *budget, *extra)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{label}: exit code {done.returncode}")
        lines = summary(outdir)
        chunks = sum(int(r["chunks"]) for r in lines)
        ended = {key: sum(int(r[key]) for r in lines) for key in ("cleaned by model", "fallback", "failed")}
        rows.append((label, len(lines), chunks, seconds, ended))
    print(f"\n(a) folder of {args.docs} generated papers, {args.pages} pages each, through `python -m pipeline "
          f"FOLDER -o OUTDIR`")
    print(f"{'':15} {'docs':>5} {'chunks':>7} {'seconds':>8} {'s/doc':>7}  model / fallback / failed")
    for label, docs, chunks, seconds, ended in rows:
        print(f"{label:15} {docs:5d} {chunks:7d} {seconds:8.1f} {seconds / docs:7.2f}  "
              f"{ended['cleaned by model']} / {ended['fallback']} / {ended['failed']}")
    print(f"model run / rules-only run: {rows[1][3] / rows[0][3]:.1f}x")


def resume(args, work: Path) -> None:
    from tests.pdf_factory import paper

    pdf = work / "long.pdf"
    pdf.write_bytes(paper(pages=4, seed=99).pdf)
    out, report = work / "long.clean.txt", work / "long.report.jsonl"
    command = [str(pdf), "-o", str(out), "--max-chars", str(args.resume_max_chars), "--chunk-size",
               str(args.chunk_size), "--max-new-tokens", str(args.max_new_tokens),
               "--batch-size", str(args.resume_batch_size)]
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *command], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = None
    try:
        while process.poll() is None:
            if report.is_file():
                text = report.read_text(encoding="utf-8")
                if total is None and text.startswith('{"run"'):
                    total = json.loads(text.splitlines()[0])["run"]["chunks_total"]
                if total and len(chunk_records(report)) >= total / 2:
                    process.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.05)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    killed_after = time.perf_counter() - started
    if process.returncode != -signal.SIGKILL:
        raise SystemExit(f"the run ended (code {process.returncode}) before it could be killed: raise --resume-max-chars")
    finished = {r["index"] for r in chunk_records(report) if r["source"] != "failed"}
    done, again = cli(*command)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"resumed run: exit code {done.returncode}")
    records = chunk_records(report)
    resumed = {r["index"] for r in records if r.get("resumed")}
    cleaned_again = sorted(finished - resumed)
    fresh, full = cli(*command, "--fresh")
    if fresh.returncode != 0:
        raise SystemExit(f"fresh run: exit code {fresh.returncode}")
    print(f"\n(b) resume: one paper, {total} chunks, killed (SIGKILL) after {killed_after:.1f} s with "
          f"{len(finished)} chunks in its report")
    print(f"resumed run: {len(resumed)} chunks taken from the report, {len(records) - len(resumed)} cleaned, "
          f"{len(cleaned_again)} of the {len(finished)} finished ones cleaned again {cleaned_again or ''}")
    print(f"resumed run {again:.1f} s, fresh run of the same command {full:.1f} s: resume saved {full - again:.1f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10, help="papers in the folder (default: %(default)s)")
    parser.add_argument("--pages", type=int, default=3, help="pages per paper (default: %(default)s)")
    parser.add_argument("--max-chars", type=int, default=600, help="character budget per paper (default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=300, help="(default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="(default: %(default)s)")
    parser.add_argument("--resume-max-chars", type=int, default=2400,
                        help="character budget of the paper killed and resumed (default: %(default)s)")
    parser.add_argument("--resume-batch-size", type=int, default=1,
                        help="chunks generated at once in the resume part (default: %(default)s)")
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    args = parser.parse_args(argv)
    import torch

    print(f"settings: --max-chars {args.max_chars} (resume part: {args.resume_max_chars}, --batch-size "
          f"{args.resume_batch_size}) --chunk-size "
          f"{args.chunk_size} --max-new-tokens {args.max_new_tokens}, model bundled, other settings the defaults; "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pdf-cleaner-folders-") as work:
        if not args.skip_folder:
            folder(args, Path(work))
        if not args.skip_resume:
            resume(args, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: every hostile input of tests/hostile_corpus.py through the command line.

    python bench/hostile.py                               # every case
    python bench/hostile.py --only decompression-bomb --only 2000-pages
    python bench/hostile.py --timeout 120

For each case: the file is generated into a temporary folder, then `python -m pipeline FILE
-o OUT --no-llm` runs in a fresh process started by a tiny wrapper process. The wrapper
measures the wall time and reads getrusage(RUSAGE_CHILDREN).ru_maxrss once the CLI has
ended: the peak resident memory of the largest process among the CLI and every process it
waited for (the reading child included), so the figure is the whole worker's peak.

Prints a Markdown table (case | outcome | seconds | peak MB | as expected), where the
outcome is the exit code and the first `error:` line, else the first `warning:` line (a
limit note), else the length of the text; then a last line with the largest time and
memory and whether each is within 15 s and 1.5 GB.

The harness has its own hard limits, so a case the pipeline fails to contain cannot take
the machine down: --timeout seconds per case (the CLI's whole process group is killed)
and 2 GB of address space per process (RLIMIT_AS). It runs the cases one after another
and reports one run of each, not a best of several: the point is the bound, not the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_corpus import CASES, cli_args, cli_problems

SECONDS_BOUND = 15.0
MB_BOUND = 1536.0
ADDRESS_SPACE = 2_000_000_000  # bytes, per process of the CLI

# Runs the command, kills its process group on timeout, prints one JSON line.
WRAPPER = r"""
import json, os, resource, signal, subprocess, sys, time
cmd, timeout, address_space = json.loads(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
started = time.perf_counter()
child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True, preexec_fn=limit)
try:
    _, err = child.communicate(timeout=timeout)
    code = child.returncode
except subprocess.TimeoutExpired:
    os.killpg(child.pid, signal.SIGKILL)
    _, err = child.communicate()
    code = None
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak_mb,
                  "stderr": err.decode("utf-8", "replace")}))
"""


def measure(cmd: list[str], timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps([cmd, timeout, ADDRESS_SPACE])],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )
    return json.loads(done.stdout)


def outcome(code: int | None, stderr: str, text: str | None) -> str:
    lines = stderr.splitlines()
    if code is None:
        return "killed by the harness's time limit"
    first = next((line for line in lines if line.startswith("error:")), None)
    first = first or next((line for line in lines if line.startswith("warning:")), None)
    first = first or f"text, {len(text or ''):,} characters"
    if len(first) > 110:
        first = first[:109] + "\u2026"
    return f"exit {code}: {first}".replace("|", "\\|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="CASE", help="run only this case (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case before the harness kills it")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or c.name in args.only]
    unknown = set(args.only or ()) - {c.name for c in cases}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; {len(cases)} cases, one CLI run each\n")
    print("| case | outcome | seconds | peak MB | as expected |")
    print("| --- | --- | ---: | ---: | --- |")
    worst_s = worst_mb = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        for case in cases:
            path, out = Path(folder) / f"{case.name}.pdf", Path(folder) / f"{case.name}.txt"
            path.write_bytes(case.make())
            cmd = [sys.executable, "-m", "pipeline", *cli_args(case, str(path), str(out))]
            result = measure(cmd, args.timeout)
            text = out.read_text(encoding="utf-8") if out.exists() else None
            problems = cli_problems(case, result["code"], result["stderr"], text)
            verdict = "yes" if not problems else "NO: " + "; ".join(problems).replace("|", "\\|")
            print(f"| {case.name} | {outcome(result['code'], result['stderr'], text)} "
                  f"| {result['seconds']:.2f} | {result['peak_mb']:.0f} | {verdict} |", flush=True)
            worst_s = max(worst_s, (result["seconds"], case.name))
            worst_mb = max(worst_mb, (result["peak_mb"], case.name))
            path.unlink()
    print(f"\nmax {worst_s[0]:.2f} s ({worst_s[1]}): "
          f"{'within' if worst_s[0] <= SECONDS_BOUND else 'OVER'} {SECONDS_BOUND:g} s; "
          f"max {worst_mb[0]:.0f} MB ({worst_mb[1]}): "
          f"{'within' if worst_mb[0] <= MB_BOUND else 'OVER'} 1.5 GB")


if __name__ == "__main__":
    main()

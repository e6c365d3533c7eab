"""How fast Stop answers on the page, and how long the page goes without visible progress,
next to a baseline revision, in one run: the real app, a real browser, the bundled model.

    python bench/stop.py                                  # baseline: 8ce3058
    python bench/stop.py --baseline HEAD~3 --repeats 3 --json docs/stop.json
    python bench/stop.py --baseline none                  # this checkout only

For each variant (the baseline revision, checked out with `git worktree` in a temporary
folder, and this checkout) it starts `python app.py --model bundled` on a free loopback port
(each in its own process, one at a time on the cores: the other waits idle), then for every
point and repeat:

1. opens the page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright),
   uploads the PDF (default: the KD survey as extracted, drawn into a PDF as
   bench/throughput.py does; prose the model edits, unlike a generated paper's, which it
   copies in a few passes) and clicks Run with the page's defaults (the bundled model, 100,000 characters, chunks of
   1,000 characters, batch size auto);
2. waits for the point: the first chunk shown finished (`first`), or that plus N seconds
   (`+Ns`); meanwhile it samples the page every 0.1 s;
3. clicks Stop and measures the time until the progress line says "stopped" (polled on
   every animation frame, within ~0.02 s);
4. checks that nothing finished is lost: the page keeps at least the chunks it counted
   finished when Stop was clicked, and shows a text.

Printed: per variant and point, each Stop latency, then p50 / p95 / max over all points;
and "silence", the longest time without visible progress (the cleaned text changed, or
the progress line counted one more finished chunk) between the first finished chunk and the click of Stop.
The variants alternate per repeat, so that a slower spell of the machine hits both.

What it does not measure: Stop while the PDF is read or before the first chunk (no point
here), a served model or a GPU, other browsers. The latencies include the browser's and
Gradio's round trip, as a visitor sees them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("PDF_CLEANER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEFAULT_BASELINE = "8ce3058"  # main before Stop within a layer
DEFAULT_POINTS = ("first", "+1.5s", "+5s", "+12s", "+25s", "+40s")
SAMPLE = 0.1  # seconds between two looks at the page
STOPPED_WITHIN = 60.0  # seconds: a Stop that takes longer is reported as failed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class App:
    """`python app.py --model bundled` from `folder`, in a child process."""

    name: str
    folder: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(self.folder)}
        out = open(self.log, "wb")
        self.process = subprocess.Popen([sys.executable, "app.py", "--model", "bundled", "--port", str(self.port)],
                                        cwd=self.folder, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait(self, page) -> None:
        """Until the page says the model is ready."""
        deadline = time.monotonic() + 600
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name}: app.py exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                page.goto(self.url)
                page.wait_for_function("() => { const e = document.querySelector('#device-line textarea, "
                                       "#device-line input'); return e && e.value.includes('ready'); }",
                                       timeout=60_000)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def baseline_checkout(revision: str, into: Path) -> Path:
    folder = into / f"baseline-{revision}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision], check=True,
                   capture_output=True)
    return folder


def remove_checkout(folder: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def finished_rows(page) -> int:
    """Chunks the progress line counts finished ("12/104 chunks ...", "stopped: 12/104 chunks kept")."""
    found = re.search(r"(\d+)/(\d+) chunks", value(page, "progress"))
    return int(found.group(1)) if found else 0


def measure(page, app: App, pdf: str, point: str) -> dict:
    """One run on a fresh page, stopped at `point`."""
    page.goto(app.url)
    page.wait_for_selector("#run")
    page.locator("#pdf-input input[type=file]").set_input_files(pdf)
    page.wait_for_function("() => (document.querySelector('#document textarea') || {}).value?.includes('pages:')",
                           timeout=120_000)
    page.click("#run")
    wait = 0.0 if point == "first" else float(point.strip("+s"))
    first_at = None
    last_change, silence = None, 0.0
    seen = ("", 0)
    deadline = time.monotonic() + 900
    while True:
        now = time.monotonic()
        if value(page, "progress").startswith("done"):
            return {"point": point, "latency": None, "silence": silence, "chunks": finished_rows(page), "whole": True,
                    "progress": value(page, "progress")}
        shown = (value(page, "cleaned"), finished_rows(page))
        if first_at is None and shown[1] >= 1:
            first_at = last_change = now
        if first_at is not None:
            if shown != seen:
                silence = max(silence, now - last_change)
                last_change = now
            if now - first_at >= wait:
                break
        seen = shown
        if now > deadline:
            raise AssertionError(f"{app.name}: no finished chunk; progress: {value(page, 'progress')}")
        time.sleep(SAMPLE)
    silence = max(silence, time.monotonic() - last_change)
    done_before = finished_rows(page)
    clicked = time.monotonic()
    page.click("#stop")
    try:
        page.wait_for_function("() => (document.querySelector('#progress textarea') || {}).value?.startsWith('stopped')",
                               timeout=STOPPED_WITHIN * 1000, polling="raf")
        latency = time.monotonic() - clicked
    except Exception:  # noqa: BLE001 - reported, the next point goes on
        latency = float("nan")
    page.wait_for_timeout(300)  # the last render
    kept = finished_rows(page)
    whole = kept >= done_before and bool(value(page, "cleaned").strip())
    return {"point": point, "latency": latency, "silence": silence, "chunks": kept, "whole": whole,
            "progress": value(page, "progress")}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if v == v)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="a git revision, or 'none'")
    parser.add_argument("--pdf", default=None, help="the PDF to run (default: a generated 17-page paper)")
    parser.add_argument("--points", nargs="+", default=list(DEFAULT_POINTS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None, help="write every measurement here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="pdf-cleaner-stop-"))
    pdf = args.pdf
    if pdf is None:
        sys.path.insert(0, str(ROOT / "bench"))
        from throughput import paper_pdf

        data, what = paper_pdf(None)
        pdf = str(work / "paper.pdf")
        Path(pdf).write_bytes(data)
        print(f"PDF: {what}", flush=True)
    apps: list[App] = []
    checkout = None
    try:
        if args.baseline != "none":
            checkout = baseline_checkout(args.baseline, work)
            apps.append(App(f"baseline {args.baseline}", checkout, work / "baseline.log"))
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = " (uncommitted changes)" if subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode else ""
        apps.append(App(f"this checkout {head}{dirty}", ROOT, work / "current.log"))
        results: dict[str, list[dict]] = {app.name: [] for app in apps}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for app in apps:
                app.start()
            for app in apps:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                app.wait(context.new_page())
                context.close()
            for repeat in range(args.repeats):
                for app in apps:
                    for point in args.points:
                        context = browser.new_context(viewport={"width": 1400, "height": 1000})
                        context.set_default_timeout(120_000)
                        row = measure(context.new_page(), app, pdf, point)
                        context.close()
                        row["repeat"] = repeat
                        results[app.name].append(row)
                        stop = f"{row['latency']:5.2f} s" if row["latency"] is not None else "(ended before)"
                        print(f"{app.name:<40} {point:>6}  stop {stop}  silence {row['silence']:5.1f} s"
                              f"  chunks {row['chunks']:>3}  whole {row['whole']}  | {row['progress'][:60]}", flush=True)
            browser.close()
    finally:
        for app in apps:
            app.stop()
        if checkout is not None:
            remove_checkout(checkout)

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f}; PDF {Path(pdf).name}; points {' '.join(args.points)}; {args.repeats} repeats\n")
    print(f"{'variant':<40} {'p50 stop':>9} {'p95 stop':>9} {'max stop':>9} {'max silence':>12} {'all whole':>10}")
    summary = {}
    for name, rows in results.items():
        latencies = [r["latency"] for r in rows if r["latency"] is not None]
        after_refill = [r["silence"] for r in rows]
        summary[name] = {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                         "max": max(latencies, default=float("nan")), "max_silence": max(after_refill),
                         "whole": all(r["whole"] for r in rows)}
        s = summary[name]
        print(f"{name:<40} {s['p50']:>8.2f}s {s['p95']:>8.2f}s {s['max']:>8.2f}s {s['max_silence']:>11.1f}s "
              f"{str(s['whole']):>10}")
    print(f"\n{'point':<8}" + "".join(f"{name[:28]:>30}" for name in results))
    for point in args.points:
        cells = []
        for rows in results.values():
            got = [r["latency"] for r in rows if r["point"] == point]
            cells.append(", ".join("ended" if x is None else f"{x:.2f}" for x in got))
        print(f"{point:<8}" + "".join(f"{c:>30}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

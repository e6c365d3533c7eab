"""Load test of the web app: N visitors cleaning a PDF at the same time, through gradio_client.

Starts `python app.py --host 127.0.0.1 --port P` in a subprocess on a free loopback port
(never a public address, no share link), waits for the server and for the bundled model
(a warm-up run with the model must finish), then for each N in `--sessions` (default
1,4,8) submits N `/clean` runs at once, one gradio_client Client per visitor (each its own
browser session; gradio_client streams every job in its own thread). Every visitor cleans
its own small generated PDF (tests/pdf_factory.py `simple_pdf`: one page, three
paragraphs, a few 1,000-character chunks) whose text carries a marker word no other PDF
has, with the bundled model, `--max-new-tokens` (default 32) and the page's defaults
otherwise. Meanwhile a separate client calls `/extract` on a one-page PDF in a loop.

Measured, per N:

- sessions that completed before the deadline, and sessions whose result is correct: the
  expected number of chunks (computed here with the same pipeline, rules only), all done;
  a non-empty cleaned text holding its own marker and no other PDF's marker; the same for
  the raw text; the document panel naming its own file; a `NAME.clean.txt` /
  `NAME.raw.txt` download, named after its own PDF, whose content is what it was shown; and
  a `NAME.report.jsonl` with one line per chunk and a summary, where the model's own text
  of every chunk names no other PDF's marker (with few new tokens the guard rejects most
  chunks and the cleaned text is then their normalized input, so the report is where the
  model's text can be checked);
- p50 / p95 of the time from `submit()` to the first streamed update of any kind (the page
  says something: waiting, reading), to the first update that shows a finished chunk, and
  to the end of the job (polled every 50 ms, so ±0.05 s);
- how responsive the server stays: p50 / p95 / max latency of the `/extract` calls (upload
  included) made while the N runs are in flight, and the same with nothing else running
  (the "idle" column).

Why `/extract`: `/clean` and `/regenerate` take turns on the one model (in the app's own line
for the model, sessions.Line), so a call of either would wait behind the runs being measured. `/extract` never uses the model and has its own
Gradio concurrency limit (4), so it waits for nothing but the server itself, and it does a
real, small piece of work (upload, queue, reading a one-page PDF): the request a visitor
makes on dropping a PDF. `/stop` and `/chunk` (no limit) were not chosen: on an idle session
they do nothing, and `/stop` is wired to cancel the run events, which is not a neutral thing
to call in a loop.

Not measured: throughput (one model per process: runs are served one after the other, so
the time to the first chunk grows with N by design; the line's order is the order in which
the runs reached it, not the order of `submit()`), the quality of the cleaning, browser
rendering, more than one server process, or a real network. The server and the clients
share this machine's cores; the load average is printed so that other work shows.

Bounded: each N has a deadline (`--deadline`, for all its sessions together); what is not
done by then is cancelled and counted as not completed. Nothing is retried. The server is
shut down at the end, also on errors and Ctrl-C.

    python bench/load.py                              # N = 1, 4, 8; 32 new tokens per chunk
    python bench/load.py --sessions 2 --max-new-tokens 16 --deadline 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model needs no Hub (also for the server)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from pipeline import ChunkPlan, Settings, run  # noqa: E402
from tests.pdf_factory import simple_pdf  # noqa: E402
from tests.page_outputs import named, rows  # noqa: E402

DONE = ("cleaned", "input kept (guard)")  # a chunk's status once it is finished
# One marker word per PDF; none is part of another, none is an ordinary word of the text.
MARKERS = ["Albatross", "Bramble", "Cobalt", "Dulcimer", "Ember", "Fjord", "Gannet", "Heliotrope",
           "Ibis", "Juniper", "Kestrel", "Lantern", "Marigold", "Nebula", "Obsidian", "Paprika",
           "Quokka", "Rhubarb", "Saffron", "Tamarind", "Umber", "Vellum", "Wombat", "Yarrow"]
WARMUP_MARKER, PROBE_MARKER = "Zeppelin", "Xylophone"
ALL_MARKERS = MARKERS + [WARMUP_MARKER, PROBE_MARKER]
POLL = 0.05  # seconds between two looks at the jobs' streamed outputs

SENTENCES = [
    "The {m} survey counts the birds that stop at the lake on their way south each autumn.",
    "Volunteers of the {m} project walk the shore at dawn and write down every species they see.",
    "In the third year the {m} team added a second boat, which doubled the area they could cover.",
    "Most counts of the {m} study fall in October, when the water is low and the mud is exposed.",
    "A cold spring delays the {m} migration by about a week, as the records of ten years show.",
    "The {m} data are shared with the regional office, which compares them with other lakes.",
    "Rain on the day of a count lowers the {m} numbers, so a second count follows within a week.",
    "Each {m} volunteer carries a notebook, a pair of binoculars and a printed map of the shore.",
]


# ---------------------------------------------------------------------------------------------
# inputs


def page_text(marker: str) -> str:
    """Three paragraphs of about 800 characters, every sentence naming the marker."""
    paragraphs = []
    for p in range(3):
        sentences = [SENTENCES[(p * 3 + i) % len(SENTENCES)].format(m=marker) for i in range(9)]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def write_pdf(folder: Path, marker: str) -> Path:
    path = folder / f"report-{marker.lower()}.pdf"
    path.write_bytes(simple_pdf([page_text(marker)], title=f"The {marker} report"))
    return path


def expected_chunks(pdf: Path) -> int:
    """How many chunks the page's default settings give this PDF (rules only, no model)."""
    for event in run(str(pdf), Settings(use_llm=False)):
        if isinstance(event, ChunkPlan):
            return len(event.chunks)
    raise RuntimeError(f"no chunk plan for {pdf}")


# ---------------------------------------------------------------------------------------------
# reading the app's outputs


def chunks_done(out: dict) -> int:
    return sum(1 for row in rows(out["table"]) if len(row) > 2 and row[2] in DONE)


def markers_in(text: str) -> set[str]:
    return {m for m in ALL_MARKERS if re.search(rf"\b{m}\b", text or "")}


def file_paths(files) -> list[Path]:
    if not isinstance(files, list):
        return []
    return [Path(f if isinstance(f, str) else f["path"]) for f in files]


# ---------------------------------------------------------------------------------------------
# the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python app.py` on 127.0.0.1 in a subprocess; its output goes to a log file."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.process = psutil.Process(self.proc.pid)

    def wait_up(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the server did not answer in time:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        try:
            times = self.process.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return float("nan")

    def rss_mb(self) -> float:
        try:
            return self.process.memory_info().rss / 2**20
        except psutil.Error:
            return float("nan")

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def warm_up(server: Server, pdf: Path, max_new_tokens: int, deadline: float) -> tuple[float, str]:
    """One run with the model: it waits for the start-up load, then generates. Returns its
    time and its final progress line (which names the model and the device)."""
    client = Client(server.url, verbose=False, download_files=str(pdf.parent / "warmup"))
    try:
        started = time.monotonic()
        job = client.submit(handle_file(str(pdf)), api_name="/clean", max_new_tokens=max_new_tokens)
        try:
            final = named(job.result(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:
            job.cancel()
            raise
        if not final["progress"].startswith("done:"):
            raise RuntimeError(f"the warm-up run did not finish: {final['progress']}")
        return time.monotonic() - started, final["progress"]
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# the responsiveness probe


class Probe:
    """A client of its own calling /extract on a one-page PDF in a loop, timing each call."""

    def __init__(self, url: str, pdf: Path, interval: float, timeout: float):
        self.client = Client(url, verbose=False, download_files=str(pdf.parent / "probe"))
        self.pdf, self.interval, self.timeout = pdf, interval, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def call(self) -> None:
        started = time.monotonic()
        job = self.client.submit(handle_file(str(self.pdf)), "", "", 100_000, api_name="/extract")
        try:
            document, raw = job.result(timeout=self.timeout)
        except Exception as exc:
            job.cancel()
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        elapsed = time.monotonic() - started
        if "pages: 1" not in document or markers_in(raw) != {PROBE_MARKER}:
            self.failures.append(f"wrong /extract answer: {document[:80]!r}")
        else:
            self.latencies.append(elapsed)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.call()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self.latencies, self.failures = [], []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# one round: N sessions at once


@dataclass
class Session:
    index: int
    marker: str
    pdf: Path
    expected: int
    folder: Path
    client: Client | None = None
    job: object = None
    submitted: float = 0.0
    ended: float | None = None  # when the job ended (its done callback)
    first_update: float | None = None  # seconds from submit to the first streamed update
    first_chunk: float | None = None  # seconds from submit to the first finished chunk seen
    finished: float | None = None  # seconds from submit to the end, for a completed run
    seen: int = 0  # streamed outputs looked at so far
    updates: int = 0
    incomplete: str = ""  # why the run did not complete (deadline, error, not "done:")
    problems: list[str] = field(default_factory=list)  # what is wrong with a completed run
    progress: str = ""
    statuses: list[str] = field(default_factory=list)  # the chunk table's status column
    model_named: int = 0  # chunks whose model text (in the report) names this session's marker

    @property
    def completed(self) -> bool:
        return self.finished is not None and not self.incomplete

    @property
    def correct(self) -> bool:
        return self.completed and not self.problems


def check(session: Session) -> None:
    """What a visitor would check: its own document, all chunks, its own text and files."""
    job = session.job
    problems = session.problems
    try:
        final = named(job.result(timeout=0))
    except Exception as exc:
        session.incomplete = f"job failed: {type(exc).__name__}: {exc}"
        return
    session.progress = final["progress"] or ""
    n = session.expected
    if not session.progress.startswith(f"done: {n}/{n} chunks"):
        session.incomplete = f"not done: {session.progress!r}"
    table = rows(final["table"])
    session.statuses = statuses = [row[2] for row in table]
    if len(table) != n or any(s not in DONE for s in statuses):
        problems.append(f"expected {n} finished chunks, got {statuses}")
    cleaned, raw = final["cleaned"] or "", final["raw"] or ""
    if not cleaned.strip():
        problems.append("empty cleaned text")
    if markers_in(cleaned) != {session.marker}:
        problems.append(f"cleaned text has markers {sorted(markers_in(cleaned))}, expected only {session.marker}")
    if markers_in(raw) != {session.marker}:
        problems.append(f"raw text has markers {sorted(markers_in(raw))}, expected only {session.marker}")
    if f"file: {session.pdf.name}" not in (final["document"] or ""):
        problems.append(f"document panel does not name {session.pdf.name}")
    files = {p.name: p for p in file_paths(final["files"])}
    stem = session.pdf.stem
    for suffix, shown in ((".clean.txt", cleaned), (".raw.txt", raw)):
        path = files.get(stem + suffix)
        if path is None:
            problems.append(f"no {stem}{suffix} among the downloads {sorted(files)}")
        elif not path.resolve().is_relative_to(session.folder.resolve()):
            problems.append(f"{path} was not downloaded into this client's folder")
        elif path.read_text(encoding="utf-8").strip() != shown.strip():
            problems.append(f"{path.name} differs from the text shown ({len(path.read_text(encoding='utf-8'))} "
                            f"vs {len(shown)} characters)")
    # The report keeps the model's own text even for chunks the guard replaced by their input.
    path = files.get(stem + ".report.jsonl")
    if path is None:
        problems.append(f"no {stem}.report.jsonl among the downloads {sorted(files)}")
        return
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    chunks = [line for line in lines if "index" in line]
    if [c["index"] for c in chunks] != list(range(n)) or not lines[-1].get("summary") or lines[-1].get("partial"):
        problems.append(f"{path.name}: {len(chunks)} chunk lines, last line {lines[-1] if lines else None}")
    for c in chunks:
        found = markers_in(c.get("model_output") or "")
        if found - {session.marker}:
            problems.append(f"chunk {c['index'] + 1}: the model's text has markers {sorted(found)}")
        session.model_named += session.marker in found


def run_round(server: Server, n: int, sessions: list[Session], probe: Probe, args) -> dict:
    for s in sessions:  # clients first, so that the clock measures the runs only
        s.client = Client(server.url, verbose=False, download_files=str(s.folder))
    load_start = os.getloadavg()
    cpu_start = server.cpu_seconds()
    peak_rss = server.rss_mb()
    probe.start()
    started = time.monotonic()
    deadline = started + args.deadline
    for s in sessions:
        s.submitted = time.monotonic()
        s.job = s.client.submit(handle_file(str(s.pdf)), api_name="/clean", max_new_tokens=args.max_new_tokens)
        s.job.add_done_callback(lambda _f, s=s: setattr(s, "ended", time.monotonic()))

    next_rss, next_note = 0.0, started + 60
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_note:
            next_note += 60
            print(f"  {sum(s.job.done() for s in sessions)}/{n} done after {now - started:.0f} s", flush=True)
        for s in sessions:
            outputs = list(s.job.outputs())
            if s.first_update is None and outputs:
                s.first_update = now - s.submitted
            if s.first_chunk is None:
                for values in outputs[s.seen:]:
                    if chunks_done(named(values)) >= 1:
                        s.first_chunk = now - s.submitted
                        break
            s.seen = len(outputs)
        if now >= next_rss:
            peak_rss, next_rss = max(peak_rss, server.rss_mb()), now + 0.5
        if all(s.job.done() for s in sessions):
            break
        time.sleep(POLL)
    wall = time.monotonic() - started
    timed_out = [s for s in sessions if not s.job.done()]
    for s in timed_out:  # cancel what is left, then give it a little time to go
        s.job.cancel()
    end = time.monotonic() + 30
    while any(not s.job.done() for s in timed_out) and time.monotonic() < end:
        time.sleep(POLL)
    probe.stop()
    cpu = server.cpu_seconds() - cpu_start
    load_end = os.getloadavg()

    for s in sessions:
        s.updates = len(s.job.outputs())
        if s in timed_out:
            s.incomplete = f"not done after {args.deadline:.0f} s; cancelled"
        else:
            s.finished = (s.ended or time.monotonic()) - s.submitted
            # A job that ended between two looks: its first outputs came by its end at the latest.
            s.first_update = min(s.first_update or s.finished, s.finished)
            if s.first_chunk is not None:
                s.first_chunk = min(s.first_chunk, s.finished)
            check(s)
        s.client.close()
    return {"n": n, "sessions": sessions, "wall": wall, "cpu": cpu, "peak_rss": peak_rss,
            "load": (load_start, load_end), "probe": list(probe.latencies),
            "probe_failures": list(probe.failures)}


# ---------------------------------------------------------------------------------------------
# report


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def seconds(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pair(values: list[float], digits: int = 1) -> str:
    return f"{seconds(percentile(values, 50), digits)} / {seconds(percentile(values, 95), digits)}"


def table(idle: dict, rounds: list[dict]) -> str:
    header = ["", "idle"] + [f"N={r['n']}" for r in rounds]
    lines = []

    def row(label: str, idle_value: str, values: list[str]) -> None:
        lines.append([label, idle_value, *values])

    def probe_cells(r: dict) -> tuple[str, str]:
        latencies, failures = r["probe"], r["probe_failures"]
        calls = f"{len(latencies) + len(failures)} ({len(failures)} failed)"
        spread = (f"{pair(latencies, 2)} / {seconds(max(latencies) if latencies else None, 2)}")
        return calls, spread

    row("sessions completed", "-", [f"{sum(s.completed for s in r['sessions'])}/{r['n']}" for r in rounds])
    row("sessions correct", "-",
        [f"{sum(s.correct for s in r['sessions'])}/{r['n']}" for r in rounds])
    updates = [[s.first_update for s in r["sessions"] if s.first_update is not None] for r in rounds]
    firsts = [[s.first_chunk for s in r["sessions"] if s.first_chunk is not None] for r in rounds]
    dones = [[s.finished for s in r["sessions"] if s.completed] for r in rounds]
    row("first update p50 / p95 (s)", "-", [pair(v) for v in updates])
    row("first chunk p50 / p95 (s)", "-", [pair(v) for v in firsts])
    row("completed p50 / p95 (s)", "-", [pair(v) for v in dones])
    row("slowest session (s)", "-", [seconds(max(v) if v else None) for v in dones])
    row("round wall time (s)", "-", [seconds(r["wall"]) for r in rounds])
    idle_calls, idle_spread = probe_cells(idle)
    cells = [probe_cells(r) for r in rounds]
    row("/extract calls", idle_calls, [c[0] for c in cells])
    row("/extract p50 / p95 / max (s)", idle_spread, [c[1] for c in cells])
    row("server CPU s (cores busy)", "-", [f"{r['cpu']:.0f} ({r['cpu'] / r['wall']:.2f})" for r in rounds])
    row("server peak RSS (MB)", "-", [f"{r['peak_rss']:,.0f}" for r in rounds])
    row("load avg 1 min, start → end", f"{idle['load'][0][0]:.2f} → {idle['load'][1][0]:.2f}",
        [f"{r['load'][0][0]:.2f} → {r['load'][1][0]:.2f}" for r in rounds])

    widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(len(header))]

    def fmt(cells_: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells_, widths))) + " |"

    rule = "| " + " | ".join(("-" * w) if i == 0 else ("-" * (w - 1) + ":") for i, w in enumerate(widths)) + " |"
    return "\n".join([fmt(header), rule, *(fmt(x) for x in lines)])


def describe(s: Session) -> str:
    state = "ok" if s.correct else "FAILED"
    notes = "; ".join(([s.incomplete] if s.incomplete else []) + s.problems)
    chunks = ", ".join(f"{s.statuses.count(x)} {x}" for x in dict.fromkeys(s.statuses))
    return (f"  session {s.index + 1} ({s.marker}): {state} · first chunk {seconds(s.first_chunk)} s · "
            f"done {seconds(s.finished)} s · {s.updates} updates · chunks: {chunks or '-'} · "
            f"model text names the marker in {s.model_named} · {s.progress}"
            + (f" · {notes}" if notes else ""))


# ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,4,8", help="numbers of simultaneous sessions (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="per chunk (default: %(default)s)")
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="seconds for all sessions of one N together (default: %(default)s)")
    parser.add_argument("--startup", type=float, default=600.0,
                        help="seconds for the server to start and the model to load (default: %(default)s)")
    parser.add_argument("--probe-interval", type=float, default=0.5,
                        help="pause between two /extract calls of the probe (default: %(default)s)")
    parser.add_argument("--probe-timeout", type=float, default=60.0,
                        help="one /extract call slower than this counts as failed (default: %(default)s)")
    parser.add_argument("--idle-calls", type=int, default=10,
                        help="/extract calls on the idle server, for comparison (default: %(default)s)")
    args = parser.parse_args(argv)
    args.sessions = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not args.sessions or min(args.sessions) < 1:
        parser.error("--sessions: positive numbers, e.g. 1,4,8")
    if sum(args.sessions) > len(MARKERS):
        parser.error(f"--sessions: at most {len(MARKERS)} sessions in all (one marker word each)")
    return args


def code_state() -> str:
    """The commit the server runs, and which of its Python files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    try:
        head = git("log", "-1", "--format=%h %s").strip()
        changed = git("status", "--porcelain", "--untracked-files=all", "--", "*.py", ":!bench", ":!tests")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    files = [line[3:] for line in changed.splitlines()]
    return head + (f" + uncommitted changes to {', '.join(files)}" if files else "")


def main(argv=None) -> int:
    args = parse_args(argv)
    import gradio_client
    import torch

    print(f"machine: {os.cpu_count()} CPU cores ({platform.machine()}), "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
          f"torch {torch.__version__}, gradio_client {gradio_client.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"code: {code_state()}")
    load_before = os.getloadavg()
    print("load average at start: " + " ".join(f"{x:.2f}" for x in load_before))

    work = Path(tempfile.mkdtemp(prefix="pdf-cleaner-load-"))
    markers = iter(MARKERS)
    plans: list[list[Session]] = []
    for n in args.sessions:
        plan = []
        for i in range(n):
            marker = next(markers)
            folder = work / marker.lower()
            folder.mkdir()
            pdf = write_pdf(folder, marker)
            plan.append(Session(i, marker, pdf, expected_chunks(pdf), folder))
        plans.append(plan)
    warm_pdf = write_pdf(work, WARMUP_MARKER)
    probe_pdf = write_pdf(work, PROBE_MARKER)
    print(f"each session's PDF: 1 page, {plans[0][0].pdf.stat().st_size:,} bytes, "
          f"{plans[0][0].expected} chunks at the default chunk size; max_new_tokens={args.max_new_tokens}")

    server = Server(work / "server.log")
    rounds = []
    try:
        startup_deadline = time.monotonic() + args.startup
        server.wait_up(startup_deadline)
        warm_seconds, warm_progress = warm_up(server, warm_pdf, args.max_new_tokens, startup_deadline)
        print(f"server on {server.url} · warm-up run with the model: {warm_seconds:.1f} s · {warm_progress}",
              flush=True)

        probe = Probe(server.url, probe_pdf, args.probe_interval, args.probe_timeout)
        idle_load = os.getloadavg()
        for _ in range(args.idle_calls):
            probe.call()
            time.sleep(args.probe_interval)
        idle = {"probe": list(probe.latencies), "probe_failures": list(probe.failures),
                "load": (idle_load, os.getloadavg())}

        for n, sessions in zip(args.sessions, plans):
            print(f"N={n}: {n} sessions submitting at once (deadline {args.deadline:.0f} s)", flush=True)
            result = run_round(server, n, sessions, probe, args)
            rounds.append(result)
            for s in sessions:
                print(describe(s))
            if result["probe_failures"]:
                print(f"  /extract failures: {result['probe_failures'][:5]}")
        probe.close()
    except BaseException:
        print(f"server log (last lines):\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()

    load_after = os.getloadavg()
    print()
    print(table(idle, rounds))
    print()
    print("load average at end: " + " ".join(f"{x:.2f}" for x in load_after))
    print(f"files: {work}")
    bad = [s for r in rounds for s in r["sessions"] if not s.correct]
    return 1 if bad or any(r["probe_failures"] for r in rounds) else 0


if __name__ == "__main__":
    sys.exit(main())

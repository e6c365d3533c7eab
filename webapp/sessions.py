"""The web app's run bookkeeping: each browser session's latest run, its files, the sweep of
old files, and the line in which runs wait for the model.

- `RunState`: what one run has produced so far. A worker thread applies the pipeline's
  events to it (`apply`, the one event applier: a run and a one-chunk regeneration alike)
  and writes its files; webapp/views.py turns it into text.
- `Sessions`: the registry of each session's latest run. Every run writes into a folder of
  its own, ROOT/<session>/run-XXXX/, so no run can write into another's files: not another
  session's, and not an older run of the same session that is still winding down. A run
  that is replaced (a new run in its session) or whose session ended (the tab was closed)
  is stopped, and its folder is removed once its worker has ended. `sweep()` removes
  session folders untouched for longer than the maximum age that no running run uses (tabs
  that went away without saying so); `start_sweeper()` repeats it in a daemon thread.
- `Line`: one run at a time on the model, first come first served, with a bound on how
  many may wait. Past the bound `join()` raises `LineFull`, so the page can say "busy" in
  its own words instead of the queue's.

It never imports gradio (app.py holds the page) and runs no pipeline work: it stores
events, writes and names files and removes folders. The run's control (worker thread,
follow, stop, regenerate) is webapp/controller.py's.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import (
    ChunkDone,
    ChunkPlan,
    ChunkProgress,
    DocumentInfo,
    OcrProgress,
    PageRead,
    RunFinished,
    Settings,
)
from pipeline.events import Notice
from pipeline.output import ResultWriter, gap_runs, join_result, removed_file_text
from pipeline.resume import read_report

log = logging.getLogger("pdf_cleaner.sessions")
# Seconds between two refreshes of a running run's downloads: each refresh makes Gradio copy
# the growing text and report into its cache (bench/downloads.py measures the bytes).
FILES_EVERY = 10.0
MAX_AGE = 24 * 3600  # seconds: session folders untouched this long are removed by the sweep
SWEEP_EVERY = 300  # seconds between two sweeps


def safe_name(text: str, default: str, limit: int = 80) -> str:
    """A file-name-safe version of `text`: `safe_name("my paper (v2)", "x") -> "my_paper_v2"`."""
    cleaned = re.sub(r"[^\w.-]+", "_", text).strip("._")[:limit]
    return cleaned or default


def session_key(request) -> str:
    """A page session's folder name, from its request (Gradio's, or anything with a
    `session_hash`): the hash comes from the client, so it is made file-name-safe."""
    return safe_name(str(getattr(request, "session_hash", None) or "anonymous"), "anonymous", limit=64)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# one run


class StopFile:
    """A stop signal another process can see: `set()` creates the file, `is_set()` looks for it.

    On ZeroGPU the pipeline runs in a GPU worker process, which a threading.Event does not
    reach; the run's folder is on the same disk. Stopped this way, the pipeline winds down as
    it does on a local Stop and sends every chunk it finished (closing its stream would end
    it at once, with the chunks not yet due in document order only in the files).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def is_set(self) -> bool:
        return self.path.exists()

    def set(self) -> None:
        try:
            self.path.touch()
        except OSError:  # the run's folder is gone: nothing is left to stop
            pass

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(eq=False)  # compared and hashed by identity: a run is itself, whatever it holds
class RunState:
    """What one session's run has produced so far; the page is rendered from it.

    A worker thread applies the pipeline's events (`apply`), the page's handler renders the
    state on a timer, and the Stop, compare and regenerate handlers read it: `lock` guards it.
    """

    key: str  # the session
    name: str  # the PDF's file name without .pdf, made file-name-safe
    folder: Path  # this run's own folder
    settings: Settings
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # names the run across processes
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    changed: threading.Event = field(default_factory=threading.Event)  # something to show at once
    lock: threading.RLock = field(default_factory=threading.RLock)
    busy: bool = True  # a run or a regeneration is working on this state
    version: int = 0  # bumped by every event
    dirty: set = field(default_factory=set)  # parts to send with the next update: document, plan, files
    files_at: float = -math.inf  # when the downloads were last sent (time.monotonic)
    files_had_chunks: bool = False  # the last downloads sent held a finished chunk
    info: DocumentInfo | None = None
    selected: int = 0  # pages selected
    reading: int = 0  # pages read so far
    ocr_page: tuple[int, int] | None = None  # (position, selected) of the page OCR last started
    page_errors: dict[int, str] = field(default_factory=dict)
    plan: ChunkPlan | None = None
    plan_at: float | None = None
    done: dict[int, ChunkDone] = field(default_factory=dict)
    partial: dict[int, ChunkProgress] = field(default_factory=dict)
    summary: RunFinished | None = None
    notices: list[str] = field(default_factory=list)  # what the run changed by itself (Notice), in order
    error: str | None = None  # the message of the error that ended the run
    failure: BaseException | None = None  # what ended the run early, raised by the handler
    note: str = ""  # what the run waits for (its turn, the model), shown in the progress line
    model: str = ""  # "model on device", shown in the progress line
    ended_at: float | None = None
    remove_on_end: Path | None = None  # removed when the worker ends (replaced run, closed session)

    @property
    def clean_path(self) -> Path:
        return self.folder / f"{self.name}.clean.txt"

    @property
    def partial_path(self) -> Path:
        return self.folder / f"{self.name}.partial.clean.txt"

    @property
    def raw_path(self) -> Path:
        return self.folder / f"{self.name}.raw.txt"

    @property
    def report_path(self) -> Path:
        return self.folder / f"{self.name}.report.jsonl"

    @property
    def removed_path(self) -> Path:
        return self.folder / f"{self.name}.removed.txt"

    @property
    def stop_file(self) -> StopFile:
        """The run's stop signal for a pipeline in another process (ZeroGPU)."""
        return StopFile(self.folder / ".stop")

    def apply(self, event) -> bool:
        """Take one pipeline event in; True when the page should be updated right away."""
        self.version += 1
        if isinstance(event, DocumentInfo):
            self.info = event
            self.dirty.add("document")
            return True
        if isinstance(event, OcrProgress):
            self.ocr_page = (event.position, event.selected)
            return True
        if isinstance(event, PageRead):
            self.selected, self.reading = event.selected, event.position
            if event.error:
                self.page_errors[event.page] = event.error
            return False
        if isinstance(event, ChunkPlan):
            self.plan, self.plan_at = event, time.monotonic()
            # The raw text and what the structure stage took out are known before any chunk
            # is cleaned: both are offered from now on.
            removed = removed_file_text(event.removed, f"{self.name}.pdf", self.settings.layout, event.plain_pages)
            try:
                self.raw_path.write_text(event.raw_text + ("\n" if event.raw_text else ""), encoding="utf-8")
                self.removed_path.write_text(removed, encoding="utf-8")
            except FileNotFoundError:  # the session ended and its folder is gone: nobody will read it
                pass
            self.dirty.update(("document", "plan", "files"))
            return True
        if isinstance(event, ChunkProgress):
            self.partial[event.index] = event
            return False
        if isinstance(event, ChunkDone):
            # After the run's end only a regeneration sends chunks (end() set ended_at).
            replaced = event.index in self.done or self.ended_at is not None
            self.done[event.index] = event
            self.partial.pop(event.index, None)
            self.dirty.add("files")
            if event.edits:  # the document panel counts the model's edits
                self.dirty.add("document")
            if replaced:  # a regenerated chunk: the run's files were written without it
                self.rewrite_files()
                return True
            return self.settings.use_llm  # rules-only chunks arrive too fast to show each
        if isinstance(event, RunFinished):
            self.summary = event
            self.dirty.update(("document", "files"))
            return True
        if isinstance(event, Notice):
            self.notices.append(event.message)  # the handler shows it (webapp/controller.py)
            return True
        return False

    def take_dirty(self, now: float | None = None) -> set:
        """The parts to send with this update, and forget them; the downloads at most every
        FILES_EVERY seconds while the run goes on (each send makes Gradio copy every file into
        its cache), but at once when they first hold a finished chunk, and always at the end."""
        now = time.monotonic() if now is None else now
        dirty, self.dirty = self.dirty, set()
        over = self.summary is not None or self.finished.is_set()
        if "files" in dirty:
            # The first finished chunk is offered at once: a client that goes away (a
            # cancelled API call) must have had a cleaned text to keep.
            first = bool(self.done) and not self.files_had_chunks
            if over or first or now - self.files_at >= FILES_EVERY:
                self.files_at, self.files_had_chunks = now, bool(self.done)
            else:
                dirty.discard("files")
                self.dirty.add("files")  # sent with a later update
        return dirty

    def begin_again(self) -> bool:
        """Take an ended run for a regeneration: False while a run or another regeneration
        works on it. The check and the flag under one lock, so two regenerations sent at
        once cannot both pass the check."""
        with self.lock:
            if self.busy:
                return False
            self.busy, self.error, self.failure = True, None, None
            self.stop, self.finished = threading.Event(), threading.Event()
            return True

    def end(self) -> None:
        """The run is over (finished, stopped, cancelled or failed)."""
        with self.lock:
            if self.finished.is_set():
                return
            self.partial.clear()
            self.busy = False
            self.ended_at = self.ended_at or time.monotonic()  # a regeneration keeps the run's time
            self.finished.set()
            self.changed.set()
            target = self.remove_on_end
        if target is not None:
            _remove(target)

    def remove_when_ended(self, folder: Path) -> None:
        """Remove `folder` once the worker has ended, at once when it already has. Not before:
        a worker still winding down would write into a folder that is gone."""
        with self.lock:
            if not self.finished.is_set():
                self.remove_on_end = folder
                return
        _remove(folder)

    @property
    def stopped(self) -> bool:
        if self.plan is not None and len(self.done) < len(self.plan.chunks):
            return True
        return self.summary is not None and self.summary.stopped

    @property
    def complete(self) -> bool:
        """Over, and every chunk of the plan is in the result."""
        return (
            not self.busy
            and self.error is None
            and self.plan is not None
            and not self.stopped
            and not any(item.source == "failed" for item in self.done.values())
        )

    def download_paths(self) -> list[Path]:
        """The files to offer so far: cleaned text, raw text, report.

        While chunks are missing (the run is going, was stopped, failed) the cleaned text is
        offered as a copy named NAME.partial.clean.txt: the name tells a reader that chunks
        are missing. While the run goes it holds the finished chunks in order; once it is over,
        every finished chunk with each gap marked and filled with its rule-cleaned text
        (pipeline.output.join_result). The report's last line says the same ("partial": true,
        "gaps"). Call with `lock` held.
        """
        if self.plan is None:
            return []
        if not self.done:
            return [self.raw_path] if self.raw_path.is_file() else []
        clean = self.clean_path
        try:
            if self.complete:
                self.partial_path.unlink(missing_ok=True)
            elif clean.is_file():
                # Copied aside, then renamed: the page may still be reading the copy offered
                # by the last update, and an open copy must never be seen half written.
                copy = self.partial_path.with_name(self.partial_path.name + ".tmp")
                shutil.copyfile(clean, copy)
                os.replace(copy, self.partial_path)
                clean = self.partial_path
        except OSError:  # the folder went away with its session
            return []
        return [path for path in (clean, self.raw_path, self.report_path) if path.is_file()]

    def downloads(self) -> list[Path]:
        """Every file a visitor can download so far: `download_paths()`, and what was removed
        (NAME.removed.txt) once the plan says."""
        with self.lock:
            paths = self.download_paths()
            if self.plan is not None and self.removed_path.is_file():
                paths.append(self.removed_path)
            return paths

    def rewrite_files(self) -> None:
        """Write the cleaned text and the report again after a chunk changed (a regeneration);
        not when the run's folder is gone (the run was replaced or its session ended): it would
        come back and nothing would remove it. Call with `lock` held."""
        if self.plan is None or not self.folder.is_dir():
            return
        finished = [self.done[i] for i in sorted(self.done)]
        chunks = self.plan.chunks
        gaps = tuple((chunks[a].index, chunks[b].index) for a, b in gap_runs(chunks, self.done))
        # The report keeps the run's header line (pipeline.resume): it still names the run.
        earlier = read_report(self.report_path)
        writer = ResultWriter(self.clean_path, self.report_path, removed=self.plan.removed, ocr_pages=self.plan.ocr_pages,
                              header={"run": earlier.header} if earlier and earlier.header else None)
        for item in finished:
            writer.add(item)
        writer.finish(RunFinished(
            text=join_result(chunks, self.done),
            chunks_done=len(finished),
            chunks_total=len(chunks),
            stopped=len(finished) < len(chunks),
            seconds=self.summary.seconds if self.summary else 0.0,
            output_path=str(self.clean_path),
            report_path=str(self.report_path),
            notes=self.plan.notes,  # the limits that cut the reading still hold
            gaps=gaps,
        ))


# ---------------------------------------------------------------------------------------------
# sessions and their folders


def newest_mtime(path: Path) -> float:
    """The latest modification time of `path` and everything in it (folders are small)."""
    newest = path.lstat().st_mtime
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                pass
    return newest


def private_root(parent: Path, name: str) -> Path:
    """A folder only this user can enter, for the sessions' files.

    `parent/name-<uid>` is reused across restarts (so the sweep removes what an earlier
    process left) only when it is a real directory, not a symlink, owned by this user, with
    mode 0700: a folder another local user made or pointed elsewhere would turn the sweep
    against what it holds. Otherwise a fresh `tempfile.mkdtemp` (unpredictable, 0700) serves.
    """
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        path = Path(parent) / f"{name}-{getuid()}"
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
        try:
            info = os.lstat(path)
        except OSError:
            info = None
        if (info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == getuid()
                and stat.S_IMODE(info.st_mode) == 0o700):
            return path
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))


class Sessions:
    """Each session's latest run and the folders on disk under `root`."""

    def __init__(self, root: Path, max_age: float = MAX_AGE):
        self.root = Path(root)
        self.max_age = max_age
        self._states: dict[str, RunState] = {}
        self._by_id: weakref.WeakValueDictionary[str, RunState] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop_sweeping = threading.Event()

    def current(self, key: str) -> RunState | None:
        with self._lock:
            return self._states.get(key)

    def is_current(self, state: RunState) -> bool:
        """False once a newer run of the same session, or the session's end, replaced it."""
        with self._lock:
            return self._states.get(state.key) is state

    def by_id(self, run_id: str) -> RunState | None:
        with self._lock:
            return self._by_id.get(run_id)

    def new_run(self, key: str, pdf_name: str, settings: Settings) -> RunState:
        """A new run for session `key`, in a folder of its own. The session's previous run is
        stopped; its folder is removed once its worker has ended (the page no longer shows
        it, and Gradio serves the downloads it did show from copies in its own cache)."""
        session = self.root / key
        session.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=session))
        stem = Path(pdf_name).name
        stem = stem[:-4] if stem.lower().endswith(".pdf") else stem
        state = RunState(key=key, name=safe_name(stem, "document"), folder=folder, settings=settings)
        with self._lock:
            previous = self._states.get(key)
            self._states[key] = state
            self._by_id[state.id] = state
        if previous is not None:
            previous.stop.set()
            previous.remove_when_ended(previous.folder)
        return state

    def close(self, key: str) -> None:
        """The session ended (its tab was closed): stop its run and remove its folder."""
        with self._lock:
            state = self._states.pop(key, None)
        folder = self.root / key
        if state is None:
            _remove(folder)
            return
        state.stop.set()
        state.remove_when_ended(folder)

    def sweep(self, now: float | None = None) -> list[Path]:
        """Remove the session folders nothing was written to for longer than `max_age` and
        that no running run uses, and forget those sessions. Returns what was removed."""
        now = time.time() if now is None else now
        removed: list[Path] = []
        if self.root.is_symlink():
            log.warning("not sweeping %s: it is a symbolic link", self.root)
            return removed  # never follow it: what it points at is not ours to remove
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return removed
        for path in entries:
            try:
                age = now - newest_mtime(path)
            except OSError:
                continue
            if age <= self.max_age:
                continue
            with self._lock:
                state = self._states.get(path.name)
                if state is not None and state.busy:
                    continue
                self._states.pop(path.name, None)
            if path.is_dir() and not path.is_symlink():
                _remove(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def start_sweeper(self, interval: float = SWEEP_EVERY) -> None:
        """Sweep every `interval` seconds in a daemon thread (once per registry)."""
        if self._sweeper is not None and self._sweeper.is_alive():
            return
        self._stop_sweeping.clear()

        def loop() -> None:
            while not self._stop_sweeping.wait(interval):
                try:
                    removed = self.sweep()
                    if removed:
                        log.info("removed %d old session folder(s)", len(removed))
                except Exception:  # a bug: keep sweeping later rather than never again
                    log.exception("sweeping %s failed", self.root)

        self._sweeper = threading.Thread(target=loop, name="pdf-cleaner-sweep", daemon=True)
        self._sweeper.start()

    def stop_sweeper(self) -> None:
        self._stop_sweeping.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
        self._sweeper = None


# ---------------------------------------------------------------------------------------------
# the line for the model


class LineFull(Exception):
    """More runs are waiting than the line holds."""

    def __init__(self, waiting: int):
        super().__init__(f"{waiting} runs are waiting")
        self.waiting = waiting


class Line:
    """Runs take turns on the model: `slots` at a time (one for a model in this process), in
    arrival order, at most `limit` waiting.

    `join()` (in the page's handler, at once) gives a ticket or raises LineFull; the worker
    thread calls `wait_turn()` before any work and `leave()` after it, also when it never got
    its turn. A ticket that is never used must be given back with `leave()`. A served model
    (its own server batches requests from many runs) lets several runs go at once.
    """

    def __init__(self, limit: int, slots: int = 1):
        self.limit = limit
        self.slots = slots
        self._cond = threading.Condition()
        self._tickets: list[object] = []  # arrival order; the first ones run or run next
        self._holders: set[object] = set()

    def _waiting(self) -> int:
        return len(self._tickets) - len(self._holders)

    def waiting(self) -> int:
        with self._cond:
            return self._waiting()

    def running(self) -> int:
        """How many runs hold a turn now."""
        with self._cond:
            return len(self._holders)

    def join(self) -> object:
        with self._cond:
            waiting = self._waiting()
            if waiting >= self.limit:
                raise LineFull(waiting)
            ticket = object()
            self._tickets.append(ticket)
            return ticket

    def wait_turn(self, ticket: object, stop: threading.Event, report=None, poll: float = 0.25) -> bool:
        """Block until it is this ticket's turn (True), or until `stop` is set (False: the
        ticket has left the line). `report(ahead)` is called while waiting with the number of
        runs ahead, the running ones included."""
        with self._cond:
            while True:
                if ticket not in self._tickets:
                    return False
                if stop.is_set():
                    self._tickets.remove(ticket)
                    self._cond.notify_all()
                    return False
                ahead = [t for t in self._tickets[: self._tickets.index(ticket)] if t not in self._holders]
                if len(self._holders) < max(1, self.slots) and not ahead:
                    self._holders.add(ticket)
                    return True
                if report is not None:
                    report(self._tickets.index(ticket))
                self._cond.wait(poll)

    def leave(self, ticket: object) -> None:
        with self._cond:
            self._holders.discard(ticket)
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._cond.notify_all()

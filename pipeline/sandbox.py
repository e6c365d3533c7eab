"""Read a PDF in a child process with a wall-time limit and a memory limit.

    for item in read_pdf(data, settings, stop):
        DocumentInfo  once, when the file is open
        Selection     once: the pages that will be read (after the page range and page limit)
        OcrStarted    before a page is read by OCR (pipeline.ocr), several pages ahead at most
        PageText      per page, as each is read
        ReadLimit     at most once, last: a limit (time, memory, a crash) ended the reading early

A small PDF can keep pypdf busy for minutes or make it allocate gigabytes (a page of a
million text operators, a stream that inflates to 1 GB, forms that draw each other). Run in
the server's process, such a file would stall every visitor; here it only costs its own
child, which is killed when the time limit passes, when `stop` is set, or when the consumer
closes the generator (a closed tab, Stop). Pages read before that are kept: the caller gets
them, then a ReadLimit that says why the rest is missing. When no page with text was read,
the limit is a TooComplexError instead.

The child runs `python -m pipeline.sandbox`: it reads one JSON line of options and then the
PDF's bytes on stdin, applies the memory limit (RLIMIT_AS, where the OS has it) and pypdf's
tightened limits, runs pipeline.extract, and writes one JSON line per result on stdout.
Errors the user can fix come back as the same PipelineError subclass; anything else in the
child is a bug and comes back as RuntimeError with the child's traceback.

With settings.layout, the child also opens the file with PDFium (pipeline.layout) and each
page comes back with its blocks; when PDFium cannot open a file that pypdf opened, the
pages come back as pypdf's plain text. Pages without a text layer are read by OCR in the
child too (settings.ocr): each one started adds settings.ocr_page_seconds to the time
limit. The child is the leader of its own process group, and the whole group is killed at
the end, so no tesseract process outlives a stopped or timed-out reading.

What it does not do: no normalization, no chunking, no retries. The parent never parses
the PDF itself, so nothing in the file can reach the server's process except text.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import errors
from pipeline.events import DocumentInfo
from pipeline.extract import PageText
from pipeline.layout import PageLayout
from pipeline.settings import Settings

_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds the pipeline package
_POLL = 0.1  # seconds between checks of the stop event, the clock and the child's memory


@dataclass(frozen=True)
class Selection:
    pages: tuple[int, ...]  # 1-based page numbers that will be read, in order
    requested: int  # pages the page range selected, before the page limit


@dataclass(frozen=True)
class OcrStarted:
    page: int  # 1-based page number that OCR is reading now


@dataclass(frozen=True)
class ReadLimit:
    kind: str  # "time", "memory" or "crash"
    page: int | None  # the page being read when the limit hit (None: before the first page)
    message: str  # what happened and how to change the limit, for the user


@dataclass(frozen=True)
class ReadStats:
    seconds: float  # wall time of the child, start-up included
    peak_mb: float | None  # the child's peak resident memory (None where it cannot be measured)


def read_pdf(
    data: bytes, settings: Settings, stop: threading.Event | None = None, stats: list | None = None
) -> Iterator[DocumentInfo | Selection | PageText | ReadLimit]:
    """Read `data` in a child process; see the module docstring for what is yielded.

    `stats`, when given, gets one ReadStats appended when the child has ended.
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    deadline = started + settings.read_timeout
    child = _Child(settings)
    peak: float | None = None
    current: int | None = None  # the page the child is reading
    pending: list[int] = []  # pages selected and not yet read
    kept_text = False  # a page with text came back
    ocr_pages = 0  # pages handed to OCR so far
    try:
        child.send(data, settings)
        while True:
            # Checked before every message, not only while waiting: many quick pages must not
            # outrun the time limit either.
            if stop.is_set():
                return
            if time.monotonic() >= deadline:
                limit = f"the {settings.read_timeout:g} s time limit"
                how = "raise the limit with read_timeout (--read-timeout)"
                if ocr_pages:
                    limit = f"the time limit ({settings.read_timeout:g} s + {settings.ocr_page_seconds:g} s for each page read by OCR)"
                    how = "raise the limits with read_timeout (--read-timeout) or ocr_page_seconds (--ocr-page-seconds)"
                yield _limit_or_raise(
                    "time",
                    current,
                    kept_text,
                    f"it took longer than {limit}",
                    f"Reading stopped at page {current}: {limit} was reached",
                    how,
                )
                return
            message = child.next(timeout=_POLL)
            peak = max(filter(None, (peak, child.peak_mb())), default=None)
            if message is _Child.WAITING:
                continue
            if message is None:  # the child ended without saying why: killed for memory, or crashed
                yield _limit_or_raise(
                    child.exit_kind(),
                    current,
                    kept_text,
                    child.exit_reason(settings),
                    f"Reading stopped at page {current}: {child.exit_reason(settings)}",
                    "raise the limit with read_memory_mb (--read-memory-mb)",
                )
                return
            kind = message.pop("kind")
            if kind == "info":
                yield DocumentInfo(**message)
            elif kind == "selection":
                pending = list(message["pages"])
                current = pending[0] if pending else None
                yield Selection(pages=tuple(message["pages"]), requested=message["requested"])
            elif kind == "ocr":
                ocr_pages += 1
                deadline += settings.ocr_page_seconds
                yield OcrStarted(page=message["page"])
            elif kind == "page":
                layout = message.pop("layout", None)
                page = PageText(**message, layout=PageLayout.from_dict(layout) if layout else None)
                kept_text = kept_text or bool(page.text.strip())
                if page.page in pending:
                    pending = pending[pending.index(page.page) + 1 :]
                current = pending[0] if pending else None
                yield page
            elif kind == "error":
                error = getattr(errors, message["type"], None)
                if not (isinstance(error, type) and issubclass(error, errors.PipelineError)):
                    error = errors.PipelineError
                raise error(message["message"])
            elif kind == "bug":
                raise RuntimeError("reading the PDF failed in the reading process:\n" + message["traceback"])
            elif kind == "end":
                peak = max(filter(None, (peak, message.get("peak_mb"))), default=None)
                return
    finally:
        child.close()
        if stats is not None:
            stats.append(ReadStats(seconds=time.monotonic() - started, peak_mb=peak))


def read_info(data: bytes, settings: Settings) -> DocumentInfo:
    """Only the document's metadata and page count, read in a child like the rest (which is
    killed as soon as the metadata is in)."""
    reading = read_pdf(data, settings)
    try:
        for item in reading:
            if isinstance(item, DocumentInfo):
                return item
    finally:
        reading.close()
    raise errors.TooComplexError("This PDF is too complex to read: its metadata could not be read in time.")


def _limit_or_raise(kind, page, kept_text, why, partial, how) -> ReadLimit:
    """A ReadLimit when text was kept; otherwise there is no result at all: TooComplexError."""
    if not kept_text:
        raise errors.TooComplexError(
            f"This PDF is too complex to read: {why}. Try re-saving it with another program "
            f"(for example 'Print to PDF'), select fewer pages, or {how}."
        )
    if page is None:  # every selected page was read; the child died finishing up
        return ReadLimit(kind, None, f"Reading ended early: {why}. Every selected page was read.")
    return ReadLimit(kind, page, f"{partial}. The pages before it are kept; to read the rest, {how}.")


class _Child:
    """The reading process, seen from the parent: send the job, take its messages, kill it."""

    WAITING = object()

    def __init__(self, settings: Settings):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        self.memory_mb = settings.read_memory_mb
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(_ROOT),
            start_new_session=os.name == "posix",  # its own process group: OCR's processes die with it
        )
        self.messages: queue.Queue = queue.Queue()
        self.stderr_tail = b""
        threading.Thread(target=self._read_stdout, daemon=True, name="pdf-cleaner-read-out").start()
        threading.Thread(target=self._read_stderr, daemon=True, name="pdf-cleaner-read-err").start()

    def send(self, data: bytes, settings: Settings) -> None:
        options = {
            "password": settings.password,
            "pages": settings.pages,
            "max_chars": settings.max_chars,
            "max_pages": settings.max_pages,
            "memory_mb": settings.read_memory_mb,
            "layout": settings.layout,
            "ocr": settings.ocr,
            "ocr_language": settings.ocr_language,
            "ocr_dpi": settings.ocr_dpi,
            "ocr_page_seconds": settings.ocr_page_seconds,
        }
        try:
            self.process.stdin.write(json.dumps(options).encode() + b"\n")
            self.process.stdin.write(data)
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child died at once; its exit is reported through next()

    def next(self, timeout: float):
        """The next message (a dict), WAITING when none came in time, None at the end of output."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return self.WAITING

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            try:
                self.messages.put(json.loads(line))
            except ValueError:  # a line cut by the child's death
                break
        self.messages.put(None)

    def _read_stderr(self) -> None:
        # Drained so that a chatty child cannot block on a full pipe; the tail explains crashes.
        for line in self.process.stderr:
            self.stderr_tail = (self.stderr_tail + line)[-4000:]

    def peak_mb(self) -> float | None:
        """The child's peak resident memory so far (None where /proc is missing, or after its end)."""
        return _peak_mb(self.process.pid)

    def exit_kind(self) -> str:
        self._wait()
        return "memory" if self._out_of_memory() else "crash"

    def exit_reason(self, settings: Settings) -> str:
        self._wait()
        if self._out_of_memory():
            return f"it needs more than the {settings.read_memory_mb:,} MB memory limit"
        return f"the PDF reader crashed on it (exit status {self.process.returncode})"

    def _out_of_memory(self) -> bool:
        # Killed by the kernel (SIGKILL) or by a MemoryError past what Python could report.
        return self.process.returncode in (-9, 137) or b"MemoryError" in self.stderr_tail

    def _wait(self) -> None:
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()

    def close(self) -> None:
        if os.name == "posix":
            try:  # the child and every tesseract process it started
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                pipe.close()
            except OSError:
                pass


# --------------------------------------------------------------------------- the child


def _child_main() -> int:
    """Entry point of the reading process: options and PDF on stdin, JSON lines on stdout."""
    import logging
    import traceback
    import warnings

    out = sys.stdout

    def send(kind: str, **fields) -> None:
        out.write(json.dumps({"kind": kind, **fields}) + "\n")
        out.flush()

    options = json.loads(sys.stdin.buffer.readline())
    _limit_memory(options["memory_mb"])
    data = sys.stdin.buffer.read()
    # pypdf reports recoverable damage as log warnings; the parent hears of pages through
    # their errors, and stderr is only read for the reason of a crash.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    from pipeline import extract

    extract.apply_pypdf_limits()
    try:
        reader = extract.open_pdf(data, options["password"])
        info = extract.read_info(reader, len(data))
        send("info", **asdict(info))
        selected = extract.parse_page_range(options["pages"], info.page_count)
        pages = selected[: options["max_pages"]]
        send("selection", pages=pages, requested=len(selected))
        layout_doc = _layout_document(data, options) if options.get("layout") else None
        ocr = None
        if options.get("ocr", "never") != "never":
            from pipeline.ocr import OcrReader

            kept = data  # PDFium is opened from it only when a page needs OCR

            def open_doc():
                return layout_doc or _layout_document(kept, options)

            ocr = OcrReader(open_doc, options["ocr"], options["ocr_language"], options["ocr_dpi"],
                            options["ocr_page_seconds"], started=lambda page: send("ocr", page=page))
        del data  # the readers keep their own copies
        try:
            for page in extract.iter_pages(reader, pages, options["max_chars"], layout_doc, ocr):
                send("page", **asdict(page))
        finally:
            if ocr is not None:
                ocr.close()
    except errors.PipelineError as exc:
        send("error", type=type(exc).__name__, message=str(exc))
    except MemoryError:
        # Outside a page (which reports its own): while opening or reading the structure.
        send("error", type="TooComplexError", message=extract.structure_error(MemoryError()).args[0])
    except Exception:  # a bug: the parent raises it with this traceback
        send("bug", traceback=traceback.format_exc())
    send("end", peak_mb=_peak_mb())
    return 0


def _layout_document(data: bytes, options: dict):
    """PDFium's view of the file for layout, or None (then pypdf's plain text is read)."""
    from pipeline import layout

    for password in dict.fromkeys([None, options["password"]]):
        try:
            return layout.open_layout(data, password)
        except Exception:  # PDFium refuses some files pypdf opens: fall back, never fail
            continue
    return None


def _limit_memory(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no limit; the time limit still holds
        return
    limit = int(megabytes) * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # macOS refuses RLIMIT_AS; the time limit still holds
        pass


def _peak_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process, from /proc (Linux); None elsewhere.

    Not getrusage's ru_maxrss: Linux carries it over from the parent across fork and exec,
    so a small child of a large server would report the server's peak.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


if __name__ == "__main__":
    sys.exit(_child_main())

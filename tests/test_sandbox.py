"""pipeline.sandbox: reading in a child process, its time and memory limits, stop and close.

Real PDFs and a real child process; the slow page is one the reader really is slow on.
"""

import threading

import psutil
import pytest

from pipeline import run
from pipeline.errors import NotAPdfError, TooComplexError
from pipeline.events import ChunkPlan, PageRead, RunFinished
from pipeline.extract import PageText
from pipeline.sandbox import ReadLimit, Selection, read_info, read_pdf
from pipeline.settings import Settings
from tests.pdf_factory import simple_pdf, slow_pages_pdf, with_big_page, with_slow_page

TEXTS = [
    "The first page explains how the garden was planned over the winter.",
    "The second page tells which seeds were sown in the spring and why.",
    "The third page is never read in time.",
    "The fourth page closes the account of the harvest.",
]


@pytest.fixture(scope="module")
def slow_third_page():
    return with_slow_page(simple_pdf(TEXTS), 3)


def readers() -> list[psutil.Process]:
    """This process's children that are reading a PDF."""
    return [c for c in psutil.Process().children(recursive=True) if "pipeline.sandbox" in " ".join(c.cmdline())]


def test_reads_pages_in_a_child_process_and_reports_its_cost():
    stats = []
    items = list(read_pdf(simple_pdf(TEXTS), Settings(), stats=stats))
    assert isinstance(items[1], Selection) and items[1].pages == (1, 2, 3, 4)
    pages = [i for i in items if isinstance(i, PageText)]
    assert [p.text.strip() for p in pages] == TEXTS
    assert stats[0].seconds > 0 and (stats[0].peak_mb is None or 10 < stats[0].peak_mb < 1024)
    assert not readers()


def test_read_info_stops_at_the_metadata(slow_third_page):
    info = read_info(slow_third_page, Settings())
    assert info.page_count == 4
    assert not readers()  # killed before the slow page


def test_user_errors_come_back_as_their_own_class():
    with pytest.raises(NotAPdfError, match="looks like a PNG image"):
        list(read_pdf(b"\x89PNG\r\n\x1a\n" + bytes(100), Settings()))
    assert not readers()


def test_time_limit_keeps_the_pages_read_before_it(slow_third_page):
    items = list(read_pdf(slow_third_page, Settings(read_timeout=2.0)))
    pages = [i for i in items if isinstance(i, PageText)]
    assert [p.page for p in pages] == [1, 2]
    limit = items[-1]
    assert isinstance(limit, ReadLimit) and limit.kind == "time" and limit.page == 3
    assert "Reading stopped at page 3: the 2 s time limit was reached" in limit.message
    assert "--read-timeout" in limit.message
    assert not readers()


def test_time_limit_through_run_gives_a_plan_with_the_note(slow_third_page):
    events = list(run(slow_third_page, Settings(use_llm=False, read_timeout=2.0)))
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert plan.pages_read == (1, 2) and "second page" in plan.chunks[-1].text
    assert len(plan.notes) == 1 and "time limit" in plan.notes[0]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.notes == plan.notes and not finished.stopped


def test_time_limit_before_any_text_is_too_complex():
    pdf = with_slow_page(simple_pdf(TEXTS[:2]), 1)
    with pytest.raises(TooComplexError, match=r"too complex to read: it took longer than the 1\.5 s time limit"):
        list(read_pdf(pdf, Settings(read_timeout=1.5)))
    assert not readers()


def test_memory_limit_fails_the_page_that_needs_more_and_names_the_limit():
    # Page 3's content inflates to 29 MB (within the reader's own limits): with 80 MB of
    # address space the reading process cannot hold it, and only that page is lost.
    pdf = with_big_page(simple_pdf(TEXTS), 3, megabytes=29)
    items = list(read_pdf(pdf, Settings(read_memory_mb=80)))
    pages = [i for i in items if isinstance(i, PageText)]
    assert [p.text.strip() for p in pages if p.page != 3] == [TEXTS[0], TEXTS[1], TEXTS[3]]
    assert pages[2].error.startswith("too complex to read: it needs more memory than the reading limit allows")
    assert "--read-memory-mb" in pages[2].error
    # With the default limit the same page is read.
    again = [i for i in read_pdf(pdf, Settings()) if isinstance(i, PageText)]
    assert again[2].error is None and again[2].text.strip() == "big"
    assert not readers()


def test_a_reading_process_killed_by_the_system_keeps_the_pages_before(slow_third_page):
    # The kernel's out-of-memory killer sends SIGKILL: the child cannot say anything.
    items = []
    for item in read_pdf(slow_third_page, Settings()):
        items.append(item)
        if isinstance(item, PageText) and item.page == 2:
            for child in readers():
                child.kill()
    assert [i.page for i in items if isinstance(i, PageText)] == [1, 2]
    limit = items[-1]
    assert isinstance(limit, ReadLimit) and limit.kind == "memory" and limit.page == 3
    assert "Reading stopped at page 3: it needs more than the 1,024 MB memory limit" in limit.message
    assert "--read-memory-mb" in limit.message


def test_stop_kills_the_child_inside_a_slow_page(slow_third_page):
    stop = threading.Event()
    events = []
    for event in run(slow_third_page, Settings(use_llm=False), stop=stop):
        events.append(event)
        if isinstance(event, PageRead) and event.page == 2:
            stop.set()  # page 3 is slow: the child is killed inside it
    assert not readers()
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    assert plan.pages_read == (1, 2)
    assert events[-1].stopped


def test_closing_the_run_kills_the_child(slow_third_page):
    events = run(slow_third_page, Settings(use_llm=False))
    for event in events:
        if isinstance(event, PageRead) and event.page == 2:
            break
    assert readers()  # still reading page 3
    events.close()
    assert not readers()


def test_many_quick_pages_do_not_outrun_the_time_limit():
    # 400 pages of about 40 ms each (seconds in all): a page arrives more often than the
    # parent polls, so the limit must be checked between pages too, not only while waiting.
    items = list(read_pdf(slow_pages_pdf(400, 3000), Settings(read_timeout=2.5, max_chars=10**8)))
    pages = [i for i in items if isinstance(i, PageText)]
    limit = items[-1]
    assert isinstance(limit, ReadLimit) and limit.kind == "time", f"{len(pages)} pages read"
    assert 0 < len(pages) < 400 and limit.page == len(pages) + 1

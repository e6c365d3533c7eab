"""The served model stage (pipeline.served) against a fake OpenAI-compatible server
(tests/openai_fake.py), and, marked slow, against a real llama.cpp server with the bundled
model (tests/llama_server.py)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pipeline.errors import ModelUnavailableError
from pipeline.events import Chunk, ChunkDone, ChunkPlan, ChunkProgress, Notice, RunFinished
from pipeline.schedule import PROGRESS_INTERVAL, row_budget
from pipeline.served import NO_KEY, ServedStage, estimate_tokens
from pipeline.settings import Settings
from tests.llama_server import ALIAS
from tests.openai_fake import MODEL, FakeServer, Reply

SENTENCE = "Knowledge distillation transfers the abilities of a large teacher model to a small student model."


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    import pipeline.served

    monkeypatch.setattr(pipeline.served, "BACKOFF", 0.02)


def chunks(n: int, tag: str = "") -> list[Chunk]:
    return [Chunk(index=i, text=f"Part {i}{tag}. {SENTENCE}", first_page=1, last_page=1, separator=" ")
            for i in range(n)]


def settings(fake: FakeServer, **changes) -> Settings:
    base = Settings(api_base=fake.url, model=MODEL, concurrency=4, retries=2, request_timeout=10.0)
    return base.with_(**changes)


def clean(items, s: Settings, stop: threading.Event | None = None, keep=None) -> list:
    return list(ServedStage().clean(items, s, stop=stop or threading.Event(), keep=keep))


def done(events) -> list[ChunkDone]:
    return [e for e in events if isinstance(e, ChunkDone)]


def user_text(request: dict) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def test_each_chunk_is_one_streamed_request_with_our_settings(monkeypatch):
    monkeypatch.delenv("PDF_CLEANER_API_KEY", raising=False)
    items = chunks(3)
    with FakeServer() as fake:
        out = done(clean(items, settings(fake, seed=7, top_p=0.8, max_new_tokens=40)))
    assert [(d.index, d.source, d.output) for d in out] == [(c.index, "llm", c.text) for c in items]
    assert all(d.model_output == d.chunk.text and d.tokens == len(d.chunk.text.split()) for d in out)
    request = fake.requests[0]
    assert request["model"] == MODEL and request["stream"] is True
    assert request["temperature"] == 0 and request["top_p"] == 0.8 and request["seed"] == 7
    assert request["max_tokens"] == row_budget(estimate_tokens(items[0].text), 40) == 40
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert request["_headers"]["authorization"] == f"Bearer {NO_KEY}"
    assert sorted(user_text(r) for r in fake.requests) == sorted(c.text for c in items)


def test_budget_follows_the_chunk_and_the_key_comes_from_settings_or_environment(monkeypatch):
    monkeypatch.setenv("PDF_CLEANER_API_KEY", "from-env")
    with FakeServer() as fake:
        clean(chunks(1), settings(fake))
        clean(chunks(1, tag=" again"), settings(fake, api_key="from-settings"))
    text = chunks(1)[0].text
    assert fake.requests[0]["max_tokens"] == row_budget(estimate_tokens(text), 512) < 512
    assert fake.requests[0]["_headers"]["authorization"] == "Bearer from-env"
    assert fake.requests[1]["_headers"]["authorization"] == "Bearer from-settings"
    assert "seed" not in fake.requests[0]


def test_chunks_come_out_in_document_order_whatever_order_they_finish_in():
    items = chunks(6)
    # Chunk 1 is slow: 2..5 finish before it.
    with FakeServer(lambda r, a: Reply(delay=0.05 if user_text(r).startswith("Part 1.") else 0.0)) as fake:
        kept: list[int] = []
        out = done(clean(items, settings(fake, concurrency=3), keep=lambda d: kept.append(d.index)))
    assert [d.index for d in out] == list(range(6))
    assert kept != sorted(kept), "the fake should have finished chunks out of order"
    assert user_text(fake.requests[0]) == items[0].text  # the first chunk goes first, alone


def test_requests_are_admitted_in_document_order():
    items = chunks(5)
    with FakeServer() as fake:
        clean(items, settings(fake, concurrency=1))
    assert [user_text(r) for r in fake.requests] == [c.text for c in items]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_reaches_its_setting_and_no_more(concurrency):
    with FakeServer(lambda r, a: Reply(delay=0.01)) as fake:
        out = done(clean(chunks(8), settings(fake, concurrency=concurrency)))
    assert len(out) == 8 and fake.max_in_flight == concurrency


def test_progress_shows_the_text_so_far_at_most_every_interval():
    items = chunks(2)
    with FakeServer(lambda r, a: Reply(delay=0.03)) as fake:
        started = time.perf_counter()
        events = clean(items, settings(fake))
        seconds = time.perf_counter() - started
    for chunk in items:
        progress = [e for e in events if isinstance(e, ChunkProgress) and e.index == chunk.index]
        assert len(progress) >= 2
        assert len(progress) <= seconds / PROGRESS_INTERVAL + 2
        assert all(chunk.text.startswith(p.text) for p in progress)
        assert [p.tokens for p in progress] == sorted(p.tokens for p in progress)


def test_stop_cancels_requests_in_flight_at_once_and_keeps_finished_chunks():
    items = chunks(5)

    def script(request, attempt):
        return Reply() if user_text(request).startswith("Part 0.") else Reply(pieces=["Part "], hang=True)

    stop = threading.Event()
    kept: list[ChunkDone] = []
    with FakeServer(script) as fake:
        stream = ServedStage().clean(items, settings(fake, concurrency=3), stop=stop, keep=kept.append)
        events = []
        for event in stream:
            events.append(event)
            if isinstance(event, ChunkDone):
                deadline = time.monotonic() + 5
                while fake.in_flight < 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert fake.in_flight == 3  # chunks 1 and 2, and 3 in chunk 0's place
                stop.set()
                started = time.perf_counter()
        ended = time.perf_counter() - started
        assert fake.wait_closed(3, timeout=2.0), "the fake should see the hanging streams closed"
    assert ended < 1.0
    assert [d.index for d in done(events)] == [0] and [d.index for d in kept] == [0]
    assert len(fake.requests) == 4  # chunk 4 was never sent


def test_closing_the_stream_cancels_too():
    with FakeServer(lambda r, a: Reply(pieces=["Part "], hang=True)) as fake:
        stream = ServedStage().clean(chunks(2), settings(fake), stop=threading.Event())
        assert isinstance(next(stream), ChunkProgress)
        started = time.perf_counter()
        stream.close()
        assert time.perf_counter() - started < 1.0
        assert fake.wait_closed(1, timeout=2.0)


def test_the_online_guard_ends_a_looping_stream():
    loop = "the student copies the teacher and the teacher copies the student ".split(" ")[:-1]
    loop = [word + " " for word in loop] * 40  # a word a delta, as a server sends them
    with FakeServer(lambda r, a: Reply(pieces=loop, hang=True)) as fake:
        (out,) = done(clean(chunks(1), settings(fake)))
        assert fake.wait_closed(1, timeout=2.0)
    assert out.source == "llm" and out.halted == "a loop"
    assert out.tokens < 100


def test_finish_reason_length_is_a_finished_chunk_for_the_guard_to_judge():
    with FakeServer(lambda r, a: Reply(pieces=["Part 0. Knowledge "], finish="length")) as fake:
        (out,) = done(clean(chunks(1), settings(fake)))
    assert out.source == "llm" and out.output == "Part 0. Knowledge" and out.halted is None


def test_a_server_error_is_retried():
    with FakeServer(lambda r, a: Reply(status=500) if a == 0 else Reply()) as fake:
        out = done(clean(chunks(2), settings(fake, retries=1)))
    assert [d.source for d in out] == ["llm", "llm"]
    assert len(fake.requests) == 4


def test_a_bad_request_is_not_retried_and_fails_only_its_chunk():
    body = '{"error": {"message": "context length exceeded"}}'

    def script(request, attempt):
        return Reply(status=400, body=body) if user_text(request).startswith("Part 1.") else Reply()

    with FakeServer(script) as fake:
        out = done(clean(chunks(3), settings(fake, retries=2)))
    assert [d.source for d in out] == ["llm", "failed", "llm"]
    failed = out[1]
    assert failed.output == failed.chunk.text
    assert fake.url in failed.error and "HTTP 400" in failed.error and "context length exceeded" in failed.error
    assert "\n" not in failed.error
    assert sum(user_text(r).startswith("Part 1.") for r in fake.requests) == 1


def test_retries_give_up_after_the_setting():
    with FakeServer(lambda r, a: Reply(status=503)) as fake:
        (out,) = done(clean(chunks(1), settings(fake, retries=2)))
    assert out.source == "failed" and "HTTP 503" in out.error and "server's log" in out.error
    assert len(fake.requests) == 3


def test_a_request_over_the_timeout_fails_with_a_message():
    with FakeServer(lambda r, a: Reply(pieces=[], hang=True)) as fake:
        started = time.perf_counter()
        (out,) = done(clean(chunks(1), settings(fake, retries=0, request_timeout=0.5)))
    assert time.perf_counter() - started < 3
    assert out.source == "failed"
    assert fake.url in out.error and "0.5 s" in out.error and "--request-timeout" in out.error


@pytest.mark.parametrize("raw", [["{not json"], ['{"id": "c", "object": "chat.completion.chunk"}'], ["[DONE]"]])
def test_a_malformed_stream_fails_with_a_message(raw):
    with FakeServer(lambda r, a: Reply(raw=raw)) as fake:
        (out,) = done(clean(chunks(1), settings(fake, retries=1)))
    assert out.source == "failed" and fake.url in out.error and "cannot read" in out.error
    assert len(fake.requests) == 2


def test_a_stream_cut_before_its_end_is_an_error():
    with FakeServer(lambda r, a: Reply(pieces=["Part 0. "], finish=None)) as fake:
        (out,) = done(clean(chunks(1), settings(fake, retries=0)))
    assert out.source == "failed" and "without a finish reason" in out.error and "--interrupt_requests" in out.error


def notices(events) -> list[Notice]:
    return [e for e in events if isinstance(e, Notice)]


def test_a_server_that_cuts_streams_while_others_wait_gets_one_request_at_a_time():
    # As llama-cpp-python's server at its defaults: one request at a time, and the stream being
    # written is cut short as soon as another waits. With 4 in flight, 3 are cut before the drop.
    items = chunks(8)
    with FakeServer(lambda r, a: Reply(delay=0.005), interrupt=True) as fake:
        events = clean(items, settings(fake, concurrency=4, retries=0))
    out = done(events)
    assert [(d.index, d.source, d.output) for d in out] == [(c.index, "llm", c.text) for c in items]
    assert fake.cut >= 1 and max(fake.arrived_with) > 1  # the cut came while requests overlapped
    # The first 4 requests went out together; every later one found no other in flight.
    assert fake.arrived_with[4:] and set(fake.arrived_with[4:]) == {1}
    assert len(fake.requests) == len(items) + fake.cut  # each cut chunk sent again once, not failed
    (notice,) = notices(events)
    assert fake.url in notice.message and "one request at a time" in notice.message
    assert "--interrupt_requests False" in notice.message


def test_after_the_drop_requests_go_out_in_document_order():
    with FakeServer(lambda r, a: Reply(delay=0.005), interrupt=True) as fake:
        clean(chunks(8), settings(fake, concurrency=4, retries=0))
    later = [user_text(r) for r in fake.requests[4:]]
    assert later == sorted(later, key=lambda text: int(text.split()[1].rstrip(".")))


def test_a_stream_cut_with_no_other_request_in_flight_still_counts_as_a_failed_try():
    # A server that cuts every stream. The 3 requests sent together are cut while they overlap:
    # sent again, uncounted. From then on each cut is the chunk's own failure: its 1 + retries
    # tries are used, and the chunk fails with the message that names the fix.
    items = chunks(5)
    with FakeServer(lambda r, a: Reply(pieces=["Part ", "0. "], delay=0.02, finish=None)) as fake:
        events = clean(items, settings(fake, concurrency=3, retries=1))
    out = done(events)
    assert [d.source for d in out] == ["failed"] * 5
    assert all("without a finish reason" in d.error and "--interrupt_requests" in d.error for d in out)
    assert len(notices(events)) == 1
    sent = [sum(user_text(r) == c.text for r in fake.requests) for c in items]
    assert sent == [3, 3, 3, 2, 2]
    assert set(fake.arrived_with[3:]) == {1}


def test_with_one_request_at_a_time_a_cut_is_not_a_notice():
    with FakeServer(lambda r, a: Reply(delay=0.005), interrupt=True) as fake:
        events = clean(chunks(4), settings(fake, concurrency=1, retries=0))
    assert [d.source for d in done(events)] == ["llm"] * 4
    assert fake.cut == 0 and not notices(events) and len(fake.requests) == 4


# Six chunks of 360 characters (chunk size 400); the fake echoes each back.
PARAGRAPHS = [" ".join([word] * 60) + "." for word in ("alpha", "bravo", "delta", "gamma", "kilo", "lima")]


@pytest.fixture
def six_chunks(tmp_path):
    from tests.pdf_factory import simple_pdf

    path = tmp_path / "six chunks.pdf"
    path.write_bytes(simple_pdf(["\n\n".join(PARAGRAPHS)]))
    return path


def test_the_command_line_says_once_on_stderr_that_it_went_one_request_at_a_time(six_chunks, capsys):
    from pipeline.__main__ import main

    out = six_chunks.with_suffix(".txt")
    with FakeServer(lambda r, a: Reply(delay=0.005), interrupt=True) as fake:
        code = main([str(six_chunks), "-o", str(out), "--api-base", fake.url, "--model", MODEL,
                     "--chunk-size", "400", "--concurrency", "4", "--retries", "0"])
    err = capsys.readouterr().err
    assert code == 0 and fake.cut >= 1
    assert err.count("one request at a time") == 1 and "warning: The model server at" in err
    assert "failed" not in err
    assert out.read_text(encoding="utf-8").rstrip("\n").split("\n\n") == PARAGRAPHS


def test_the_page_shows_the_notice_once_as_a_warning(six_chunks, tmp_path):
    from webapp.controller import RunController
    from webapp.form import ServedModel, ServerLimits
    from webapp.model_service import ModelStatus
    from webapp.offered import OfferedModels
    from webapp.server_flags import SERVED_RUNS
    from webapp.sessions import Line, Sessions

    told: list[tuple[str, str]] = []
    form = dict(model=MODEL, rules_only=False, chunk_size=400, batch_size=1, temperature=0, max_new_tokens=512,
                guard_policy="fallback", max_chars=100_000)
    with FakeServer(lambda r, a: Reply(delay=0.005), interrupt=True) as fake:
        model = ModelStatus(served=ServedModel(api_base=fake.url, concurrency=4, retries=0, request_timeout=10.0))
        model.start(MODEL, background=False)
        offered = OfferedModels.decide(MODEL, None, None, "0.0.0.0", False, False, with_bundled=False)
        controller = RunController(Sessions(tmp_path / "sessions", 3600), Line(4, slots=SERVED_RUNS), model,
                                   limits=ServerLimits(upload=50 * 2**20), offered=offered,
                                   notify=lambda level, message: told.append((level, message)))
        state = list(controller.clean(str(six_chunks), "tab", form))[-1].state
    assert [d.source for d in state.done.values()] == ["llm"] * 6 and fake.cut >= 1
    (notice,) = state.notices
    assert fake.url in notice and "one request at a time" in notice
    assert told == [("warning", notice)]


def test_no_server_at_all_is_model_unavailable_not_a_hundred_failed_chunks():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"http://127.0.0.1:{port}/v1"
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        clean(chunks(100), Settings(api_base=address, model=MODEL, retries=1))
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert address in message and "Cannot reach" in message and "--api-base" in message


@pytest.mark.parametrize("status", [401, 404])
def test_a_server_that_refuses_the_first_chunk_outright_is_model_unavailable(status):
    body = '{"error": {"message": "The model `nope` does not exist."}}'
    with FakeServer(lambda r, a: Reply(status=status, body=body)) as fake:
        with pytest.raises(ModelUnavailableError) as caught:
            clean(chunks(20), settings(fake, model="nope"))
    message = str(caught.value)
    assert fake.url in message and f"HTTP {status}" in message and "\n" not in message
    assert ("'nope'" in message) if status == 404 else ("PDF_CLEANER_API_KEY" in message)
    assert len(fake.requests) == 1  # not retried, and no other chunk sent


def test_pipeline_run_on_a_served_model_applies_the_final_guard_and_loads_no_model(monkeypatch):
    import pipeline
    import pipeline.model
    from tests.pdf_factory import paper

    def no_model(*args, **kwargs):
        raise AssertionError("the served path must not load a model")

    monkeypatch.setattr(pipeline.model, "get_model", no_model)
    order: list[str] = []  # user texts in the order they came: one at a time, document order

    def script(request, attempt):
        if user_text(request) not in order:
            order.append(user_text(request))
        if order.index(user_text(request)) == 1:
            return Reply(pieces=["This passage is about models."])  # a summary: the guard rejects it
        return Reply()

    pdf = paper(2).pdf
    with FakeServer(script) as fake:
        events = list(pipeline.run(pdf, settings(fake, max_chars=3000, concurrency=1)))
    (plan,) = [e for e in events if isinstance(e, ChunkPlan)]
    out = done(events)
    assert len(plan.chunks) >= 3 and [d.index for d in out] == [c.index for c in plan.chunks]
    assert [d.source for d in out].count("fallback") == 1
    (rejected,) = [d for d in out if d.source == "fallback"]
    assert rejected.index == 1 and rejected.guard.verdict == "rejected"
    assert rejected.output == rejected.chunk.text and rejected.model_output == "This passage is about models."
    assert all(d.source == "llm" and d.guard is not None for d in out if d.index != 1)
    assert isinstance(events[-1], RunFinished) and events[-1].chunks_done == len(plan.chunks)


# --- a real server: llama.cpp with the bundled model (slow) ----------------------------------


@pytest.fixture(scope="module")
def llama():
    from tests.llama_server import llama_server

    with llama_server() as url:
        yield url


@pytest.mark.slow
def test_real_server_cleans_a_generated_paper(llama):
    import pipeline
    from tests.pdf_factory import paper

    s = Settings(api_base=llama, model=ALIAS, max_chars=3000, max_new_tokens=128, concurrency=2)
    events = list(pipeline.run(paper(2).pdf, s))
    out = done(events)
    (plan,) = [e for e in events if isinstance(e, ChunkPlan)]
    assert [d.index for d in out] == [c.index for c in plan.chunks]
    # The small model without copy bias often rewrites, and 128 tokens cut a long chunk: the
    # guard decides which text is used; either way the server wrote real text for every chunk.
    assert all(d.source in ("llm", "fallback") and d.guard is not None for d in out)
    assert all(len(d.model_output.split()) >= 5 and 0 < d.tokens <= 128 for d in out)
    assert events[-1].chunks_done == len(out) and not events[-1].stopped


@pytest.mark.slow
def test_real_server_stop_mid_run_keeps_finished_chunks(llama):
    import pipeline
    from tests.pdf_factory import paper

    s = Settings(api_base=llama, model=ALIAS, max_chars=6000, max_new_tokens=128, concurrency=2)
    stop = threading.Event()
    events, started = [], None
    for event in pipeline.run(paper(3).pdf, s, stop=stop):
        events.append(event)
        if isinstance(event, ChunkDone) and started is None:
            stop.set()  # chunk 1 (and 2) are being written now
            started = time.perf_counter()
    assert started is not None and time.perf_counter() - started < 2.0
    (plan,) = [e for e in events if isinstance(e, ChunkPlan)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.stopped
    assert 1 <= finished.chunks_done < len(plan.chunks)


@pytest.fixture(scope="module")
def llama_at_its_defaults():
    """llama-cpp-python's server started as its README says: --interrupt_requests True among the rest."""
    from tests.llama_server import llama_server

    with llama_server(defaults=True) as url:
        yield url


@pytest.mark.slow
def test_real_server_at_its_defaults_writes_every_chunk_one_request_at_a_time(llama_at_its_defaults):
    import pipeline
    from tests.pdf_factory import paper

    rules = Settings(use_llm=False, max_chars=3000)
    (plan,) = [e for e in pipeline.run(paper(2).pdf, rules) if isinstance(e, ChunkPlan)]
    assert len(plan.chunks) >= 3
    s = Settings(api_base=llama_at_its_defaults, model=ALIAS, max_new_tokens=128, concurrency=4)
    events = list(ServedStage().clean(plan.chunks, s, stop=threading.Event()))
    out = done(events)
    # The stage's own verdict, before the guard: the server wrote every chunk to its end.
    assert [(d.index, d.source) for d in out] == [(c.index, "llm") for c in plan.chunks]
    assert all(len(d.model_output.split()) >= 5 and 0 < d.tokens <= 128 for d in out)
    (notice,) = notices(events)
    assert llama_at_its_defaults in notice.message and "one request at a time" in notice.message


@pytest.mark.slow
def test_real_server_at_its_defaults_through_the_command_line(llama_at_its_defaults, tmp_path):
    import json
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from tests.pdf_factory import paper

    root = Path(__file__).resolve().parent.parent
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(paper(2, seed=3).pdf)
    env = {name: value for name, value in os.environ.items() if not name.startswith("PDF_CLEANER_")}
    env.update(PYTHONPATH=str(root), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    command = [sys.executable, "-m", "pipeline", str(pdf), "-o", str(tmp_path / "paper.clean.txt"),
               "--api-base", llama_at_its_defaults, "--model", ALIAS, "--max-chars", "3000",
               "--max-new-tokens", "128"]  # the default concurrency, 4
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("one request at a time") == 1, result.stderr[-3000:]
    assert not re.search(r"chunk \d+ failed", result.stderr), result.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "paper.report.jsonl").read_text().splitlines()]
    sources = [r["source"] for r in records if isinstance(r.get("index"), int)]
    assert len(sources) >= 3 and "failed" not in sources and set(sources) <= {"llm", "fallback"}

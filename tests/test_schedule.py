"""pipeline.schedule and pipeline.stage with a fake engine: refill and order, the first chunk
first, the online guard, stop and close without loss, out of memory, failing chunks."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline import engine as engines
from pipeline import schedule
from pipeline.events import ChunkDone, ChunkProgress
from pipeline.runner import process_chunks
from pipeline.schedule import EngineStage, choose_slots, row_budget
from pipeline.settings import Settings
from tests.fakes import FakeEngine, chunks_of, fake_lm, words

SETTINGS = Settings(temperature=0, max_new_tokens=400, seed=0)


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    FakeEngine.reset()
    monkeypatch.setattr(engines, "Engine", FakeEngine)
    return FakeEngine


def clean(chunks, settings=SETTINGS, **kw):
    return list(EngineStage(fake_lm(), system_prompt="Clean the text.").clean(chunks, settings, **kw))


def done_of(events):
    return [e for e in events if isinstance(e, ChunkDone)]


def steps():
    return [keys for kind, keys in FakeEngine.log if kind == "step"]


def test_chunks_finish_in_document_order_and_each_slot_is_refilled_at_once():
    lengths = [9, 60, 3, 3, 30, 6, 12]
    chunks = chunks_of(*(words(n, f"c{i}_") for i, n in enumerate(lengths)))
    done = done_of(clean(chunks, SETTINGS.with_(batch_size=3)))
    assert [d.index for d in done] == list(range(len(chunks)))
    assert [d.output for d in done] == [c.text for c in chunks]
    assert all(d.source == "llm" and d.error is None for d in done)
    admitted = [key for kind, key in FakeEngine.log if kind == "admit"]
    assert admitted == list(range(len(chunks)))  # first chunks first
    # The long chunk 1 never holds the others back: chunks 2 to 6 pass through the other
    # slots while it is still being written.
    passes_with_1 = [keys for keys in steps() if 1 in keys]
    assert {k for keys in passes_with_1 for k in keys} >= {2, 3, 4, 5}
    assert max(len(keys) for keys in steps()) == 3


def test_the_first_chunk_runs_alone_until_it_is_done():
    chunks = chunks_of(*(words(12, f"c{i}_") for i in range(5)))
    clean(chunks, SETTINGS.with_(batch_size=4))
    first = [keys for keys in steps() if 0 in keys]
    assert first and all(keys == [0] for keys in first)  # alone: back within seconds
    assert max(len(keys) for keys in steps()) == 4  # then the slots fill up


def test_progress_streams_new_text_only_and_is_throttled(monkeypatch):
    monkeypatch.setattr(schedule, "PROGRESS_INTERVAL", 0.0)
    FakeEngine.reset(per_step=2, delay=0.001)
    chunks = chunks_of(words(20, "a"), words(25, "b"))
    events = clean(chunks, SETTINGS.with_(batch_size=2))
    final = {d.index: d.output for d in done_of(events)}
    progress = [e for e in events if isinstance(e, ChunkProgress)]
    assert {e.index for e in progress} == {0, 1}
    for event in progress:
        assert final[event.index].startswith(event.text)
        assert event.tokens == len(event.text.split())
    monkeypatch.setattr(schedule, "PROGRESS_INTERVAL", 10.0)
    events = clean(chunks, SETTINGS.with_(batch_size=2))
    assert len([e for e in events if isinstance(e, ChunkProgress)]) <= 2  # one per chunk per interval


def test_a_looping_row_is_stopped_early_and_its_input_stands_in():
    loop = "loopme " + words(80, "x")
    chunks = chunks_of(words(10, "a"), loop, words(10, "b"))
    (d0, d1, d2) = done_of(clean(chunks, SETTINGS.with_(batch_size=3)))
    assert d1.halted == "a loop"
    assert d1.tokens < 60  # stopped long before its budget (1.3 x 81 + 32 tokens)
    assert (d0.halted, d2.halted) == (None, None)
    # run()'s judging turns the stop into a rejected verdict; the input stands in
    judged = done_of(process_chunks(chunks, SETTINGS.with_(batch_size=3), fake_lm()))
    assert judged[1].source == "fallback" and judged[1].output == loop
    assert judged[1].guard.reasons[0] == "stopped while writing: a loop"
    assert judged[0].source == "llm" and judged[0].guard.verdict == "ok"


def test_stop_ends_the_work_within_a_pass_and_keeps_every_finished_chunk():
    # Chunk 0 runs alone first; then chunk 1 is long, and chunks 2 and 3 finish before it and
    # wait for it in document order.
    chunks = chunks_of(words(3, "f"), words(300, "long"), words(2, "s"), words(3, "t"), words(300, "more"))
    stop = threading.Event()
    kept = []
    events, stopped_at = [], None
    FakeEngine.reset(per_step=1, delay=0.01)
    stage = EngineStage(fake_lm(), system_prompt="x")
    for event in stage.clean(chunks, SETTINGS.with_(batch_size=3), stop=stop, keep=kept.append):
        events.append(event)
        if stopped_at is None and len(kept) == 3:
            stopped_at = time.perf_counter()
            stop.set()
    assert stopped_at is not None and time.perf_counter() - stopped_at < 0.5
    # the stream still gives what finished, in index order, and keep() had each first
    assert [d.index for d in done_of(events)] == [0, 2, 3]
    assert sorted(d.index for d in kept) == [0, 2, 3]
    assert not any(t.name == "pdf-cleaner-model" for t in threading.enumerate())


def test_after_the_first_chunk_the_slots_fill_one_admission_per_pass():
    chunks = chunks_of(*(words(40, f"c{i}_") for i in range(6)))
    clean(chunks, SETTINGS.with_(batch_size=4))
    kinds = [kind for kind, _ in FakeEngine.log if kind in ("admit", "step")]
    # Never two prefills in a row: the rows in flight stream on, and Stop is seen, while the
    # slots fill up.
    assert not any(a == b == "admit" for a, b in zip(kinds, kinds[1:]))
    assert max(len(keys) for keys in steps()) == 4  # and they do fill


def test_a_stop_seen_inside_a_pass_ends_the_run_as_one_between_passes(monkeypatch):
    stop = threading.Event()

    class StoppedMidPass(FakeEngine):
        """Stop arrives while the seventh pass runs, and the engine abandons that pass."""

        def step(self):
            if len(steps()) == 6:
                stop.set()
            if self.interrupt is not None and self.interrupt():
                raise engines.Interrupted()
            return super().step()

    def recover(self, engine, error):
        raise AssertionError(f"a stop is not an error to recover from: {error!r}")

    monkeypatch.setattr(engines, "Engine", StoppedMidPass)
    monkeypatch.setattr(schedule._Worker, "_recover", recover)
    FakeEngine.reset(per_step=2)
    chunks = chunks_of(words(4, "f"), words(200, "long"), words(2, "s"), words(200, "more"))
    kept = []
    events = list(EngineStage(fake_lm(), system_prompt="x").clean(chunks, SETTINGS.with_(batch_size=3), stop=stop,
                                                                   keep=kept.append))
    assert [d.index for d in done_of(events)] == [0, 2] == sorted(d.index for d in kept)
    assert all(d.source == "llm" for d in kept)  # the abandoned pass failed no chunk
    assert len(steps()) == 6  # the seventh pass was abandoned; no pass came after it
    assert not any(t.name == "pdf-cleaner-model" for t in threading.enumerate())


def test_closing_the_stream_stops_the_worker_and_keep_has_what_finished():
    FakeEngine.reset(per_step=1, delay=0.01)
    chunks = chunks_of(words(2, "f"), words(400, "a"), words(2, "b"), words(400, "c"))
    stop = threading.Event()
    kept = []
    stream = EngineStage(fake_lm(), system_prompt="x").clean(chunks, SETTINGS.with_(batch_size=3), stop=stop,
                                                              keep=kept.append)
    for event in stream:
        if len(kept) == 2:  # chunk 2 is finished but not yet due: chunk 1 is still being written
            break
    started = time.perf_counter()
    stream.close()  # what a web page does on Stop on ZeroGPU, and Ctrl-C does in the CLI
    assert time.perf_counter() - started < 0.5
    assert stop.is_set()
    assert sorted(d.index for d in kept) == [0, 2]
    assert not any(t.name == "pdf-cleaner-model" for t in threading.enumerate())


def test_normal_completion_leaves_the_callers_stop_event_clear():
    stop = threading.Event()
    clean(chunks_of("a b", "c d e"), stop=stop)
    assert not stop.is_set()


def test_out_of_memory_halves_the_slots_and_the_chunks_in_flight_start_again():
    chunks = chunks_of(words(4, "a"), "huge " + words(4, "h"), words(4, "b"), words(4, "c"))
    done = done_of(clean(chunks, SETTINGS.with_(batch_size=4)))
    assert [(d.index, d.source) for d in done] == [(0, "llm"), (1, "llm"), (2, "llm"), (3, "llm")]
    assert [d.output for d in done] == [c.text for c in chunks]
    assert [n for kind, n in FakeEngine.log if kind == "init"] == [4, 2, 1]  # and stays smaller


def test_a_chunk_that_fails_alone_is_reported_and_the_rest_go_on():
    chunks = chunks_of(words(5, "a"), words(5, "b"), "boom " + words(5, "x"), words(5, "c"))
    done = done_of(clean(chunks, SETTINGS.with_(batch_size=3)))
    assert [(d.index, d.source) for d in done] == [(0, "llm"), (1, "llm"), (2, "failed"), (3, "llm")]
    assert done[2].error == "cleaning this chunk failed: ValueError: odd text"
    assert done[2].output == chunks[2].text  # the input stands in, labelled failed
    # the chunks in the failing pass were retried one at a time
    alone = [keys for keys in steps() if 2 in keys]
    assert alone[-1] == [2]


def test_a_bug_before_any_chunk_was_cleaned_surfaces_as_itself():
    chunks = chunks_of("boom text", "fine text")
    seen = []
    with pytest.raises(ValueError, match="odd text"):
        for event in EngineStage(fake_lm(), system_prompt="x").clean(chunks, SETTINGS.with_(batch_size=1)):
            seen.append(event)
    assert not done_of(seen)


def test_rows_get_a_budget_from_their_source():
    assert row_budget(100, 512) == 162  # 1.3 x 100 + 32
    assert row_budget(400, 512) == 512  # never more than max_new_tokens
    assert row_budget(0, 512) == 32


def test_slots_are_bounded_by_device_memory_and_chunks():
    model = fake_lm().model
    assert choose_slots(model, "cpu", 1000, 100) == 8
    assert choose_slots(model, "cpu", 1000, 3) == 3
    assert choose_slots(model, "cpu", 10**9, 100) == 1  # a row that does not fit still gets one slot


def test_the_copy_bias_default_follows_the_model_and_settings_override_it():
    chunks = chunks_of("some text here", "more text here")
    lm = fake_lm()
    assert schedule.plan(chunks, SETTINGS, lm).decoding.copy_bias == 0.0  # not the bundled model
    lm.name = "bundled"
    assert schedule.plan(chunks, SETTINGS, lm).decoding.copy_bias == 8.0
    assert schedule.plan(chunks, SETTINGS.with_(copy_bias=2.5), lm).decoding.copy_bias == 2.5
    plan = schedule.plan(chunks, SETTINGS, lm)
    assert plan.prefix and all(r.prompt[: len(plan.prefix)] == plan.prefix for r in plan.requests)

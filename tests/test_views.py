"""views.py: what a run looks like as text, from a RunState built by hand (no server)."""

from dataclasses import replace
from pathlib import Path

from pipeline import Chunk, ChunkDone, ChunkPlan, DocumentInfo, Settings
from pipeline.events import Removed
from webapp.sessions import RunState
from webapp.views import chunk_view, cleaned_text, document_text, progress_line, ranges_label, table_rows


def state_with(done: list[ChunkDone], chunks: tuple[Chunk, ...], notes=()) -> RunState:
    state = RunState(key="s", name="paper", folder=Path("."), settings=Settings())
    state.info = DocumentInfo(page_count=3, title="<b>Title</b>", file_size=1234)
    state.plan = ChunkPlan(chunks=chunks, raw_chars=30, normalized_chars=28, pages_read=(1, 2, 3),
                           failed_pages=(), budget_stopped_at=None, notes=tuple(notes))
    state.done = {d.index: d for d in done}
    return state


CHUNKS = (Chunk(0, "First chunk text.", 1, 1), Chunk(1, "Second chunk text.", 2, 3, " "))


def test_document_panel_shows_every_limit_note_and_the_text_as_it_is():
    note = "Only the first 500 of the 2,000 selected pages are read (page limit: 500)."
    state = state_with([], CHUNKS, [note])
    text = document_text(state.info, state.plan)
    assert f"note: {note}" in text.splitlines()
    assert "title: <b>Title</b>" in text  # shown literally, in a plain-text box


def test_a_failed_chunk_shows_its_input_standing_in():
    failed = ChunkDone(1, CHUNKS[1], CHUNKS[1].text, "failed", error="cleaning this chunk failed: ValueError: odd")
    state = state_with([ChunkDone(0, CHUNKS[0], "First chunk, cleaned.", "llm"), failed], CHUNKS)
    state.busy = False
    assert cleaned_text(state) == "First chunk, cleaned. Second chunk text."
    source, output, note = chunk_view(state, 1)
    assert source == output == "Second chunk text."
    assert "the result uses: the normalized input (the chunk failed)" in note
    assert "error: cleaning this chunk failed: ValueError: odd" in note
    assert table_rows(state)[1][:3] == [2, "2–3", "failed: cleaning this chunk failed: ValueError: odd"]
    assert progress_line(state).startswith("done: 2/2 chunks")


def test_ranges_label():
    assert ranges_label([5, 1, 2, 3, 9, 10]) == "1–3, 5, 9–10"


THREE = CHUNKS + (Chunk(2, "Third chunk text.", 3, 3, " "),)


def test_while_running_only_the_chunk_due_next_is_shown_being_written():
    from pipeline import ChunkProgress

    state = state_with([ChunkDone(0, THREE[0], "First, cleaned.", "llm")], THREE)
    state.partial = {1: ChunkProgress(1, "Second ch", 3), 2: ChunkProgress(2, "Third", 1)}
    assert cleaned_text(state) == "First, cleaned. Second ch"  # not "... Second ch Third"


def test_a_stopped_run_marks_each_gap_in_the_text():
    state = state_with([ChunkDone(0, THREE[0], "First, cleaned.", "llm"),
                        ChunkDone(2, THREE[2], "Third, cleaned.", "llm")], THREE)
    state.busy = False
    text = cleaned_text(state)
    assert text.startswith("First, cleaned.\n\n[PDF Cleaner: chunk 2 (pages 2–3) was not cleaned by the model: "
                           "the run was stopped.")
    assert "\nSecond chunk text.\n[PDF Cleaner: end of the text the model did not clean.]\n\nThird, cleaned." in text


def test_document_panel_counts_what_was_removed_as_plain_text():
    removed = (
        Removed(1, "header", "<b>Journal</b>"),
        Removed(2, "header", "<b>Journal</b>"),
        Removed(2, "footnote", "**x** see the <i>appendix</i>"),
    )
    state = state_with([], CHUNKS)
    state.plan = replace(state.plan, removed=removed)
    lines = document_text(state.info, state.plan, settings=Settings()).splitlines()
    at = lines.index("removed: 3 pieces · 57 characters saved for the model stage")
    assert lines[at + 1:at + 3] == ["  header: 2 · 28 characters", "  footnote: 1 · 29 characters"]
    text = "\n".join(lines)
    # Counts only: the pieces themselves are in NAME.removed.txt, never rendered or escaped here.
    assert "<b>Journal</b>" not in text and "**x**" not in text and "&lt;" not in text
    assert "title: <b>Title</b>" in text


def test_document_panel_says_when_nothing_was_removed_and_why():
    state = state_with([], CHUNKS)
    assert "removed: nothing" in document_text(state.info, state.plan, settings=Settings()).splitlines()
    off = document_text(state.info, state.plan, settings=Settings(layout=False)).splitlines()
    assert "removed: nothing (layout-aware reading is off)" in off


def test_the_model_edits_are_counted_in_the_document_panel_and_listed_in_the_compare_view():
    from pipeline.events import Edit

    edits = (Edit("spacing", "Intheera", "In the era", True), Edit("debris", "0.5 1.0", "", True),
             Edit("deleted", "<b>Kullback-Leibler</b> Divergence", "", False))
    done = ChunkDone(0, CHUNKS[0], "First chunk text.", "llm", model_output="First text.", edits=edits)
    state = state_with([done], CHUNKS)
    panel = document_text(state.info, state.plan, edits=edits)
    assert panel.splitlines()[-1] == ("model edits: the model removed 1 piece of debris, split or joined 1 word; "
                                      "1 content edit reverted")
    _, output, note = chunk_view(state, 0)
    assert output == "First text."  # the model's own text, beside the input
    assert "with the edits marked 'reverted' undone" in note
    lines = note.splitlines()
    assert "edits: 2 kept, 1 reverted" in lines
    assert '  REVERTED deleted     "<b>Kullback-Leibler</b> Divergence" -> (nothing)' in lines  # plain text
    assert '  kept     spacing     "Intheera" -> "In the era"' in lines

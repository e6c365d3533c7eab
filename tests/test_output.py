"""pipeline.output: a partial result marks every gap, and the files hold every finished chunk."""

from __future__ import annotations

import json

from pipeline.events import Chunk, ChunkDone, RunFinished
from pipeline.output import GAP_CLOSE, ResultWriter, gap_runs, join_outputs, join_result


def chunks(n: int) -> list[Chunk]:
    return [Chunk(index=i, text=f"Raw {i}.", first_page=i // 2 + 1, last_page=i // 2 + 1,
                  separator="\n\n" if i else "") for i in range(n)]


def done(chunk: Chunk) -> ChunkDone:
    return ChunkDone(index=chunk.index, chunk=chunk, output=f"Clean {chunk.index}.", source="llm")


def test_a_whole_result_has_no_marks():
    plan = chunks(3)
    finished = {c.index: done(c) for c in plan}
    assert join_result(plan, finished) == join_outputs(list(finished.values())) == "Clean 0.\n\nClean 1.\n\nClean 2."
    assert gap_runs(plan, finished) == []


def test_each_gap_is_marked_and_holds_the_rules_text():
    plan = chunks(7)
    finished = {i: done(plan[i]) for i in (0, 1, 4)}  # 2-3 missing, 5-6 missing
    assert gap_runs(plan, finished) == [(2, 3), (5, 6)]
    text = join_result(plan, finished)
    assert text.startswith("Clean 0.\n\nClean 1.\n\n[PDF Cleaner: chunks 3–4 (page 2) were not cleaned by the model: "
                           "the run was stopped. Their text as the rules left it follows.]\nRaw 2.\n\nRaw 3.\n"
                           + GAP_CLOSE)
    assert "Clean 4." in text and "chunks 6–7 (pages 3–4)" in text
    assert text.endswith("Raw 5.\n\nRaw 6.\n" + GAP_CLOSE)
    assert text.count(GAP_CLOSE) == 2
    one = join_result(plan[:2], {1: done(plan[1])}, "the run was interrupted")
    assert one.startswith("[PDF Cleaner: chunk 1 (page 1) was not cleaned by the model: the run was interrupted. Its text")


def test_the_writer_rewrites_the_text_with_gaps_and_reports_late_chunks(tmp_path):
    plan = chunks(4)
    text_path, report_path = tmp_path / "out.txt", tmp_path / "out.jsonl"
    writer = ResultWriter(text_path, report_path)
    writer.add(done(plan[0]))  # in order
    late = [done(plan[2])]  # finished, but chunk 1 never did
    finished = {0: done(plan[0]), 2: late[0]}
    summary = RunFinished(text=join_result(plan, finished), chunks_done=2, chunks_total=4, stopped=True,
                          seconds=1.0, gaps=((1, 1), (3, 3)))
    writer.finish(summary, late)
    assert text_path.read_text(encoding="utf-8") == summary.text + "\n"
    lines = [json.loads(line) for line in report_path.read_text(encoding="utf-8").splitlines()]
    assert [line.get("index") for line in lines[:-1]] == [0, 2]
    assert lines[-1]["partial"] is True and lines[-1]["gaps"] == [[2, 2], [4, 4]]

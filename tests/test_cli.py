"""The command line, run as a user runs it: `python -m pipeline ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pdf_factory import (
    encrypted_pdf,
    image_only_pdf,
    not_pdf_bytes,
    paper,
    simple_pdf,
    truncated_pdf,
)

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def paper40(tmp_path_factory):
    generated = paper(pages=40)
    path = tmp_path_factory.mktemp("cli") / "paper.pdf"
    path.write_bytes(generated.pdf)
    return generated, path


def test_forty_page_paper_to_normalized_text(paper40, tmp_path):
    generated, path = paper40
    out = tmp_path / "paper.txt"
    # The author block is kept: the ground truth's words include it.
    result = cli(str(path), "-o", str(out), "--no-llm", "--max-chars", "1000000", "--keep-authors")
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    # Metadata summary and progress on stderr, nothing on stdout.
    assert "pages: 40" in result.stderr and "producer: pdfTeX-1.40.25" in result.stderr
    assert "reading" in result.stderr and "40/40" in result.stderr
    assert "budget" not in result.stderr
    assert result.stdout == ""
    # The running header (the title, repeated on pages 2-40) is left only as the title,
    # the footer and the arXiv stamp are gone; body words are there.
    assert text.count(generated.header) == 1
    assert generated.footer not in text
    assert "arXiv:" not in text
    words = set(text.split())
    sample = [w for w in generated.body_words if w.isalpha() and len(w) > 7][:200]
    assert sample and all(w in words for w in sample)


def test_default_budget_is_the_notebooks(paper40, tmp_path):
    _, path = paper40
    result = cli(str(path), "-o", str(tmp_path / "out.txt"), "--no-llm")
    assert result.returncode == 0, result.stderr
    assert "warning: The character budget of 100,000 characters was reached on page" in result.stderr


def test_default_output_name_and_stdout(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(simple_pdf(["Hello from the first page.", "And the second page."]))
    result = cli(str(path), "--no-llm")
    assert result.returncode == 0, result.stderr
    assert "Hello from the first page." in (tmp_path / "notes.clean.txt").read_text(encoding="utf-8")
    result = cli(str(path), "--no-llm", "-o", "-")
    assert result.returncode == 0
    assert "And the second page." in result.stdout


def test_page_range_and_character_budget(paper40, tmp_path):
    _, path = paper40
    result = cli(str(path), "--no-llm", "-o", "-", "--pages", "2-3", "--max-chars", "2500")
    assert result.returncode == 0, result.stderr
    assert "warning: The character budget of 2,500 characters was reached on page" in result.stderr
    assert 1000 < len(result.stdout) <= 2600


BAD_INPUTS = {
    "html named .pdf": (lambda: not_pdf_bytes("html"), [], "not a PDF"),
    "png named .pdf": (lambda: not_pdf_bytes("png"), [], "not a PDF"),
    "empty file": (lambda: b"", [], "empty"),
    "truncated": (truncated_pdf, [], "cut short"),
    "encrypted, no password": (lambda: encrypted_pdf("AES-256", user_password="s3cret"), [], "password"),
    "wrong password": (lambda: encrypted_pdf("RC4-128", user_password="s3cret"), ["--password", "nope"], "password"),
    "scanned": (image_only_pdf, [], "scanned"),
    "page range outside the document": (lambda: simple_pdf(["one", "two"]), ["--pages", "5-9"], "2 pages"),
    "bad page range": (lambda: simple_pdf(["one"]), ["--pages", "x-y"], "page"),
    "bad option value": (lambda: simple_pdf(["one"]), ["--chunk-size", "0"], "chunk-size"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_user_failures_exit_2_with_one_clear_line(case, tmp_path):
    make, extra, expected = BAD_INPUTS[case]
    path = tmp_path / "input.pdf"
    path.write_bytes(make())
    result = cli(str(path), "--no-llm", "-o", str(tmp_path / "out.txt"), *extra)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert expected.lower() in lines[0].lower()
    assert "Traceback" not in result.stderr


def test_missing_input_file(tmp_path):
    result = cli(str(tmp_path / "nope.pdf"), "--no-llm")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no such file: {tmp_path / 'nope.pdf'}"


def test_unwritable_output(tmp_path):
    path = tmp_path / "in.pdf"
    path.write_bytes(simple_pdf(["text"]))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli(str(path), "--no-llm", "-o", str(blocker / "out.txt"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("pages: 1")


@pytest.mark.slow
def test_two_page_paper_cleaned_by_the_bundled_model(tmp_path):
    """End to end with the real bundled model: text and report written, progress with tok/s."""
    path = tmp_path / "paper.pdf"
    path.write_bytes(paper(pages=2).pdf)
    out, report = tmp_path / "paper.txt", tmp_path / "paper.jsonl"
    result = cli(
        str(path), "-o", str(out), "--report", str(report),
        "--max-chars", "1500", "--chunk-size", "500", "--max-new-tokens", "24",
        "--temperature", "0", "--guard-policy", "keep",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "tok/s" in result.stderr and "cleaning" in result.stderr
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    chunks, summary = lines[1:-1], lines[-1]  # after the header (pipeline.resume)
    assert len(chunks) >= 3 and summary == {**summary, "partial": False, "chunks_done": len(chunks)}
    from pipeline.edits import judge_edits

    for line in chunks:
        # Policy "keep": the model's text (with any echoed <text> markers tidied away), its
        # content edits reverted: 24 new tokens end it early, and the input's rest stands.
        assert line["source"] == "llm" and line["output"].strip()
        assert line["output"].strip() == judge_edits(line["input"], line["model_output"].strip()).text
        assert any(not edit["kept"] for edit in line["edits"])
        assert 0 < line["tokens"] <= 24 and line["verdict"] in ("ok", "suspicious", "rejected")
        assert set(line["metrics"]) == {"kept", "invented", "length_ratio", "repetition"}
    # The text file is the chunks' outputs in order (policy "keep": the model's own text).
    text = out.read_text(encoding="utf-8")
    positions = [text.find(line["output"].strip()[:40]) for line in chunks]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)


def test_page_limit_is_named_with_how_to_raise_it(tmp_path):
    from tests.pdf_factory import simple_pdf

    pdf = tmp_path / "many.pdf"
    words = ["apple", "birch", "cedar", "dahlia", "elder", "fennel", "ginger", "hazel", "iris", "juniper", "kale", "lemon"]
    pdf.write_bytes(simple_pdf([f"The {word} grows well in this garden, as the notes explain." for word in words]))
    result = cli(str(pdf), "--no-llm", "-o", str(tmp_path / "out.txt"), "--max-pages", "5")
    assert result.returncode == 0, result.stderr
    assert "warning: Only the first 5 of the 12 selected pages are read (page limit: 5)" in result.stderr
    assert "--max-pages" in result.stderr
    text = (tmp_path / "out.txt").read_text(encoding="utf-8")
    assert "elder" in text and "fennel" not in text


def test_file_size_limit_is_named_with_how_to_raise_it(paper40, tmp_path):
    _, pdf = paper40
    result = cli(str(pdf), "--no-llm", "-o", str(tmp_path / "out.txt"), "--max-file-mb", "0.01")
    assert result.returncode == 2
    assert result.stderr.startswith("error: This file is") and "over the 0.01 MB file size limit" in result.stderr
    assert "--max-file-mb" in result.stderr and not (tmp_path / "out.txt").exists()


def test_ctrl_c_while_reading_exits_130_and_leaves_no_reading_process(tmp_path):
    import signal
    import time

    import psutil

    from tests.pdf_factory import with_slow_page

    pdf = tmp_path / "slow.pdf"
    pdf.write_bytes(with_slow_page(simple_pdf(["The first page reads quickly enough for anyone."] * 2), 2))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", str(pdf), "--no-llm", "-o", str(tmp_path / "out.txt")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait (bounded) until the reading process is inside the slow page.
        deadline = time.monotonic() + 60
        reader = []
        while not reader and time.monotonic() < deadline:
            reader = [c for c in psutil.Process(process.pid).children() if "pipeline.sandbox" in " ".join(c.cmdline())]
            time.sleep(0.05)
        assert reader, "the reading process never started"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted: every finished chunk was kept" in stderr
    assert not reader[0].is_running() or reader[0].status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_ctrl_c_while_the_model_writes_keeps_every_finished_chunk_and_marks_the_rest(tmp_path):
    """The real CLI and the bundled model: Ctrl-C once the first chunk is in the file."""
    import signal
    import time

    out, report = tmp_path / "out.txt", tmp_path / "out.jsonl"
    example = ROOT / "examples" / "distillation-survey.pdf"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", str(example), "-o", str(out), "--report", str(report)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if report.is_file() and report.read_text(encoding="utf-8").count("\n") >= 2:
                break  # the first chunk is written, after the header
            time.sleep(0.1)
        assert process.poll() is None, "the run ended before Ctrl-C"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted: every finished chunk was kept" in stderr
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    chunks, summary = lines[1:-1], lines[-1]  # after the header (pipeline.resume)
    assert summary["summary"] and summary["partial"] and summary["gaps"]
    text = out.read_text(encoding="utf-8")
    assert text.startswith(chunks[0]["output"])
    for item in chunks:
        assert item["output"] in text
    assert "[PDF Cleaner: " in text and "were not cleaned by the model: the run was interrupted." in text


# --------------------------------------------------------------------------------------------
# podcast options and what was removed


def settings_for(*args: str):
    from pipeline.__main__ import build_parser, settings_from_args

    return settings_from_args(build_parser().parse_args(["in.pdf", *args]))


def test_podcast_flags_map_to_settings_and_their_defaults_are_the_settings_defaults():
    from pipeline import Settings

    defaults = Settings()
    plain = settings_for()
    fields = ("layout", "keep_captions", "keep_footnotes", "keep_authors", "keep_appendix", "keep_references",
              "math", "citations")
    assert {f: getattr(plain, f) for f in fields} == {f: getattr(defaults, f) for f in fields}
    every = settings_for("--no-layout", "--keep-captions", "--keep-footnotes", "--keep-authors", "--keep-appendix",
                         "--keep-references", "--math", "placeholder", "--citations", "keep")
    assert {f: getattr(every, f) for f in fields} == {
        "layout": False, "keep_captions": True, "keep_footnotes": True, "keep_authors": True,
        "keep_appendix": True, "keep_references": True, "math": "placeholder", "citations": "keep",
    }
    one = settings_for("--keep-footnotes", "--math", "keep")
    assert (one.layout, one.keep_footnotes, one.keep_captions, one.math, one.citations) == (
        True, True, False, "keep", "remove")


@pytest.mark.parametrize("args, expected", [
    (["--math", "latex"], ["argument --math: invalid choice: 'latex'", "drop", "placeholder", "keep"]),
    (["--citations", "drop"], ["argument --citations: invalid choice: 'drop'", "remove", "keep"]),
    (["--keep-everything"], ["unrecognized arguments: --keep-everything"]),
])
def test_bad_podcast_option_values_are_refused(args, expected, capsys):
    from pipeline.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["in.pdf", *args])
    assert exit_.value.code == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith("python -m pipeline: error: ") and all(part in message for part in expected)


def test_the_help_says_each_podcast_options_default():
    from pipeline.__main__ import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--no-layout read pypdf's plain text" in text and "(default: layout-aware reading)" in text
    for name in ("captions", "footnotes", "authors", "appendix", "references"):
        assert f"--keep-{name} keep " in text
    assert text.count("(default: dropped)") == 5
    assert "(default: drop)" in text and "(default: remove)" in text


def test_removed_file_name_follows_the_output():
    from pipeline.__main__ import removed_path

    assert removed_path(Path("out/paper.clean.txt"), None) == Path("out/paper.removed.txt")
    assert removed_path(Path("paper.txt"), None) == Path("paper.removed.txt")
    assert removed_path(Path("paper"), None) == Path("paper.removed.txt")
    assert removed_path(None, None) is None  # text to stdout: no file unless asked for
    assert removed_path(None, "cut.txt") == Path("cut.txt")


def hand_made_run(removed, text="Clean text."):
    """A stand-in for pipeline.run: the events of a one-chunk run whose plan removed `removed`."""
    from pipeline.events import Chunk, ChunkDone, ChunkPlan, DocumentInfo, RunFinished

    def fake_run(source, settings, *, stop=None, output_path=None, report_path=None, resume=False):
        chunk = Chunk(0, text, 1, 2)
        yield DocumentInfo(page_count=2, file_size=100)
        yield ChunkPlan(chunks=(chunk,), raw_chars=200, normalized_chars=len(text), pages_read=(1, 2),
                        failed_pages=(), budget_stopped_at=None, removed=tuple(removed))
        yield ChunkDone(0, chunk, text, "rules")
        yield RunFinished(text=text, chunks_done=1, chunks_total=1, stopped=False, seconds=0.1,
                          output_path=str(output_path) if output_path else None)

    return fake_run


def test_the_summary_counts_what_was_removed_and_the_file_lists_it(tmp_path, monkeypatch, capsys):
    import pipeline.__main__ as cli_module
    from pipeline.events import Removed

    removed = [Removed(1, "page number", "1"), Removed(2, "footnote", "2 A note with <b>markup</b>."),
               Removed(2, "page number", "2")]
    monkeypatch.setattr(cli_module, "run", hand_made_run(removed))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.7 (never read: run is replaced)")
    out = tmp_path / "paper.clean.txt"
    assert cli_module.main([str(pdf), "--no-llm", "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    at = err.index("removed: 3 pieces · 30 characters saved for the model stage")
    assert err[at + 1:at + 3] == ["  page number: 2 · 2 characters", "  footnote: 1 · 28 characters"]
    listed = tmp_path / "paper.removed.txt"
    assert f"wrote {listed} (every removed piece with its page and category)" in err
    text = listed.read_text(encoding="utf-8")
    assert text.startswith("PDF Cleaner: what was taken out of paper.pdf before cleaning")
    assert "\n[page 2 · footnote]\n2 A note with <b>markup</b>.\n" in text and text.count("\n[page ") == 3
    # --removed names the file; with the text on stdout no file is written unless asked for.
    chosen = tmp_path / "lists" / "cut.txt"
    assert cli_module.main([str(pdf), "--no-llm", "-o", "-", "--removed", str(chosen)]) == 0
    assert chosen.read_text(encoding="utf-8") == text
    listed.unlink()
    capsys.readouterr()
    assert cli_module.main([str(pdf), "--no-llm", "-o", "-"]) == 0
    assert not listed.exists() and "wrote" not in capsys.readouterr().err


def test_nothing_removed_is_said_and_the_file_says_so(tmp_path, monkeypatch, capsys):
    import pipeline.__main__ as cli_module

    monkeypatch.setattr(cli_module, "run", hand_made_run([]))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    assert cli_module.main([str(pdf), "--no-llm"]) == 0
    assert "removed: nothing" in capsys.readouterr().err.splitlines()
    assert (tmp_path / "paper.removed.txt").read_text(encoding="utf-8") == (
        "PDF Cleaner: nothing was taken out of paper.pdf before cleaning.\n")
    out = tmp_path / "x.txt"
    assert cli_module.main([str(pdf), "--no-llm", "-o", str(out), "--removed", str(out)]) == 2
    assert "error: --removed must name another file than the output" in capsys.readouterr().err


def test_no_layout_end_to_end(tmp_path):
    """The real command on a real PDF: plain reading removes nothing, and says so."""
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(simple_pdf(["Hello from the first page.", "And the second page."]))
    result = cli(str(pdf), "--no-llm", "--no-layout", "--keep-footnotes", "--math", "keep")
    assert result.returncode == 0, result.stderr
    assert "removed: nothing (layout-aware reading is off)" in result.stderr.splitlines()
    assert "Hello from the first page." in (tmp_path / "notes.clean.txt").read_text(encoding="utf-8")
    listed = (tmp_path / "notes.removed.txt").read_text(encoding="utf-8")
    assert listed.startswith("PDF Cleaner: nothing was taken out of notes.pdf") and "Layout-aware reading was off" in listed
    assert f"wrote {tmp_path / 'notes.removed.txt'}" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--max-chars", "0"], "max_chars (--max-chars) must be at least 1."),
    (["--top-p", "0"], "top_p (--top-p) must be more than 0 and at most 1."),
    (["--read-memory-mb", "100"], "read_memory_mb (--read-memory-mb) must be at least 256"),
    (["--copy-bias", "-1"], "copy_bias (--copy-bias) must be between 0 (off) and 50."),
])
def test_out_of_range_values_get_the_messages_the_page_gives(args, message):
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError) as refused:
        settings_for(*args)
    assert message in str(refused.value)

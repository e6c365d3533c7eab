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
    result = cli(str(path), "-o", str(out), "--no-llm", "--max-chars", "1000000")
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
    chunks, summary = lines[:-1], lines[-1]
    assert len(chunks) >= 3 and summary == {**summary, "partial": False, "chunks_done": len(chunks)}
    for line in chunks:
        # Policy "keep": the model's text (with any echoed <text> markers tidied away).
        assert line["source"] == "llm" and line["output"].strip()
        assert line["output"].strip() in line["model_output"]
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
            if report.is_file() and report.read_text(encoding="utf-8").count("\n") >= 1:
                break  # the first chunk is written
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
    chunks, summary = lines[:-1], lines[-1]
    assert summary["summary"] and summary["partial"] and summary["gaps"]
    text = out.read_text(encoding="utf-8")
    assert text.startswith(chunks[0]["output"])
    for item in chunks:
        assert item["output"] in text
    assert "[PDF Cleaner: " in text and "were not cleaned by the model: the run was interrupted." in text

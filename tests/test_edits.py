"""pipeline.edits: each edit the model makes, its kind, and the text with only cleaning edits.

Fast: each kind on a small pair, kept or reverted; a property (hypothesis) that cleaning
edits never take a word of the language out of the input; and the whole pipeline against
the fake OpenAI-compatible server (tests/openai_fake.py) scripted to clean and to harm the
same chunk: the result, the report, the command line's summary, the setting that allows
content edits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline import RunFinished, Settings, run, words
from pipeline.edits import CLEANING, CONTENT, classify, judge_edits, summary
from pipeline.events import Edit
from tests.openai_fake import FakeServer, Reply
from tests.pdf_factory import simple_pdf
from tests.test_normalize import needs_reference

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("before, after, kind", [
    ("Intheeraof", "In the era of", "spacing"),
    ("capa- bilities", "capabilities", "spacing"),
    ("self- improvement", "self-improvement", "spacing"),
    ("(KLD)", "KLD", "punctuation"),
    ("word ,", "word,", "spacing"),
    ("\ufb01nal", "final", "characters"),
    ("didnâ€™t", "didn’t", "characters"),
    ("\\textbf{bold}", "bold", "markup"),
    ("(Gou et al., 2021)", "", "citation"),
    ("[12]", "", "citation"),
    ("0.5 1.0 2.0", "", "debris"),
    ("Fig 3 (b)", "Fig", "debris"),
    ("Kullback-Leibler Divergence", "", "deleted"),
    ("the", "", "deleted"),
    ("", "and more", "added"),
    ("diverse applications", "diversity", "substituted"),
    ("30", "40", "number"),
])
def test_each_kind(before, after, kind):
    assert classify(before, after) == kind


def test_a_word_repeated_beside_itself_is_debris():
    assert classify("the", "", ("the", "model")) == "debris"
    assert classify("the", "", ("a", "model")) == "deleted"


@pytest.mark.parametrize("source, output, expected, kinds", [
    ("We use Kullback-Leibler Divergence (KLD) to measure it.", "We use KLD to measure it.",
     "We use Kullback-Leibler Divergence (KLD) to measure it.", [("deleted", False), ("punctuation", False)]),
    ("a model for diverse applications in NLG", "a model for diversity in NLG",
     "a model for diverse applications in NLG", [("substituted", False)]),
    ("the chunk ends with NLG", "the chunk ends with", "the chunk ends with NLG", [("deleted", False)]),
    ("Intheeraof Large Language Models, capa- bilities grow 0.5 1.0 here.",
     "In the era of Large Language Models, capabilities grow here.",
     "In the era of Large Language Models, capabilities grow here.",
     [("spacing", True), ("spacing", True), ("debris", True)]),
    ("Results (Gou et al., 2021) hold for 30 runs.", "Results hold for 40 runs and more.",
     "Results hold for 30 runs.", [("citation", True), ("number", False), ("punctuation", False), ("added", False)]),
])
def test_cleaning_edits_are_kept_and_content_edits_reverted(source, output, expected, kinds):
    result = judge_edits(source, output)
    assert result.text == expected
    assert [(e.kind, e.kept) for e in result.edits] == kinds
    # Allowed, every edit stands: the model's text as it wrote it.
    allowed = judge_edits(source, output, allow_content=True)
    assert allowed.text == output and all(e.kept for e in allowed.edits)


def test_no_edit_no_change_and_paragraphs_survive():
    text = "First paragraph here.\n\nSecond one, with more words."
    assert judge_edits(text, text).text == text and judge_edits(text, text).edits == ()
    result = judge_edits(text, "First paragraph here.\n\nSecond one, with words.")
    assert result.text == text


def test_summary_counts_in_words():
    edits = [Edit("debris", "3", "", True), Edit("debris", "4 5", "", True), Edit("spacing", "ab", "a b", True),
             Edit("deleted", "the", "", False)]
    assert summary(edits) == ("the model removed 2 pieces of debris, split or joined 1 word; "
                              "1 content edit reverted")
    assert summary([]) == ""
    assert summary([Edit("deleted", "x", "", False)]) == "the model's 1 content edit reverted"


# --- the property ------------------------------------------------------------------------------

_VOCABULARY = ["model", "teacher", "student", "knowledge", "distillation", "language", "large", "the", "of",
               "data", "training", "results", "improves", "capabilities", "diverse", "applications"]
_DEBRIS = ["0.5", "12", "(b)", "|", "x1", "-", "§", "2.0"]


def _letters(text: str) -> str:
    return "".join(re.findall(r"[^\W\d_]+", text.casefold()))


@st.composite
def pairs(draw):
    tokens = draw(st.lists(st.sampled_from(_VOCABULARY + _DEBRIS), min_size=1, max_size=40))
    source = " ".join(tokens)
    out = list(tokens)
    for _ in range(draw(st.integers(0, 6))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        action = draw(st.sampled_from(["delete", "substitute", "insert", "glue", "split", "punctuate"]))
        if action == "delete":
            del out[at:at + draw(st.integers(1, 3))]
        elif action == "substitute":
            out[at] = draw(st.sampled_from(_VOCABULARY))
        elif action == "insert":
            out.insert(at, draw(st.sampled_from(_VOCABULARY)))
        elif action == "glue" and at + 1 < len(out):
            out[at:at + 2] = [out[at] + out[at + 1]]
        elif action == "split" and len(out[at]) > 3:
            out[at:at + 1] = [out[at][:2], out[at][2:]]
        elif action == "punctuate":
            out[at] = out[at] + ","
    return source, " ".join(out)


@hypothesis_settings(max_examples=300, deadline=None)
@given(pairs())
def test_cleaning_edits_never_remove_a_word_of_the_input(pair):
    source, output = pair
    result = judge_edits(source, output)
    stream = _letters(result.text)
    for word in source.split():
        if words.is_word(word) and len(word) > 1:
            assert _letters(word) in stream, (source, output, result.text, result.edits)
    # and invent none: every word of the result is one of the input's letters
    source_stream = _letters(source)
    for word in result.text.split():
        assert _letters(word) in source_stream, (source, output, result.text, result.edits)


# --- the whole pipeline, with a scripted model ---------------------------------------------------

BODY = ("Knowledge distillation with the Kullback-Leibler Divergence (KLD) transfers what a teacher knows "
        "to a student model for diverse applications in NLG. Forinstance, a large teacher writes answers and "
        "the student learns to write the same answers from far fewer parameters. The method needs no labels, "
        "only the teacher's own outputs on a set of prompts, and it works for translation, summarization and "
        "question answering alike, which is why it is used so widely today.")


def _harm_and_clean(request: dict, attempt: int) -> Reply:
    """A model that splits a glued word (cleaning) and shortens a definition and a phrase (content)."""
    text = next(m["content"] for m in request["messages"] if m["role"] == "user")
    text = text.replace("Kullback-Leibler Divergence (KLD)", "KLD").replace("diverse applications", "diversity")
    text = text.replace("Forinstance", "For instance")
    return Reply(pieces=re.findall(r"\S+\s*", text))


def _pdf(tmp_path) -> Path:
    path = tmp_path / "paper.pdf"
    path.write_bytes(simple_pdf([BODY]))
    return path


def _finished(events) -> RunFinished:
    return next(e for e in events if isinstance(e, RunFinished))


@pytest.mark.parametrize("mode", ["cleaning", "all"])
def test_the_run_keeps_cleaning_edits_reverts_content_edits_and_reports_each(tmp_path, mode):
    pdf = _pdf(tmp_path)
    with FakeServer(_harm_and_clean) as fake:
        s = Settings(api_base=fake.url, model="fake-model", model_edits=mode)
        out, report = tmp_path / f"{mode}.txt", tmp_path / f"{mode}.jsonl"
        text = _finished(run(pdf, s, output_path=out, report_path=report)).text
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    edits = [e for r in records for e in r.get("edits", ())]
    assert {(e["kind"], e["kept"]) for e in edits} >= {("spacing", True), ("deleted", mode == "all"),
                                                        ("substituted", mode == "all")}
    assert "For instance, a large teacher" in text
    if mode == "cleaning":
        assert "Kullback-Leibler Divergence (KLD)" in text and "diverse applications" in text
    else:
        assert "Kullback-Leibler" not in text and "for diversity in NLG" in text


def test_the_command_line_counts_the_edits(tmp_path):
    pdf = _pdf(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with FakeServer(_harm_and_clean) as fake:
        done = subprocess.run([sys.executable, "-m", "pipeline", str(pdf), "-o", str(tmp_path / "out.txt"),
                               "--api-base", fake.url, "--model", "fake-model"],
                              capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the model split or joined 1 word; 2 content edits reverted (each listed in the report)" in done.stderr


def test_the_setting_is_checked():
    from pipeline.settings import SettingsError

    with pytest.raises(SettingsError, match="model_edits"):
        Settings(model_edits="some").validate()
    assert set(CLEANING).isdisjoint(CONTENT)


def test_runs_of_labels_are_debris_and_headings_are_words():
    assert classify("SFT Alignment OpenChat HumanConversation ChatGPT+GPT4 LLaMA", "") == "debris"
    assert classify("Self-Align, RLCD, Self-Knowledge ImpDistill, LMSI, ReST,", "") == "debris"
    assert classify("Knowledge Distillation Methods", "") == "deleted"
    assert classify("Kullback-LeiblerDivergence", "") == "deleted"
    assert classify("are compared to the highly fine-tuned proprietary LLMs", "") == "deleted"


# --- the real model -------------------------------------------------------------------------------


@pytest.mark.slow
@needs_reference
def test_the_bundled_model_shortening_a_definition_is_reverted():
    """Chunk 47 of the KD survey as extracted: the bundled model drops "Kullback-LeiblerDivergence"
    before "(KLD)". The edit is found and reverted; the rest of its text stands."""
    from dataclasses import replace

    from pipeline import ChunkPlan
    from pipeline.model import get_model
    from pipeline.runner import process_chunks
    from tests.pdf_factory import text_pdf
    from tests.test_normalize import REFERENCE, reference_pages

    pdf = text_pdf([text for _, text in reference_pages(REFERENCE.read_text(encoding="utf-8"))])
    plan = next(e for e in run(pdf, Settings(use_llm=False)) if isinstance(e, ChunkPlan))
    chunk = replace(plan.chunks[46], index=0)
    assert "Kullback-LeiblerDivergence (KLD)" in chunk.text
    (done,) = [e for e in process_chunks([chunk], Settings(), model=get_model("bundled")) if hasattr(e, "edits")]
    assert done.source == "llm"
    assert "Kullback-LeiblerDivergence" not in done.model_output  # the model's harmful edit
    assert ("deleted", "Kullback-LeiblerDivergence", False) in [(e.kind, e.before, e.kept) for e in done.edits]
    assert "Kullback-LeiblerDivergence (KLD)" in done.output

"""Tests for pipeline.guard: measures, verdicts, policies, and the calibration controls.

Controls are built from short excerpts of a real paper kept in tests/data/guard/excerpts.json
(raw PDF extraction + a hand-cleaned version) and from real Llama-3.2-1B outputs printed by the
NotebookLlama notebook. The full calibration is bench/guard_calibration.py (docs/QUALITY.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import guard
from pipeline.events import GuardReport
from pipeline.settings import GUARD_POLICIES

DATA = json.loads((Path(__file__).parent / "data" / "guard" / "excerpts.json").read_text("utf-8"))
EXCERPTS = DATA["excerpts"]
NOTEBOOK = DATA["notebook"]
CLEAN = [e["clean"] for e in EXCERPTS]

PROSE = (
    "Knowledge distillation transfers the capabilities of a large teacher model to a smaller "
    "student model. The student learns from the outputs of the teacher, and sometimes from its "
    "internal representations. Data augmentation lets the teacher generate training examples "
    "for a chosen skill or domain. Open-source models trained this way approach the quality of "
    "proprietary systems at a fraction of the cost. Careful evaluation remains essential, because "
    "students can copy the style of a teacher without its accuracy."
)
FILLER = (
    "This is a fascinating area that every listener should know about. Experts agree that these "
    "ideas will change the way we live and work. Stay tuned, because the most surprising part is "
    "still to come."
)


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


# --- positive controls ------------------------------------------------------------------------


@pytest.mark.parametrize("excerpt", EXCERPTS, ids=[e["name"] for e in EXCERPTS])
def test_hand_cleaned_excerpts_are_ok(excerpt):
    report = guard.check(excerpt["raw"], excerpt["clean"])
    assert report.verdict == "ok", report
    assert report.kept >= 0.95
    assert report.invented <= 0.05


@pytest.mark.parametrize("text", [PROSE, *CLEAN, *(e["raw"] for e in EXCERPTS)])
def test_identity_is_ok(text):
    report = guard.check(text, text)
    assert report == GuardReport(1.0, 0.0, 1.0, 0.0, "ok", ())


def test_glued_words_split_by_the_model_count_as_kept_and_not_invented():
    source = "Abstract—IntheeraofLargeLanguageModels(LLMs),KnowledgeDistillation(KD)emerges"
    output = (
        "Abstract — In the era of Large Language Models (LLMs), "
        "Knowledge Distillation (KD) emerges"
    )
    report = guard.check(source, output)
    assert (report.kept, report.invented, report.verdict) == (1.0, 0.0, "ok")


def test_words_glued_by_the_model_count_as_kept():
    report = guard.check(
        "in model compression and self improvement", "in modelcompression and selfimprovement"
    )
    assert report.kept == 1.0 and report.invented == 0.0


def test_line_end_hyphens_are_joined():
    source = "models with fewer pa- rameters have un- locked sophisticated capa- bilities"
    output = "models with fewer parameters have unlocked sophisticated capabilities"
    assert guard.measure(source, output).missing_words == 0
    # ... and a cleaner that leaves the break in place is not inventing anything either
    assert guard.check(output, source).invented == 0.0


def test_dropped_citations_and_page_numbers_do_not_count_as_lost():
    source = (
        "The core significance of these LLMs lies in their emergent abilities (Wei et al., "
        "2022a,b; Xu et al., 2024a), a phenomenon where models display new skills [12, 14]. 7 "
        "Proprietary models arXiv:2402.13116v3 [cs.CL] 8 Mar 2024 like GPT-4 "
        "(OpenAI et al., 2023) lead."
    )
    output = (
        "The core significance of these LLMs lies in their emergent abilities, a phenomenon "
        "where models display new skills. Proprietary models like GPT-4 lead."
    )
    report = guard.check(source, output)
    assert report.kept == 1.0 and report.verdict == "ok"
    # Dropping a real phrase of the same length is a loss.
    worse = output.replace("a phenomenon where models display new skills", "")
    assert guard.check(source, worse).kept < 0.8


def test_emails_latex_and_affiliation_marks_the_prompt_asks_to_drop_do_not_count_as_lost():
    source = (
        "Xiaohan Xu1, Ming Li2, Tianyi Zhou2 {shawnxxh,chongyangtao}@gmail.com ckcheng@cs.hku.hk "
        "The \\textbf{survey} covers proprietary1 models."
    )
    output = "Xiaohan Xu, Ming Li, Tianyi Zhou. The survey covers proprietary models."
    assert guard.measure(source, output).missing_words == 0
    assert guard.check(source, output).verdict == "ok"


def test_mojibake_in_the_input_is_repaired_before_comparing():
    report = guard.check(
        "KD‚Äôs role within the realm of LLMs‚Äîa survey",
        "KD’s role within the realm of LLMs — a survey",
    )
    assert (report.kept, report.invented) == (1.0, 0.0)


def test_unicode_forms_and_case_are_normalised():
    report = guard.check("ﬁne-tuning ＧＰＴ-４ Models", "fine-tuning GPT-4 models")
    assert (report.kept, report.invented) == (1.0, 0.0)


def test_one_changed_word_in_a_short_chunk_is_not_flagged():
    report = guard.check("Results are shown in Table 3 below.", "Results appear in Table 3.")
    assert report.verdict == "ok"
    assert report.kept < 1.0 and report.invented > 0.0  # measured, but under min_words


def test_light_rewording_is_ok():
    output = PROSE.replace("sometimes", "occasionally").replace("lets", "allows")
    report = guard.check(PROSE, output)
    assert report.verdict == "ok" and 0 < report.invented < 0.12


# --- negative controls ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [PROSE, CLEAN[0]])
def test_first_sentence_only_is_rejected_as_a_summary(text):
    report = guard.check(text, sentences(text)[0])
    assert report.verdict == "rejected"
    assert any("summarised?" in r for r in report.reasons)
    assert report.kept < 0.5


def test_every_third_sentence_is_flagged():
    report = guard.check(PROSE, " ".join(sentences(PROSE)[::3]))
    assert report.verdict == "rejected", report


def test_first_half_is_flagged_as_cut_short():
    words = PROSE.split()
    report = guard.check(PROSE, " ".join(words[: len(words) // 2]))
    assert report.verdict == "rejected"
    assert any("cut short?" in r for r in report.reasons)


@pytest.mark.parametrize("text", [PROSE, CLEAN[0]])
def test_generic_filler_is_flagged_as_invented(text):
    report = guard.check(text, text + " " + FILLER)
    assert report.verdict != "ok"
    assert any("invented?" in r for r in report.reasons)
    assert report.kept == 1.0


def test_half_replaced_by_other_text_is_rejected():
    half = PROSE[: len(PROSE) // 2]
    report = guard.check(PROSE, half + " " + FILLER)
    assert report.verdict == "rejected"
    assert {"summarised?", "invented?"} <= {r.split("(")[-1].rstrip(")") for r in report.reasons}


def test_sentence_loop_is_rejected():
    first = sentences(PROSE)[0]
    report = guard.check(PROSE, " ".join([first] * 6))
    assert report.verdict == "rejected"
    assert "output repeats itself" in report.reasons
    assert report.repetition > 0.5


def test_word_loop_is_rejected():
    report = guard.check(PROSE, "the " * 200)
    assert report.verdict == "rejected"
    assert report.repetition > 0.9


def test_a_phrase_repeated_a_few_times_is_suspicious():
    # In the middle of the text: after its end, new words are "added after the end".
    phrase = "Careful evaluation remains essential for every student model."
    report = guard.check(PROSE, phrase + " " + phrase + " " + PROSE)
    assert report.verdict == "suspicious", report
    assert 0.05 < report.repetition <= 0.2


def test_repetition_the_input_already_has_is_not_a_loop():
    source = "GKD (Agarwal et al., 2024), MiniLLM (Gu et al., 2024), GKD (Agarwal et al., 2024) "
    source *= 3
    assert guard.check(source, source).repetition == 0.0
    glued = "Human-writtenPrompts LLaMA Labeling SFT, Human-writtenPrompts LLaMA Labeling RL"
    split = "Human-written Prompts LLaMA Labeling SFT, Human-written Prompts LLaMA Labeling RL"
    assert guard.check(glued, split).repetition == 0.0


@pytest.mark.parametrize("empty", ["", "   ", "\n\t\n"])
def test_empty_output_is_rejected(empty):
    report = guard.check(PROSE, empty)
    assert report.verdict == "rejected"
    assert report.reasons == ("output empty",)
    assert report.length_ratio == 0.0


def test_much_longer_output_is_rejected():
    report = guard.check(PROSE, PROSE + " " + PROSE.replace(".", ", indeed.") + " " + FILLER)
    assert report.verdict == "rejected"
    assert any(re.fullmatch(r"output \d\.\dx longer than input", r) for r in report.reasons)


def test_markdown_bullets_are_flagged_even_when_every_word_is_kept():
    bullets = "**Key points**\n\n" + "\n".join(f"* {s}" for s in sentences(PROSE))
    report = guard.check(PROSE, bullets)
    assert report.verdict == "suspicious"
    assert "markdown added (bullets, bold)" in report.reasons
    assert report.kept == 1.0


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("# Knowledge distillation\n\n" + PROSE, "headings"),
        ("Knowledge distillation\n-----------\n" + PROSE, "headings"),
        ("1. " + PROSE.replace(". ", ".\n2. ", 1), "numbered list"),
        ("```\n" + PROSE + "\n```", "code fences"),
        ("| model | cost |\n" + PROSE, "table"),
    ],
)
def test_each_kind_of_added_markdown_is_named(output, kind):
    assert kind in guard.added_markdown(PROSE, output)
    assert guard.check(PROSE, output).verdict != "ok"


def test_markdown_the_input_already_had_is_not_flagged():
    source = "Steps:\n- collect seed data\n- prompt the teacher\n- train the student"
    assert guard.added_markdown(source, source) == ()
    assert guard.added_markdown("2. Background and notation", "2. Background and notation") == ()
    # One numbered line is a section title, not a list.
    assert guard.added_markdown("Background", "2. Background") == ()


@pytest.mark.parametrize(
    "opening",
    [
        "Here is the cleaned text:\n\n",
        "Here’s the processed text:\n",
        "Sure! I removed the citations.\n\n",
        "Cleaned text: ",
        "The text is:\n\n",  # SmolLM2-135M's opening
    ],
)
def test_preambles_are_rejected(opening):
    # tidy_output takes off a one-line "Here is the cleaned text:" before the guard looks;
    # a chatty line still here would be read out as part of the text.
    report = guard.check(PROSE, opening + PROSE)
    assert report.verdict == "rejected"
    assert any(r.startswith("preamble added") for r in report.reasons)


def test_a_chatty_closing_is_flagged():
    report = guard.check(PROSE, PROSE + "\n\nI hope this helps! Let me know if you need more.")
    assert any(r.startswith("preamble added") for r in report.reasons)


def test_text_that_starts_like_a_preamble_in_the_input_is_not_flagged():
    source = "Here is the key idea: " + PROSE
    assert guard.check(source, source).verdict == "ok"
    labelled = "Definitions:\n" + PROSE
    assert guard.added_preamble(labelled, labelled) is None


# --- the notebook's real Llama-3.2-1B outputs --------------------------------------------------


@pytest.mark.parametrize("pair", NOTEBOOK, ids=[f"notebook-{p['index']}" for p in NOTEBOOK])
def test_notebook_pairs_are_classified_as_a_reader_would(pair):
    report = guard.check(pair["input"], pair["output"])
    expected = {"ok": {"ok"}, "flagged": {"suspicious", "rejected"}, "rejected": {"rejected"}}
    assert report.verdict in expected[pair["expect"]], (pair["note"], report)


def test_notebook_markdown_list_is_flagged_for_markdown():
    pair = next(p for p in NOTEBOOK if p["index"] == 9)
    assert pair["input"].startswith("trend of self-improvement")
    assert "markdown added (bullets, bold)" in guard.check(pair["input"], pair["output"]).reasons


@pytest.mark.parametrize("pair", DATA["smollm2"], ids=lambda p: f"smollm2-{p['chunk']}")
def test_bundled_smollm2_outputs_are_rejected(pair):
    report = guard.check(pair["input"], pair["output"])
    assert report.verdict == "rejected", (pair["note"], report)
    assert report.kept < 0.5 and report.invented > 0.2


# --- reasons, thresholds, determinism, speed ---------------------------------------------------


def test_reasons_are_readable_and_only_present_when_not_ok():
    report = guard.check(PROSE, sentences(PROSE)[0] + " " + FILLER)
    assert report.verdict == "rejected"
    kept = re.compile(r"kept \d+% of the input's words \(summarised\?\)")
    invented = re.compile(r"\d+% of words not in the input \(invented\?\)")
    assert any(kept.fullmatch(r) for r in report.reasons)
    assert any(invented.fullmatch(r) for r in report.reasons)
    assert guard.check(PROSE, PROSE).reasons == ()


def test_thresholds_are_used():
    output = PROSE.replace("sometimes", "occasionally")
    assert guard.check(PROSE, output).verdict == "ok"
    strict = guard.GuardThresholds(invented_warn=0.0, min_words=1)
    assert guard.check(PROSE, output, strict).verdict == "suspicious"
    lax = guard.GuardThresholds(
        kept_warn=0.0, kept_reject=0.0, shorter_warn=0.0, shorter_reject=0.0
    )
    assert guard.check(PROSE, sentences(PROSE)[0], lax).verdict == "ok"


def test_default_thresholds_are_ordered():
    t = guard.DEFAULT
    assert 0 < t.kept_reject < t.kept_warn < 1
    assert 0 < t.invented_warn < t.invented_reject < 1
    assert 1 < t.longer_warn < t.longer_reject
    assert 0 < t.shorter_reject < t.shorter_warn < 1
    assert 0 < t.repetition_warn < t.repetition_reject < 1


def test_check_is_deterministic():
    output = sentences(PROSE)[0] + " " + FILLER
    assert len({guard.check(PROSE, output) for _ in range(5)}) == 1


# --- policies ---------------------------------------------------------------------------------


def report_with(verdict: str) -> GuardReport:
    return GuardReport(kept=0.5, invented=0.0, length_ratio=0.5, repetition=0.0, verdict=verdict)


@pytest.mark.parametrize(
    ("verdict", "policy", "expected"),
    [
        ("rejected", "fallback", ("INPUT", "fallback")),
        ("suspicious", "fallback", ("OUTPUT", "llm")),
        ("ok", "fallback", ("OUTPUT", "llm")),
        ("rejected", "keep", ("OUTPUT", "llm")),
        ("suspicious", "keep", ("OUTPUT", "llm")),
        ("ok", "keep", ("OUTPUT", "llm")),
    ],
)
def test_apply_policy(verdict, policy, expected):
    assert guard.apply_policy(report_with(verdict), "INPUT", "OUTPUT", policy) == expected


def test_every_settings_policy_is_handled_and_others_raise():
    for policy in GUARD_POLICIES:
        guard.apply_policy(report_with("ok"), "in", "out", policy)
    with pytest.raises(ValueError, match="unknown guard policy"):
        guard.apply_policy(report_with("ok"), "in", "out", "Fallback")


def test_policy_end_to_end_on_a_summary():
    summary = sentences(PROSE)[0]
    report = guard.check(PROSE, summary)
    assert guard.apply_policy(report, PROSE, summary, "fallback") == (PROSE, "fallback")
    assert guard.apply_policy(report, PROSE, summary, "keep") == (summary, "llm")


# --- properties -------------------------------------------------------------------------------

WORDS = sorted({w for w in re.findall(r"[A-Za-z]+", PROSE + " ".join(CLEAN)) if len(w) > 1})
real_words = st.lists(st.sampled_from(WORDS), min_size=6, max_size=120)
punctuation = st.sampled_from([" ", " ", " ", ", ", ". ", "; ", " (", ") ", "\n", " - "])


@st.composite
def real_text(draw):
    words = draw(real_words)
    seps = draw(st.lists(punctuation, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps)).strip()


@settings(max_examples=150, deadline=None)
@given(real_text())
def test_identity_output_is_always_ok(text):
    report = guard.check(text, text)
    assert report.verdict == "ok", report
    measures = (report.kept, report.invented, report.length_ratio, report.repetition)
    assert measures == (1.0, 0.0, 1.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_check_never_raises_and_metrics_stay_in_range(source, output):
    report = guard.check(source, output)
    assert 0.0 <= report.kept <= 1.0
    assert 0.0 <= report.invented <= 1.0
    assert 0.0 <= report.repetition <= 1.0
    assert report.length_ratio >= 0.0
    assert report.verdict in ("ok", "suspicious", "rejected")
    assert (report.verdict == "ok") == (report.reasons == ())
    assert all(isinstance(r, str) and r for r in report.reasons)


@settings(max_examples=100, deadline=None)
@given(real_text(), real_text())
def test_fallback_returns_the_input_exactly_when_rejected(source, output):
    report = guard.check(source, output)
    text, label = guard.apply_policy(report, source, output, "fallback")
    expected = (source, "fallback") if report.verdict == "rejected" else (output, "llm")
    assert (text, label) == expected


# --- words after the end, echoes of the prompt ---------------------------------------------------

CUT = "To keep the overhead low, the scheduler needs to choose a random"


def test_a_finished_sentence_after_the_chunks_end_is_rejected():
    # The chunker cut the chunk mid-sentence; a model that completes the sentence invents it.
    invented = CUT + " value; we would like this to represent only a small fraction of overall time."
    report = guard.check(CUT, invented)
    assert report.verdict == "rejected"
    assert "7 words added after the end of the input (invented?)" in report.reasons
    assert guard.appended_words(CUT, CUT + " value.") == 1
    assert guard.check(CUT, CUT + " value.").verdict == "suspicious"


def test_the_chunks_own_end_is_not_counted_as_added():
    assert guard.appended_words(CUT, CUT) == 0
    assert guard.appended_words(PROSE, PROSE.replace("essential", "key")) == 0
    assert guard.appended_words(CUT + " (Gou et al., 2021) 12", CUT + ".") == 0  # dropped, not added
    assert guard.check(PROSE, PROSE).verdict == "ok"


def test_an_echo_of_the_prompt_is_rejected():
    report = guard.check(PROSE, "<text>\n" + PROSE)
    assert report.verdict == "rejected" and report.reasons == ('repeats the prompt ("<text>")',)
    instructions = "You clean text.\n- Do not summarise, shorten, explain or comment."
    echoed = PROSE + "\nDo not summarise, shorten, explain or comment."
    assert guard.check(PROSE, echoed, instructions=instructions).verdict == "rejected"
    quoted = "The rule reads: do not summarise, shorten, explain or comment. " + PROSE
    assert guard.check(quoted, quoted, instructions=instructions).verdict == "ok"  # the input's own words


def test_a_stop_by_the_online_guard_is_a_rejection():
    report = guard.check(PROSE, PROSE[:200], halted="a loop")
    assert report.verdict == "rejected" and report.reasons[0] == "stopped while writing: a loop"


# --- the online guard ---------------------------------------------------------------------------


def test_the_online_guard_stops_a_loop_as_soon_as_it_is_sure():
    watch = guard.OnlineGuard(PROSE)
    loop = "The student learns from the teacher again and again. " * 2
    assert watch.look(loop, 20) is None  # twice could still be the text
    assert watch.look(loop * 3, 60) == "a loop"
    assert watch.next_look == 60 + 16


def test_the_online_guard_stops_runaway_length_preambles_and_echoes():
    assert guard.OnlineGuard("Short text.").look("Short text. " * 20, 60) == "runaway length"
    watch = guard.OnlineGuard(PROSE)
    assert watch.look("Sure! I can help with", 6) is None  # the first line is not complete yet
    assert watch.look("Sure! I can help with that.\nKnowledge", 10) == "a preamble"
    assert watch.look("Clean up this text:\n\nKnowledge", 8).startswith("it repeats the prompt")


def test_the_online_guard_lets_a_faithful_copy_through_at_every_step():
    watch = guard.OnlineGuard(PROSE)
    words = PROSE.split()
    for n in range(1, len(words) + 1):
        assert watch.look(" ".join(words[:n]), n) is None
    repeated = "A table lists A B C. A table lists A B C. A table lists A B C. A table lists A B C. The end."
    assert guard.OnlineGuard(repeated).look(repeated, 40) is None  # the input's own repetition

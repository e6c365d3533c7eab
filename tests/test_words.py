"""Tests for pipeline.words: real glued text from the reference extraction of
arXiv:2402.13116, tokens that must stay whole, idempotence, and the property that the
split only inserts spaces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.normalize import normalize_document
from pipeline.words import glued_spaces, insert_spaces, split_glued


@pytest.mark.parametrize(
    "glued, split",
    [
        ("Theprocessofeliciting", "The process of eliciting"),
        ("encouraginginnovationanddiverseapplications.Additionally,",
         "encouraging innovation and diverse applications. Additionally,"),
        ("ourinteractionwithtechnology.Despite", "our interaction with technology. Despite"),
        ("DespitetheremarkablecapabilitiesofproprietaryLLMs",
         "Despite the remarkable capabilities of proprietary LLMs"),
        ("Abstract—IntheeraofLargeLanguageModels(LLMs),KnowledgeDistillation(KD)emergesasa",
         "Abstract—In the era of Large Language Models (LLMs), KnowledgeDistillation (KD) emerges as a"),
        ("skillordomain(Taorietal.,2023).Secondly,KDstillretains",
         "skill or domain (Taorietal.,2023). Secondly, KD still retains"),
        ("beaconforresearchersandpractitionersalike,guidingthem",
         "beacon for researchers and practitioners alike, guiding them"),
        ("technology.Despite", "technology. Despite"),
    ],
)
def test_real_glued_text_is_split(glued, split):
    assert split_glued(glued) == split


@pytest.mark.parametrize(
    "token",
    [
        "characteristics", "hyperparameters", "verticalization", "overparameterized",
        "counterfactually", "StackOverflow", "InstructGPT", "KnowledgeDistillation",
        "OpenAssistant", "GPT-4", "LLaMA2-7B", "GPT4All", "x_train_augmentation",
        "state-of-the-art", "Wangetal.,2023c", "(Gouetal.,2021;GuptaandAgrawal,2022)",
        "https://github.com/Tebmer/Awesome-Knowledge-Distillation-of-LLMs.",
        "{shawnxxh,chongyangtao,hishentao}@gmail.com", "www.anthropic.com/claudeinslack",
        "1,234,567.89", "\\textbf{distillation}", "Forinstance", "e.g.,the", "Fig.3",
        "shortcom-", "Rozièreetal.,2023",
    ],
)
def test_words_names_and_identifiers_stay(token):
    assert split_glued(token) == token
    assert split_glued(f"as in {token} here") == f"as in {token} here"


def test_idempotent_on_the_reference_sample():
    text = (
        "improvement.Oursurveyismeticulouslystructuredaroundthreefoundationalpillars:"
        "algorithm,skill,andverticalization–providinga comprehensiveexamination"
    )
    once = split_glued(text)
    assert once.startswith("improvement. Our survey is meticulously structured around three")
    assert split_glued(once) == once


def test_page_starts_follow_the_inserted_spaces():
    pages = [(1, "Intheeraofmodels we write.\n"), (2, "Theprocessofeliciting knowledge.\n")]
    result = normalize_document(pages)
    assert result.text == "In the era of models we write.\n\nThe process of eliciting knowledge."
    offset = dict((number, at) for at, number in result.page_starts)[2]
    assert result.text[offset:].startswith("The process")


def test_insert_spaces():
    assert insert_spaces("abcd", [1, 3]) == "a bc d"
    assert insert_spaces("abcd", []) == "abcd"


glued_text = st.lists(
    st.sampled_from(["the", "process", "of", "eliciting", "Large", "LLMs", ".", ",", "(", ")",
                     "-", "2023", " ", "\n", "knowledge", "distillation", "é", "@", "x"]),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(glued_text, st.text(max_size=80)))
def test_split_only_inserts_spaces(text):
    out = split_glued(text)
    assert out.replace(" ", "") == text.replace(" ", "")
    spaces = glued_spaces(text)
    assert len(out) == len(text) + len(spaces)
    assert split_glued(out) == out

"""The olmOCR-style scorer (bench/olmocr_tests.py) and the structure set (tests/structure_set.py).

Checks the scorer on small strings (thresholds, normalization, windows, order), that every
case is deterministic and self-consistent (its ground-truth body text passes all of its
own tests), and that the PDFs really contain the text the tests look for. It does not
score the pipeline: that is bench/structure.py's printout.
"""

from __future__ import annotations

import random
from io import BytesIO

import pytest
from pypdf import PdfReader
from rapidfuzz import fuzz

from bench.olmocr_tests import (
    ValidationError,
    load_single_test,
    load_tests,
    near_match_starts,
    normalize_text,
    score,
    Result,
)
from tests.structure_set import build_set, case_names


def make(kind: str, **fields):
    return load_single_test({"pdf": "x.pdf", "page": 1, "id": "t", "type": kind, **fields})


# --------------------------------------------------------------------------- scorer


def test_normalize_text_like_upstream():
    assert normalize_text("a\n\n  b\tc") == "a b c"
    assert normalize_text("\u201cquoted\u201d \u2018x\u2019") == "\"quoted\" 'x'"
    assert normalize_text("a\u2013b\u2014c\u2212d") == "a-b-c-d"
    assert normalize_text("**bold** and *it*") == "bold and it"
    assert normalize_text("line<br>next") == "line next"
    assert normalize_text("\u00b5m") == "\u03bcm"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC


def test_present_exact_and_missing():
    t = make("present", text="The student model improves.")
    assert t.run("Intro.\nThe student   model\nimproves. More.")[0]
    assert not t.run("The student model improve. More text here to be long enough.")[0]


def test_absent_is_the_negation():
    t = make("absent", text="Preprint. Under review.")
    assert not t.run("Body text. Preprint. Under review. More body.")[0]
    assert t.run("Body text without the footer line, long enough to compare.")[0]


def test_max_diffs_threshold_matches_partial_ratio():
    text = "knowledge distillation"  # 22 characters
    candidate = "we study knowledge distilation here"  # one letter missing
    ratio = fuzz.partial_ratio(text, candidate) / 100
    assert ratio < 1.0
    assert not make("present", text=text, max_diffs=0).run(candidate)[0]
    # threshold = 1 - max_diffs / len(text); pass exactly when the ratio reaches it
    for diffs in range(0, 4):
        expected = ratio >= 1 - diffs / len(text)
        assert make("present", text=text, max_diffs=diffs).run(candidate)[0] == expected
    assert make("present", text=text, max_diffs=2).run(candidate)[0]


def test_case_sensitivity():
    assert not make("present", text="Knowledge Distillation").run("about knowledge distillation today")[0]
    assert make("present", text="Knowledge Distillation", case_sensitive=False).run(
        "about knowledge distillation today")[0]


def test_length_guard():
    # partial_ratio alone would call " " a perfect match of any text with a space in it.
    assert fuzz.partial_ratio("a long phrase", " ") == 100
    assert not make("present", text="a long phrase").run("\n")[0]
    assert make("absent", text="a long phrase").run("\n")[0]


def test_first_n_last_n_windows():
    doc = "HEADER LINE " + "body " * 50 + "FOOTER LINE"
    assert make("present", text="FOOTER LINE", last_n=20).run(doc)[0]
    assert not make("present", text="FOOTER LINE", first_n=20).run(doc)[0]
    assert make("absent", text="HEADER LINE", last_n=40).run(doc)[0]
    assert make("present", text="HEADER LINE", first_n=15, last_n=15).run(doc)[0]


def test_order_pass_fail_and_missing():
    t = make("order", before="first sentence", after="second sentence")
    assert t.run("The first sentence. Then the second sentence.")[0]
    assert not t.run("The second sentence. Then the first sentence.")[0]
    assert not t.run("Only the first sentence is here.")[0]
    # Any before-match ahead of any after-match passes (upstream's double loop).
    assert t.run("second sentence, first sentence, second sentence")[0]


def test_order_fuzzy_distance():
    t = make("order", before="teacher model", after="student model", max_diffs=1)
    assert t.run("the teacher mdel guides the student model")[0]
    assert not make("order", before="teacher model", after="student model").run(
        "the teacher mdel guides the student model")[0]


def test_order_rejects_too_many_diffs():
    with pytest.raises(ValidationError):
        make("order", before="abcd", after="abcdefgh", max_diffs=3)


def test_record_validation_and_duplicates():
    with pytest.raises(ValidationError):
        make("present", text="   ")
    with pytest.raises(ValidationError):
        make("table", cell="x")
    record = {"pdf": "x.pdf", "page": 1, "id": "same", "type": "present", "text": "a"}
    with pytest.raises(ValidationError):
        load_tests([record, dict(record)])


def _brute_starts(pattern: str, text: str, k: int) -> list[int]:
    def dist(a, b):
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    return [s for s in range(len(text) + 1)
            if any(dist(pattern, text[s:e]) <= k for e in range(s, len(text) + 1))]


def test_near_match_starts_against_brute_force():
    rng = random.Random(7)
    for _ in range(150):
        pattern = "".join(rng.choice("ab c") for _ in range(rng.randint(2, 7)))
        text = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 20)))
        k = rng.randint(0, len(pattern) // 2)
        assert near_match_starts(pattern, text, k) == _brute_starts(pattern, text, k), (pattern, text, k)


def test_score_overall_is_mean_of_groups():
    a = make("present", text="x")
    results = [Result(a, "g1", True, ""), Result(a, "g1", False, ""), Result(a, "g2", True, "")]
    s = score(results)
    assert s["pooled"] == pytest.approx(2 / 3)
    assert s["overall"] == pytest.approx((0.5 + 1.0) / 2)
    assert s["types"]["present"] == (2, 3)


# --------------------------------------------------------------------------- the set


@pytest.fixture(scope="module")
def cases():
    return build_set()


def test_set_covers_every_generator_and_single_pages(cases):
    assert [c.name for c in cases] == case_names()
    assert sum(c.pages == 1 for c in cases) >= 8
    assert max(c.pages for c in cases) == 3
    kinds = {t["type"] for c in cases for t in c.tests}
    assert kinds == {"present", "absent", "order"}


def test_cases_are_deterministic(cases):
    again = build_set()
    for a, b in zip(cases, again):
        assert a.pdf == b.pdf, a.name
        assert a.tests == b.tests, a.name
        assert a.body_text == b.body_text, a.name


def test_test_ids_unique_and_records_load(cases):
    ids = [t["id"] for c in cases for t in c.tests]
    assert len(ids) == len(set(ids))
    load_tests([t for c in cases for t in c.tests])


@pytest.mark.parametrize("name", case_names())
def test_ground_truth_passes_its_own_tests(cases, name):
    case = next(c for c in cases if c.name == name)
    for test in load_tests(case.tests):
        passed, why = test.run(case.body_text)
        assert passed, f"{test.id}: {why}"


def _loose(text: str) -> str:
    # pypdf keeps line-end hyphens and may glue or split words: compare letters only.
    return "".join(ch for ch in normalize_text(text).lower() if ch.isalnum())


@pytest.mark.parametrize("name", case_names())
def test_pdfs_contain_the_tested_text(cases, name):
    """Every word of every present, order and absent text is in the PDF (pypdf's text,
    letters and digits only, so that line-end hyphens, glued words and column breaks in
    pypdf's output do not matter): the tests measure order and removal, not text the PDF
    lacks."""
    case = next(c for c in cases if c.name == name)
    pages = PdfReader(BytesIO(case.pdf)).pages
    assert len(pages) == case.pages
    plain = _loose("\n".join(page.extract_text() for page in pages))
    for t in case.tests:
        for key in ("text", "before", "after"):
            for word in t.get(key, "").split():
                assert _loose(word) in plain, f"{t['id']}: {word!r} of {t[key]!r}"


def test_loose_check_can_fail():
    assert _loose("knowledge") not in _loose("The student learns from the teacher.")


def test_pypdf_keeps_the_furniture(cases):
    """The furniture is real text: plain pypdf output fails every absent test of the
    furniture page, so a pass there means something was removed."""
    case = next(c for c in cases if c.name == "furniture_single")
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(case.pdf)).pages)
    absent = [t for t in load_tests(case.tests) if t.type == "absent"]
    assert len(absent) == 9
    assert not any(t.run(text)[0] for t in absent)

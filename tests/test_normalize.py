"""Tests for pipeline.normalize: one group per rule, with before/after examples taken from
the pypdf extraction of arXiv:2402.13116 (../shared/reference/), a body-word retention
measurement on that whole extraction, and property tests for normalize_text."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import normalize
from pipeline.normalize import (
    GLUE_EVIDENCE,
    NormalizedText,
    dehyphenate,
    detect_mojibake,
    normalize_document,
    normalize_text,
    paragraph_break,
    rejoin_column_hyphens,
    remove_arxiv_stamps,
    repair_mojibake,
    split_glued_words,
)
from pipeline.words import split_glued

DATA = Path(__file__).parent / "data"
REFERENCE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "reference"
    / "kd-survey-arxiv-2402.13116-extracted.txt"
)
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}


def read_data(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def reference_pages(text: str) -> list[tuple[int, str]]:
    """Split the reference extraction into pages. It has no form feeds: each page starts
    with a line holding only its page number (1, 2, ... in order), so the next expected
    number on a line of its own starts the next page (a "12" elsewhere, such as the day
    in page 1's stamp, comes before page 12 is due and stays)."""
    pages: list[tuple[int, list[str]]] = []
    expected = 1
    for line in text.split("\n"):
        if line.strip() == str(expected):
            pages.append((expected, [line]))
            expected += 1
        elif pages:
            pages[-1][1].append(line)
    return [(number, "\n".join(lines)) for number, lines in pages]


# --- characters ------------------------------------------------------------------------


def test_mojibake_from_the_reference_is_repaired():
    before = "This paper presents a comprehensive survey of KD‚Äôs role within the realm of"
    assert detect_mojibake(before) == "mac_roman"
    assert normalize_text(before) == (
        "This paper presents a comprehensive survey of KD’s role within the realm of"
    )
    # (the glued words are split afterwards: pipeline.words)
    assert normalize_text("Abstract‚ÄîIntheeraofLargeLanguageModels") == (
        "Abstract—In the era of Large Language Models"
    )
    # Greek and 4-byte math letters (NFKC then makes "𝑦" a plain "y").
    assert repair_mojibake("Œ∏ T and \uf8ffùë¶", "mac_roman") == "θ T and 𝑦"
    # The evidence can be anywhere in the text (normalize_document: in any page).
    assert (
        normalize_text("the student‚Äôs y ‚àºp T (y|I‚äïc‚äïx)") == "the student’s y ∼p T (y|I⊕c⊕x)"
    )
    # No Mac Roman evidence, but "àº" is UTF-8 read as Latin-1: ftfy repairs it.
    assert normalize_text("y ‚àºp T") == "y ∼p T"
    assert normalize_text("the café is open") == "the café is open"  # real accents: left alone
    assert normalize_text("the cafÃ© is open") == "the café is open"  # Latin-1 mojibake (ftfy)


def test_windows_1252_mojibake_is_repaired():
    assert normalize_text("the studentâ€™s capabilities â€” and more") == (
        "the student’s capabilities — and more"
    )


def test_text_without_mojibake_evidence_is_left_alone():
    # Each pair below would decode as UTF-8 if read back as Mac Roman bytes ("√π" is
    # C3 B9, "ù"), but with no "‚Äô"-style evidence nothing is repaired.
    genuine = "Œuvre complète: “Élan” and √π ≈ 1.77, naïve café"
    assert detect_mojibake(genuine) is None
    assert normalize_text(genuine) == genuine


def test_control_zero_width_and_bidi_characters_go():
    assert normalize_text("knowl\u00adedge distil\u200blation") == "knowledge distillation"
    assert (
        normalize_text("\ufeffLarge\u200c Language\u200d Models\u2060") == "Large Language Models"
    )
    assert normalize_text("\u202eLLM\u202c \u2066KD\u2069 \u200eA\u200f\u061c") == "LLM KD A"
    assert normalize_text("a\x00b\x07c\x1bd\x7fe\x9ff") == "abcdef"
    assert normalize_text("GPT\t-4\tand\u3000Gemini") == "GPT -4 and Gemini"


def test_line_breaks_of_every_kind_are_line_breaks():
    assert normalize_text("advanced\r\ncapabilities\rfrom\x0cleading\x85LLMs") == (
        "advanced capabilities from leading LLMs"
    )
    assert normalize_text("Mistral.\u2029Additionally") == "Mistral.\n\nAdditionally"
    # A soft hyphen at a line end marks a break inside one word.
    assert normalize_text("capa\u00ad\r\nbilities") == "capabilities"


def test_spacing_accents_join_their_letter():
    # Reference, page 17: "etal.,2022b;Ko¬®pfetal.,2023" (Köpf, after the mojibake repair).
    assert "Köpfetal.,2023" in normalize_text("Bai etal.,2022b;Ko¬®pfetal.,2023;Yuan‚Äôs")
    # Reference, page 7: "Rozie`re et al., 2023".
    assert (
        normalize_text("et al., 2023c; Rozie`re et al., 2023")
        == "et al., 2023c; Rozière et al., 2023"
    )
    assert (
        normalize_text("Andr´e and a na¨ıve model at the ´Ecole")
        == "André and a naïve model at the École"
    )
    # A backtick quotes code unless it sits between two letters.
    assert normalize_text("run `make` now") == "run `make` now"


def test_nfkc_ligatures_and_full_width_forms():
    assert normalize_text("supervised \ufb01ne-tuning, e\ufb00ective, \ufb02ourish") == (
        "supervised fine-tuning, effective, flourish"
    )
    assert normalize_text("\uff27\uff30\uff34\uff0d\uff14") == "GPT-4"
    assert normalize_text("Input Set \uf8ffùêº, KD‚Äôs") == "Input Set I, KD’s"


# --- lines -----------------------------------------------------------------------------


def test_reversed_arxiv_stamp_split_over_lines_goes():
    # The end of the reference's page 1: the rotated stamp comes out reversed, one piece a
    # line ("arXiv:2402.13116v4 [cs.CL] 21 Oct 2024"), then page 2 starts with "2".
    excerpt = read_data("normalize_kd_survey_p1_end_p2_start.txt")
    assert "4v61131.2042:viXra" in excerpt
    cleaned = remove_arxiv_stamps(excerpt)
    assert "viXra" not in cleaned and "]LC.sc[" not in cleaned and "tcO" not in cleaned
    assert "\n4202\n" not in cleaned and "\n12\n" not in cleaned
    assert "advantages.Oneoftheprimary\n2\nbenefits of open-source" in cleaned
    # Every other line is still there.
    assert len(cleaned.split("\n")) == len(excerpt.split("\n")) - 5


@pytest.mark.parametrize(
    "before, after",
    [
        # Glued into a body line: only the stamp goes.
        (
            "open-source modelsarXiv:2402.13116v3 [cs.CL] 8 Mar 2024These models",
            "open-source models These models",
        ),
        ("arXiv:2402.13116v3 [cs.CL] 8 Mar 2024\nbody", "body"),
        # Reversed on one line, and glued.
        ("4202 raM 8 ]LC.sc[ 3v61131.2042:viXra\nbody", "body"),
        ("body 4202 raM 8 ]LC.sc[ 3v61131.2042:viXra text", "body text"),
        # Spaced letters.
        ("a r X i v : 2 4 0 2 . 1 3 1 1 6 v 3 [ c s . C L ] 8 M a r 2 0 2 4\nbody", "body"),
        # Old-style identifiers.
        ("arXiv:hep-th/9901001v2 [hep-th] 12 Jan 1999 body", "body"),
    ],
)
def test_arxiv_stamp_forms(before, after):
    assert " ".join(remove_arxiv_stamps(before).split()) == after


def test_arxiv_citations_are_not_stamps():
    citation = "Xu, X. et al. A survey. arXiv preprint arXiv:2402.13116, 2024. arXiv:2402.13116v3."
    assert normalize_text(citation) == citation


def _pages(*texts: str) -> list[tuple[int, str]]:
    return [(i + 1, text) for i, text in enumerate(texts)]


# Distinct body lines (reference, page 1) to fill generated pages; none ends in a hyphen.
BODY_LINES = """Gemini (Team et al., 2023) and Claude2 have emerged as
offered by open-source models. A significant drawback is
their limited accessibility and higher cost (OpenAI et al.,
new realms of possibility, from generating human-like text
to offering sophisticated problem-solving capabilities. The
able for individuals and smaller organizations. In terms of
data privacy and security (Wu et al., 2023a), using these
ities (Wei et al., 2022a,b; Xu et al., 2024a), a phenomenon
proprietary LLMs frequently entails sending sensitive data
where the models display capabilities beyond their explicit
training objectives, enabling them to tackle a diverse array
groundbreakingtechnologies,reshapingourunderstanding
ings, particularly when viewed in light of the advantages
for more accessible, efficient, and powerful AI solutions. Most importantly, we firmly
diverse fields. Crucially, the survey navigates the interaction between data augmentation
future research directions. By bridging the gap between proprietary and open-source LLMs
In contrast to proprietary LLMs, open-source models
benefits of open-source models is their accessibility and
restrictive usage policies, these models are more readily""".split("\n")


def _body(page: int, size: int = 2) -> str:
    return "\n".join(BODY_LINES[(page - 1) * size : page * size])


def test_page_number_lines_go():
    pages = _pages(
        "1\n" + _body(1),
        "2\n" + _body(2),
        _body(3) + "\n- 3 -",
        _body(4) + "\nPage 4 of 40",
        "Page 5\n" + _body(5),
        _body(6) + "\n6 / 40",
    )
    text = normalize_document(pages).text
    assert not re.search(r"\b[1-6]\b|Page", text), text
    assert text.split() == split_glued(" ".join(BODY_LINES[:12])).split()


def test_bare_numbers_stay_unless_they_follow_the_pages():
    # Reference, page 11: a rotated figure label comes out one piece a line, with a "20"
    # and a "2" in the middle of the page: body text, not page numbers.
    label = read_data("normalize_kd_survey_p11_rotated_label.txt")
    assert "\n20\n" in label
    pages = [(9, "9\nfirst page."), (10, "10\n" + label), (11, "11\nthird page.")]
    text = normalize_document(pages).text
    assert " 20 " in text and " 2 " in text
    assert not re.search(r"\b(9|10|11)\b", text)
    # A year alone at one page end, not following the pages: kept.
    pages = _pages("1\nA survey.", "2\nWe cite the year\n2023", "3\nThe end.")
    assert normalize_document(pages).text.endswith("year 2023 The end.")
    # One page: a bare number goes only when it is that page's number.
    assert normalize_document([(4, "4\nText here.")]).text == "Text here."
    assert normalize_document([(4, "7\nText here.")]).text == "7 Text here."
    # Front matter numbered in roman numerals.
    pages = [(1, "i\nPreface text."), (2, "ii\nMore preface."), (3, "iii\nContents.")]
    assert normalize_document(pages).text == "Preface text.\n\nMore preface.\n\nContents."


def test_pasted_text_keeps_bare_numbers_but_drops_page_labels():
    assert normalize_text("the end of a\nPage 12\npage.") == "the end of a page."
    assert normalize_text("see Table\n12\nbelow") == "see Table 12 below"


def test_running_headers_and_footers_go():
    header = "A Survey on Knowledge Distillation of Large Language Models"
    footer = "Preprint. Under review. Page 3 of 9"
    pages = []
    for n in range(1, 7):
        top = f"{header}\n{n}\n" if n > 1 else f"{n}\n"
        # The header's words in the middle of a page are body text.
        middle = f"\n{header}\n" if n == 3 else "\n"
        first, second, third = BODY_LINES[3 * n - 3 : 3 * n]
        pages.append((n, f"{top}{first}\n{second}{middle}{third}\n" + footer.replace("3", str(n))))
    text = normalize_document(pages).text
    assert "Preprint" not in text
    assert text.count(header) == 1
    assert text.replace(header, "").split() == split_glued(" ".join(BODY_LINES[:18])).split()


def test_one_line_pages_are_not_taken_for_running_headers():
    # Every page is one line that differs only in its digits: dropping them as headers
    # would leave nothing at all.
    pages = [(n, f"This is sheet {n:04d} of the inventory, kept for the record.") for n in range(1, 9)]
    text = normalize_document(pages).text
    assert text.count("of the inventory, kept for the record.") == 8


def test_lines_repeated_on_few_pages_stay():
    pages = [
        (n, f"{'Table 1: results' if n <= 2 else 'Other'}\n{_body(n, 2)}") for n in range(1, 7)
    ]
    text = normalize_document(pages).text
    assert text.count("Table 1: results") == 2


# --- joining ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, right, vocab, expected",
    [
        ("capa", "bilities of", {"capabilities": 2}, "join"),
        ("open", "source counterparts", {"open-source": 5}, "keep"),
        ("open", "source", {"open": 1, "source": 1}, "keep"),
        ("state", "of-the-art models", {"state-of-the-art": 2, "of": 30}, "keep"),
        ("revo", "lutionize", {}, "join"),
        ("GPT", "4 (OpenAI", {}, "keep"),
        ("Self", "Instruct", {}, "keep"),
        ("2023", "2024", {}, "keep"),
        ("in", "depth statements", {"in": 9, "depth": 1}, "keep"),
        ("be", "tween", {"between": 3, "be": 4}, "join"),
        ("char", "(e.g.", {}, None),
        # Nothing elsewhere in the document: the word list decides.
        ("discus", "sion of this topic.", {}, "join"),
        ("alkyl", "substituted allyloxysilane", {"alkyl": 1}, "keep"),
        ("odd", "numbered pages", {}, "keep"),
        ("zero-width-non", "joiner and", {}, "keep"),
    ],
)
def test_dehyphenation_policy(left, right, vocab, expected):
    assert dehyphenate(left, right, Counter(vocab), interleaved=False) == expected


def test_dehyphenation_in_interleaved_columns_needs_the_document():
    # Reference, page 1: "attain-" is followed by the other column's line "to offering ...".
    assert dehyphenate("attain", "to offering", Counter({"to": 9}), interleaved=True) is None
    assert dehyphenate("GPT", "Despite", Counter(), interleaved=True) is None
    assert dehyphenate("propri", "etary", Counter({"proprietary": 9}), interleaved=True) == "join"


def test_line_end_hyphens_in_text():
    text = (
        "harness the capa-\nbilities of LLMs; capabilities again. Like GPT-\n4 and Self-\nInstruct."
    )
    assert normalize_text(text) == (
        "harness the capabilities of LLMs; capabilities again. Like GPT-4 and Self-Instruct."
    )
    assert normalize_text("open-source models and open-\nsource data") == (
        "open-source models and open-source data"
    )


def test_column_hyphen_is_rejoined_with_its_continuation():
    # Reference, page 2: pypdf put the right column's line after "Knowl-", and the rest
    # of the word starts the next line.
    lines = [
        "models(Gouetal.,2021;GuptaandAgrawal,2022).Knowl- Through a suite of distillation",
        "edge distillation, in this context, involves leveraging the proprietary and",
    ]
    assert rejoin_column_hyphens(lines, Counter({"knowledge": 4})) == [
        "models(Gouetal.,2021;GuptaandAgrawal,2022).Knowledge Through a suite of distillation",
        "distillation, in this context, involves leveraging the proprietary and",
    ]
    # Unconfirmed by the document, or a suspended hyphen: nothing moves.
    assert rejoin_column_hyphens(lines, Counter()) == lines
    suspended = ["both first- and second-order methods", "edge"]
    assert rejoin_column_hyphens(suspended, Counter({"firstedge": 1})) == suspended


def test_paragraph_breaks():
    typical = 60.0
    # Reference, page 1: a sentence ends on a short line.
    assert paragraph_break(
        "ourinteractionwithtechnology.",
        "DespitetheremarkablecapabilitiesofproprietaryLLMs",
        typical,
        False,
    )
    assert not paragraph_break(
        "of natural language processing (NLP). These models, char-", "acterized", typical, False
    )
    assert not paragraph_break("as proposed by Xu et al.", "(2023) in", typical, False)
    # Headings, before and after.
    assert paragraph_break(
        "Figure2showsan overviewofthissurvey.", "2.1 ComparingTraditionalRecipe", typical, False
    )
    assert paragraph_break(
        "2.1 ComparingTraditionalRecipe", "distillation within the realm of LLMs", typical, False
    )
    assert paragraph_break("to the seed knowledge:", "• Labeling", typical, False)
    # A page that ends a sentence ends the paragraph, however long its last line.
    long_line = "x" * 80 + " and this is the end."
    assert paragraph_break(long_line, "Next", typical, True)
    assert not paragraph_break(long_line, "Next", typical, False)


def test_output_is_paragraphs_separated_by_blank_lines():
    text = "1 INTRODUCTION\nIn the evolving landscape of artificial\n\n\n\nintelligence  (AI),\tproprietary.\n"
    assert normalize_text(text) == (
        "1 INTRODUCTION\n\nIn the evolving landscape of artificial\n\nintelligence (AI), proprietary."
    )


def test_pages_join_mid_sentence_and_record_where_they_start():
    pages = [
        (
            3,
            "3\nThe benefits of knowledge distillation in the era of\nLLMs are multifaceted and trans-\n",
        ),
        (
            4,
            "4\nformative (Gu et al., 2024). Through a suite of distillation\ntechniques, the gap\n",
        ),
        (5, "5\nbetween models is narrowed.\n"),
        (6, "6\nA new paragraph starts here.\n"),
        (7, "7\n"),
        (8, "8\nLast page."),
    ]
    result = normalize_document(pages)
    assert isinstance(result, NormalizedText)
    assert result.text == (
        "The benefits of knowledge distillation in the era of LLMs are multifaceted and "
        "transformative (Gu et al., 2024). Through a suite of distillation techniques, the gap "
        "between models is narrowed.\n\nA new paragraph starts here.\n\nLast page."
    )
    starts = dict((number, offset) for offset, number in result.page_starts)
    assert list(starts) == [3, 4, 5, 6, 8]  # page 7 kept no text
    assert result.text[starts[4] :].startswith("formative (Gu")
    assert result.text[starts[5] :].startswith("between models")
    assert result.text[starts[6] :].startswith("A new paragraph")
    assert result.text[starts[8] :] == "Last page."
    assert [offset for offset, _ in result.page_starts] == sorted(starts.values())


def test_empty_input():
    assert normalize_document([]) == NormalizedText("", ())
    assert normalize_document([(1, ""), (2, "  \n\n")]) == NormalizedText("", ())
    assert normalize_text("") == ""
    assert normalize_text("\u200b\n\n \x00") == ""


# --- the whole reference ---------------------------------------------------------------


def _word_key(word: str) -> str:
    """Compare words without case, punctuation or accents ("KD’s," -> "kds")."""
    folded = unicodedata.normalize("NFKD", word).lower()
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())


needs_reference = pytest.mark.skipif(
    not REFERENCE.exists(), reason=f"reference extraction not found at {REFERENCE}"
)


@needs_reference
def test_reference_body_words_survive(monkeypatch):
    """Share of the reference's body words found in normalize_document's output.

    Body words: the whitespace-separated tokens of every page minus its page-number line
    and the five lines of page 1's arXiv stamp (the reference has no running header),
    with the mojibake repaired first (the repair maps characters, it drops none), compared
    as a multiset of lower-cased alphanumeric keys. A word split by a hyphen ("capa-" +
    "bilities", at a line end or at a column break) counts as both parts surviving when
    the joined word is in the output.
    """
    raw = REFERENCE.read_text(encoding="utf-8")
    pages = reference_pages(raw)
    assert len(pages) == 17
    # Measured before glued words are split (that rule only inserts spaces: checked here
    # and in tests/test_words.py), so that words compare with the extraction's tokens.
    split = normalize_document(pages)
    monkeypatch.setattr(normalize, "split_glued_words", lambda normalized, evidence=0.0: normalized)
    result = normalize_document(pages)
    assert split.text.replace(" ", "") == result.text.replace(" ", "")

    body_pages = []
    for number, text in pages:
        lines = text.split("\n")[1:]
        if number == 1:
            assert lines[-5:] == ["4202", "tcO", "12", "]LC.sc[", "4v61131.2042:viXra"]
            lines = lines[:-5]
        body_pages.append([repair_mojibake(line, "mac_roman").split() for line in lines])
    tokens = [word for page in body_pages for line in page for word in line]
    lines = [line for page in body_pages for line in page if line]
    pairs = [
        (word, following[0])
        for line, following in zip(lines, lines[1:])
        for word in line
        if word.endswith("-")
    ]
    expected = Counter(key for key in map(_word_key, tokens) if key)
    found = Counter(key for key in map(_word_key, result.text.split()) if key)

    joined = 0
    for left, right in pairs:
        head, tail = _word_key(left), _word_key(right)
        if (
            head
            and tail
            and found[head + tail]
            and expected[head]
            and expected[tail]
            and found[head] < expected[head]
        ):
            found[head + tail] -= 1
            expected[head] -= 1
            expected[tail] -= 1
            joined += 2
    total = sum(expected.values()) + joined
    kept = sum(min(n, found[key]) for key, n in expected.items()) + joined
    missing = expected - found
    share = kept / total
    print(
        f"\nbody-word retention on the reference: {kept}/{total} = {share:.4%} "
        f"({joined // 2} hyphenated words joined); missing: {dict(missing)}"
    )
    assert share >= 0.999


@needs_reference
def test_reference_output_shape():
    result = normalize_document(reference_pages(REFERENCE.read_text(encoding="utf-8")))
    text = result.text
    assert "viXra" not in text and "‚Ä" not in text
    assert [number for _, number in result.page_starts] == list(range(1, 18))
    assert result.page_starts[0] == (0, 1)
    assert re.fullmatch(r"[^\n]+(\n\n[^\n]+)*", text)
    assert "  " not in text and " \n" not in text and "\n " not in text
    assert text.startswith(
        "A Survey on Knowledge Distillation of Large Language Models Xiaohan Xu1"
    )
    # The page-2 number went, the words around it joined over the page break.
    assert "One of the primary benefits of open-source models" in text
    assert not any(unicodedata.category(ch) in INVISIBLE_CATEGORIES and ch != "\n" for ch in text)


# --- properties ------------------------------------------------------------------------

# Mostly the characters the rules look at, plus anything at all.
_interesting = st.sampled_from(
    list("ab Ee-\n\n\t .,:;12")
    + [
        "Page",
        "arXiv:",
        "‚Äô",
        "â€™",
        "\u00ad",
        "\u200b",
        "\u202e",
        "\r",
        "\x0c",
        "\u2029",
        "¨",
        "`",
        "™",
        "ﬁ",
        "Œ∏",
        "-\n",
        "4202",
        "]LC.sc[",
        "viXra",
    ]
)
texts = st.lists(st.one_of(_interesting, st.characters()), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_normalize_text_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=300, deadline=None)
@given(texts)
def test_normalize_text_leaves_no_invisible_characters(text):
    out = normalize_text(text)
    assert not any(unicodedata.category(ch) in INVISIBLE_CATEGORIES and ch != "\n" for ch in out)
    assert "\n\n\n" not in out and out == out.strip()


# Letters, but never a pair that is what UTF-8 read as Latin-1 looks like ("Âª" for "ª"):
# such text is repaired on purpose (normalize.ftfy_encoding), so it is not plain text.
words = st.text(st.characters(categories=["L"]), min_size=1, max_size=12).filter(
    lambda w: not normalize._UTF8_AS_LATIN.search(w)
)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", " \n ", "\t", "\n\n\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(words, separators), max_size=40))
def test_every_word_of_plain_text_survives(parts):
    text = "".join(word + sep for word, sep in parts)
    expected = unicodedata.normalize("NFKC", text).split()
    assert normalize_text(text).split() == expected


def _not_roman(word: str) -> bool:
    return not re.fullmatch(r"[ivxlc]+", word)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(words.filter(_not_roman), separators),
        unique_by=lambda p: p[0].casefold(),
        max_size=60,
    ),
    st.lists(st.integers(0, 12), max_size=8),
)
def test_every_word_of_plain_pages_survives(parts, sizes):
    # Words are unique so that no line repeats as a running header would.
    texts, start = [], 0
    for size in sizes + [len(parts)]:
        texts.append("".join(word + sep for word, sep in parts[start : start + size]))
        start += size
    result = normalize_document(list(enumerate(texts, start=1)))
    expected = [w for t in texts for w in unicodedata.normalize("NFKC", t).split()]
    assert result.text.split() == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(texts, max_size=6))
def test_normalize_document_output_shape(pages):
    result = normalize_document(list(enumerate(pages, start=1)))
    assert re.fullmatch(r"([^\n]+(\n\n[^\n]+)*)?", result.text)
    assert result.text == result.text.strip()
    offsets = [offset for offset, _ in result.page_starts]
    assert offsets == sorted(offsets)
    assert all(0 <= offset < len(result.text) for offset in offsets)
    numbers = [number for _, number in result.page_starts]
    assert numbers == sorted(set(numbers))


def test_text_read_with_its_layout_is_split_only_where_it_shows_glue():
    # A term the word list does not know, among well-spaced words: left whole.
    around = " ".join(["The class sets the page, the fonts and the title block for the journal."] * 6)
    spaced = NormalizedText(f"Template demonstrating the quantumarticle document class, with archivability. {around}",
                            ((0, 1),))
    assert split_glued_words(spaced, GLUE_EVIDENCE).text == spaced.text
    assert split_glued_words(spaced).text != spaced.text  # pypdf's text: split at any rate
    # Glue all over: split.
    glued = NormalizedText("IntheeraofLargeLanguageModels our interactionwithtechnology changed.", ((0, 1),))
    assert split_glued_words(glued, GLUE_EVIDENCE).text.startswith("In the era of Large Language Models")

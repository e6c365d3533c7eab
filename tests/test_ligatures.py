"""Ligatures a font left without Unicode, restored from the words they stand in."""

from __future__ import annotations

from pipeline import ligatures
from pipeline.normalize import normalize_document

# As PDFium gives them for Shannon's 1948 paper set in a font with "Th", "tt" and "ft"
# glyphs: each glyph's code, a C1 control character.
TH, TT, FT = "\x91", "\x8c", "\x8e"
PAGES = [f"A Mathematical {TH}eory of Communication\n{TH}e fundamental problem of communication. "
         f"{TH}ese semantic aspects are irrelevant. {TH}is is closely related.",
         f"A sequence of le{TT}ers as in a telegraph, for transmi{TT}ing, is sent a{FT}er the "
         f"shi{FT} to the le{FT} side. {TH}e le{TT}er is transmi{TT}ed."]


def test_each_lost_glyph_is_the_ligature_that_makes_its_words_words():
    out = ligatures.restore(PAGES)
    assert out[0] == ("A Mathematical Theory of Communication\nThe fundamental problem of communication. "
                      "These semantic aspects are irrelevant. This is closely related.")
    assert out[1] == ("A sequence of letters as in a telegraph, for transmitting, is sent after the "
                      "shift to the left side. The letter is transmitted.")


def test_a_th_met_inside_words_is_lower_case():
    other = "\x92"
    assert ligatures.restore([f"the o{other}er one, wi{other} {other}e rest"]) == ["the other one, with the rest"]


def test_a_code_no_ligature_makes_words_of_and_a_code_alone_are_left():
    pages = ["qz\x93xv and wq\x93kj, then \x94 alone"]
    assert ligatures.restore(pages) == pages


def test_text_without_lost_glyphs_is_returned_as_it_is():
    pages = ["Plain text, with no control character in it."]
    assert ligatures.restore(pages) == pages


def test_normalization_restores_them_and_mojibake_is_left_to_its_repair():
    text = normalize_document([(1, PAGES[0])]).text
    assert text.startswith("A Mathematical Theory of Communication") and "These semantic" in text
    # UTF-8 read as Latin-1 leaves C1 characters too ("’" as "â\x80\x99"): bytes of a
    # broken character, two or more to a word, not a glyph each.
    broken = "The model\u00e2\u0080\u0099s output is the teacher\u00e2\u0080\u0099s, and the student\u00e2\u0080\u0099s."
    assert ligatures.restore([broken]) == [broken]

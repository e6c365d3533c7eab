"""pipeline.layout: lines, spaces, blocks and reading order from real generated PDFs."""

from __future__ import annotations

from io import BytesIO

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from pipeline import layout
from pipeline.layout import Block, Line, PageLayout, order_blocks
from tests.pdf_factory import paper
from tests.structure_set import build_set


def pages_of(pdf: bytes) -> list[PageLayout]:
    doc = layout.open_layout(pdf)
    return [layout.read_layout(doc, n) for n in range(1, len(doc) + 1)]


def line_texts(pdf: bytes) -> list[str]:
    """The lines of a one-page PDF, block by block in reading order."""
    (page,) = pages_of(pdf)
    return [line.text for block in page.blocks for line in block.lines]


GLYPH_LINES = ["Example document for the Vatican of fifty Waves.",
               "Beautiful is better than ugly. Explicit is better than implicit.",
               "To often the AVENUE was softer than its Tower; Wayne went away.",
               "Simple is better than complex, flat better than nested. Paris LTD."]


def test_glyphs_placed_one_by_one_with_kerning_keep_their_words_whole():
    """Google Docs (Skia/PDF) places every glyph by itself, kerned: the ink of "V" and "a"
    overlaps and the ink gap inside "m|p" is wider than a thin space. Words stay whole and no
    letter is doubled ("Exam ple docu ment", "VaVatican" before)."""
    from tests.pdf_factory import glyph_by_glyph_pdf

    (page,) = pages_of(glyph_by_glyph_pdf(GLYPH_LINES))
    assert page.text.split("\n") == GLYPH_LINES


def test_a_section_number_a_quad_before_its_heading_stays_on_its_line_and_margin_numbers_do_not():
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Bold", 10)
    c.drawString(72, 700, "3")
    c.drawString(72 + stringWidth("3", "Times-Bold", 10) + 10, 700, "The general structure of a paper")
    c.setFont("Times-Roman", 10)
    c.drawString(72, 680, "Body text of the section that follows the heading here.")
    c.setFont("Helvetica", 6)  # a line number in the margin, in a font of its own
    c.drawString(50, 680, "12")
    c.showPage()
    c.save()
    lines = line_texts(buf.getvalue())
    assert "3 The general structure of a paper" in lines
    assert "Body text of the section that follows the heading here." in lines and "12" in lines


def test_an_ocr_text_layer_keeps_its_lines_whatever_the_gaps_of_a_justified_scan():
    """Invisible text over a scan (an OCR layer, as Tesseract writes it): each word placed
    over its word in the image, so a justified line's gaps are wider than a gutter."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    for row, words in enumerate(["only cleaned off the grease and clay", "looked so sorry that I thought"]):
        text = c.beginText()
        text.setTextRenderMode(3)  # invisible
        text.setFont("Helvetica", 9)
        x = 100.0
        for word in words.split():
            text.setTextOrigin(x, 700 - 14 * row)
            text.textOut(word + " ")
            x += stringWidth(word, "Helvetica", 9) + 18  # two ems between words
        c.drawText(text)
    c.showPage()
    c.save()
    (page,) = pages_of(buf.getvalue())
    assert page.text.split("\n") == ["only cleaned off the grease and clay", "looked so sorry that I thought"]


def test_words_drawn_one_by_one_get_their_spaces():
    # No space characters at all: only the gaps between words say where they end.
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    x = 72.0
    for word in "In the era of large language models".split():
        c.setFont("Times-Roman", 10)
        c.drawString(x, 700, word)
        x += stringWidth(word, "Times-Roman", 10) + 2.5
    c.save()
    (page,) = pages_of(buf.getvalue())
    assert page.text == "In the era of large language models"


def test_two_columns_are_read_column_by_column_after_the_full_width_title():
    generated = paper(2)
    first = pages_of(generated.pdf)[0]
    texts = [b.text for b in first.blocks if not b.rotated]
    assert texts[0].replace("\n", " ") == generated.title
    left = next(i for i, b in enumerate(first.blocks) if b.text.startswith("Experiments show"))
    right = next(i for i, b in enumerate(first.blocks) if b.x0 > 300 and b.size == 10.0)
    assert left < right
    # Every line of the left column comes before every line of the right one.
    assert all(b.x0 < 300 for b in first.blocks[:right] if b.size == 10.0)


def test_the_rotated_arxiv_stamp_is_a_block_of_its_own_last():
    first = pages_of(paper(1).pdf)[0]
    assert first.blocks[-1].rotated
    assert first.blocks[-1].text.startswith("arXiv:2402.13116")
    assert not any(b.rotated for b in first.blocks[:-1])


def test_footnote_marks_are_kept_out_of_the_line_with_their_place():
    case = build_set(["footnotes"])[0]
    (page,) = pages_of(case.pdf)
    marks = [(line.text, mark) for b in page.blocks for line in b.lines for _, mark in line.marks]
    assert marks, "the footnote marks are superscripts: they must be found"
    assert all(mark.strip("*\u2020\u2021,0123456789") == "" for _, mark in marks)


def block(x0: float, top: float, x1: float, bottom: float, text: str = "t") -> Block:
    return Block((Line(text, x0, top, x1, bottom, 10.0, "Times-Roman"),))


def test_order_reads_columns_whose_paragraph_gaps_line_up_down_each_column():
    # Paragraph breaks at the same height in both columns must not make the page read across.
    blocks = [
        block(50, 100, 290, 200, "L1"), block(310, 100, 550, 200, "R1"),
        block(50, 210, 290, 300, "L2"), block(310, 210, 550, 300, "R2"),
    ]
    assert [b.text for b in order_blocks(blocks)] == ["L1", "L2", "R1", "R2"]


def test_order_puts_a_full_width_float_between_the_bands_it_separates():
    blocks = [
        block(50, 100, 290, 200, "L1"), block(310, 100, 550, 200, "R1"),
        block(50, 220, 550, 260, "float"),
        block(50, 280, 290, 400, "L2"), block(310, 280, 550, 400, "R2"),
    ]
    assert [b.text for b in order_blocks(blocks)] == ["L1", "R1", "float", "L2", "R2"]


def test_three_columns():
    blocks = [block(40 + 180 * i, 100 + 5 * i, 200 + 180 * i, 600, f"C{i}") for i in (2, 0, 1)]
    assert [b.text for b in order_blocks(blocks)] == ["C0", "C1", "C2"]


def test_layout_survives_the_json_trip_and_the_budget_cut():
    import dataclasses
    import json

    page = pages_of(paper(1).pdf)[0]
    back = PageLayout.from_dict(json.loads(json.dumps(dataclasses.asdict(page))))
    assert back == page
    cut = page.cut(200)
    assert len(cut.text) <= 200 and page.text.startswith(cut.text.split("\n")[0])


@pytest.mark.parametrize("name", ["two_columns_table", "three_columns_figure"])
def test_every_word_of_the_page_is_in_some_block(name):
    import re

    case = build_set([name])[0]
    text = re.sub(r"-\n", "", " ".join(p.text for p in pages_of(case.pdf)))  # line-end hyphens
    body = re.findall(r"\w+", case.body_text)
    found = set(re.findall(r"\w+", text))
    assert [w for w in body if w not in found] == []


def test_order_a_column_that_runs_on_below_a_shorter_one_stays_a_column():
    # The right column ends high; the left one goes on with a heading: left first, all of it.
    blocks = [
        block(50, 60, 290, 440, "L1"), block(310, 60, 550, 230, "R1"),
        block(50, 455, 120, 465, "heading"), block(50, 470, 290, 720, "L2"),
    ]
    assert [b.text for b in order_blocks(blocks)] == ["L1", "heading", "L2", "R1"]


def test_a_page_that_draws_its_figure_as_a_form_keeps_its_layout():
    # LaTeX includes PDF figures as form XObjects: such pages must not lose the structure stage.
    from pipeline import extract

    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.beginForm("figure")
    c.setFont("Helvetica", 7)
    c.drawString(200, 500, "E[CLS]")
    c.endForm()
    c.setFont("Times-Roman", 10)
    c.drawString(72, 700, "Body text drawn on the page itself, around a figure.")
    c.doForm("figure")
    c.save()
    pdf = buf.getvalue()
    (page,) = extract.iter_pages(extract.open_pdf(pdf), [1], layout_doc=layout.open_layout(pdf))
    assert page.layout is not None
    assert "E[CLS]" in page.text and "Body text drawn" in page.text


def test_font_size_counts_the_text_matrix_scale():
    # Some producers set the font at 1 pt and scale it with the text matrix.
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    text = c.beginText()
    text.setTextTransform(10, 0, 0, 10, 72, 700)
    text.setFont("Times-Roman", 1)
    text.textOut("Scaled words keep their size.")
    c.drawText(text)
    c.save()
    (page,) = pages_of(buf.getvalue())
    assert page.text == "Scaled words keep their size."
    assert abs(page.blocks[0].size - 10) < 0.5


# --------------------------------------------------------------------------- trust


def _page_of(lines: list[str], per_block: int = 100) -> PageLayout:
    blocks = []
    for start in range(0, len(lines), per_block):
        blocks.append(Block(tuple(Line(text, 72, 100 + 12 * k, 500, 110 + 12 * k, 10, "Times-Roman")
                                  for k, text in enumerate(lines[start:start + per_block], start))))
    return PageLayout(612, 792, tuple(blocks))


PROSE = ("Knowledge distillation transfers what a large teacher model knows to a smaller student model "
         "that is cheaper to run, and the student often keeps most of the teacher's accuracy on the task.")


def test_blocks_with_the_plain_texts_words_in_its_order_are_trusted():
    lines = [PROSE[i:i + 60] for i in range(0, len(PROSE), 60)]
    plain = "\n".join(lines)
    assert layout.trust(_page_of(lines), plain) is None
    # Furniture, columns and floats in another order than the stream's: still the same words.
    assert layout.trust(_page_of(lines[2:] + lines[:2]), plain) is None


def test_words_split_or_lost_by_the_layout_are_a_doubt():
    split = (PROSE.replace("distillation", "distil lation").replace("teacher", "tea cher").replace("model", "mo del")
             .replace("student", "stu dent").replace("smaller", "small er").replace("accuracy", "accu racy"))
    doubt = layout.trust(_page_of([split]), PROSE)
    assert doubt is not None and "changed, split, glued or lost" in doubt
    assert layout.trust(_page_of([PROSE[: len(PROSE) // 2]]), PROSE) is not None


def test_lines_cut_into_pieces_and_shuffled_are_a_doubt():
    rows = [" ".join(f"w{r}c{c}" for c in range(6)) for r in range(12)]  # the stream reads rows
    by_column = [f"w{r}c{c}" for c in range(6) for r in range(12)]  # the blocks read cell by cell, down
    doubt = layout.trust(_page_of(by_column, per_block=12), "\n".join(rows))
    assert doubt is not None and "cut its lines into pieces" in doubt
    assert layout.trust(_page_of(rows), "\n".join(rows)) is None


def _block(*rows: tuple[float, float, str]) -> Block:
    """Lines 12 pt apart, each (x0, x1, text), in 10 pt type."""
    return Block(tuple(Line(text, x0, 100 + 12 * k, x1, 110 + 12 * k, 10.0, "Times-Roman")
                       for k, (x0, x1, text) in enumerate(rows)))


def test_paragraphs_start_at_an_indent_but_not_at_a_hanging_line():
    def texts(block):
        return [[line.text for line in lines] for lines in block.paragraphs()]

    # First-line indents: each indented line after a short last line starts a paragraph.
    indented = _block((90, 400, "The first paragraph starts"), (72, 400, "and goes on to its end."),
                      (90, 400, "The second starts here"), (72, 250, "and ends."))
    assert texts(indented) == [["The first paragraph starts", "and goes on to its end."],
                               ["The second starts here", "and ends."]]
    # A description list: a term at the left, its text hanging under it.
    described = _block((72, 400, "final Set up for the final copy of a paper: page num-"),
                       (92, 400, "bering to come from elsewhere."),
                       (72, 400, "draft Set up for a draft copy of a paper (this is the"),
                       (92, 300, "default setting)."))
    assert texts(described) == [["final Set up for the final copy of a paper: page num-", "bering to come from elsewhere."],
                                ["draft Set up for a draft copy of a paper (this is the", "default setting)."]]
    # Bullets: the item's lines hang under its text, and the next bullet starts a new one.
    bullets = _block((72, 400, "\u2022 The tables do not use vertical rules. See"),
                     (80, 380, "the booktabs package for a nice discus-"), (80, 200, "sion of this topic."),
                     (72, 400, "\u2022 And last but not least"))
    assert texts(bullets) == [["\u2022 The tables do not use vertical rules. See", "the booktabs package for a nice discus-",
                               "sion of this topic."], ["\u2022 And last but not least"]]


def test_a_tall_heading_beside_the_next_column_keeps_to_its_own_column():
    """A 17 pt heading in the left column, 14 pt from two 9.5 pt lines of the right one (an
    IRS instructions page): the lines beside it are the right column's, not the heading's."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    left = ["The first column's text runs", "down the page in small print,", "line after line, and ends",
            "here at the column's foot."]
    right = ["Domestic production activities", "deduction. The deduction rate for", "2007 is increased to 6%.",
             "Unreported social security and", "Medicare tax on wages. If you are"]
    c.setFont("Helvetica-Bold", 17)
    c.drawString(42, 590, "General Instructions")
    c.setFont("Helvetica", 9.5)
    for k, text in enumerate(left):
        c.drawString(42, 566 - 10 * k, text)
    for k, text in enumerate(right):
        c.drawString(42 + stringWidth("General Instructions", "Helvetica-Bold", 17) + 14, 594 - 10 * k, text)
    c.save()
    (page,) = pages_of(buf.getvalue())
    lines = [line.text for block in page.blocks for line in block.lines]
    assert "General Instructions" in lines
    assert all(not (text.startswith("General") and text != "General Instructions") for text in lines), lines
    text = page.text
    assert text.index("General Instructions") < text.index("The first column") < text.index("Domestic production"), text


def test_text_off_the_page_is_not_read():
    """A printer's proof slug set above the trimmed page is never shown: not read either."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Helvetica", 9)
    c.drawString(42, letter[1] + 40, "The type and rule above prints on all proofs. MUST be removed before printing.")
    c.drawString(42, 700, "The body of the page starts here and is read as usual.")
    c.save()
    (page,) = pages_of(buf.getvalue())
    assert page.text == "The body of the page starts here and is read as usual."
    assert "proofs" not in (page.plain or "")


def _justified(c, x: float, y: float, text: str, width: float, font: str = "Times-Roman", size: float = 10) -> None:
    """One line set full to `width`, as a justified column sets it (one text run)."""
    c.setFont(font, size)
    c.drawString(x, y, text, charSpace=(width - stringWidth(text, font, size)) / (len(text) - 1))


NARROW_LEFT = ["Face morphing poses a threat to systems like", "these because if a morph is submitted as a",
               "passport photo, it could authenticate many", "users with the same image. There are several",
               "methods for generating these morphs today."]
NARROW_RIGHT = ["A more modern approach is to use generative", "adversarial networks to produce the morphs.",
                "In general, such networks generate new data", "from the distribution of their input data,",
                "with a generator against a discriminator."]


def test_a_gutter_narrower_than_a_wide_word_space_still_parts_the_columns():
    """A two-column paper whose gutter is 0.7 of its font's size (`columnsep` set small), the
    columns' lines on the same baselines under a title and a caption that span both: each
    line is its column's, and the left column is read before the right one. Before, a
    gap under 0.9 of the font's size was a word space, and the columns came out line by
    line, interleaved."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Bold", 16)
    c.drawString(72, 720, "StyleGAN and StyleGAN2 for Face Morphing Applications")
    c.setFont("Times-Roman", 10)
    c.drawString(72, 690, "Fig. 1: The style-based architecture maps a latent vector to an intermediate latent vector")
    c.drawString(72, 678, "whereas a traditional generator only feeds the latent vector into the input layer, as shown.")
    column, gutter = 230.0, 7.0
    # Each column's lines in turn, as pdfTeX writes them (lines side by side in one stream,
    # with no jump between them, would be one run already).
    for k, left in enumerate(NARROW_LEFT):
        _justified(c, 72, 650 - 12 * k, left, column)
    for k, right in enumerate(NARROW_RIGHT):
        _justified(c, 72 + column + gutter, 650 - 12 * k, right, column)
    c.save()
    (page,) = pages_of(buf.getvalue())
    lines = [line.text for block in page.blocks for line in block.lines]
    for text in NARROW_LEFT + NARROW_RIGHT:
        assert text in lines, lines
    body = page.text
    assert body.index(NARROW_LEFT[-1]) < body.index(NARROW_RIGHT[0]), body


def test_a_wide_word_space_in_one_line_of_a_column_keeps_the_line_whole():
    """A loose justified line's word space, 0.7 of the font's size wide: the lines above and
    below run across that spot, so it is no gutter."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Roman", 10)
    rows = ["The first line of the paragraph runs on across the column here.",
            "The second line does too, and it carries on to the right margin.",
            None,
            "The fourth line of the paragraph runs on across the column too.",
            "And the last one runs across the spot where the third one parts."]
    for k, text in enumerate(rows):
        if text is None:
            c.drawString(72, 700 - 12 * k, "A loose line with")
            c.drawString(72 + stringWidth("A loose line with", "Times-Roman", 10) + 7, 700 - 12 * k,
                         "a wide space in the middle of it.")
        else:
            c.drawString(72, 700 - 12 * k, text)
    c.save()
    lines = line_texts(buf.getvalue())
    assert "A loose line with a wide space in the middle of it." in lines, lines


@pytest.mark.parametrize("font, bold", [
    ("NimbusRomNo9L-Medi", True), ("NimbusRomNo9L-MediItal", True), ("NimbusRomNo9L-Regu", False),
    ("SFBX1095", True), ("SFRM1095", False), ("CMBX12", True), ("Times-Bold", True), ("Bookman-Demi", True),
    ("HelveticaNeue-Medium", True), ("TimesNewRomanPSMT", False), ("Mediaeval-Regular", False),
])
def test_bold_is_known_by_the_weights_names_in_use(font, bold):
    """"Medi" is the bold of URW's Times (LaTeX's times package: the headings of most papers
    set in Times), "Demi" and "Medium" other families' heading weights, SFBX cm-super's."""
    line = Line("3 Dataset", 72, 100, 140, 110, 10.0, font)
    assert line.bold is bold


def test_bullets_in_a_font_of_their_own_stay_on_their_items_lines():
    """A column of bullets, a strip of white half an em wide and the items' aligned text
    look like a narrow gutter: the bullets are list labels, so each stays on its line."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    items = ["Architecture: input dimension 20, hidden layers of 64 and 32", "Data: 1000 synthetic samples",
             "Training: 50 epochs with the Adam optimizer", "Evaluation: bounds, gaps and stability measures"]
    for k, text in enumerate(items):
        c.setFont("Symbol", 10)
        c.drawString(87, 700 - 22 * k, "\u2022")
        c.setFont("Times-Roman", 10)
        c.drawString(97, 700 - 22 * k, text)
    c.save()
    lines = line_texts(buf.getvalue())
    assert lines == [f"\u2022 {text}" for text in items], lines


def test_a_run_in_heading_a_quad_before_its_paragraph_stays_on_its_line_and_a_gutter_still_parts():
    """LaTeX's \\paragraph: "Research question." in italics, a quad and more, then the
    paragraph, whose next line runs on under the gap: one line, in order. The same italic
    words ending a left column's line beside a gutter of the same width stay apart."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    heading = "Research question."
    c.setFont("Times-Italic", 10)
    c.drawString(72, 700, heading)
    c.setFont("Times-Roman", 10)
    c.drawString(72 + stringWidth(heading, "Times-Italic", 10) + 12, 700, "Lorem ipsum dolor sit amet, consectetur")
    c.drawString(72, 688, "adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.")
    c.drawString(72, 676, "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.")
    # Two columns below, 12 pt apart, the left one's first line ending in italics.
    c.setFont("Times-Italic", 10)
    c.drawString(72, 600, "An italic line of the left.")
    c.setFont("Times-Roman", 10)
    right = 72 + stringWidth("An italic line of the left.", "Times-Italic", 10) + 12
    for k, (left, text) in enumerate([(None, "The right column starts here"), ("the left column's second", "and runs on down its side"),
                                      ("line and its third one", "of the page to its end.")]):
        if left:
            c.drawString(72, 600 - 12 * k, left)
        c.drawString(right, 600 - 12 * k, text)
    c.save()
    lines = line_texts(buf.getvalue())
    assert "Research question. Lorem ipsum dolor sit amet, consectetur" in lines, lines
    assert "An italic line of the left." in lines and "The right column starts here" in lines, lines


def test_a_heading_set_in_the_run_of_a_blocks_lines_is_a_paragraph_of_its_own():
    """IEEE's subsection heading, in italics with no space around it and no indent after
    it: "A. Related Work" between the end of one paragraph and the start of the next, in
    one block. A short line in another font after a sentence's end, ending none itself."""
    def line(text, top, x1, font="NimbusRomNo9L-Regu"):
        return Line(text, 54, top, x1, top + 10, 10.0, font)

    block = Block((line("often significantly reduced training and fitting times, while", 100, 298.8),
                   line("maintaining or even enhancing performance on clean data.", 111, 294.1),
                   line("A. Related Work", 122, 122.3, "NimbusRomNo9L-ReguItal"),
                   line("To the best of our knowledge, RARE is the first framework", 133, 298.9),
                   line("to unify robustness assessment and training in regression", 144, 298.8),
                   line("ˆ", 155, 60, "CMR10"),
                   line("imal boundary deviation from the clean input under the model.", 166, 298.8)))
    texts = [" ".join(line.text for line in paragraph) for paragraph in block.paragraphs()]
    assert texts[1] == "A. Related Work", texts
    assert texts[2].startswith("To the best") and texts[2].endswith("under the model."), texts


def test_a_blocks_first_line_in_a_font_of_its_own_with_a_label_is_a_paragraph_of_its_own():
    """IEEE's "C. conference, journal, technote, peerreview, peerreviewca" in italics, nearly
    filling its line, then the indented paragraph: before, the heading ran on into it."""
    block = Block((Line("C. conference, journal, technote, peerreview, peerreviewca", 49, 272, 290, 282, 10.0,
                        "NimbusRomNo9L-ReguItal"),
                   Line("IEEEtran offers five major modes to encompass conference,", 58.9, 283, 300, 293, 10.0,
                        "NimbusRomNo9L-Regu"),
                   Line("journal, correspondence (brief/technote) and peer review pa-", 48.3, 294, 300, 304, 10.0,
                        "NimbusRomNo9L-Regu")))
    texts = [[line.text for line in paragraph] for paragraph in block.paragraphs()]
    assert len(texts) == 2 and texts[0] == ["C. conference, journal, technote, peerreview, peerreviewca"], texts


def test_a_drop_cap_keeps_the_lines_beside_it_in_their_paragraph():
    """IEEE's first paragraph starts with a letter two lines tall: the second line, beside
    it, is read in its place, not after the paragraph."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Roman", 24)
    c.drawString(49, 688, "W")
    c.setFont("Times-Roman", 10)
    beside = 49 + stringWidth("W", "Times-Roman", 24) + 1
    c.drawString(beside, 700, "ITH a recent class file, a computer running")
    c.drawString(beside, 688, "the typesetting system, and a basic understanding")
    for k, text in enumerate(["of its language, an author can produce professional",
                              "quality typeset research papers very quickly."]):
        c.drawString(49, 676 - 12 * k, text)
    c.save()
    (page,) = pages_of(buf.getvalue())
    assert page.text.split("\n") == ["WITH a recent class file, a computer running",
                                     "the typesetting system, and a basic understanding",
                                     "of its language, an author can produce professional",
                                     "quality typeset research papers very quickly."], page.text


def test_a_section_number_a_quad_before_its_heading_stays_after_a_margins_line_number():
    """NeurIPS's submission format: line numbers in the left margin, set small, on the
    heading's row; the section number stands a full quad before its title."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Helvetica", 6)
    c.drawString(95, 460, "5")
    c.setFont("Times-Bold", 12)
    c.drawString(108, 458, "1")
    c.drawString(108 + stringWidth("1", "Times-Bold", 12) + 12, 458, "Submission of papers to NeurIPS 2024")
    c.setFont("Times-Roman", 10)
    c.drawString(108, 440, "Please read the instructions below carefully and follow them faithfully.")
    c.save()
    lines = line_texts(buf.getvalue())
    assert "1 Submission of papers to NeurIPS 2024" in lines and "5" in lines, lines


def test_a_bold_run_in_heading_without_a_stop_stays_on_its_line_and_an_icons_small_label_does_not():
    """NeurIPS's \\paragraph: "Paragraphs" in bold, a quad, then the text. An IRS page's
    "CAUTION", set at half the text's size beside the lines that wrap around its icon, is
    no heading of theirs."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Bold", 10)
    c.drawString(108, 700, "Paragraphs")
    c.setFont("Times-Roman", 10)
    c.drawString(108 + stringWidth("Paragraphs", "Times-Bold", 10) + 10, 700, "There is also a command available, which")
    c.drawString(108, 688, "sets the heading in bold, flush left, and inline with the text, with the heading")
    c.setFont("Helvetica-Bold", 4.8)
    c.drawString(44, 600, "CAUTION")
    c.setFont("Helvetica-Oblique", 9.5)
    c.drawString(44 + stringWidth("CAUTION", "Helvetica-Bold", 4.8) + 5, 600, "considering legislation that")
    c.drawString(42, 590, "would increase the amounts above. To")
    c.save()
    lines = line_texts(buf.getvalue())
    assert "Paragraphs There is also a command available, which" in lines, lines
    assert "CAUTION" in lines and "considering legislation that" in lines, lines


def test_a_display_formula_set_close_under_text_is_a_block_of_its_own():
    """A formula set in a math font, in from both sides of the column, a line's height
    under the text: a block apart (it ran into the paragraph, "⎣i=0 Pellentesque ..."); a
    formula's tail starting a line of the sentence stays in it."""
    def line(text, top, x0=72, x1=340, font="SourceSerifPro-Regular"):
        return Line(text, x0, top, x1, top + 10, 10.0, font)

    blocks = layout.blocks_in_order([
        line("And here is a single equation in display mode, set without a label,", 100),
        line("which the sentence before it introduces with these very words:", 112, x1=322),
        line("α + β = γ", 124, 200, 244, "MnSymbol10"),
        line("Pellentesque habitant morbi tristique senectus et netus et malesuada", 136),
        line("fames ac turpis egestas, and the calligraphic letters come last:", 148, x1=318),
        line("β + γ = δ.", 160, 72, 118, "MnSymbol10")])
    texts = [block.text for block in blocks]
    assert texts[1] == "α + β = γ", texts
    assert texts[2].startswith("Pellentesque") and texts[2].endswith("β + γ = δ."), texts


def _ligature_pdf(before: str, after: str) -> bytes:
    """One line: `before`, the "fi" glyph (code 1, which the font's ToUnicode maps to
    the two letters "fi", as TeX fonts do), then `after`."""
    def esc(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = f"BT /F1 12 Tf 72 700 Td ({esc(before)}) Tj <01> Tj ({esc(after)}) Tj ET".encode()
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lig def "
            b"1 begincodespacerange <00> <FF> endcodespacerange "
            b"1 beginbfchar <01> <00660069> endbfchar endcmap CMapName currentdict /CMap defineresource pop end end")
    from tests.hostile_corpus import _pdf

    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Type /Encoding /BaseEncoding "
        b"/WinAnsiEncoding /Differences [1 /fi] >> /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ])


def test_a_ligatures_letters_sharing_one_glyphs_box_stay_in_one_run():
    """A TeX font's "fi" glyph that its ToUnicode maps to two letters: PDFium gives both
    letters the glyph's box, so the second starts left of where the first ends. That is
    no jump back: the word stays in one run (split there, a small raised run of the line
    above could land between "f" and "itted" once the runs were ordered)."""
    pdf = _ligature_pdf("The model is ", "tted to the data.")
    page = layout.open_layout(pdf)[0]
    left, bottom, right, top = page.get_bbox()
    runs, _ = layout._read_runs(page, top, left, right - left, top - bottom)
    assert [run.text.strip() for run in runs] == ["The model is fitted to the data."]


def test_reference_marks_of_the_line_under_a_drop_cap_stay_on_their_line():
    """Shannon's "Nyquist¹ and Hartley²" on the third line, within the height of the
    two-line drop cap beside the first: each mark narrower than its size, they went to
    the first line ("exchange1 2 bandwidth")."""
    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    c.setFont("Times-Roman", 28)
    c.drawString(49, 685, "T")
    beside = 49 + stringWidth("T", "Times-Roman", 28) + 1
    c.setFont("Times-Roman", 10)
    c.drawString(beside, 700, "HE recent development of methods of modulation which exchange")
    c.drawString(beside, 688, "bandwidth for signal-to-noise ratio has intensified the interest.")
    third = "A basis is contained in the important papers of Nyquist"
    c.drawString(49, 676, third)
    c.setFont("Times-Roman", 7)
    c.drawString(49 + stringWidth(third, "Times-Roman", 10), 680, "1")
    c.save()
    (page,) = pages_of(buf.getvalue())
    lines = [line for block in page.blocks for line in block.lines]
    assert lines[0].text == "THE recent development of methods of modulation which exchange", [l.text for l in lines]
    assert lines[2].text == third and lines[2].marks == ((len(third), "1"),), lines[2]

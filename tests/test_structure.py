"""pipeline.structure: block labels and what each podcast option keeps, on generated PDFs.

The structure set (tests/structure_set.py) is scored as a whole by bench/structure.py; here
each rule is pinned on the case made for it, with the real layout reader.
"""

from __future__ import annotations

import pytest

from pipeline import Settings, layout, run, structure
from pipeline.events import ChunkPlan, RunFinished, removed_counts
from tests.pdf_factory import paper
from tests.structure_set import build_set


def laid_out(pdf: bytes):
    doc = layout.open_layout(pdf)
    return [(n, layout.read_layout(doc, n)) for n in range(1, len(doc) + 1)]


def labels_of(name: str) -> list[tuple[int, str, str]]:
    case = build_set([name])[0]
    return [(n, label, block.text) for n, label, block in structure.select(laid_out(case.pdf), Settings()).labels]


def label_of(labels, start: str) -> str:
    found = [label for _, label, text in labels if text.startswith(start)]
    assert found, f"no block starts with {start!r}"
    return found[0]


def test_front_matter_title_authors_abstract_and_furniture():
    generated = paper(2)
    labels = [(n, label, b.text) for n, label, b in structure.select(laid_out(generated.pdf), Settings()).labels]
    assert label_of(labels, "A Survey on Knowledge") == "title"
    assert label_of(labels, generated.authors[0]) == "authors"
    assert label_of(labels, "University of") == "authors"
    assert label_of(labels, "Abstract") == "abstract"
    assert label_of(labels, "1 Introduction") == "heading"
    assert label_of(labels, "arXiv:") == "stamp"
    assert [label for n, label, text in labels if text == "2"] == ["page number"]
    assert [label for n, label, text in labels if n == 2 and text == generated.header] == ["header"]


def test_a_single_page_loses_its_journal_lines_and_stamps():
    labels = labels_of("furniture_single")
    for start in ("Journal of Machine Learning", "Vol. 12", "Downloaded from", "Download date"):
        assert label_of(labels, start) not in structure._ALWAYS_KEPT, start
    assert label_of(labels, "1 Introduction") == "heading"


def test_references_and_appendix_are_sections_to_the_end():
    labels = labels_of("references_appendix")
    after = False
    for _, label, text in labels:
        if text.strip() == "References":
            after = True
        if after and label not in ("header", "footer", "page number", "stamp"):
            assert label in ("references", "appendix"), text[:60]
    assert after
    assert "appendix" in {label for _, label, _ in labels}


def test_captions_figures_tables_and_math():
    assert label_of(labels_of("table_caption"), "Table 1") == "caption"
    assert label_of(labels_of("figure_interrupts_hyphen"), "Figure") == "caption"
    assert "figure" in {label for _, label, _ in labels_of("three_columns_figure")}
    assert "table" in {label for _, label, _ in labels_of("two_columns_table")}
    assert "math" in {label for _, label, _ in labels_of("display_math")}


def text_of(name: str, **options) -> tuple[str, dict]:
    case = build_set([name])[0]
    events = list(run(case.pdf, Settings(use_llm=False, **options)))
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    return next(e for e in events if isinstance(e, RunFinished)).text, removed_counts(plan.removed)


def test_options_keep_what_they_name_and_the_counts_say_what_went():
    text, counts = text_of("footnotes")
    assert counts.get("footnote", 0) >= 1 and counts.get("footnote mark", 0) >= 2
    assert "Code and data are available" not in text
    kept, kept_counts = text_of("footnotes", keep_footnotes=True)
    assert "Code and data are available" in kept and "footnote" not in kept_counts

    text, counts = text_of("display_math")
    assert counts.get("math", 0) >= 1 and structure.EQUATION not in text
    placeholder, _ = text_of("display_math", math="placeholder")
    assert structure.EQUATION in placeholder

    text, counts = text_of("references_appendix")
    kept, _ = text_of("references_appendix", keep_references=True, keep_appendix=True)
    assert counts.get("references", 0) >= 1 and len(kept) > len(text)


def test_citations_are_removed_unless_kept():
    generated = paper(3)
    text = next(e for e in run(generated.pdf, Settings(use_llm=False)) if isinstance(e, RunFinished)).text
    kept = next(e for e in run(generated.pdf, Settings(use_llm=False, citations="keep")) if isinstance(e, RunFinished)).text
    assert len(kept) >= len(text)


@pytest.mark.parametrize("name", ["two_columns_table", "three_columns_figure", "multipage_running"])
def test_body_text_is_kept_whole(name):
    import re

    case = build_set([name])[0]
    text, _ = text_of(name)
    words = re.findall(r"\w+", text.lower())
    body = re.findall(r"\w+", case.body_text.lower())
    missing = [w for w in body if w not in set(words)]
    assert missing == []


def test_a_numbered_heading_after_a_reference_list_ends_it():
    from pipeline.layout import Block, Line, PageLayout

    def block(text, top, size=10.0, font="Times-Roman"):
        return Block((Line(text, 54, top, 300, top + size, size, font),))

    body = "The student model approximates the teacher on every benchmark we tried, and more."
    page = PageLayout(612, 792, (
        block(body, 100), block("References", 150, 11, "Times-Bold"),
        block("[1] A. Lovelace. Notes on the analytical engine. 1843.", 170, 9),
        block("4 Results", 200, 11, "Times-Bold"), block(body.replace("tried", "ran"), 220),
    ))
    labels = structure.classify([(3, page)])[0]
    assert labels == ["body", "references", "references", "heading", "body"]


def test_a_numbered_section_named_appendices_is_text_and_a_numbered_heading_ends_an_appendix():
    """A guide's "6.2 Appendices" section (its number a block of its own) is part of the
    text; a real appendix ("Appendix A") ends at the next numbered section ("7 Titles")."""
    from pipeline.layout import Block, Line, PageLayout

    def block(text, top, x=54, size=10.0, font="Times-Roman"):
        return Block((Line(text, x, top, 300, top + size, size, font),))

    body = "The student model approximates the teacher on every benchmark we tried, and more."
    page = PageLayout(612, 792, (
        block(body, 100), block("6.2", 150, 54, 11, "Times-Bold"), block("Appendices", 150, 80, 11, "Times-Bold"),
        block(body.replace("tried", "ran"), 170),
        block("Appendix A", 200, 54, 11, "Times-Bold"), block(body.replace("tried", "saw"), 220),
        block("7", 250, 54, 11, "Times-Bold"), block("Titles and addresses", 250, 80, 11, "Times-Bold"),
        block(body.replace("tried", "met"), 270),
    ))
    labels = structure.classify([(3, page)])[0]
    assert labels[3] == "body" and labels[4:6] == ["appendix", "appendix"], labels
    assert labels[8] == "body", labels


def test_raised_numbers_are_reference_marks_after_words_and_exponents_after_numbers():
    from pipeline.layout import Block, Line

    line = Line("addition (entry 5). Then x and 10 tokens", 54, 100, 300, 110, 10.0, "Times-Roman",
                marks=((19, "7"), (26, "2"), (33, "5")))
    removed = []
    text = structure._block_text(Block((line,)), 2, set(), removed, drop_citation_marks=True)
    assert text == "addition (entry 5). Then x2 and 105 tokens"
    assert [(r.category, r.text) for r in removed] == [("citation", "7")]
    kept = structure._block_text(Block((line,)), 2, set(), [], drop_citation_marks=False)
    assert kept == "addition (entry 5).7 Then x2 and 105 tokens"


def test_superscript_characters_glued_to_words_go_as_footnote_marks():
    from pipeline.layout import Block, Line, PageLayout

    body = "Distilled students¹ match their teachers† on most benchmarks, while x² stays as it is."
    page = PageLayout(612, 792, (Block((Line(body, 54, 100, 500, 110, 10.0, "Times-Roman"),)),))
    selected = structure.select([(1, page)], Settings())
    assert selected.pages[0][1] == "Distilled students match their teachers on most benchmarks, while x² stays as it is."
    assert [(r.category, r.text) for r in selected.removed] == [("footnote mark", "¹"), ("footnote mark", "†")]


def test_a_page_whose_layout_is_not_trusted_is_read_in_plain_order_less_its_furniture(tmp_path):
    """Small print drawn row by row with wide gaps: the blocks would read it cell by cell down
    the columns; the page is read in the PDF's own order instead, its running head and page
    number still removed, and the report and NAME.removed.txt say so."""
    from io import BytesIO

    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    from pipeline.output import removed_file_text

    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    for page in (1, 2):
        c.setFont("Times-Italic", 7)
        c.drawString(72, 750, "A Gazetteer of Small Places")
        c.setFont("Times-Roman", 8)
        for r in range(40):
            for k in range(6):
                c.drawString(72 + 80 * k, 700 - 12 * r, f"p{page}r{r}c{k}")
        c.drawString(300, 40, str(page))
        c.showPage()
    c.save()
    events = list(run(buf.getvalue(), Settings(use_llm=False)))
    plan = next(e for e in events if isinstance(e, ChunkPlan))
    text = next(e for e in events if isinstance(e, RunFinished)).text
    assert [page for page, _ in plan.plain_pages] == [1, 2]
    assert "cut its lines into pieces" in plan.plain_pages[0][1]
    assert "p1r0c0 p1r0c1 p1r0c2" in " ".join(text.split())  # row by row, as drawn
    assert "Gazetteer" not in text and not any(line.strip() in ("1", "2") for line in text.splitlines())
    assert any("read in plain order" in note for note in plan.notes)
    listed = removed_file_text(plan.removed, "g.pdf", True, plan.plain_pages)
    assert "page 1 read in plain order, only its furniture removed" in listed


def test_first_page_front_matter_venue_header_and_a_web_address_head_are_not_body():
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=10.0, font="Times-Roman", x=54):
        return Block(tuple(Line(text, x, top + k * size * 1.2, 540, top + k * size * 1.2 + size, size, font)
                           for k, text in enumerate(lines)))

    body = ("The student model approximates the teacher on every benchmark we tried, and it keeps most "
            "of what the teacher knows at a fraction of the cost of running it.")
    lines = [body[i:i + 80] for i in range(0, len(body), 80)]
    first = PageLayout(612, 792, (
        block(["Proceedings of the ASME 2023", "International Mechanical Engineering Congress", "IMECE2023"], 30, 9),
        block(["A Study of Small Students"], 110, 18, "Times-Bold"),
        block(["Department of Physics, ETH Zurich, 8093 Zurich, Switzerland",
               "* Correspondence: jane@ethz.ch"], 150, 8),
        block(["Citation: Doe, J.; Roe, R. A Study of", "Small Students. Curr. Stud. 2023, 30, 1-9."], 190, 7),
        block(lines * 3, 260), block(lines * 3, 400),
    ))
    second = PageLayout(612, 792, (
        block(["www.nature.com/scientificreports"], 14, 11, "Times-Bold"),
        block(lines * 3, 90), block(lines * 3, 300),
    ))
    labels = structure.classify([(1, first), (2, second)])
    assert labels[0][0] == "stamp"  # the venue header
    assert labels[0][1] == "title"
    assert labels[0][2] == "authors" and labels[0][3] == "stamp"
    assert labels[0][4:] == ["body", "body"]
    assert labels[1][0] == "header" and labels[1][1:] == ["body", "body"]


def test_a_large_running_head_goes_and_a_first_section_heading_is_not_an_author():
    """A report's 15 pt title and number repeated at the top of every page (Google Docs),
    over 12 pt text; on the first page "Introduction" follows the title."""
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=12.0, x=72):
        return Block(tuple(Line(text, x, top + k * size * 1.2, 530, top + k * size * 1.2 + size, size, "Arial")
                           for k, text in enumerate(lines)))

    body = ["Mega Parse is a document parser designed to convert various document formats into",
            "Markdown, and it keeps the structure of what it reads from the first page to the last."]
    head = [block(["My Mega fake report"], 62, 15, 233), block(["#1756394", "31/05/2024"], 62, 15, 389)]
    first = PageLayout(612, 792, (*head, block(["Why Mega Parse might be the best?"], 166, 26),
                                  block(["Introduction"], 220, 20), block(body * 3, 252)))
    second = PageLayout(612, 792, (*head, block(body * 3, 166), block(body * 3, 300)))
    labels = structure.classify([(1, first), (2, second)])
    assert labels[0][:2] == ["header", "header"] and labels[1][:2] == ["header", "header"]
    assert labels[0][2:] == ["title", "heading", "body"]


def test_a_first_section_heading_set_small_after_the_title_is_a_heading():
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=12.0, x=72):
        return Block(tuple(Line(text, x, top + k * size * 1.2, 530, top + k * size * 1.2 + size, size, "Times")
                           for k, text in enumerate(lines)))

    body = ["The act was signed into law in the autumn, and it changed how the rules of copying apply",
            "to the programs and the recordings that people buy, lend and keep for themselves at home."]
    page = PageLayout(612, 792, (block(["U.S. Copyright Office Summary"], 90, 16), block(["December 1998"], 170),
                                 block(["INTRODUCTION"], 198, 11), block(body * 3, 226)))
    (labels,) = structure.classify([(1, page)])
    assert labels == ["title", "authors", "heading", "body"]


def test_a_first_page_sidebar_of_keywords_and_addresses_is_a_notice():
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=10.0, x=54, x1=380):
        return Block(tuple(Line(text, x, top + k * size * 1.2, x1, top + k * size * 1.2 + size, size, "Times")
                           for k, text in enumerate(lines)))

    body = ["The student model approximates the teacher on every benchmark we tried, and it keeps",
            "most of what the teacher knows at a fraction of the cost of running it on a server."]
    page = PageLayout(612, 792, (block(["A Study of Small Students"], 110, 18), block(body * 4, 200),
                                 block(["Keywords: knowledge distillation, small", "language models, student networks"],
                                       210, 7, 420, 560),
                                 block(["Code and data links: see the repository", "of the project and its archived copy"],
                                       260, 7, 420, 560),
                                 block(body * 4, 300)))
    (labels,) = structure.classify([(1, page)])
    assert labels[2:4] == ["stamp", "stamp"] and labels[1] == labels[4] == "body"


def test_short_bulleted_items_and_bold_run_in_labels_near_a_table_are_text():
    """A LaTeX paper's setup list above its results table ("• Training: 50 epochs with
    Adam"), its bold labels with a symbol in them ("Standard Network (γ′ = 0.0):") and the
    list under them: too short to be paragraphs, with a caption near, they went as the
    table's cells or as formulas before."""
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=10.0, x=72, font="CMR10"):
        return Block(tuple(Line(text, x, top + k * size * 1.2, 530, top + k * size * 1.2 + size, size, font)
                           for k, text in enumerate(lines)))

    body = ["We extend the classical bounds to account for the effects of curvature on what the",
            "networks learn, and we compare them with what the networks do on data they never saw."]
    items = ["• Data: 1000 synthetic samples", "• Deformation Parameters: γ′ ∈ {0.0, −0.5, −1.0}",
             "• Training: 50 epochs with Adam"]
    cells = [block(["Train Loss", "0.558", "2.156"], 420, x=144), block(["Test Loss", "0.501", "2.152"], 420, x=202)]
    page = PageLayout(612, 792, (block(body * 3, 100), block(["2.3 Experimental Setup"], 180, 12, font="CMBX12"),
                                 *[block([text], 200 + 22 * k, x=87) for k, text in enumerate(items)],
                                 block(["3 Results"], 290, 14, font="CMBX12"),
                                 block(["Table 1: Results across the values of γ′"], 400, x=173), *cells,
                                 block(["Standard Network (γ′ = 0.0):"], 480, font="CMBX10"),
                                 block(["• Stable but limited learning"], 500, x=87)))
    (labels,) = structure.classify([(1, page)])
    assert labels[2:5] == ["body"] * 3, labels
    assert labels[7:9] == ["table", "table"]
    assert labels[9] == "heading" and labels[10] == "body", labels


def test_prose_in_computer_modern_after_a_formula_is_text():
    """CMR10 is Computer Modern's text face: a line in it is not a formula for its font
    alone ("where β′ = β/(1 + γ′ m) for the single-pattern case."); the display formula
    above it, in the same face, still is."""
    from pipeline.layout import Block, Line, PageLayout

    def block(text, top, x=72, x1=523):
        return Block((Line(text, x, top, x1, top + 10, 10.0, "CMR10"),))

    body = ("The negative values create a positive feedback loop where low energy states raise the "
            "effective temperature and speed up the approach to the global minima of the energy.")
    page = PageLayout(612, 792, (block(body, 100), block("m˙ = −m + tanh(β′Jm)", 140, 246, 349),
                                 block("where β′ = β/(1 + γ′ m) for the single-pattern case.", 170, 72, 306),
                                 block(body, 200)))
    (labels,) = structure.classify([(1, page)])
    assert labels == ["body", "math", "body", "body"], labels


@pytest.mark.parametrize("text, font", [("⎫⎪", "MnSymbol10"), ("Y i", "EUSM10"), ("( g(h)", "MnSymbol10"),
                                        ("x ∈ A", "CMSY10")])
def test_pieces_of_a_display_formula_in_a_math_font_are_math(text, font):
    """A formula's brace pieces and script letters, with no word and no operator among
    them, in MnSymbol or Euler: formula debris, not text."""
    from pipeline.layout import Block, Line, PageLayout

    body = ("The template comes with a full set of mathematical symbols, and here is a random "
            "assortment of some of them, set in display under this paragraph of running text.")
    page = PageLayout(612, 792, (Block((Line(body, 72, 100, 523, 110, 10.9, "SourceSerifPro-Regular"),)),
                                 Block((Line(text, 250, 130, 300, 141, 10.9, font),)),
                                 Block((Line(body, 72, 160, 523, 170, 10.9, "SourceSerifPro-Regular"),))))
    (labels,) = structure.classify([(1, page)])
    assert labels == ["body", "math", "body"], labels


def test_a_numbered_heading_in_small_capitals_is_a_heading():
    """IEEE's "I. INTRODUCTION": its size is the small capitals' (8 pt over 10 pt text);
    it went as figure debris."""
    from pipeline.layout import Block, Line, PageLayout

    body = ("In safety-critical domains such as autonomous driving, medical imaging and trading, "
            "even small unintended input perturbations can trigger severe consequences for all.")
    page = PageLayout(612, 792, (Block((Line(body, 54, 100, 299, 110, 10.0, "NimbusRomNo9L-Regu"),)),
                                 Block((Line("I. INTRODUCTION", 138, 140, 215, 148, 8.0, "NimbusRomNo9L-Regu"),)),
                                 Block((Line(body, 54, 160, 299, 170, 10.0, "NimbusRomNo9L-Regu"),))))
    (labels,) = structure.classify([(1, page)])
    assert labels == ["body", "heading", "body"], labels


def test_a_lettered_heading_in_italics_is_a_heading():
    """IEEE's subsection "A. 9pt, 10pt, 11pt, 12pt" on a line of its own, in italics at the
    body's size: a heading, not a paragraph that the next one runs on from."""
    from pipeline.layout import Block, Line, PageLayout

    body = ("There are four possible values for the normal text size, and the vast majority of "
            "papers use the second one, while technical notes use the smallest one of them.")
    page = PageLayout(612, 792, (Block((Line(body, 312, 100, 563, 110, 10.0, "NimbusRomNo9L-Regu"),)),
                                 Block((Line("A. 9pt, 10pt, 11pt, 12pt", 311.5, 130, 409.5, 140, 10.0,
                                             "NimbusRomNo9L-ReguItal"),)),
                                 Block((Line(body, 312, 150, 563, 160, 10.0, "NimbusRomNo9L-Regu"),))))
    (labels,) = structure.classify([(1, page)])
    assert labels == ["body", "heading", "body"], labels


def test_a_venues_checklist_after_the_references_goes_to_the_end_with_its_numbered_questions():
    """NeurIPS papers end with the venue's checklist, after the references: back matter, not
    text, though its questions are numbered headings ("1. Claims"), which end a reference
    list elsewhere. A section named so before any reference list is text."""
    from pipeline.layout import Block, Line, PageLayout

    def block(text, top, size=10.0, font="Times-Roman"):
        return Block((Line(text, 54, top, 300, top + size, size, font),))

    body = "The student model approximates the teacher on every benchmark we tried, and more."
    page = PageLayout(612, 792, (
        block("3 A checklist for practitioners", 60, 11, "Times-Bold"), block(body, 80),
        block("References", 150, 11, "Times-Bold"),
        block("[1] A. Lovelace. Notes on the analytical engine. 1843.", 170, 9),
        block("NeurIPS Paper Checklist", 200, 11, "Times-Bold"), block(body.replace("tried", "ran"), 220),
        block("1. Claims", 250, 11, "Times-Bold"),
        block("Question: Do the main claims made in the abstract reflect the paper's scope?", 270),
    ))
    labels = structure.classify([(9, page)])[0]
    assert labels == ["heading", "body", "references", "references"] + ["appendix"] * 4, labels


def test_an_anonymous_submissions_placeholder_author_lines_go_with_the_authors():
    """NeurIPS's anonymous submission format: "Anonymous Author(s)" then "Affiliation",
    "Address", "email" under the title; they were kept as text."""
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=10.0, x=260, x1=354, font="NimbusRomNo9L-Regu"):
        return Block(tuple(Line(text, x, top + k * 11, x1, top + k * 11 + size, size, font)
                           for k, text in enumerate(lines)))

    body = ["NLP is of great significance, and plenty of models are developed to achieve better",
            "performance in different tasks; the second generation is one of them, with the classic"]
    page = PageLayout(612, 792, (block(["Story-Based QA GPT Model"], 100, 17.2, 149, 463, "NimbusRomNo9L-Medi"),
                                 block(["Anonymous Author(s)"], 162, font="NimbusRomNo9L-Medi"),
                                 block(["Affiliation", "Address", "email"], 173, x=285, x1=327),
                                 block(["Abstract"], 234, 12.0, 284, 328), block(body * 3, 259, 10.0, 143, 470)))
    (labels,) = structure.classify([(1, page)])
    assert labels[:3] == ["title", "authors", "authors"], labels


def test_two_numbered_headings_set_one_under_the_other_are_two_headings():
    """Word's "3. Data and Methodology" with "3.1 Sample and Data Sources" right under it,
    one block: two headings, not one line; a title whose second line starts with a number
    stays whole."""
    from pipeline.layout import Block, Line, PageLayout

    def block(lines, top, size=11.0, font="TimesNewRomanPS-BoldMT"):
        return Block(tuple(Line(text, 72, top + k * 14, 400, top + k * 14 + size, size, font)
                           for k, text in enumerate(lines)))

    body = ("Many studies show that social media sentiment can affect asset pricing in the short term, "
            "especially during major events or for highly followed companies, though not always.")
    page = PageLayout(612, 792, (block(["Deep Learning in", "10 Minutes"], 60, 18),
                                 block([body], 120, 11, "TimesNewRomanPSMT"),
                                 block(["3. Data and Methodology", "3.1 Sample and Data Sources"], 150),
                                 block([body], 190, 11, "TimesNewRomanPSMT")))
    text = structure.select([(2, page)], Settings(use_llm=False)).pages[0][1]
    assert text.split("\n\n")[2:4] == ["3. Data and Methodology", "3.1 Sample and Data Sources"], text
    assert text.startswith("Deep Learning in 10 Minutes\n\n"), text

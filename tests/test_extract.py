"""pipeline.extract: sniffing, opening (passwords), metadata, page ranges, the character
budget, failing pages, and the generated test PDFs the other tests build on."""

from __future__ import annotations

import io
import re
import zipfile
from types import GeneratorType

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf.errors import DependencyError, LimitReachedError
from pypdf.generic import ContentStream

from pipeline.errors import (
    DamagedPdfError,
    EmptyFileError,
    NoTextError,
    NotAPdfError,
    PageRangeError,
    PasswordRequiredError,
    PipelineError,
    WrongPasswordError,
)
from pipeline.extract import PageText, iter_pages, open_pdf, parse_page_range, read_info, read_source
from tests.pdf_factory import (
    ALGORITHMS,
    PDF_DATE,
    encrypted_pdf,
    image_only_pdf,
    not_pdf_bytes,
    paper,
    simple_pdf,
    truncated_pdf,
    with_metadata,
)

THREE_PAGES = [
    "Alpha page speaks about distillation of language models.",
    "Bravo page continues with students and teachers.",
    "Charlie page concludes the short document.",
]


def texts(data: bytes, password: str | None = None, max_chars: int | None = 100_000) -> list[PageText]:
    reader = open_pdf(data, password)
    return list(iter_pages(reader, parse_page_range(None, len(reader.pages)), max_chars))


# --------------------------------------------------------------------------- source and sniffing


def test_pdf_bytes_in_a_file_named_txt_are_read(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(simple_pdf(THREE_PAGES))
    data = read_source(path)
    assert [p.text.strip() for p in texts(data)] == THREE_PAGES


def test_read_source_takes_str_paths_bytes_and_binary_files(tmp_path):
    pdf = simple_pdf(["x"])
    path = tmp_path / "a.pdf"
    path.write_bytes(pdf)
    assert read_source(str(path)) == pdf
    assert read_source(pdf) == pdf
    assert read_source(bytearray(pdf)) == pdf
    assert read_source(io.BytesIO(pdf)) == pdf


def test_missing_file_and_folder_are_user_errors(tmp_path):
    with pytest.raises(PipelineError, match="not found") as info:
        read_source(tmp_path / "nowhere.pdf")
    assert "nowhere.pdf" in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(PipelineError, match="folder"):
        read_source(tmp_path)


@pytest.mark.parametrize(
    "kind, looks_like",
    [
        ("html", "HTML page"),
        ("png", "PNG image"),
        ("zip", "ZIP archive"),
        ("docx", "Word document"),
        ("text", "plain text"),
        ("random", None),
    ],
)
def test_non_pdf_named_pdf_is_refused_with_what_it_looks_like(tmp_path, kind, looks_like):
    path = tmp_path / "paper.pdf"
    path.write_bytes(not_pdf_bytes(kind))
    with pytest.raises(NotAPdfError) as info:
        open_pdf(read_source(path))
    message = str(info.value)
    assert "not a PDF" in message and "Upload a PDF" in message
    if looks_like:
        assert looks_like in message
    else:
        assert "looks like" not in message


def test_a_zip_that_stores_a_pdf_uncompressed_is_still_a_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("paper.pdf", simple_pdf(["zipped"]))
    assert b"%PDF-" in buf.getvalue()[:1024]
    with pytest.raises(NotAPdfError, match="ZIP archive"):
        open_pdf(buf.getvalue())


def test_junk_before_the_header_is_allowed_within_1024_bytes():
    pdf = simple_pdf(THREE_PAGES)
    assert [p.text.strip() for p in texts(b"\x00junk " * 100 + pdf)] == THREE_PAGES
    with pytest.raises(NotAPdfError):
        open_pdf(b"x" * 1100 + pdf)


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "])
def test_empty_or_blank_file(data):
    with pytest.raises(EmptyFileError, match="empty" if not data else "only blank space"):
        open_pdf(data)


# --------------------------------------------------------------------------- damaged files


def test_truncated_pdf_is_damaged_with_an_actionable_message():
    with pytest.raises(DamagedPdfError) as info:
        open_pdf(truncated_pdf())
    message = str(info.value)
    assert "cut short: its end is missing" in message and "Download or export it again" in message
    assert info.value.__cause__ is not None  # chained: the pypdf error stays visible


def test_header_followed_by_garbage_is_damaged():
    with pytest.raises(DamagedPdfError):
        open_pdf(b"%PDF-1.7\nthis is not really a pdf\n")


def test_a_pdf_without_pages_is_damaged():
    buf = io.BytesIO()
    pypdf.PdfWriter().write(buf)
    with pytest.raises(DamagedPdfError, match="no pages"):
        open_pdf(buf.getvalue())


# --------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encrypted_opens_with_the_right_password(algorithm):
    data = encrypted_pdf(algorithm, user_password="s3cret")
    pages = texts(data, password="s3cret")
    assert "confidential report" in pages[0].text
    assert read_info(open_pdf(data, "s3cret"), len(data)).encrypted is True


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encrypted_without_password_asks_for_one(algorithm):
    for password in (None, ""):
        with pytest.raises(PasswordRequiredError) as info:
            open_pdf(encrypted_pdf(algorithm, user_password="s3cret"), password)
        assert "encrypted" in str(info.value) and "password" in str(info.value)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encrypted_with_wrong_password(algorithm):
    with pytest.raises(WrongPasswordError, match="password"):
        open_pdf(encrypted_pdf(algorithm, user_password="s3cret"), "wrong")


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_the_owner_password_opens_it_too(algorithm):
    data = encrypted_pdf(algorithm, user_password="user", owner_password="owner")
    assert "confidential" in texts(data, password="owner")[0].text


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_user_password_opens_silently_even_with_a_password_given(algorithm):
    data = encrypted_pdf(algorithm, user_password="")
    assert "confidential" in texts(data)[0].text
    assert "confidential" in texts(data, password="anything")[0].text


def test_a_password_for_an_unencrypted_file_is_ignored():
    assert texts(simple_pdf(THREE_PAGES), password="secret")[0].text.strip() == THREE_PAGES[0]


def test_missing_crypto_library_says_what_to_install(monkeypatch):
    def no_crypto(self, password, strict=False):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(pypdf._encryption.Encryption, "verify", no_crypto)
    with pytest.raises(PipelineError, match=r"pip install 'pypdf\[crypto\]'") as info:
        open_pdf(encrypted_pdf("AES-256"))
    assert not isinstance(info.value, DamagedPdfError)


# --------------------------------------------------------------------------- metadata


def test_metadata_of_the_paper(paper12):
    info = read_info(open_pdf(paper12.pdf), len(paper12.pdf))
    assert info.page_count == 12
    assert info.title == paper12.title
    assert info.author == ", ".join(paper12.authors)
    assert info.subject == "Knowledge distillation of large language models"
    assert info.creator == "LaTeX with hyperref"
    assert info.producer == "pdfTeX-1.40.25"
    assert info.created == info.modified == "2024-03-11 01:50:30 UTC"
    assert info.encrypted is False
    assert info.file_size == len(paper12.pdf)


def test_empty_metadata_fields_are_none():
    data = simple_pdf(["x"])
    info = read_info(open_pdf(data), len(data))
    assert (info.title, info.author, info.subject, info.creator, info.producer) == (None,) * 5


@pytest.mark.parametrize(
    "raw, shown",
    [
        (PDF_DATE, "2024-03-11 01:50:30 UTC"),
        ("D:20240311015030+01'00'", "2024-03-11 01:50:30 UTC+01:00"),
        ("D:20240311015030Z00'00'", "2024-03-11 01:50:30 UTC"),
        ("D:20240311", "2024-03-11"),
        ("D:2024-13-45garbage", "2024-13-45garbage"),  # pypdf's parser raises on these
        ("D:20241399999999", "20241399999999"),
        ("last Tuesday", "last Tuesday"),
        ("D:", None),
        ("  \x00  ", None),
    ],
)
def test_dates_are_readable_and_malformed_ones_do_not_fail(raw, shown):
    data = with_metadata(simple_pdf(["x"]), {"/CreationDate": raw, "/ModDate": raw})
    info = read_info(open_pdf(data), len(data))
    assert info.created == shown and info.modified == shown


def test_metadata_strings_are_cleaned():
    data = with_metadata(
        simple_pdf(["x"]),
        {"/Title": "  A\x00 title\n with\tbreaks \x00", "/Author": "\x00\x00", "/Subject": "s" * 5000},
    )
    info = read_info(open_pdf(data), len(data))
    assert info.title == "A title with breaks"
    assert info.author is None
    assert 0 < len(info.subject) <= 300


def test_unreadable_metadata_never_fails_the_run(monkeypatch):
    data = simple_pdf(["x", "y"])
    reader = open_pdf(data)

    def broken(self):
        raise pypdf.errors.PdfReadError("bad /Info")

    monkeypatch.setattr(pypdf.PdfReader, "metadata", property(broken))
    info = read_info(reader, len(data))
    assert info.page_count == 2 and info.title is None and info.created is None


# --------------------------------------------------------------------------- page ranges


@pytest.mark.parametrize(
    "spec, count, expected",
    [
        ("1-3,5,10-", 12, [1, 2, 3, 5, 10, 11, 12]),
        ("-3", 12, [1, 2, 3]),
        (" 2 , 4 - 5 ", 10, [2, 4, 5]),
        ("3,1,3,2-3", 5, [1, 2, 3]),
        (None, 3, [1, 2, 3]),
        ("", 3, [1, 2, 3]),
        ("  ", 3, [1, 2, 3]),
        ("ALL", 3, [1, 2, 3]),
        ("3-", 3, [3]),
        ("1-100", 4, [1, 2, 3, 4]),  # clipped
        ("2,99", 6, [2]),  # clipped
        ("0-2", 6, [1, 2]),
        ("2\u20134", 6, [2, 3, 4]),  # en dash pasted from a document
        ("1,,3,", 5, [1, 3]),
        ("2-99999999999999999999999", 3, [2, 3]),
    ],
)
def test_page_ranges(spec, count, expected):
    assert parse_page_range(spec, count) == expected


@pytest.mark.parametrize(
    "spec",
    ["x-y", "1-2-3", "-", "5-3", "10-", "6", "0", ",", "1.5", "first", "1 2"],
)
def test_bad_page_ranges_name_the_page_count(spec):
    with pytest.raises(PageRangeError) as info:
        parse_page_range(spec, 5)
    message = str(info.value)
    assert "this document has 5 pages" in message
    assert "1-3,5,10-" in message  # shows the syntax


def test_page_range_message_for_a_one_page_document():
    with pytest.raises(PageRangeError, match="has 1 page\\)"):
        parse_page_range("2", 1)


_part = st.one_of(
    st.integers(0, 40).map(str),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: f"{min(t)}-{max(t)}"),
    st.integers(0, 40).map(lambda n: f"{n}-"),
    st.integers(0, 40).map(lambda n: f" - {n}"),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_part, min_size=1, max_size=6), count=st.integers(1, 30))
def test_page_range_properties(parts, count):
    spec = " , ".join(parts)
    try:
        pages = parse_page_range(spec, count)
    except PageRangeError as exc:
        assert f"{count} page" in str(exc)
        # Only a selection with nothing in the document may fail for well-formed specs.
        assert not any(1 <= int(p) <= count for p in parts if p.isdigit())
        return
    assert pages == sorted(set(pages)) and pages
    assert all(1 <= p <= count for p in pages)
    for p in parts:  # every single page asked for and present is selected
        if p.isdigit() and 1 <= int(p) <= count:
            assert int(p) in pages


@settings(max_examples=300, deadline=None)
@given(spec=st.text(max_size=20), count=st.integers(0, 30))
def test_any_text_gives_pages_or_a_page_range_error(spec, count):
    try:
        pages = parse_page_range(spec, count)
    except PageRangeError:
        return
    assert pages and all(1 <= p <= count for p in pages)


# --------------------------------------------------------------------------- pages and budget


def test_iter_pages_is_lazy(monkeypatch):
    reader = open_pdf(simple_pdf(THREE_PAGES))
    calls = []
    original = pypdf.PageObject.extract_text

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pypdf.PageObject, "extract_text", counting)
    pages = iter_pages(reader, [1, 2, 3])
    assert isinstance(pages, GeneratorType) and calls == []
    first = next(pages)
    assert first.page == 1 and len(calls) == 1
    assert [p.page for p in pages] == [2, 3]


def test_selected_pages_only_in_order():
    reader = open_pdf(simple_pdf(THREE_PAGES))
    got = list(iter_pages(reader, parse_page_range("3,1", 3)))
    assert [(p.page, p.text.strip()) for p in got] == [(1, THREE_PAGES[0]), (3, THREE_PAGES[2])]


def test_budget_cuts_at_a_word_boundary_and_reports_the_page():
    reader = open_pdf(simple_pdf(THREE_PAGES))
    full = [p.text for p in iter_pages(reader, [1, 2, 3])]
    # Ask for the first page and part of the second, ending inside "students".
    room = full[1].index("students") + 3
    got = list(iter_pages(reader, [1, 2, 3], max_chars=len(full[0]) + room))
    assert [p.page for p in got] == [1, 2]
    assert got[0] == PageText(page=1, text=full[0])
    assert got[1].budget_reached and got[1].error is None
    assert got[1].text == "Bravo page continues with"
    assert sum(len(p.text) for p in got) <= len(full[0]) + room


def test_budget_that_ends_on_a_space_keeps_the_whole_word():
    reader = open_pdf(simple_pdf(["one two three four"]))
    text = next(iter_pages(reader, [1])).text
    cut = next(iter_pages(reader, [1], max_chars=text.index(" three")))
    assert cut.text == "one two" and cut.budget_reached


def test_budget_filled_exactly_stops_at_the_next_page_with_text():
    reader = open_pdf(simple_pdf(THREE_PAGES))
    first = next(iter_pages(reader, [1])).text
    got = list(iter_pages(reader, [1, 2, 3], max_chars=len(first)))
    assert [(p.page, p.budget_reached) for p in got] == [(1, False), (2, True)]
    assert got[1].text == ""


def test_a_first_word_longer_than_the_budget_is_cut_mid_word():
    reader = open_pdf(simple_pdf(["Supercalifragilistic words"]))
    got = list(iter_pages(reader, [1], max_chars=5))
    assert got == [PageText(page=1, text="Super", budget_reached=True)]


def test_no_budget_and_invalid_budget():
    reader = open_pdf(simple_pdf(THREE_PAGES))
    assert len(list(iter_pages(reader, [1, 2, 3], max_chars=None))) == 3
    with pytest.raises(ValueError):
        list(iter_pages(reader, [1], max_chars=0))
    with pytest.raises(ValueError):
        list(iter_pages(reader, []))


def test_budget_on_a_long_document_keeps_all_but_the_last_words(paper12):
    reader = open_pdf(paper12.pdf)
    got = list(iter_pages(reader, list(range(1, 13)), max_chars=10_000))
    assert got[-1].budget_reached and not any(p.budget_reached for p in got[:-1])
    kept = sum(len(p.text) for p in got)
    assert 10_000 - 40 <= kept <= 10_000  # one word's worth below the budget at most
    assert not got[-1].text[-1].isspace()


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (LimitReachedError("Limit reached: decompressed content too large"), "too complex to read: a stream decompresses"),
        (RecursionError("maximum recursion depth exceeded"), "too complex to read: its structure is nested too deeply"),
        (KeyError("/Resources"), "KeyError"),
    ],
)
def test_a_failing_page_is_recorded_and_the_rest_continue(error, described):
    reader = open_pdf(simple_pdf(THREE_PAGES))

    def boom(*args, **kwargs):
        raise error

    reader.pages[1].extract_text = boom
    got = list(iter_pages(reader, [1, 2, 3]))
    assert [p.page for p in got] == [1, 2, 3]
    assert got[1].text == "" and got[1].error.startswith(described)
    assert got[0].error is None and got[2].text.strip() == THREE_PAGES[2]


def test_page_error_messages_are_short_and_one_line():
    reader = open_pdf(simple_pdf(THREE_PAGES))

    def boom(*args, **kwargs):
        raise ValueError("line one\nline two " + "x" * 1000)

    reader.pages[0].extract_text = boom
    error = next(iter_pages(reader, [1])).error
    assert "\n" not in error and len(error) < 200 and error.startswith("ValueError: line one")


def test_every_page_failing_is_damaged(monkeypatch):
    reader = open_pdf(simple_pdf(THREE_PAGES))

    def boom(*args, **kwargs):
        raise pypdf.errors.PdfReadError("broken content stream")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", boom)
    seen = []
    with pytest.raises(DamagedPdfError, match="3 pages failed"):
        for page in iter_pages(reader, [1, 2, 3]):
            seen.append(page)
    assert [p.page for p in seen] == [1, 2, 3]  # the pages were reported first


def test_image_only_pdf_raises_no_text_after_yielding_its_pages():
    data = image_only_pdf(pages=3)
    reader = open_pdf(data)
    for page in reader.pages:  # the factory really shows no text (reportlab's preamble
        # sets a font in an empty BT/ET block; no glyph is drawn)
        operators = {op for _, op in ContentStream(page.get_contents(), reader).operations}
        assert operators.isdisjoint({b"Tj", b"TJ", b"'", b'"'}) and b"Do" in operators
    seen = []
    with pytest.raises(NoTextError) as info:
        for page in iter_pages(reader, [1, 2, 3]):
            seen.append(page)
    assert [p.page for p in seen] == [1, 2, 3] and all(p.error is None for p in seen)
    message = str(info.value)
    assert "scanned" in message and "OCR" in message and "ocrmypdf" in message


def test_blank_and_failing_pages_mixed_are_no_text(monkeypatch):
    reader = open_pdf(simple_pdf(["", "", ""]))
    reader.pages[0].extract_text = lambda *a, **k: (_ for _ in ()).throw(KeyError("x"))
    with pytest.raises(NoTextError):
        list(iter_pages(reader, [1, 2, 3]))


# --------------------------------------------------------------------------- the generated paper


def _page_texts(data: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_paper_has_header_footer_page_numbers_and_stamp_where_pypdf_finds_them(paper12):
    pages = _page_texts(paper12.pdf)
    assert len(pages) == paper12.page_count == 12
    for number, text in enumerate(pages, 1):
        lines = [line.strip() for line in text.splitlines()]
        assert (paper12.header in lines) == (number > 1), number
        assert paper12.footer in lines
        assert str(number) in lines  # the page number alone on its line
    stamp = " ".join(paper12.stamp.split())
    assert stamp == "arXiv:2402.13116v4 [cs.CL] 21 Oct 2024"
    assert stamp in " ".join(pages[0].split())
    assert not any("arXiv" in text for text in pages[1:])


def test_paper_stamp_word_by_word():
    pages = _page_texts(paper(1, stamp_words=True).pdf)
    assert "\narXiv:2402.13116v4\n[cs.CL]\n21\nOct\n2024" in pages[0]


def test_paper_hyphenates_many_line_ends_and_keeps_compounds_whole(paper12):
    text = "\n".join(_page_texts(paper12.pdf))
    lines = text.splitlines()
    hyphenated = [line for line in lines if re.search(r"[a-z]-$", line)]
    assert len(hyphenated) / len(lines) > 0.15
    found = sum(f"{a}-\n{b}" in text for a, b in paper12.hyphenations)
    assert found == len(paper12.hyphenations) > 100
    # Compounds are never broken at their own hyphen by default, and do occur mid-line.
    for compound in paper12.compounds:
        head, rest = compound.split("-", 1)
        assert f"{head}-\n{rest}" not in text
    mid_line = sum(bool(re.search(rf"\S {re.escape(c)}\b", text)) for c in paper12.compounds)
    assert mid_line >= len(paper12.compounds) // 2


def _undo_hyphenations(text: str, hyphenations: list[tuple[str, str]]) -> str:
    """Join each known line-end hyphenation, in order. One that falls at the end of a
    page has the footer, page number and next header between its parts: those lines are
    moved after the joined word."""
    out, pos = [], 0
    for a, b in hyphenations:
        m = re.compile(rf"{re.escape(a)}-\n((?:.*\n){{0,5}}?){re.escape(b)}(?=\s|$)").search(text, pos)
        assert m, (a, b)
        out.append(text[pos : m.start()] + a + b + " " + m.group(1))
        pos = m.end()
    return "".join(out) + text[pos:]


def test_a_hyphenation_can_straddle_a_page_break(paper12):
    # As in real papers: "enhan-" ends a page, "ces" starts the next after the header.
    pages = _page_texts(paper12.pdf)
    straddling = [
        (a, b)
        for a, b in paper12.hyphenations
        if any(t.rstrip().split("\n")[-3].endswith(a + "-") for t in pages)
    ]
    assert straddling


def test_body_words_are_the_extracted_words_in_reading_order(paper12):
    """The ground truth matches the PDF: undo the generator's hyphenations in pypdf's text
    and the body words are a subsequence of its words (the rest: header, footer, numbers,
    stamp)."""
    text = "\n".join(_page_texts(paper12.pdf))
    text = _undo_hyphenations(text, paper12.hyphenations)
    tokens = iter(text.split())
    missing = [w for w in paper12.body_words if not any(t == w for t in tokens)]
    assert missing == []
    assert len(paper12.body_words) > 12 * 500
    assert paper12.title.split()[0] == paper12.body_words[0]


def test_compound_breaks_option_breaks_compounds_at_their_hyphen():
    generated = paper(6, compound_breaks=True, hyphenate=0.0)
    text = "\n".join(_page_texts(generated.pdf))
    broken = [c for c in generated.compounds if "{}-\n{}".format(*c.split("-", 1)) in text]
    assert broken
    assert generated.hyphenations == []
    assert "open-source" in " ".join(generated.body_words)


@pytest.mark.parametrize("pages", [1, 2, 5])
@pytest.mark.parametrize("columns", [1, 2])
def test_paper_page_count_and_determinism(pages, columns):
    a = paper(pages, columns=columns)
    assert len(pypdf.PdfReader(io.BytesIO(a.pdf)).pages) == pages
    assert a.pdf == paper(pages, columns=columns).pdf
    assert a.pdf != paper(pages, columns=columns, seed=1).pdf


def test_other_factories_are_deterministic_and_do_what_they_say():
    assert encrypted_pdf("AES-256") == encrypted_pdf("AES-256")
    assert pypdf.PdfReader(io.BytesIO(encrypted_pdf("RC4-40"))).is_encrypted
    truncated = truncated_pdf()
    assert truncated.startswith(b"%PDF-") and b"%%EOF" not in truncated
    assert not_pdf_bytes("png").startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        not_pdf_bytes("nope")


def test_extraction_of_the_paper_end_to_end(paper12):
    data = read_source(paper12.pdf)
    reader = open_pdf(data)
    pages = list(iter_pages(reader, parse_page_range("2-4", read_info(reader, len(data)).page_count)))
    assert [p.page for p in pages] == [2, 3, 4]
    assert all(p.text.startswith(paper12.header) for p in pages)


# --- pypdf's tightened limits ------------------------------------------------------------------


def _normal_corpus() -> dict[str, bytes]:
    """Every kind of normal PDF the tests generate, plus the examples shipped with the app."""
    from pathlib import Path

    from tests.pdf_factory import paper

    corpus = {
        "paper 12 pages, two columns": paper(pages=12).pdf,
        "paper 30 pages, one column, header": paper(pages=30, columns=1, header="Running Header", seed=3).pdf,
        "paper with stamp words and compound breaks": paper(pages=6, stamp_words=True, compound_breaks=True, seed=5).pdf,
        "simple pages": simple_pdf(THREE_PAGES, title="Three"),
        "AES-256 with empty user password": encrypted_pdf("AES-256", user_password=""),
        "RC4-128 with empty user password": encrypted_pdf("RC4-128", user_password=""),
    }
    for path in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.pdf")):
        corpus[f"example {path.name}"] = path.read_bytes()
    return corpus


def test_tightened_pypdf_limits_do_not_change_the_text_of_normal_pdfs():
    from pipeline.extract import PYPDF_LIMITS

    for name, data in _normal_corpus().items():
        reader = open_pdf(data)
        pages = list(range(1, len(reader.pages) + 1))
        default = [p.text for p in iter_pages(reader, pages, None)]
        with pypdf.apply_configuration(**PYPDF_LIMITS) as applied:
            assert pypdf.get_configuration() is applied and applied.stream_filters_maximum_length == 8
            reader = open_pdf(data)
            tightened = list(iter_pages(reader, pages, None))
        assert all(p.error is None for p in tightened), name
        assert [p.text for p in tightened] == default, name
        assert sum(map(len, default)) > 100, name

"""Regular expressions for the furniture of scientific PDFs, shared by the stages.

Used by pipeline.normalize (arXiv stamps, page labels), pipeline.guard (what a cleaner may
drop: citations, stamps, e-mail addresses, LaTeX commands) and pipeline.structure (lines
that are not body text, citations, footnote marks). Three helpers:

    remove_citations("as shown [12]. Models (Smith et al., 2020), which")
        -> ("as shown. Models, which", ["[12]", "(Smith et al., 2020)"])
    remove_footnote_marks("proprietary¹ models† and x²") -> ("proprietary models and x²", ["¹", "†"])
    is_furniture_line("Journal of Machine Learning Research 24 (2023) 1-48") -> "journal"

The furniture patterns describe whole short lines (a running footer, a stamp in the
margin): is_furniture_line matches them against the full line, so a body sentence that
mentions a journal, a DOI or a licence in passing is not furniture.

What it does not do: it knows English and the usual LaTeX/ACM/IEEE/Springer layouts only;
a citation style other than numeric brackets and author-year ("[Smi20]", superscript
numbers) is left alone, as is anything it is not sure of ("(2020)" after a lower-case
word, "(3)" equation numbers, "[equation]").
"""

from __future__ import annotations

import re

# --- numbers, pages, stamps (shared with normalize) -------------------------------------

MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

# The arXiv side stamp with every space removed (normalize searches it in text whose
# whitespace it removed, forwards and reversed): "arXiv:2402.13116v3[cs.CL]8Mar2024".
ARXIV_STAMP_COMPACT = re.compile(
    r"arXiv:(?:\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})v\d+"
    r"\[[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?\]"
    rf"\d{{1,2}}(?:{MONTHS})\d{{4}}"
)
# A cheap test before the search above: "arXiv" forwards or reversed, spaces allowed.
ARXIV_STAMP_HINT = re.compile(r"a\s*r\s*X\s*i\s*v|v\s*i\s*X\s*r\s*a")
# The stamp as written, any case, parts optional (the guard, on casefolded text):
# "arXiv:2402.13116v3 [cs.CL] 8 Mar 2024", "arxiv:2402.13116".
ARXIV_STAMP = re.compile(
    r"arxiv:\s*\d{4}\.\d{4,5}(?:v\d+)?(?:\s*\[[^\]]{1,20}\])?(?:\s*\d{1,2}\s+\w{3,9}\s+\d{4})?",
    re.I,
)

# Page labels on a line of their own: "Page 12", "p. 3", "12 of 40", "3 / 9", "- 12 -".
PAGE_LABEL = re.compile(
    r"(?i:page|p\.|pg\.?)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r"|\d{1,4}\s*(?:of|/)\s*\d{1,4}"
    r"|[-–—]\s*\d{1,4}\s*[-–—]"
)
BARE_NUMBER = re.compile(r"\d{1,4}")
# Lower-case Roman numerals up to 399 (front matter page numbers): "iv", "xii".
ROMAN = re.compile(r"(?=[ivxlc])(x{0,3}|xl|l?x{0,3}|xc)(ix|iv|v?i{0,3})")


def is_page_label(line: str) -> bool:
    """"Page 3 of 9", "- 12 -", "3/9" (a whole line); not "3/2" (a fraction)."""
    if PAGE_LABEL.fullmatch(line) is None:
        return False
    numbers = [int(n) for n in re.findall(r"\d+", line)]
    return len(numbers) == 1 or numbers[0] <= numbers[1]


def is_page_number(line: str) -> bool:
    """A page label, a bare number of up to 4 digits, or a short lower-case Roman numeral."""
    line = line.strip()
    return bool(
        is_page_label(line)
        or BARE_NUMBER.fullmatch(line)
        or (line and len(line) <= 6 and ROMAN.fullmatch(line))
    )


# --- addresses, LaTeX (shared with the guard) ------------------------------------------

# E-mail addresses, including grouped ones: "{shawnxxh,chongyangtao}@gmail.com".
EMAIL = re.compile(r"(?:\{[^{}]{0,200}\}|[\w.+-]+)@[\w-]+(?:\.[\w-]+)+")
# Web addresses: "https://github.com/Tebmer/Awesome-KD", "www.nature.com/ncomms".
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]]", re.I)
# LaTeX commands: "\textbf", "\cite", "\section*" (lower case: the guard casefolds first).
LATEX_COMMAND = re.compile(r"\\[a-z]+\*?")

# --- citations --------------------------------------------------------------------------

# Numeric: "[12]", "[3, 5–7]", "[3-5,8]"; not "[equation]" or "[a]".
NUMERIC_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")
# Any parenthesis with a year in it: "(Gou et al., 2021)", "(Wei et al., 2022a,b; Xu, 2024)".
# Loose on purpose: the guard uses it to know what a cleaner may drop, not to remove text.
YEAR_PARENTHESIS = re.compile(r"\([^()]*?\b(?:19|20)\d\d[a-z]?\b[^()]*\)")

# A surname: capitalised, with particles ("van der Oord"), hyphens and apostrophes
# ("Al-Rfou", "O'Neil"), accents ("Köpf"). "\s*" rather than "\s+" inside citations
# because glued extractions drop the spaces: "(Gouetal.,2021;GuptaandAgrawal,2022)".
_NAME = r"(?:(?:van|von|der|den|de|da|di|du|del|la|le)\s+)*[A-Z\u00C0-\u00DE][\w'’\-]*"
_AUTHORS = (
    rf"{_NAME}(?:\s*,\s*{_NAME})*(?:\s*,?\s*(?:and|&)\s*{_NAME})?(?:\s*et\s*al\.?)?"
)
_YEAR = r"(?:19|20)\d\d[a-z]?(?:\s*,\s*[a-z](?![\w]))*"  # "2022a,b"
_YEARS = rf"{_YEAR}(?:\s*,\s*{_YEAR})*"
_LOCATOR = r"(?:\s*,\s*(?:p|pp|ch|sec)\.\s*\d+(?:\s*[–-]\s*\d+)?)?"  # ", p. 5"
_ONE_CITATION = (
    rf"(?:(?:e\.g\.|i\.e\.|see also|see|cf\.)\s*,?\s*)?{_AUTHORS}\s*,?\s*{_YEARS}{_LOCATOR}"
)
# Parenthetical author-year, removed whole: "(Peters et al., 2018a; Radford et al., 2018)",
# "(Smith and Jones, 2020)", "(e.g., Smith et al., 2020)".
AUTHOR_YEAR_CITATION = re.compile(
    rf"\(\s*{_ONE_CITATION}(?:\s*;\s*{_ONE_CITATION})*\s*\)"
)
# Narrative author-year, the name stays: "Smith et al. (2020)" -> "Smith et al.",
# "Smith and Jones (2020a)" -> "Smith and Jones", "Radford (2018)" -> "Radford".
NARRATIVE_CITATION = re.compile(
    rf"(?<![\w\-])(?P<who>{_NAME}(?:\s+et\s*al\.|\s+(?:and|&)\s+{_NAME})?)"
    rf"(?P<year>\s*\(\s*{_YEARS}\s*\))"
)

# What a removed citation may leave behind: a space before punctuation or a line end,
# and two spaces where it sat between words.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?)\]]|$)", re.M)
_DOUBLE_SPACE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")


def remove_citations(text: str) -> tuple[str, list[str]]:
    """Text without numeric and author-year citations, and the removed spans in order.

    "as shown [12]."                       -> "as shown."
    "models (Smith et al., 2020), which"   -> "models, which"
    "Smith et al. (2020) show"             -> "Smith et al. show"
    "see Section 3 (2) and in 2020 (3)"    -> unchanged: no name before the year, and
                                              "(2)" is an equation number

    Spacing is repaired only where a citation was: the space before it goes when
    punctuation or the line end follows, so nothing else in the text changes.
    """
    removed: list[str] = []
    pieces: list[str] = []
    last = 0
    for match in _citations(text):
        start, end, keep = match
        removed.append(text[start:end].strip())
        before = text[last:start]
        rest = text[end:]
        # Drop the space(s) in front of the citation when what follows is punctuation,
        # a line end, or another space (the gap would be doubled). Before punctuation the
        # line breaks go too: a citation that starts a column ("image" / "[1]. There")
        # leaves the sentence's stop on the line the sentence is on.
        if not rest or rest[0] in ".,;:!?)]\n" or rest[0] in " \t":
            if not keep:
                before = before.rstrip() if rest and rest[0] in ".,;:!?)" else before.rstrip(" \t")
        pieces.append(before + keep)
        last = end
    if not removed:
        return text, []
    pieces.append(text[last:])
    out = "".join(pieces)
    out = _DOUBLE_SPACE.sub(" ", out) if "  " in out and "  " not in text else out
    return out, removed


def _citations(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every citation, in order, not overlapping."""
    found: list[tuple[int, int, str]] = []
    if "[" in text:
        found += [(m.start(), m.end(), "") for m in NUMERIC_CITATION.finditer(text)]
    if "(" in text:
        found += [(m.start(), m.end(), "") for m in AUTHOR_YEAR_CITATION.finditer(text)]
        found += [(m.start("year"), m.end("year"), "") for m in NARRATIVE_CITATION.finditer(text)]
    found.sort()
    result: list[tuple[int, int, str]] = []
    for start, end, keep in found:
        if result and start < result[-1][1]:
            continue
        result.append((start, end, keep))
    return result


# --- footnote marks ---------------------------------------------------------------------

# A mark glued to the end of a word of at least three letters, before a space,
# punctuation or the end: "models¹", "models†", "models*,", "Xu‡". Superscript digits
# after one or two letters are math or units ("x²", "m²", "cm³") and stay; "GPT-4" has
# no mark.
FOOTNOTE_MARK = re.compile(
    r"(?<=[^\W\d_]{3})(?:[\u00b9\u00b2\u00b3\u2070\u2074-\u2079]+|[\u2020\u2021\u00a7\u00b6]+|\*(?!\*))"
    r"(?=[\s.,;:!?)\]]|$)"
)
# A plain digit glued to a lower-case word, as pypdf gives superscripts: "proprietary1 Large".
# Only with plain_digits=True: it cannot tell "layer1" from a footnote mark.
PLAIN_FOOTNOTE_MARK = re.compile(r"(?<![\w-])([a-z]{4,})([1-9])(?=[\s,;:)]|\.\s|\.?$)")


def remove_footnote_marks(text: str, plain_digits: bool = False) -> tuple[str, list[str]]:
    """Text without footnote marks glued to word ends, and the removed marks in order.

    "proprietary¹ models† and x² in GPT-4" -> ("proprietary models and x² in GPT-4", ["¹", "†"])
    With plain_digits: "proprietary1 Large" -> "proprietary Large" (pypdf's text of a
    superscript); off by default because "layer1" or "top5" look the same.
    """
    removed: list[str] = []

    def cut(match: re.Match[str]) -> str:
        # "**bold**" and "a*b" are not marks: the asterisk must end the word.
        if match.group() == "*" and match.start() > 0 and text[match.start() - 1] == "*":
            return match.group()
        removed.append(match.group())
        return ""

    text = FOOTNOTE_MARK.sub(cut, text)
    if plain_digits:

        def cut_digit(match: re.Match[str]) -> str:
            removed.append(match.group(2))
            return match.group(1)

        text = PLAIN_FOOTNOTE_MARK.sub(cut_digit, text)
    return text, removed


# --- furniture lines --------------------------------------------------------------------

# Journal line with volume, issue, article or pages:
#   "Journal of Machine Learning Research 24 (2023) 1-48"
#   "Vol. 12, No. 3, Article 45. Publication date: May 2023."
#   "Proceedings of the 2023 Conference on EMNLP, pages 1–10"
#   "IEEE Transactions on Pattern Analysis, Vol. 14, No. 8, August 2021"
JOURNAL_LINE = re.compile(
    r"(?:[A-Z][\w&,.:'’\- ]{2,120}?\s)?"
    r"(?:\d{1,4}\s*\((?:19|20)\d\d\)\s*\d+\s*[-–]\s*\d+"  # 24 (2023) 1-48
    r"|(?i:vol(?:ume)?\.?)\s*\d+\s*(?:\(\d+\))?\s*,?\s*(?:(?i:no|issue)\.?\s*\d+)?"
    r"(?:\s*,?\s*(?i:article)\s*(?:no\.?\s*)?\d+)?(?:[.,]?\s*[\w:.,\- ]{0,60})?"  # Vol. 12, No. 3
    r"|(?i:pages|pp\.)\s*\d+\s*[-–]\s*\d+)[.,]?"  # pages 1–10
    r"(?:\s*[.,]?\s*(?:(?:19|20)\d\d|(?i:" + MONTHS + r")\w*\.?\s*(?:19|20)\d\d))?\.?"
)
# Journal or publisher name with its web address: "Nature Communications | www.nature.com/ncomms".
JOURNAL_WEB_LINE = re.compile(
    r"[A-Z][\w&.,:'’\- ]{2,100}\s*[|·•]\s*(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?"
    r"|(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?\s*[|·•]\s*[A-Z][\w&.,:'’\- ]{2,100}"
)
# "Downloaded from https://academic.oup.com/... by guest on 12 May 2024",
# "Download date: 12/05/2024".
DOWNLOAD_LINE = re.compile(
    r"(?i:downloaded\s+(?:from|by|on|at)\b.{0,200}|download\s+date\s*:?.{0,40})"
)
# "Published by Elsevier B.V.", "Published online: 3 March 2023", "Published as a
# conference paper at ICLR 2024".
PUBLISHED_LINE = re.compile(
    r"(?i:published\s+(?:by|online|in|as\s+a\s+conference\s+paper\s+at|on)\b).{0,120}"
)
# "https://doi.org/10.1145/3442188.3445922", "doi:10.1000/xyz123", "DOI 10.1007/s11263-021".
DOI_LINE = re.compile(
    r"(?i:(?:https?://(?:dx\.)?doi\.org/|doi\s*:?\s*)10\.\d{4,9}/\S+)"
)
# "© 2023 The Authors", "Copyright © 2024 ACM", "(c) 2022 IEEE. All rights reserved.",
# "All rights reserved."
COPYRIGHT_LINE = re.compile(
    r"(?i:(?:copyright\s*)?(?:©|\(c\)|copyright)\s*(?:(?:19|20)\d\d)?.{0,150}"
    r"|all\s+rights\s+reserved\.?)"
)
# "Preprint. Under review.", "Preprint submitted to Elsevier", "Under review as a
# conference paper at ICLR 2025", "Work in progress".
PREPRINT_LINE = re.compile(
    r"(?i:preprint(?:\.\s*under\s+review\.?|\s+submitted\s+to\b.{0,80}|\.?)"
    r"|under\s+review(?:\s+as\s+a\s+conference\s+paper\s+at\b.{0,60})?\.?"
    r"|work\s+in\s+progress\.?)"
)
# "This work is licensed under a Creative Commons Attribution 4.0 International License.",
# "Licensed under CC BY 4.0", "CC BY-NC-ND 4.0".
LICENSE_LINE = re.compile(
    r"(?i:(?:this\s+(?:work|article|paper)\s+is\s+)?licensed\s+under\b.{0,160}"
    r"|(?:creative\s+commons|cc)\s+(?:by|attribution)[\w\s.\-]{0,60})"
)
# "Received 12 March 2023; accepted 5 June 2023", "Received: 1 May 2022 / Accepted: ...",
# "Accepted for publication ...", "Revised 3 May 2023".
DATES_LINE = re.compile(
    r"(?i:(?:received|accepted|revised|submitted)\s*(?:for\s+publication)?\s*:?\s*"
    r"(?:\d{1,2}\s+)?(?:" + MONTHS + r")[a-z]*\.?\s+(?:\d{1,2},?\s+)?(?:19|20)\d\d"
    r"(?:\s*[;,/]\s*(?:received|accepted|revised|published(?:\s+online)?)\s*:?\s*"
    r"(?:\d{1,2}\s+)?(?:" + MONTHS + r")[a-z]*\.?\s+(?:\d{1,2},?\s+)?(?:19|20)\d\d)*\.?)"
)
# Dates in any order, as in "Last updated 2020 June 10; in original form 2013 September 5",
# "Received 3 November 2014", "Accepted: March 5, 2021".
_DATE = (r"(?:(?:\d{1,2}\s+)?(?:" + MONTHS + r")[a-z]*\.?\s+(?:\d{1,2},?\s+)?(?:19|20)\d\d"
         r"|(?:19|20)\d\d\s+(?:" + MONTHS + r")[a-z]*\.?(?:\s+\d{1,2})?)")
_DATE_WORD = r"(?:last\s+updated|in\s+original\s+form|received|accepted|revised|submitted|published(?:\s+online)?)"
DATED_LINE = re.compile(rf"(?i:{_DATE_WORD}\s*:?\s*(?:on\s+)?{_DATE}(?:\s*[;,.]?\s*{_DATE_WORD}\s*:?\s*{_DATE})*\.?)")
# A venue line: "Proceedings of the ASME 2023", "in: Proceedings European Conference on
# Computer Vision 2006. See also ...", "In Proceedings of ACL 2024" (a whole short line).
VENUE_LINE = re.compile(r"(?i:(?:in\s*:?\s*)?proceedings\s+(?:of\s+(?:the\s+)?)?)[\w&,.:'’()\- ]{0,100}?"
                        r"(?:19|20)\d\d\b.{0,80}")
# A line of e-mail addresses, with an optional label: "{a,b}@gmail.com c@umd.edu",
# "Correspondence to: Jane Doe <jane@uni.edu>", "Email: x@y.org".
EMAIL_LINE = re.compile(
    r"(?i:(?:e-?mail|correspondence(?:\s+to)?|contact)\s*:?\s*)?"
    r"(?:[\w.\- ]{0,40}<?(?:\{[^{}]{0,200}\}|[\w.+-]+)@[\w-]+(?:\.[\w-]+)+>?[\s,;]*)+"
)

# (category, pattern), tried in order; every pattern must match the whole line.
FURNITURE = (
    ("doi", DOI_LINE),
    ("download", DOWNLOAD_LINE),
    ("copyright", COPYRIGHT_LINE),
    ("license", LICENSE_LINE),
    ("preprint", PREPRINT_LINE),
    ("published", PUBLISHED_LINE),
    ("dates", DATES_LINE),
    ("dates", DATED_LINE),
    ("journal", VENUE_LINE),
    ("journal", JOURNAL_WEB_LINE),
    ("journal", JOURNAL_LINE),
    ("email", EMAIL_LINE),
)
_FURNITURE_MAX = 220  # characters: furniture is a short line; a paragraph is body text


def _is_arxiv_stamp(line: str) -> bool:
    if not ARXIV_STAMP_HINT.search(line):
        return False
    compact = "".join(line.split())
    for candidate in (compact, compact[::-1]):
        match = ARXIV_STAMP_COMPACT.search(candidate)
        if match and len(candidate) - (match.end() - match.start()) <= 2:
            return True
    return False


def is_furniture_line(line: str) -> str | None:
    """The kind of page furniture a whole line is, or None for body text.

    "12", "Page 3 of 9", "iv"                         -> "page number"
    "arXiv:2402.13116v3 [cs.CL] 8 Mar 2024"           -> "stamp"
    "https://doi.org/10.1145/3442188.3445922"         -> "doi"
    "© 2023 The Authors. Published by Elsevier B.V."  -> "copyright"
    "We follow the approach published by Smith."      -> None (a sentence)
    """
    line = " ".join(line.split())
    if not line or len(line) > _FURNITURE_MAX:
        return None
    if is_page_number(line):
        return "page number"
    if _is_arxiv_stamp(line):
        return "stamp"
    for category, pattern in FURNITURE:
        if pattern.fullmatch(line):
            return category
    return None


# --- the first page's front matter ---------------------------------------------------------

# An affiliation: an institution, then an address ("Department of Physics, ETH Zurich, 8093
# Zurich, Switzerland"), maybe after a marker ("aDepartment", "1 Institute", "* School").
AFFILIATION_LINE = re.compile(
    r"(?:[a-z0-9*\u2020\u2021]{1,2}\s*)?"
    r"(?:.{0,60}\b)?(?:Department|Dept\.|Division|University|Universit[äéà]t?|Institute|Institut|Laborator(?:y|ies)"
    r"|School\s+of|Faculty|College|Hospital|Cent(?:er|re)\s+(?:for|of)|Academy|GmbH|Inc\.|Ltd\.?|Corporation"
    r"|Research\s+(?:Center|Centre|Institute|Laboratory)|AG\b)"
    r"[^.!?]{0,160},[^.!?]{0,160}"
)
# A line of a first page's labelled front matter ("Correspondence: ...", "Citation: ...",
# "Academic Editor: ...", "Tel.: +1 ...").
FRONT_MATTER_LABEL = re.compile(
    r"(?:[*\u2020\u2021]\s*)?(?i:correspondence|corresponding\s+author|citation|academic\s+editors?"
    r"|received|revised|accepted|published|copyright|publisher[’']s\s+note|tel\.?|phone|fax|web|e-?mail)\s*:"
)


def is_front_matter_line(line: str) -> bool:
    """An affiliation, a labelled front-matter line or an e-mail line (a whole line)."""
    line = " ".join(line.split())
    return bool(line) and len(line) <= 200 and bool(
        AFFILIATION_LINE.fullmatch(line) or FRONT_MATTER_LABEL.match(line) or EMAIL_LINE.fullmatch(line))


# A thesis's title page: "A dissertation submitted in fulfilment of the requirements for
# the degree of", "Thesis presented for the degree of Master of Science".
DEGREE_STATEMENT = re.compile(
    r"(?i:\b(?:thesis|dissertation)\b.{0,40}\b(?:submitted|presented)\b|\bfulfil{1,2}ment\s+of\s+the\s+requirements"
    r"|\bfor\s+the\s+degree\s+of\b)"
)
# What a report's cover says it is: "Prepared for NASA-Lewis Research Center", "CONTRACT NAS
# 3-14348", "NASA Reference Publication 1311", "Quarterly Technical Progress Narrative".
REPORT_COVER = re.compile(
    r"(?i:\bprepared\s+(?:for|by|under)\b|\bcontract\s+(?:no\.?\s*)?[A-Z]*\s*[\d-]{3,}"
    r"|\b(?:technical|reference|research|final|progress|contractor|interim|annual|quarterly)\s+"
    r"(?:report|publication|memorandum|note|narrative)\b)"
)
# The statements a university requires in a thesis's front matter, as their heading reads:
# "Originality Statement", "Copyright Statement", "Declaration of Authorship",
# "Statutory Declaration", "Certificate of Originality".
STATEMENT_HEADING = re.compile(
    r"(?i:(?:originality|copyright|authenticity|access|plagiarism|candidate[’']?s?|authors?[’']?s?)\s+"
    r"(?:statement|declaration)|(?:statutory\s+)?declaration(?:\s+of\s+(?:originality|authorship|academic\s+integrity))?"
    r"|certificate\s+of\s+(?:originality|authorship))"
)
# A running head made of the authors' names: "Schwarz et al.", "Fairbairns & TUGboat
# editors", "M. Muehlich and T. Aach" (a whole line in the top margin).
_NAME = r"(?:[A-Z]\.\s*)*[A-Z][\w'’\-]+"
RUNNING_AUTHORS = re.compile(
    rf"{_NAME}(?:\s+{_NAME})?(?:\s+et\s+al\.?|(?:\s*(?:,|and|&)\s*{_NAME}(?:\s+{_NAME})?)+(?:\s+(?:editors?|eds?\.))?)"
)


# Runs of non-ASCII characters that may be UTF-8 read as Mac Roman or Windows-1252
# ("‚Äôs" for "'s", "â€”" for "—"); only runs that decode cleanly are repaired.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{2,}")


def repair_mojibake_runs(text: str) -> str:
    """Each run of non-ASCII characters that is UTF-8 read as Mac Roman or Windows-1252,
    decoded again; other runs as they are. For comparing texts (the guard, pipeline.edits),
    not for cleaning them (pipeline.normalize decides that per document)."""
    def fix(match: re.Match) -> str:
        run = match.group(0)
        for encoding in ("mac_roman", "cp1252"):
            try:
                return run.encode(encoding).decode("utf-8")
            except UnicodeError:
                continue
        return run

    if text.isascii():
        return text
    return _NON_ASCII_RUN.sub(fix, text)

"""olmOCR-Bench's "present", "absent" and "order" unit tests, re-implemented without its
dependencies (no fuzzysearch, tqdm, katex, bs4), for scoring extracted text.

    from bench.olmocr_tests import load_single_test, score
    test = load_single_test({"pdf": "a.pdf", "page": 1, "id": "t1", "type": "present",
                             "text": "The student model improves.", "max_diffs": 0})
    passed, why = test.run(extracted_text)

What it follows: allenai/olmocr, file `olmocr/bench/tests.py` (commit dc802aab), and the
scoring of `olmocr/bench/benchmark.py`:

- `normalize_text`: `<br>` -> space, markdown bold/italic markers and `<b>`/`<i>` tags
  removed, every whitespace run -> one space, NFC, then curly quotes -> straight quotes,
  en/em/figure/non-breaking hyphens and U+2212 minus -> "-", micro sign -> Greek mu. Both
  the test strings (when the test is built) and the candidate text (at run time) go
  through it, as upstream does. Note that upstream's italic rule also removes the
  underscores of "y_i ... y_i" pairs; kept as is, since both sides are normalized alike.
- present/absent (`TextPresenceTest`): optional lower-casing (`case_sensitive`, default
  True), optional window on the candidate (`first_n` characters, `last_n` characters, or
  both concatenated), the length guard (a candidate shorter than len(text) - max_diffs
  fails "present" and passes "absent"), then threshold = 1 - max_diffs / len(text) and
  `rapidfuzz.fuzz.partial_ratio(text, candidate) / 100`: present passes when the ratio is
  >= threshold, absent when it is < threshold.
- order (`TextOrderTest`): `before` and `after` are searched with a Levenshtein distance of
  at most `max_diffs` (upstream: `fuzzysearch.find_near_matches(..., max_l_dist=max_diffs)`);
  it fails when either is missing and passes when some match of `before` starts before some
  match of `after`. A test whose max_diffs exceeds half of `before` or `after` is rejected,
  as upstream rejects it. With max_diffs = 0 the match starts are exactly upstream's (every
  exact occurrence). With max_diffs > 0 this module takes every start position from which
  some substring is within the distance, where fuzzysearch keeps the best match of each
  group of overlapping ones; the two can differ only when a `before` match and an `after`
  match start within max_diffs characters of each other.
- JSONL records carry upstream's fields: pdf, page, id, type, max_diffs, checked, url, and
  text/case_sensitive/first_n/last_n (present, absent) or before/after (order).
- Scoring (`score`): a test scores 1 or 0 (one candidate output per document, so no
  repeats); the overall score is upstream's: the mean over groups (upstream: JSONL files;
  here: whatever group the caller names, e.g. a document category) of each group's pass
  rate.

What it does not do: the table, math, baseline, format and footnote test types, repeats,
bootstrap confidence intervals, or per-page candidate files (callers pass one text per
document; the `page` field is kept for the record format and for reports).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Optional

from rapidfuzz import fuzz

PRESENT, ABSENT, ORDER = "present", "absent", "order"
TEST_TYPES = (PRESENT, ABSENT, ORDER)
CHECKED = ("verified", "rejected")


class ValidationError(Exception):
    """A test record that upstream would refuse to load."""


_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\uff3f": "_",
    "\u2013": "-",
    "\u2014": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u00b5": "\u03bc",
}


def normalize_text(md_content: str | None) -> str | None:
    """Upstream's normalize_text, step by step in its order."""
    if md_content is None:
        return None
    md_content = re.sub(r"<br/?>", " ", md_content)
    md_content = re.sub(r"\*\*(.*?)\*\*", r"\1", md_content)
    md_content = re.sub(r"__(.*?)__", r"\1", md_content)
    md_content = re.sub(r"</?b>", "", md_content)
    md_content = re.sub(r"</?i>", "", md_content)
    # "." does not cross newlines, so markers on different lines are not paired.
    md_content = re.sub(r"(\*\*|__)(.*?)\1", r"\2", md_content)
    md_content = re.sub(r"(\*|_)(.*?)\1", r"\2", md_content)
    md_content = re.sub(r"\s+", " ", md_content)
    md_content = unicodedata.normalize("NFC", md_content)
    for fancy, plain in _REPLACEMENTS.items():
        md_content = md_content.replace(fancy, plain)
    return md_content


# --------------------------------------------------------------------------- fuzzy search


def _match_ends(pattern: str, text: str, max_dist: int) -> list[int]:
    """End offsets j (exclusive) such that some text[i:j] is within Levenshtein distance
    max_dist of pattern. Myers' bit-parallel algorithm (1999) in its search form (a match
    may start anywhere), on Python integers as bit vectors: O(len(text)) big-int steps."""
    m = len(pattern)
    if m == 0:
        return list(range(len(text) + 1))
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, ch in enumerate(pattern):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    pv, mv, score = mask, 0, m
    ends = []
    for j, ch in enumerate(text):
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        # Search form: row 0 is all zeros (a match may start at any column), so no carry-in.
        ph = (ph << 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
        if score <= max_dist:
            ends.append(j + 1)
    return ends


def near_match_starts(pattern: str, text: str, max_dist: int) -> list[int]:
    """Start offsets of the substrings of text within Levenshtein distance max_dist of
    pattern, ascending. max_dist = 0: every exact occurrence, overlapping ones included."""
    if max_dist == 0:
        starts, i = [], text.find(pattern)
        while i != -1:
            starts.append(i)
            i = text.find(pattern, i + 1)
        return starts
    # A start in the text is an end in the reversed text.
    n = len(text)
    return sorted(n - e for e in _match_ends(pattern[::-1], text[::-1], max_dist))


# --------------------------------------------------------------------------- tests


@dataclass(kw_only=True)
class BasePDFTest:
    pdf: str
    page: int
    id: str
    type: str
    max_diffs: int = 0
    checked: Optional[str] = None
    url: Optional[str] = None

    def __post_init__(self):
        if not self.pdf:
            raise ValidationError("PDF filename cannot be empty")
        if not self.id:
            raise ValidationError("Test ID cannot be empty")
        if not isinstance(self.max_diffs, int) or self.max_diffs < 0:
            raise ValidationError("Max diffs must be positive number or 0")
        if self.type not in TEST_TYPES:
            raise ValidationError(f"Invalid test type: {self.type}")
        if self.checked is not None and self.checked not in CHECKED:
            raise ValidationError(f"Invalid checked value: {self.checked}")

    def run(self, md_content: str) -> tuple[bool, str]:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(kw_only=True)
class TextPresenceTest(BasePDFTest):
    text: str
    case_sensitive: bool = True
    first_n: Optional[int] = None
    last_n: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        if self.type not in (PRESENT, ABSENT):
            raise ValidationError(f"Invalid type for TextPresenceTest: {self.type}")
        self.text = normalize_text(self.text)
        if not self.text.strip():
            raise ValidationError("Text field cannot be empty")

    def run(self, md_content: str) -> tuple[bool, str]:
        reference_query = self.text
        md_content = normalize_text(md_content)
        if not self.case_sensitive:
            reference_query = reference_query.lower()
            md_content = md_content.lower()
        if self.first_n and self.last_n:
            md_content = md_content[: self.first_n] + md_content[-self.last_n :]
        elif self.first_n:
            md_content = md_content[: self.first_n]
        elif self.last_n:
            md_content = md_content[-self.last_n :]

        # Upstream's length guard: partial_ratio scores against the shorter string, so an
        # (almost) empty candidate would "contain" any query with a space in it.
        min_required = len(reference_query) - self.max_diffs
        if len(md_content) < min_required:
            if self.type == PRESENT:
                return False, (
                    f"Candidate too short ({len(md_content)} chars) to plausibly contain "
                    f"'{reference_query[:40]}...' (need >= {min_required} chars)"
                )
            return True, ""

        threshold = 1.0 - (self.max_diffs / (len(reference_query) if len(reference_query) > 0 else 1))
        best_ratio = fuzz.partial_ratio(reference_query, md_content) / 100.0
        if self.type == PRESENT:
            if best_ratio >= threshold:
                return True, ""
            return False, (
                f"Expected '{reference_query[:40]}...' with threshold {threshold} "
                f"but best match ratio was {best_ratio:.3f}"
            )
        if best_ratio < threshold:
            return True, ""
        return False, (
            f"Expected absence of '{reference_query[:40]}...' with threshold {threshold} "
            f"but best match ratio was {best_ratio:.3f}"
        )


@dataclass(kw_only=True)
class TextOrderTest(BasePDFTest):
    before: str
    after: str

    def __post_init__(self):
        super().__post_init__()
        if self.type != ORDER:
            raise ValidationError(f"Invalid type for TextOrderTest: {self.type}")
        self.before = normalize_text(self.before)
        self.after = normalize_text(self.after)
        if not self.before.strip():
            raise ValidationError("Before field cannot be empty")
        if not self.after.strip():
            raise ValidationError("After field cannot be empty")
        if self.max_diffs > len(self.before) // 2 or self.max_diffs > len(self.after) // 2:
            raise ValidationError("Max diffs is too large for this test, greater than 50% of the search string")

    def run(self, md_content: str) -> tuple[bool, str]:
        md_content = normalize_text(md_content)
        before_starts = near_match_starts(self.before, md_content, self.max_diffs)
        after_starts = near_match_starts(self.after, md_content, self.max_diffs)
        if not before_starts:
            return False, f"'before' text '{self.before[:40]}...' not found with max_l_dist {self.max_diffs}"
        if not after_starts:
            return False, f"'after' text '{self.after[:40]}...' not found with max_l_dist {self.max_diffs}"
        # Some before-match starting before some after-match: the earliest against the latest.
        if before_starts[0] < after_starts[-1]:
            return True, ""
        return False, (
            f"Could not find a location where '{self.before[:40]}...' appears before "
            f"'{self.after[:40]}...'."
        )


def load_single_test(data: str | dict) -> BasePDFTest:
    """A test from one JSONL line or its parsed dict (upstream's load_single_test)."""
    if isinstance(data, str):
        data = data.strip()
        if not data:
            raise ValueError("Empty string provided")
        data = json.loads(data)
    kind = data.get("type")
    if kind in (PRESENT, ABSENT):
        return TextPresenceTest(**data)
    if kind == ORDER:
        return TextOrderTest(**data)
    raise ValidationError(f"Unknown or unsupported test type: {kind}")


def load_tests(records: list[str | dict]) -> list[BasePDFTest]:
    """Tests from JSONL lines or dicts; duplicate ids are refused, as upstream does."""
    tests, seen = [], set()
    for record in records:
        if isinstance(record, str) and not record.strip():
            continue
        test = load_single_test(record)
        if test.id in seen:
            raise ValidationError(f"Test with duplicate id {test.id} found, error loading tests.")
        seen.add(test.id)
        tests.append(test)
    return tests


def dumps_jsonl(tests: list[BasePDFTest]) -> str:
    return "".join(json.dumps(t.to_dict()) + "\n" for t in tests)


@dataclass(frozen=True)
class Result:
    test: BasePDFTest
    group: str
    passed: bool
    explanation: str


def score(results: list[Result]) -> dict:
    """Pass rates: per test type, per group, all tests pooled, and upstream's overall score
    (the mean of the per-group pass rates)."""
    by_type: dict[str, list[bool]] = {}
    by_group: dict[str, list[bool]] = {}
    for r in results:
        by_type.setdefault(r.test.type, []).append(r.passed)
        by_group.setdefault(r.group, []).append(r.passed)

    def rate(xs: list[bool]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    groups = {g: rate(xs) for g, xs in by_group.items()}
    return {
        "types": {t: (sum(xs), len(xs)) for t, xs in by_type.items()},
        "groups": {g: (sum(xs), len(xs)) for g, xs in by_group.items()},
        "pooled": rate([r.passed for r in results]),
        "overall": sum(groups.values()) / len(groups) if groups else float("nan"),
    }

"""The structure set: small generated PDFs with olmOCR-Bench-style tests, built in memory.

    from tests.structure_set import build_set
    for case in build_set():
        case.name, case.category, case.pdf, case.tests, case.body_text

Each case comes from one generator in tests/pdf_factory.py (STRUCTURE_GENERATORS): 1-3
pages that exercise one kind of furniture or layout (journal furniture, 2 and 3 columns
with a full-width float, a figure interrupting a hyphenated paragraph, a table, footnotes,
display math, references and appendix, running headers over pages, positioned words).
`tests` are JSONL-style dicts for bench/olmocr_tests.py; `body_text` is what a perfect
podcast-ready extraction keeps, in reading order.

Real cases follow the generated ones: small PDFs of real documents with licences that allow
redistribution, in tests/data/real/ (README.md there gives each one's source, licence and
changes), each with a JSON file beside it holding its category (a producer or layout kind),
its hand-written tests and body text ({"name", "category", "pdf", "pages",
"body_text_scope", "body_text", "tests"}), in the order of their names (REAL_CASES: every
JSON file there).

It writes no files; scoring is bench/structure.py's job.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.pdf_factory import STRUCTURE_GENERATORS, SetDocument

REAL_DIR = Path(__file__).resolve().parent / "data" / "real"
REAL_CASES = sorted(path.stem for path in REAL_DIR.glob("*.json"))


# A case is a generated document's record (name, category, pdf, tests, body_text, pages).
Case = SetDocument


def case_names() -> list[str]:
    return [g.__name__.removeprefix("structure_") for g in STRUCTURE_GENERATORS] + REAL_CASES


def _real_case(name: str) -> Case:
    record = json.loads((REAL_DIR / f"{name}.json").read_text(encoding="utf-8"))
    pdf = (REAL_DIR / record["pdf"]).read_bytes()
    return Case(record["name"], record["category"], pdf, record["tests"], record["body_text"], record["pages"])


def build_set(names: list[str] | None = None) -> list[Case]:
    """Every case (or those named), in a fixed order; the same bytes on every call."""
    cases = []
    for generator in STRUCTURE_GENERATORS:
        name = generator.__name__.removeprefix("structure_")
        if names and name not in names:
            continue
        cases.append(generator())
    for name in REAL_CASES:
        if names and name not in names:
            continue
        cases.append(_real_case(name))
    if names:
        unknown = set(names) - {c.name for c in cases}
        if unknown:
            raise ValueError(f"unknown case(s): {', '.join(sorted(unknown))}; known: {', '.join(case_names())}")
    return cases

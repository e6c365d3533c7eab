"""Write the example PDFs the web page offers (examples/*.pdf) from tests/pdf_factory.py.

    python scripts/make_examples.py          # (re)write them; the output is byte-identical
    python scripts/make_examples.py --check  # exit 1 when a committed file differs

The factory is deterministic (reportlab's invariant mode, seeded text), so the committed
files can be regenerated at any time. They are small generated papers with real paper-like
structure: a title block, an arXiv side stamp, two-column hyphenated text, running headers,
footers and page numbers, which is what the rules and the model have to clean up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pdf_factory import paper  # noqa: E402

EXAMPLES = {
    # A 3-page two-column survey, like the notebook's own example paper.
    "distillation-survey.pdf": dict(pages=3, seed=0),
    # A 2-page one-column note with a different title and header.
    "spoken-summaries.pdf": dict(
        pages=2,
        columns=1,
        seed=3,
        title="Reading Long Documents Aloud: Spoken Summaries for Busy Listeners",
        header="Spoken Summaries for Busy Listeners",
        stamp="arXiv:2405.01234v2  [cs.CL]  2 May 2024",
    ),
}
MAX_BYTES = 100_000


def build() -> dict[str, bytes]:
    return {name: paper(**kwargs).pdf for name, kwargs in EXAMPLES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "examples", help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    status = 0
    for name, data in build().items():
        if len(data) > MAX_BYTES:
            print(f"{name}: {len(data):,} bytes, more than {MAX_BYTES:,}", file=sys.stderr)
            status = 1
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                print(f"{path}: differs from the generator's output", file=sys.stderr)
                status = 1
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path}: {len(data):,} bytes")
    return status


if __name__ == "__main__":
    sys.exit(main())

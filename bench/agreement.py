"""Spot check on any PDFs at hand: how much of the rules-only reading agrees in word order
with another extractor's, for this checkout and a baseline revision, side by side.

    python bench/agreement.py PAPER.pdf [MORE.pdf ...] [--baseline REV] [--reference pypdf]

For each PDF, `python -m pipeline PDF --no-llm -o -` runs in this checkout and in the
baseline revision (checked out with `git worktree` in a temporary folder); the share of
the output's 5-word sequences (letters only, lower case) that also occur in the reference
reading is printed for both, with the number of sequences.

What it measures, and what it does not:
- It is a proxy for reading order on documents without hand-written tests. A sequence
  that spans two columns read line by line across both, a heading glued to a paragraph,
  or a formula's debris amid a sentence is missing from a reference that reads the page
  in order; a correct reading's sequences are found in it.
- The reference must read the document in order. pypdf follows the content stream, which
  pdfTeX writes column by column: a good reference for LaTeX papers, a poor one for
  producers that write a page in another order. pdftotext (`--reference pdftotext`) reads
  by its own layout analysis, which interleaves columns whose gutter is narrow.
- Furniture, references and citations that the cleaner removes, and words the reference
  breaks at line-end hyphens, do not count against it (only the output's sequences are
  looked up), but they lower the absolute figures for both; compare the two columns, not
  the figures across documents.
- It says nothing of what was removed; bench/structure.py scores that on the corpus.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_WORDS = re.compile(r"[a-z]{2,}")


def sequences(text: str, n: int = 5) -> set[str]:
    words = _WORDS.findall(text.lower())
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def reference(pdf: Path, name: str) -> str:
    if name == "pdftotext":
        return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    import pypdf

    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(pdf).pages)


def cleaned(tree: Path, pdf: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "pipeline", str(pdf), "--no-llm", "-o", "-"],
                          cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {pdf.name}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdfs", nargs="+", type=Path)
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with (default: HEAD)")
    parser.add_argument("--reference", choices=("pypdf", "pdftotext"), default="pypdf")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pdf-cleaner-agreement-") as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                       check=True, capture_output=True)
        try:
            print(f"{'PDF':40s} {'baseline ' + args.baseline:>24s} {'this checkout':>24s}   (share of 5-word sequences in {args.reference}'s reading)")
            for pdf in args.pdfs:
                pdf = pdf.resolve()
                ref = sequences(reference(pdf, args.reference))
                row = []
                for tree in (base, ROOT):
                    seen = sequences(cleaned(tree, pdf))
                    row.append(f"{len(seen & ref) / max(len(seen), 1):6.1%} of {len(seen):6,d}")
                print(f"{pdf.name[:40]:40s} {row[0]:>24s} {row[1]:>24s}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

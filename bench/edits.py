"""Benchmark: the model's edits, every one kept (as before edit-level judgement) against
cleaning edits only (the default), on the real code path, side by side in one run.

    python bench/edits.py                      # the KD survey and 2 generated papers, bundled model
    python bench/edits.py --served             # the same through llama.cpp's server (llama-cpp-python)
    python bench/edits.py --docs kd --repeats 2

Documents: the KD survey as extracted (../shared/reference, drawn into a PDF page by page
with tests/pdf_factory.text_pdf: 104 chunks) and generated papers (tests/pdf_factory.paper).
Each runs through `pipeline.run()` with the bundled model (or `--served`: llama.cpp's
OpenAI-compatible server on the same GGUF, tests/llama_server.py) twice per repeat, once
with `model_edits="all"` and once with `"cleaning"`, alternating, and prints per document
and setting:

- chunks whose text is the model's (the guard let it in);
- dictionary words lost and invented by the edits in the result (words wordfreq lists, of
  the edits' input side missing from their output side; not counted: citations, which the
  prompt asks to remove, and edits that keep every letter, such as a glued word split),
  with each such edit listed under --verbose; the words inside runs
  of a figure's or a table's labels that the model removed (kept as debris) on a line of
  their own, so that they can be read, not hidden;
- cleaning edits kept, by kind; content edits reverted, by kind;
- wall time (the whole run: reading, model, guard, edits).

It measures the model stage's edits, not the reading: both settings read the same text.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import ChunkDone, Settings, run, words  # noqa: E402
from pipeline.edits import CLEANING, CONTENT  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "reference" / "kd-survey-arxiv-2402.13116-extracted.txt"
_LETTERS = re.compile(r"[^\W\d_]+")


def documents(names: list[str], papers: int) -> dict[str, bytes]:
    from tests.pdf_factory import paper, text_pdf
    from tests.test_normalize import reference_pages

    out = {}
    if "kd" in names:
        source = REFERENCE.read_text(encoding="utf-8")
        out["KD survey, as extracted"] = text_pdf([text for _, text in reference_pages(source)])
    if "generated" in names:
        for seed in range(papers):
            out[f"generated paper {seed + 1}"] = paper(3, seed=seed).pdf
    return out


def _dictionary_words(text: str) -> Counter:
    return Counter(w for w in _LETTERS.findall(text.casefold()) if len(w) > 1 and words.is_word(w))


def measure(pdf: bytes, settings: Settings) -> dict:
    started = time.perf_counter()
    done = [e for e in run(pdf, settings) if isinstance(e, ChunkDone)]
    seconds = time.perf_counter() - started
    lost = invented = labels = 0
    losing = []
    kept, reverted = Counter(), Counter()
    for item in done:
        for edit in item.edits:
            if not edit.kept:
                reverted[edit.kind] += 1
                continue
            kept[edit.kind] += 1
            if edit.kind in ("citation", "spacing", "punctuation", "characters"):
                continue  # citations go by request; the others keep every letter (a glued word split)
            gone = sum((_dictionary_words(edit.before) - _dictionary_words(edit.after)).values())
            new = sum((_dictionary_words(edit.after) - _dictionary_words(edit.before)).values())
            if edit.kind == "debris":  # words inside a run of a figure's labels
                labels += gone
            else:
                lost += gone
            invented += new
            if gone or new:
                losing.append((item.index + 1, edit))
    return {"seconds": seconds, "chunks": len(done), "model": sum(d.source == "llm" for d in done),
            "lost": lost, "labels": labels, "invented": invented, "kept": kept, "reverted": reverted,
            "losing": losing}


def _kinds(counts: Counter, kinds) -> str:
    return ", ".join(f"{kind} {counts[kind]}" for kind in kinds if counts[kind]) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="kd,generated", help="kd, generated or both (default: %(default)s)")
    parser.add_argument("--papers", type=int, default=2, help="generated papers (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting per document")
    parser.add_argument("--served", action="store_true", help="through llama.cpp's server instead of in process")
    parser.add_argument("--max-chars", type=int, default=100_000, help="characters read per document")
    parser.add_argument("--verbose", action="store_true", help="list every kept edit that loses or adds a word")
    args = parser.parse_args()

    docs = documents(args.docs.split(","), args.papers)
    with contextlib.ExitStack() as stack:
        base = Settings(max_chars=args.max_chars)
        if args.served:
            from tests.llama_server import ALIAS, llama_server

            base = base.with_(api_base=stack.enter_context(llama_server()), model=ALIAS)
        where = f"served: llama.cpp's server at {base.api_base}" if args.served else "in process"
        print(f"bundled SmolLM2-135M-Instruct, {where}, {args.repeats} run(s) of each setting per document\n")
        for name, pdf in docs.items():
            results = {"all": [], "cleaning": []}
            for _ in range(args.repeats):
                for mode in ("all", "cleaning"):
                    results[mode].append(measure(pdf, base.with_(model_edits=mode)))
            print(name)
            print(f"  {'':34} {'every edit (before)':>22} {'cleaning edits only':>22}")
            first = {mode: runs[0] for mode, runs in results.items()}
            rows = [
                ("chunks with the model's text", lambda r: f"{r['model']}/{r['chunks']}"),
                ("dictionary words lost by edits", lambda r: str(r["lost"])),
                ("  and in label runs (as debris)", lambda r: str(r["labels"])),
                ("dictionary words invented", lambda r: str(r["invented"])),
                ("wall time (s), each run", lambda r: ""),
            ]
            for label, show in rows[:-1]:
                print(f"  {label:34} {show(first['all']):>22} {show(first['cleaning']):>22}")
            times = {mode: ", ".join(f"{r['seconds']:.1f}" for r in runs) for mode, runs in results.items()}
            print(f"  {'wall time (s), each run':34} {times['all']:>22} {times['cleaning']:>22}")
            c = first["cleaning"]
            print(f"  cleaning edits kept: {_kinds(c['kept'], CLEANING)}")
            print(f"  content edits reverted: {_kinds(c['reverted'], CONTENT)}")
            print(f"  content edits that stood before: {_kinds(first['all']['kept'], CONTENT)}")
            if args.verbose:
                for mode in ("all", "cleaning"):
                    for chunk, edit in first[mode]["losing"]:
                        print(f"    [{mode}] chunk {chunk}: {edit.kind} {edit.before!r} -> {edit.after!r}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

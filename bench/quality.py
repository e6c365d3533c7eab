"""Is the model stage worth running? Quality on PDFs whose body text is known, side by side.

    python bench/quality.py                     # default settings vs rules only, 4 generated papers
    python bench/quality.py --bias 0,2,4,8,16   # the copy-bias sweep that chose the default
    python bench/quality.py --temperature 0,0.7 --papers 2 --pages 2

Each paper comes from tests/pdf_factory.py, which knows every body word in reading order
(title, authors, abstract, headings, paragraphs; not the running header, footer, page
numbers or stamp). Every configuration runs the real `pipeline.run()` on the same PDFs with
the bundled model, one after the other in one process, next to rules only (no model), and
prints per configuration:

- model text used: chunks whose model text the guard let into the result (ok or suspicious);
- body words kept: ground-truth body words found, in order, in the result (difflib's
  matching blocks over lower-cased words without punctuation);
- invented: words of the model's text that its input chunk does not have;
- chunks changed and the kinds of edit the model made (word-level diff of input and output:
  words joined or split, words dropped, words changed, text added after the end, ...), with
  examples, so a reader can see what the model really does;
- wall time, tokens and the draft acceptance rate.

The papers are synthetic prose (the generator's vocabulary), laid out like real papers.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_WORD = re.compile(r"[\w'’-]+")


def words(text: str) -> list[str]:
    return [w.lower().strip("-'’") for w in _WORD.findall(text) if w.strip("-'’")]


def kept_share(body: list[str], text: str) -> float:
    """Ground-truth words found in order in `text` (matching blocks, no junk heuristics)."""
    out = words(text)
    matcher = difflib.SequenceMatcher(None, body, out, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(body))


def edit_kinds(source: str, output: str) -> list[tuple[str, str, str]]:
    """(kind, before, after) for each word-level change from a chunk's input to the model's text."""
    a, b = source.split(), output.split()
    found = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        before, after = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        flat = lambda s: re.sub(r"[\s-]", "", s).lower()  # noqa: E731
        if op == "insert" and i1 == len(a):
            kind = "text added after the end"
        elif op == "delete" and i2 == len(a):
            kind = "end dropped"
        elif op == "replace" and flat(before) == flat(after):
            kind = "words joined or split" if before.replace("-", "") != after.replace("-", "") else "hyphen changed"
        elif op == "replace" and before.strip(".,;:") == after.strip(".,;:"):
            kind = "punctuation"
        elif op == "delete":
            kind = "numbers dropped" if all(re.fullmatch(r"[\d.,()\[\]–-]+", w) for w in a[i1:i2]) else "words dropped"
        elif op == "insert":
            kind = "words inserted"
        else:
            kind = "words changed"
        found.append((kind, before, after))
    return found


def run_config(pdfs, settings, lm):
    from pipeline import run
    from pipeline.events import ChunkDone, RunFinished

    rows = []
    started = time.perf_counter()
    for name, generated in pdfs:
        body = [w for w in words(" ".join(generated.body_words))]
        done, text = [], ""
        for event in run(generated.pdf, settings, model=lm if settings.use_llm else None):
            if isinstance(event, ChunkDone):
                done.append(event)
            elif isinstance(event, RunFinished):
                text = event.text
        rows.append((name, body, done, text))
    return rows, time.perf_counter() - started


def report(label: str, rows, seconds: float, examples: int) -> dict:
    chunks = [d for _, _, done, _ in rows for d in done]
    used = [d for d in chunks if d.source == "llm"]
    kept = [kept_share(body, text) for _, body, _, text in rows]
    body_total = sum(len(body) for _, body, _, _ in rows)
    kept_all = sum(k * len(body) for k, (_, body, _, _) in zip(kept, rows)) / max(1, body_total)
    out_words = invented = 0
    kinds: Counter = Counter()
    samples: dict[str, list[str]] = {}
    changed = 0
    for d in chunks:
        model = d.model_output if d.model_output is not None else d.output
        if d.source == "rules":
            continue
        from pipeline.prompt import tidy_output

        text = tidy_output(model, d.chunk.text)
        have = set(words(d.chunk.text))
        got = words(text)
        out_words += len(got)
        invented += sum(1 for w in got if w not in have)
        edits = edit_kinds(d.chunk.text, text)
        if edits:
            changed += 1
        for kind, before, after in edits:
            kinds[kind] += 1
            if len(samples.setdefault(kind, [])) < examples:
                samples[kind].append(f"chunk {d.index + 1}: {before[:60]!r} -> {after[:60]!r}")
    tokens = sum(d.tokens for d in chunks)
    drafted = sum(d.drafted for d in chunks)
    accepted = sum(d.accepted for d in chunks)
    verdicts = Counter(d.guard.verdict for d in chunks if d.guard is not None)
    print(f"\n== {label}")
    print(f"chunks {len(chunks)}; wall {seconds:.1f} s; tokens {tokens:,}"
          + (f"; draft tokens accepted {accepted:,}/{drafted:,} = {accepted / drafted:.1%}" if drafted else ""))
    if any(d.source != "rules" for d in chunks):
        print(f"model text used: {len(used)}/{len(chunks)} = {len(used) / max(1, len(chunks)):.1%} "
              f"(verdicts {dict(verdicts)}; fallback {sum(d.source == 'fallback' for d in chunks)}, "
              f"failed {sum(d.source == 'failed' for d in chunks)}, "
              f"stopped while writing {sum(bool(d.halted) for d in chunks)})")
        print(f"invented (model words not in its input): {invented}/{out_words} = {invented / max(1, out_words):.2%}")
        print(f"chunks the model changed: {changed}/{len(chunks)}; edits by kind: {dict(kinds.most_common())}")
        for kind, lines in samples.items():
            for line in lines:
                print(f"    {kind}: {line}")
    print(f"body words kept: {kept_all:.2%} (per paper: {', '.join(f'{k:.2%}' for k in kept)})")
    return {"used": len(used) / max(1, len(chunks)), "kept": kept_all, "invented": invented / max(1, out_words)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=4, help="generated papers (default: %(default)s)")
    parser.add_argument("--pages", type=int, default=3, help="pages per paper (default: %(default)s)")
    parser.add_argument("--bias", default="default", help="copy biases to compare, e.g. 0,4,8 (default: the model's)")
    parser.add_argument("--temperature", default="default", help="temperatures to compare, e.g. 0,0.7")
    parser.add_argument("--examples", type=int, default=3, help="examples printed per kind of edit")
    args = parser.parse_args(argv)

    import torch

    from pipeline.model import get_model
    from pipeline.settings import Settings
    from tests.pdf_factory import paper

    pdfs = []
    for k in range(args.papers):
        columns = 2 if k % 2 == 0 else 1
        pdfs.append((f"paper-{k}", paper(pages=args.pages, seed=100 + k, columns=columns)))
    lm = get_model("bundled")
    print(f"{len(pdfs)} generated papers of {args.pages} pages (seeds 100-{99 + len(pdfs)}, one and two columns); "
          f"bundled model on {lm.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    defaults = Settings()
    rows, seconds = run_config(pdfs, defaults.with_(use_llm=False), lm)
    report("rules only (no model)", rows, seconds, args.examples)
    biases = [None] if args.bias == "default" else [float(b) for b in args.bias.split(",")]
    temperatures = [defaults.temperature] if args.temperature == "default" else [float(t) for t in args.temperature.split(",")]
    for bias in biases:
        for temperature in temperatures:
            settings = defaults.with_(copy_bias=bias, temperature=temperature, seed=0)
            label = (f"model: copy bias {'default' if bias is None else bias}, temperature {temperature}"
                     + (" (default settings)" if bias is None and temperature == defaults.temperature else ""))
            rows, seconds = run_config(pdfs, settings, lm)
            report(label, rows, seconds, args.examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

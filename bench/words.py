"""Benchmark: splitting glued words (wordfreq, wordninja, symspellpy) and repairing
mojibake (ftfy against pipeline.normalize's own repair), side by side in one run.

    python bench/words.py [--samples 400] [--seed 0]

Glued words. The test set comes from the reference extraction of arXiv:2402.13116
(../shared/reference/): sentences from its normally spaced lines with the spaces between
k = 2..6 words removed (the answer is the original spacing), real glued tokens of the same
text split by hand, and tokens that must stay whole: long words of the text, real words
missing from the dictionaries, names of models and tools, identifiers with digits, URLs,
e-mail addresses, numbers and glued citations. Each library is plugged into the same
rules of pipeline.words (which runs are looked at, which pieces are trusted), so only the
segmentation differs; "raw" is the library alone on the glued run, without those rules.
Printed: exact-split accuracy on glued tokens (runs of at least 12 letters, and 8-11),
false splits on tokens that must stay whole, speed over the whole reference text (tokens/s)
and the time to import the library and load its dictionary (in a fresh process).

Mojibake. Real sentences of the reference encoded as UTF-8 and decoded as cp1252, Mac
Roman and Latin-1 (once and twice), plus text that must stay unchanged; scored for
ftfy.fix_text with the settings that change nothing else, ftfy.fix_encoding, and
normalize_text's repair.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import words  # noqa: E402
from pipeline.normalize import normalize_text, repair_mojibake  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "reference" / "kd-survey-arxiv-2402.13116-extracted.txt"

# Real glued tokens of the reference, split by hand (after the mojibake repair).
HAND_SPLIT = [
    ("Theprocessofeliciting", "The process of eliciting"),
    ("encouraginginnovationanddiverseapplications.Additionally,",
     "encouraging innovation and diverse applications. Additionally,"),
    ("ourinteractionwithtechnology.", "our interaction with technology."),
    ("DespitetheremarkablecapabilitiesofproprietaryLLMs",
     "Despite the remarkable capabilities of proprietary LLMs"),
    ("emergesasapivotalmethodologyfortransferring", "emerges as a pivotal methodology for transferring"),
    ("groundbreakingtechnologies,reshapingourunderstanding",
     "groundbreaking technologies, reshaping our understanding"),
    ("acterizedbytheirvastscaleandcomplexity,haveunlocked",
     "acterized by their vast scale and complexity, have unlocked"),
    ("inunderstandingandgeneration,drivingapplicationsfrom",
     "in understanding and generation, driving applications from"),
    ("modelsistypicallylesssubstantial.Thisreducedinvestment",
     "models is typically less substantial. This reduced investment"),
    ("forsynthesizingthecurrentmethodologies,challenges,and",
     "for synthesizing the current methodologies, challenges, and"),
    ("beaconforresearchersandpractitionersalike,guidingthem",
     "beacon for researchers and practitioners alike, guiding them"),
    ("accessibleforms.Moreover,suchasurveycanilluminatethe",
     "accessible forms. Moreover, such a survey can illuminate the"),
    ("proposingdirectionsforfutureresearch.", "proposing directions for future research."),
    ("thatregulatetheuseofLLMs,ensuringethicalandlawfulapplicationofKDofLLMs.",
     "that regulate the use of LLMs, ensuring ethical and lawful application of KD of LLMs."),
    ("IntheeraofLargeLanguageModels", "In the era of Large Language Models"),
    ("extendsfarbeyondcurrentapplications,promisingtorevo-",
     "extends far beyond current applications, promising to revo-"),
    ("lutionizeindustries,augmenthumancreativity,andredefine",
     "lutionize industries, augment human creativity, and redefine"),
    ("guideforresearchersandpractitioners,offeringadetailedoverviewofcurrentmethodologies",
     "guide for researchers and practitioners, offering a detailed overview of current methodologies"),
    ("comprehensiveexaminationofKDmechanisms,theenhancementofspecificcognitiveabilities,",
     "comprehensive examination of KD mechanisms, the enhancement of specific cognitive abilities,"),
    ("likeGPT-4andGemini,theyarenotwithouttheirshortcom-",
     "like GPT-4 and Gemini, they are not without their shortcom-"),
]

# Tokens that must come back unchanged.
MUST_STAY = [
    # real words that some dictionaries lack, or that split into real words
    "verticalization", "overparameterized", "counterfactually", "hyperparameters",
    "dehyphenation", "pretraining", "underrepresented", "multilingualism", "tokenization",
    "preprocessing", "multimodality", "finetuning", "instantiation", "interpretability",
    "trustworthiness", "groundbreaking", "nevertheless", "notwithstanding", "counterbalance",
    "breakthroughs", "bootstrapping", "democratization", "straightforward", "understandable",
    # names of models, tools and methods
    "StackOverflow", "InstructGPT", "KnowledgeDistillation", "OpenAssistant", "DistilBERT",
    "ToolAlpaca", "CodeLlama", "WizardLM", "MiniLLM", "SelfInstruct", "DeepSpeedChat",
    "HuggingFace", "TinyLlama", "AlpacaFarm", "MetaMathQA", "UltraFeedback", "UltraChat",
    # identifiers, numbers, citations, addresses
    "GPT-4", "LLaMA2-7B", "Vicuna-13B", "GPT4All", "text-davinci-003", "x_train_augmented",
    "state-of-the-art", "instruction-following", "knowledge-distillation", "self-improvement",
    "Wangetal.,2023c", "Gunasekaretal.,2023;", "(Gouetal.,2021;GuptaandAgrawal,2022)",
    "https://github.com/Tebmer/Awesome-Knowledge-Distillation-of-LLMs.",
    "{shawnxxh,chongyangtao,hishentao}@gmail.com", "jl0725@connect.hku.hk",
    "www.anthropic.com/claudeinslack", "1,234,567.89", "2402.13116v3", "10.1145/3442188.3445922",
    "\\textbf{distillation}", "arXiv:2402.13116",
]


def reference_text() -> str:
    return repair_mojibake(REFERENCE.read_text(encoding="utf-8"), "mac_roman")


def spaced_lines(text: str) -> list[list[str]]:
    """Lines with normal spacing: at least 8 tokens, short on average."""
    lines = []
    for line in text.split("\n"):
        tokens = line.split()
        if len(tokens) >= 8 and sum(map(len, tokens)) / len(tokens) <= 8:
            lines.append(tokens)
    return lines


def glued_samples(lines, n: int, seed: int) -> list[tuple[str, str, int]]:
    """(glued, answer, letters of the glued run) from k = 2..6 words of a spaced line."""
    rng = random.Random(seed)
    out, seen = [], set()
    plain = re.compile(r"[A-Za-z]+")
    tries = 0
    while len(out) < n and tries < 100 * n:
        tries += 1
        tokens = rng.choice(lines)
        k = rng.randint(2, 6)
        if len(tokens) < k:
            continue
        i = rng.randrange(len(tokens) - k + 1)
        chosen = tokens[i : i + k]
        last = re.fullmatch(r"([A-Za-z]+)([.,;:]?)", chosen[-1])
        if not last or not all(plain.fullmatch(t) for t in chosen[:-1]):
            continue
        glued = "".join(chosen)
        letters = len(glued.rstrip(".,;:"))
        if letters < 8 or glued in seen:
            continue
        seen.add(glued)
        out.append((glued, " ".join(chosen), letters))
    return out


def long_words(lines) -> list[str]:
    """Distinct tokens of 12-17 letters from lines spaced like prose (mean token length at
    most 7): real words, must stay."""
    found = {t for tokens in lines if sum(map(len, tokens)) / len(tokens) <= 7
             for t in tokens if re.fullmatch(r"[A-Za-z]{12,17}", t)}
    return sorted(found)


# --- the three libraries behind pipeline.words' rules -----------------------------------


def make_wordninja():
    import wordninja

    model = wordninja.DEFAULT_LANGUAGE_MODEL
    vocab = model._wordcost

    def segment(run):
        pieces = model.split(run)
        if len(pieces) < 2 or not all(_trusted(p, vocab) for p in pieces):
            return None
        return pieces

    return segment, (lambda w: w.lower() in vocab), (lambda run: model.split(run))


def make_symspell():
    from importlib.resources import files

    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=0, prefix_length=7)
    sym.load_dictionary(str(files("symspellpy") / "frequency_dictionary_en_82_765.txt"), 0, 1)
    vocab = sym.words

    def raw(run):
        return sym.word_segmentation(run, max_edit_distance=0).segmented_string.split()

    def segment(run):
        pieces = raw(run)
        if len(pieces) < 2 or "".join(pieces) != run or not all(_trusted(p, vocab) for p in pieces):
            return None
        return pieces

    return segment, (lambda w: w.lower() in vocab), raw


def make_wordfreq():
    words._frequencies()
    return words.segment, words.is_word, (lambda run: words.segment(run) or [run])


def _trusted(piece: str, vocab) -> bool:
    if re.fullmatch(r"[A-Z]{2,}s?", piece):
        return True
    if len(piece) == 1:
        return piece.lower() in ("a", "i")
    return piece.lower() in vocab


LIBRARIES = {"wordfreq": make_wordfreq, "wordninja": make_wordninja, "symspellpy": make_symspell}
LOAD_SNIPPETS = {
    "wordfreq": "from pipeline import words; words.segment('intheeraof')",
    "wordninja": "import wordninja; wordninja.split('intheeraof')",
    "symspellpy": "import sys; sys.argv=['x']; sys.path.insert(0, 'bench'); import words as b; b.make_symspell()",
}


def load_seconds(name: str) -> float:
    code = f"import time; t=time.perf_counter(); {LOAD_SNIPPETS[name]}; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def score_words(samples, hand, stay, text):
    tokens = text.split()
    print(f"glued tokens: {sum(1 for s in samples if s[2] >= 12)} generated with >= 12 letters, "
          f"{sum(1 for s in samples if s[2] < 12)} with 8-11, {len(hand)} real ones split by hand; "
          f"must stay whole: {len(stay)}; speed on the whole reference: {len(tokens):,} tokens\n")
    header = (f"{'library':<11} {'>=12 ok':>8} {'8-11 ok':>8} {'real ok':>8} {'raw >=12':>9} "
              f"{'false':>6} {'tokens/s':>10} {'load s':>7}")
    print(header)
    failures = {}
    for name, make in LIBRARIES.items():
        segment, is_word, raw = make()

        def split(s, min_letters=words.MIN_LETTERS):
            return words.insert_spaces(s, words.glued_spaces(s, min_letters, segment, is_word))

        long_ = [s for s in samples if s[2] >= 12]
        mid = [s for s in samples if s[2] < 12]
        ok_long = sum(split(g) == a for g, a, _ in long_)
        ok_mid = sum(split(g, 8) == a for g, a, _ in mid)
        ok_hand = sum(split(g) == a for g, a in hand)
        ok_raw = sum(" ".join(raw(g.rstrip(".,;:"))) == a.rstrip(".,;:") for g, a, _ in long_)
        false = [s for s in stay if split(s) != s]
        started = time.perf_counter()
        for _ in range(3):
            split(text)
        rate = 3 * len(tokens) / (time.perf_counter() - started)
        print(f"{name:<11} {ok_long / len(long_):>8.1%} {ok_mid / max(1, len(mid)):>8.1%} "
              f"{ok_hand}/{len(hand):<5} {ok_raw / len(long_):>9.1%} {len(false):>6} "
              f"{rate:>10,.0f} {load_seconds(name):>7.2f}")
        failures[name] = ([(g, split(g), a) for g, a, _ in long_ if split(g) != a][:8],
                          [(g, split(g), a) for g, a in hand if split(g) != a],
                          [(s, split(s)) for s in false])
    print("\n'>=12 ok', '8-11 ok': exact split of generated glued tokens (8-11: with the rules "
          "at 8 letters); 'real ok': hand-split tokens of the reference; 'raw': the library alone; "
          "'false': must-stay tokens changed")
    for name, (gen, hand_bad, false) in failures.items():
        print(f"\n{name}: generated misses {gen}\n  real misses {hand_bad}\n  false splits {false}")


# --- mojibake ---------------------------------------------------------------------------

UNCHANGED = [
    "Œuvre complète: “Élan” and √π ≈ 1.77, naïve café",
    "KD’s role — “teacher” and ‘student’ … 5 × 3 ≥ 2",
    "Köpf et al., 2023; Rozière; Łukasz Kaiser; Müller–Schmidt",
    "θ ∈ ℝ, ∑ᵢ xᵢ², 𝑦 = 𝑓(𝑥), ½ ﬁne",
    "Ã© is how é looks when misread; the string “â€™” in a paper about encodings",
    "plain ASCII text with 'quotes' and \"double quotes\" -- dashes",
]


def mojibake_samples(text: str, n: int, seed: int):
    rng = random.Random(seed)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
                 if 40 <= len(s) <= 300 and not s.isascii()]
    cases = []
    for sentence in rng.sample(sentences, min(n, len(sentences))):
        for codec in ("cp1252", "mac_roman", "latin-1"):
            broken = sentence.encode("utf-8").decode(codec, errors="replace")
            if "\ufffd" not in broken:
                cases.append((codec, broken, sentence))
            twice = broken.encode("utf-8").decode(codec, errors="replace")
            if "\ufffd" not in twice:
                cases.append((codec + " x2", twice, sentence))
    return cases


def score_mojibake(text: str, n: int, seed: int):
    import ftfy

    # ftfy settings that repair the encoding and change nothing else: no NFC, no quote
    # straightening, no ligature or width changes, no HTML or terminal escapes.
    config = ftfy.TextFixerConfig(
        unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
        fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
        fix_surrogates=True, remove_control_chars=False, normalization=None,
    )
    import unicodedata

    from pipeline.normalize import detect_mojibake, ftfy_encoding

    def ours(s):
        # normalize_text's repair alone: its loop over detect_mojibake/repair_mojibake.
        from pipeline.normalize import detect_mojibake
        for _ in range(10):
            codec = detect_mojibake(s)
            if codec is None:
                break
            fixed = repair_mojibake(s, codec)
            if fixed == s:
                break
            s = fixed
        return s

    methods = {
        "ftfy.fix_text (settings above)": lambda s: ftfy.fix_text(s, config),
        "ftfy.fix_encoding": ftfy.fix_encoding,
        "ftfy.fix_text (defaults)": ftfy.fix_text,
        "ours (normalize)": ours,
        "ftfy, then ours": lambda s: ours(ftfy.fix_text(s, config)),
        "ours, then ftfy (normalize now)": lambda s: ftfy_encoding(ours(s), evidence=detect_mojibake(s) is not None),
    }
    cases = mojibake_samples(text, n, seed)
    kinds = sorted({c for c, _, _ in cases})
    print(f"\nmojibake: {len(cases)} broken sentences from the reference, {len(UNCHANGED)} texts "
          f"that must stay unchanged\n")
    print(f"{'method':<31} " + " ".join(f"{k:>13}" for k in kinds) + f" {'unchanged':>10} {'sent/s':>8}")
    for name, fix in methods.items():
        row = []
        for kind in kinds:
            group = [(b, good) for c, b, good in cases if c == kind]
            ok = sum(unicodedata.normalize("NFC", fix(b)) == unicodedata.normalize("NFC", good)
                     for b, good in group)
            row.append(f"{ok:>5}/{len(group):<4} ")
        kept = sum(fix(s) == s for s in UNCHANGED)
        started = time.perf_counter()
        for _, b, _ in cases:
            fix(b)
        rate = len(cases) / (time.perf_counter() - started)
        print(f"{name:<31} " + " ".join(f"{r:>13}" for r in row) + f" {kept:>6}/{len(UNCHANGED):<3} {rate:>8,.0f}")
    whole = REFERENCE.read_text(encoding="utf-8")
    fixed = ftfy.fix_text(whole, config)
    ours_fixed = repair_mojibake(whole, "mac_roman")
    both = ftfy_encoding(ours_fixed)
    print(f"on the whole reference, ours then ftfy leaves {sum(both.count(m) for m in ('‚Ä', 'ùë', 'Œ∏'))} marker "
          f"sequences and changes {sum(a != b for a, b in zip(both, ours_fixed)) + abs(len(both) - len(ours_fixed))} "
          f"characters of ours")
    print(f"\non the whole reference: ours leaves {sum(ours_fixed.count(m) for m in ('‚Ä', 'ùë', 'Œ∏'))} "
          f"marker sequences, ftfy {sum(fixed.count(m) for m in ('‚Ä', 'ùë', 'Œ∏'))}; "
          f"normalize_text of the must-stay texts changes "
          f"{sum(normalize_text(s) != unicodedata.normalize('NFKC', s) for s in UNCHANGED)} beyond NFKC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mojibake-only", action="store_true", help="skip the glued-word comparison")
    args = parser.parse_args()
    text = reference_text()
    lines = spaced_lines(text)
    samples = glued_samples(lines, args.samples, args.seed)
    stay = MUST_STAY + long_words(lines)
    if not args.mojibake_only:
        score_words(samples, HAND_SPLIT, stay, text)
    score_mojibake(text, 60, args.seed)


if __name__ == "__main__":
    main()

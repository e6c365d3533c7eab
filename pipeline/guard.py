"""Faithfulness guard: did the model clean a chunk, or summarise, invent or loop?

`check(source, output)` compares one normalized chunk with the model's cleaned text and
returns a GuardReport with four measures and a verdict:

    kept          share of the input's content words found in the output   (1.0 = nothing lost)
    invented      share of the output's content words not in the input     (0.0 = nothing new)
    length_ratio  output characters / input characters
    repetition    share of output word 4-grams repeated more often than in the input (loops)

plus checks for things the product promises never to emit: markdown the input did not have
(bullets, bold, headings), a chatty preamble ("Sure! Here is the cleaned text"), words added
after the end of the input (a chunk ends mid-sentence; a model that finishes the sentence
invents it), and an echo of the prompt (its markers or a line of its instructions).

`OnlineGuard` looks at a row's text while it is being written and says as soon as the text
is sure to be rejected (a loop, runaway length, a preamble, an echoed prompt), so the engine
can stop the row and let its input stand in at once. `check(..., halted=reason)` turns such a
stop into a rejected verdict.

`apply_policy(report, source, output, policy)` picks the text that goes into the result:
under "fallback" (the default) a rejected chunk is replaced by its normalized input; under
"keep" the model output is always used. Suspicious chunks keep the model output either way;
they are flagged to the user.

The comparison is lexical, not semantic: it catches a summary, a bullet list, a paragraph the
model made up or a loop, not a subtle change of meaning with the same words. Word matching is
lenient where PDF extraction is messy: text is NFKC-normalised and casefolded, and an output
word also counts as present when it is a substring of the input's letters with the spaces and
hyphens removed, so "In the era of" matches a glued "Intheeraof" and "capabilities" matches
"capa- bilities". Citations such as "(Gou et al., 2021)", bare numbers (page numbers,
footnote marks) and arXiv stamps are not counted as input words a cleaner must keep.
Thresholds were chosen from measurements: see docs/QUALITY.md and bench/guard_calibration.py.

    >>> check("The cat sat on the mat today.", "The cat sat on the mat today.").verdict
    'ok'
    >>> check("The cat sat on the mat today.", "").reasons
    ('output empty',)

Pure Python and deterministic; a 1,000-character chunk takes well under a millisecond.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from pipeline import patterns
from pipeline.events import GuardReport
from pipeline.settings import GUARD_POLICIES

__all__ = [
    "DEFAULT",
    "GuardThresholds",
    "Metrics",
    "OnlineGuard",
    "added_markdown",
    "added_preamble",
    "appended_words",
    "echoed_prompt",
    "apply_policy",
    "check",
    "judge",
    "measure",
]


@dataclass(frozen=True)
class GuardThresholds:
    """Limits that turn the measures into a verdict. Defaults are measured (docs/QUALITY.md).

    A share crosses a "warn" limit -> suspicious; a "reject" limit -> rejected. Word limits
    only apply once at least `min_words` distinct words are missing or invented, so a short
    chunk is not flagged for one changed word.
    """

    kept_warn: float = 0.85  # suspicious below: the model dropped some content
    kept_reject: float = 0.70  # rejected below: a summary or a cut-short output
    invented_warn: float = 0.12  # suspicious above: some words the input never had
    invented_reject: float = 0.20  # rejected above: whole sentences made up
    longer_warn: float = 1.25  # suspicious above this output/input length ratio
    longer_reject: float = 1.6  # rejected above: the model added a lot
    length_slack: int = 80  # characters allowed on top of the ratio (short chunks)
    shorter_warn: float = 0.6  # suspicious below this share of the input's length (citations out)
    shorter_reject: float = 0.4  # rejected below: most of the chunk is gone
    repetition_warn: float = 0.05  # suspicious above: a phrase repeated
    repetition_reject: float = 0.20  # rejected above: a generation loop
    min_words: int = 3  # distinct missing/invented words needed before a word limit applies
    ngram: int = 4  # word n-gram size for the repetition measure
    appended_reject: int = 3  # content words after the input's end: suspicious from 1, rejected from this


DEFAULT = GuardThresholds()


@dataclass(frozen=True)
class Metrics:
    """The raw measures of one (input, output) pair, before thresholds."""

    kept: float
    invented: float
    length_ratio: float
    repetition: float
    missing_words: int  # distinct input content words not found in the output
    invented_words: int  # distinct output content words not found in the input
    input_chars: int
    output_chars: int
    core_ratio: float  # output characters / input characters less citations and arXiv stamps
    markdown: tuple[str, ...]  # kinds of markdown the output added ("bullets", "bold", ...)
    preamble: str | None  # the chatty opening or closing line the output added, if any
    appended: int = 0  # content words after the point where the input ends
    echo: str | None = None  # a piece of the prompt the output repeats, if any


# --- words ---------------------------------------------------------------------------------

# Function words carry no content: a cleaner may drop or add them freely.
_STOPWORDS = frozenset(
    """
    a about above after again against al all also am an and any are as at be because been
    before being below between both but by can cf could did do does doing don down during
    each eg either et etc few for from further had has have having he her here hers him
    his how however i ie if in into is isn it its itself just let may me might more most
    much must my no nor not now of off on once only or other our ours out over own per
    same shall she should so some such than that the their theirs them then there these
    they this those through thus to too under until up upon us very via vs was we were
    what when where whether which while who whom whose why will with within without would
    yet you your
    """.split()
)

_TOKEN = re.compile(r"\w+")  # on prepared text, where "_" is already a space
# What a cleaner may drop (pipeline.patterns): author-year citations in parentheses
# "(Gou et al., 2021)", numeric ones "[12]", arXiv stamps, e-mail addresses, LaTeX commands.
_CITATION = patterns.YEAR_PARENTHESIS
_NUMERIC_CITATION = patterns.NUMERIC_CITATION
_ARXIV_STAMP = patterns.ARXIV_STAMP
_EMAIL = patterns.EMAIL
_LATEX = patterns.LATEX_COMMAND  # on casefolded text
# A hyphen the extractor left at a line end: "capa- bilities", "self-\nimprovement".
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-\s+(?=[^\W\d_])")
# A footnote or affiliation mark after a word of letters: "xu1", "tao3", "proprietary1".
_MARKED = re.compile(r"(?<=[^\W\d_])\d$")
_GLUED = 12  # a source token this long is probably several words glued by the extractor
_STREAM_MIN = 5  # shortest word matched as a substring of the other side's letters


def _prepare(text: str) -> str:
    """The form words are taken from: mojibake repaired, NFKC, casefolded, line-end hyphens
    joined ("capa- bilities" -> "capabilities"), "_" as a space."""
    text = unicodedata.normalize("NFKC", patterns.repair_mojibake_runs(text)).casefold()
    return _HYPHEN_BREAK.sub("", text).replace("_", " ")


def _tokens(text: str) -> list[str]:
    """Casefolded word tokens: `_tokens("Large-Scale LLMs!") -> ["large", "scale", "llms"]`."""
    return _TOKEN.findall(_prepare(text))


def _is_content(token: str) -> bool:
    return len(token) > 1 and token not in _STOPWORDS


class _Side:
    """One text prepared for matching: its tokens, their set, and its letters without spaces."""

    __slots__ = ("tokens", "set", "stream", "glued")

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        # "xu1" also answers for "xu": footnote and affiliation marks glued to a word.
        self.set = frozenset(tokens) | {_MARKED.sub("", t) for t in tokens if t[-1:].isdigit()}
        self.stream = "".join(tokens)
        self.glued = tuple(t for t in self.set if len(t) >= _GLUED)

    def has(self, word: str) -> bool:
        """Is `word` in this text, allowing for glued words and split hyphenation?"""
        if word in self.set:
            return True
        if len(word) >= _STREAM_MIN:
            return word in self.stream
        # Short words: only inside a glued token ("era" in "intheeraof"), where the
        # extractor lost the spaces; elsewhere a 3-letter match is too likely by chance.
        return len(word) >= 3 and any(word in g for g in self.glued)


# (a character the text must contain for the pattern to match, the pattern): a cheap test first.
_DROPPABLE = (
    ("(", _CITATION),
    ("[", _NUMERIC_CITATION),
    ("arxiv", _ARXIV_STAMP),
    ("@", _EMAIL),
    ("\\", _LATEX),
)


def _droppable(text: str) -> str:
    """The input without what a cleaner may legitimately drop (prompts/clean.txt asks it to):
    citations, arXiv stamps, e-mail addresses, LaTeX commands."""
    for marker, pattern in _DROPPABLE:
        if marker in text:
            text = pattern.sub(" ", text)
    return text


# --- markdown and preambles -----------------------------------------------------------------

# Markdown a line can start with, tried in this order; then bold anywhere.
_LINE_MARKDOWN = {
    "headings": re.compile(r"[ \t]*(?:#{1,6}[ \t]+\S|(?:-{3,}|={3,})[ \t]*$)"),
    "bullets": re.compile(r"[ \t]*[*+\u2022-][ \t]+\S"),
    "numbered list": re.compile(r"[ \t]*\d{1,2}[.)][ \t]+\S"),
    "code fences": re.compile(r"[ \t]*```"),
    "table": re.compile(r"[ \t]*\|.*\|[ \t]*$"),
}
_LINE_STARTS = frozenset("#-=*+\u2022`|0123456789")
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_KINDS = ("bullets", "numbered list", "headings", "bold", "code fences", "table")
_LISTS = ("bullets", "numbered list")

_PREAMBLE_START = re.compile(
    r"\A\s*(?:"
    r"(?:sure|certainly|of course|absolutely|okay|ok)\b[^\n]{0,100}"
    r"|(?:here\s+is|here\s+are|here[’']s|below\s+is|the\s+following\s+is)\b[^\n]{0,100}?(?::|$)"
    r"|(?:the\s+)?(?:cleaned|processed|clean|rewritten)(?:[\s-]+up)?\s+(?:text|version)\s*:"
    r")",
    re.I | re.M,
)
_LABEL_LINE = re.compile(r"\s*([^\n:]{1,60}):[ \t]*\n")
_CLOSING_WORDS = ("hope", "let me know", "feel free", "note:")
_PREAMBLE_END = re.compile(
    r"(?:i\s+hope\s+this\s+helps|let\s+me\s+know\s+if|feel\s+free\s+to|"
    r"note:\s*i\s+(?:have|removed|kept))[^\n]{0,200}\s*\Z",
    re.I,
)


def _markdown_counts(text: str) -> Counter:
    counts: Counter = Counter()
    if "**" in text or "__" in text:
        counts["bold"] = len(_BOLD.findall(text))
    for line in text.splitlines():
        head = line.lstrip(" \t")[:1]
        if head and head in _LINE_STARTS:
            for kind, pattern in _LINE_MARKDOWN.items():
                if pattern.match(line):
                    counts[kind] += 1
                    break
    return counts


def added_markdown(source: str, output: str) -> tuple[str, ...]:
    """Kinds of markdown that occur more often in the output than in the input. A list needs
    two more items than the input has: one "2. Background" line is a section number.

    `added_markdown("a b", "* **a**\\n* b") -> ("bullets", "bold")`
    """
    in_output = _markdown_counts(output)
    if not in_output:
        return ()
    in_source = _markdown_counts(source)
    return tuple(
        kind
        for kind in _KINDS
        if in_output[kind] - in_source[kind] >= (2 if kind in _LISTS else 1)
    )


def added_preamble(source: str, output: str) -> str | None:
    """The chatty opening or closing the output added ("Here is the cleaned text:"), or None."""
    found = _PREAMBLE_START.match(output, 0, 200)
    if found and not _PREAMBLE_START.match(source, 0, 200):
        return found.group(0).strip()
    # Any short first line ending in a colon that the input does not have: "The text is:".
    found = _LABEL_LINE.match(output, 0, 200)
    if found and found.group(1).strip().casefold() not in source.casefold():
        return found.group(0).strip()
    tail = output[-300:]
    if any(word in tail.lower() for word in _CLOSING_WORDS):
        found = _PREAMBLE_END.search(tail)
        if found and not _PREAMBLE_END.search(source[-300:]):
            return found.group(0).strip()
    return None


# --- text after the end, echoes -----------------------------------------------------------------

_END_WINDOW = 12  # the input's last words: where the output should end


def appended_words(source: str, output: str) -> int:
    """Content words the output has after the place where the input ends, and that the
    input's ending does not have.

    The end is the last pair of output words that is also a pair among the input's last
    words, one of them a content word. A chunk ends where the chunker cut it, often
    mid-sentence: a model that completes the sentence invents its end. Words of the input's
    own ending (one after a citation the output dropped, say) are not counted; an output that
    ends elsewhere counts 0: the kept and invented measures judge that case.

    `appended_words("we choose a random", "we choose a random value for the time")` -> 2
    """
    src, out = _tokens(source), _tokens(output)
    tail = src[-_END_WINDOW:]
    pairs = {p for p in zip(tail, tail[1:]) if _is_content(p[0]) or _is_content(p[1])}
    if not pairs or len(out) < 2:
        return 0
    ending = _Side(tail)
    for i in range(len(out) - 1, 0, -1):
        if (out[i - 1], out[i]) in pairs:
            return sum(1 for t in out[i + 1 :] if _is_content(t) and not t.isdigit() and not ending.has(t))
    return 0


# Markers an older prompt put around the chunk, and its instruction line.
_PROMPT_PIECES = ("<text>", "</text>", "clean up this text:")


def echoed_prompt(source: str, output: str, instructions: str | None = None) -> str | None:
    """A piece of the prompt the output repeats and the input does not have: a data marker,
    or a line of the instructions (the system prompt) at least 24 characters long."""
    out = " ".join(output.casefold().split())
    src = " ".join(source.casefold().split())
    for piece in _PROMPT_PIECES:
        if piece in out and piece not in src:
            return piece
    for line in (instructions or "").splitlines():
        line = " ".join(line.strip(" -*\t").casefold().split())
        if len(line) >= 24 and line in out and line not in src:
            return line if len(line) <= 60 else line[:57] + "..."
    return None


# --- measures ---------------------------------------------------------------------------------


def _repetition(source: _Side, output_tokens: list[str], n: int) -> float:
    """Share of output n-grams beyond the count the input itself has (at least one each).

    The input's count is taken on its letters without spaces, so a phrase the input repeats
    with its words glued together ("Human-writtenPrinciples") is not a loop in the output.
    """
    if len(output_tokens) < n + 1:
        return 0.0
    grams = Counter(zip(*(output_tokens[i:] for i in range(n))))
    total = len(output_tokens) - n + 1
    if len(grams) == total:  # the common case: nothing repeats
        return 0.0
    excess = 0
    for gram, count in grams.items():
        if count > 1:
            excess += max(0, count - max(1, _occurrences(source.stream, "".join(gram), count)))
    return excess / total


def _occurrences(text: str, part: str, enough: int) -> int:
    """How many times `part` occurs in `text`, overlaps included, counting up to `enough`."""
    found, at = 0, text.find(part)
    while at >= 0 and found < enough:
        found += 1
        at = text.find(part, at + 1)
    return found


def _content(tokens) -> set[str]:
    return {t for t in set(tokens) if len(t) > 1 and t not in _STOPWORDS}


def measure(source: str, output: str, ngram: int = DEFAULT.ngram, instructions: str | None = None) -> Metrics:
    """The guard's measures for one chunk, before any threshold."""
    src_text, out_text = _prepare(source), _prepare(output)
    src_tokens, out_tokens = _TOKEN.findall(src_text), _TOKEN.findall(out_text)
    src, out = _Side(src_tokens), _Side(out_tokens)
    core_text = _droppable(src_text)

    # kept: distinct content words of the input, less citations and bare numbers; a
    # footnote or affiliation mark glued to a word ("Xu1", "proprietary1") may go.
    must_keep = _content(
        _MARKED.sub("", t) if t[-1].isdigit() else t
        for t in _TOKEN.findall(core_text)
        if not t.isdigit()
    )
    missing = sum(1 for t in must_keep if not out.has(t))
    kept = 1.0 - missing / len(must_keep) if must_keep else 1.0

    # invented: distinct content words of the output that the input does not have.
    produced = _content(out.set)
    new = sum(1 for t in produced if not src.has(t))
    invented = new / len(produced) if produced else 0.0

    in_chars, out_chars = len(source.strip()), len(output.strip())
    ratio = out_chars / in_chars if in_chars else float(out_chars)
    core_chars = len(" ".join(core_text.split()))
    return Metrics(
        kept=kept,
        invented=invented,
        length_ratio=ratio,
        repetition=_repetition(src, out_tokens, ngram),
        missing_words=missing,
        invented_words=new,
        input_chars=in_chars,
        output_chars=out_chars,
        core_ratio=out_chars / core_chars if core_chars else ratio,
        markdown=added_markdown(source, output),
        preamble=added_preamble(source, output),
        appended=appended_words(source, output),
        echo=echoed_prompt(source, output, instructions),
    )


# --- verdict ----------------------------------------------------------------------------------


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def judge(m: Metrics, t: GuardThresholds = DEFAULT) -> tuple[str, tuple[str, ...]]:
    """Verdict and human-readable reasons for measured metrics."""
    if m.output_chars == 0:
        return "rejected", ("output empty",)
    rejected: list[str] = []
    suspicious: list[str] = []

    if m.missing_words >= t.min_words and m.kept < t.kept_warn:
        (rejected if m.kept < t.kept_reject else suspicious).append(
            f"kept {_pct(m.kept)} of the input's words (summarised?)"
        )
    if m.invented_words >= t.min_words and m.invented > t.invented_warn:
        (rejected if m.invented > t.invented_reject else suspicious).append(
            f"{_pct(m.invented)} of words not in the input (invented?)"
        )
    if m.output_chars > t.longer_warn * m.input_chars + t.length_slack:
        longer = m.output_chars > t.longer_reject * m.input_chars + t.length_slack
        (rejected if longer else suspicious).append(
            f"output {m.length_ratio:.1f}x longer than input"
        )
    if m.core_ratio < t.shorter_warn and m.input_chars >= t.length_slack:
        (rejected if m.core_ratio < t.shorter_reject else suspicious).append(
            f"output is {_pct(m.core_ratio)} of the input's length, citations aside (cut short?)"
        )
    if m.repetition > t.repetition_reject:
        rejected.append("output repeats itself")
    elif m.repetition > t.repetition_warn:
        suspicious.append(
            f"output repeats some phrases ({_pct(m.repetition)} of its {t.ngram}-word sequences)"
        )
    if m.appended:
        (rejected if m.appended >= t.appended_reject else suspicious).append(
            f"{m.appended} word{'s' if m.appended != 1 else ''} added after the end of the input (invented?)"
        )
    if m.echo:
        rejected.append(f'repeats the prompt ("{m.echo}")')
    if m.markdown:
        suspicious.append(f"markdown added ({', '.join(m.markdown)})")
    if m.preamble:
        # tidy_output already took off a one-line "Here is the cleaned text:"; a chatty
        # line that is still here would be read out as part of the text.
        quoted = m.preamble if len(m.preamble) <= 40 else m.preamble[:37] + "..."
        rejected.append(f'preamble added ("{quoted}")')

    if rejected:
        return "rejected", tuple(rejected + suspicious)
    if suspicious:
        return "suspicious", tuple(suspicious)
    return "ok", ()


def check(source: str, output: str, thresholds: GuardThresholds = DEFAULT, *,
          halted: str | None = None, instructions: str | None = None) -> GuardReport:
    """Measure one cleaned chunk against its normalized input and give a verdict.

    `halted`: why the online guard stopped the chunk while it was written (the verdict is then
    rejected). `instructions`: the system prompt, whose lines the output must not repeat.
    """
    m = measure(source, output, thresholds.ngram, instructions)
    verdict, reasons = judge(m, thresholds)
    if halted:
        verdict, reasons = "rejected", (f"stopped while writing: {halted}", *reasons)
    return GuardReport(
        kept=m.kept,
        invented=m.invented,
        length_ratio=m.length_ratio,
        repetition=m.repetition,
        verdict=verdict,
        reasons=reasons,
    )


def apply_policy(report: GuardReport, source: str, output: str, policy: str) -> tuple[str, str]:
    """The text to put in the result and where it came from: ("...", "llm" | "fallback").

    "fallback": a rejected chunk gets its normalized input instead of the model output.
    "keep": the model output is always used (the report still flags it).
    """
    if policy not in GUARD_POLICIES:
        raise ValueError(f"unknown guard policy {policy!r}; expected one of {GUARD_POLICIES}")
    if policy == "fallback" and report.verdict == "rejected":
        return source, "fallback"
    return output, "llm"


# --- while the text is written ----------------------------------------------------------------

_LOOP_GRAM = 8  # an 8-word sequence written 3 times, more often than the input has it, is a loop
_LOOP_MIN_WORDS = 24  # words before the repetition share is trusted


class OnlineGuard:
    """Looks at one chunk's text while the model writes it (`look` every few tokens) and says
    when the text is sure to be rejected, so the row can stop at once:

    - a loop: the repetition share over the reject limit, or an 8-word sequence three times;
    - runaway length: already longer than the reject limit allows;
    - a preamble, once the first line is complete;
    - an echo of the prompt.

    Words added after the end, and too little kept, can only be judged on the finished text.
    """

    def __init__(self, source: str, instructions: str | None = None, thresholds: GuardThresholds = DEFAULT):
        self.source = source
        self.instructions = instructions
        self.t = thresholds
        self.next_look = 0  # the token count at which the caller should look again
        self._side: _Side | None = None

    def look(self, text: str, tokens: int, every: int = 16) -> str | None:
        """Why `text` (the row's text so far, `tokens` long) is sure to be rejected, or None."""
        from pipeline.prompt import tidy_output

        self.next_look = tokens + every
        t = self.t
        output = tidy_output(text, self.source)
        if len(output) > t.longer_reject * len(self.source.strip()) + t.length_slack:
            return "runaway length"
        echo = echoed_prompt(self.source, output, self.instructions)
        if echo:
            return f'it repeats the prompt ("{echo}")'
        if "\n" in output.lstrip() or len(output) >= 200:
            preamble = added_preamble(self.source, output)
            if preamble and not output.endswith(preamble):
                return "a preamble"
        words = _TOKEN.findall(_prepare(output))
        if len(words) >= _LOOP_MIN_WORDS:
            if self._side is None:
                self._side = _Side(_TOKEN.findall(_prepare(self.source)))
            if _repetition(self._side, words, t.ngram) > t.repetition_reject or self._looped(words):
                return "a loop"
        return None

    def _looped(self, words: list[str]) -> bool:
        grams = Counter(zip(*(words[i:] for i in range(_LOOP_GRAM))))
        for gram, count in grams.most_common(3):
            if count >= 3 and _occurrences(self._side.stream, "".join(gram), count) < count:
                return True
        return False

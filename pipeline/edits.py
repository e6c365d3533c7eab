"""Every edit the model made to a chunk, what kind it is, and the text with only the edits
that clean.

    result = judge_edits(source, output)          # allow_content=False: cleaning edits only
    result.text                                    # the source with the cleaning edits applied
    result.edits                                   # Edit(kind, before, after, kept), in order

The model's output is aligned with its input word by word (difflib over whitespace tokens,
compared without case and surrounding punctuation, so "(KLD)" and "KLD" are the same word
written differently). Each stretch that differs is one edit, of one kind:

cleaning (kept)
    spacing      the same letters with other spaces or hyphens: a glued word split
                 ("Intheeraof" -> "In the era of"), a broken one joined ("capa- bilities")
    punctuation  the same letters and digits with other punctuation or case ("word ," -> "word,")
    characters   the same text after Unicode compatibility folding and mojibake repair
                 ("ﬁnd" -> "find", "â€”" -> "—")
    markup       only LaTeX commands, braces, markdown or HTML tags removed
    citation     only citations removed ("(Gou et al., 2021)", "[12]"), as the prompt asks
    debris       only tokens that are not words removed: numbers, single symbols, pieces of
                 words, a fragment repeated next to itself; or a run of a figure's or a
                 table's labels, names and acronyms without a word of prose among them

content (reverted unless allowed)
    deleted      a word of the language removed ("the", "Kullback-Leibler Divergence")
    added        words the input does not have
    substituted  words replaced by others ("diverse applications" -> "diversity")
    number       a number changed

The text returned is the model's output where it agrees with the input or cleans it, and
the input's own words where the model changed the content: no word of the language is lost
or invented by an edit that is not allowed (tests/test_edits.py checks it as a property).

What it does not do: judge the chunk as a whole (pipeline.guard: loops, preambles,
summaries are rejected there first), or understand meaning: a word is "of the language"
when wordfreq lists it (pipeline.words.is_word), whatever it means in its place.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from pipeline import patterns, words
from pipeline.events import Edit

CLEANING = ("debris", "spacing", "punctuation", "characters", "markup", "citation")
CONTENT = ("deleted", "added", "substituted", "number")

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_ALNUM = re.compile(r"[^\W_]+")
_LETTERS = re.compile(r"[^\W\d_]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKUP = re.compile(r"\\[A-Za-z]+\*?|[{}$]|</?[A-Za-z][^<>]{0,40}>|^[#*_`>|]+$|^[-=]{3,}$|\*\*|__")


@dataclass(frozen=True)
class EditResult:
    text: str  # the result: the output with the edits not allowed reverted
    edits: tuple[Edit, ...]


def judge_edits(source: str, output: str, allow_content: bool = False) -> EditResult:
    """Align `output` with `source`, classify each edit, and keep the cleaning ones (all of
    them with `allow_content`)."""
    src = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(source)]
    out = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(output)]
    matcher = difflib.SequenceMatcher(None, [_key(t) for t, _, _ in src], [_key(t) for t, _, _ in out],
                                      autojunk=False)
    # (i1, i2, j1, j2, edit or None): stretches the same to the letter, and edits.
    steps: list[tuple[int, int, int, int, Edit | None]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            before = " ".join(t for t, _, _ in src[i1:i2])
            after = " ".join(t for t, _, _ in out[j1:j2])
            kind = classify(before, after, _neighbours(src, i1, i2))
            steps.append((i1, i2, j1, j2, Edit(kind, before, after, kind in CLEANING or allow_content)))
            continue
        # The same words; one written otherwise ("(KLD)" / "KLD", "ﬁnd" / "find") is an edit of its own.
        start = i1
        for i, j in zip(range(i1, i2), range(j1, j2)):
            if src[i][0] != out[j][0]:
                if start < i:
                    steps.append((start, i, j1 + start - i1, j, None))
                kind = classify(src[i][0], out[j][0])
                steps.append((i, i + 1, j, j + 1, Edit(kind, src[i][0], out[j][0], kind in CLEANING or allow_content)))
                start = i + 1
        if start < i2:
            steps.append((start, i2, j1 + start - i1, j2, None))
    # A word's punctuation goes back with the content edit next to it: "Divergence (KLD)".
    for k, (i1, i2, j1, j2, edit) in enumerate(steps):
        if edit is not None and edit.kept and edit.kind in ("punctuation", "characters") and any(
                0 <= n < len(steps) and steps[n][4] is not None and not steps[n][4].kept for n in (k - 1, k + 1)):
            steps[k] = (i1, i2, j1, j2, Edit(edit.kind, edit.before, edit.after, False))
    pieces: list[str] = []
    for i1, i2, j1, j2, edit in steps:
        piece = _span(output, out, j1, j2) if edit is None or edit.kept else _span(source, src, i1, i2)
        if not piece:
            continue
        if pieces and not pieces[-1][-1:].isspace():
            pieces.append(" ")  # a piece of the input after the output's last word
        pieces.append(piece)
    return EditResult("".join(pieces).strip(), tuple(edit for *_, edit in steps if edit is not None))


def classify(before: str, after: str, around: tuple[str, ...] = ()) -> str:
    """The kind of one edit: `before` (the input's words) became `after` (the model's).
    `around`: the input's words next to `before`, to see a fragment repeated beside itself."""
    if before and after:
        if _fold(before) == _fold(after) and before.lower() != after.lower():
            return "characters"
        if _squeeze(before) == _squeeze(after):
            return "spacing"
        if _alnum(before) == _alnum(after):
            return "punctuation"
        if _alnum(_strip_markup(before)) == _alnum(after):
            return "markup"
        if _alnum(_strip_citations(before)) == _alnum(after):
            return "citation"
        gone = _words_gone(before, after)
        new_words = Counter(_word_tokens(after)) - Counter(_word_tokens(before))
        new_numbers = Counter(_numbers(after)) - Counter(_numbers(before))
        if not gone and not new_words and not new_numbers:
            return "debris"  # only pieces that are not words went: "Fig 3 (b)" -> "Fig"
        if not gone and not new_words:
            return "number"
        return "substituted"
    if before:
        if not _alnum(before):
            return "punctuation"
        if not _alnum(_strip_markup(before)):
            return "markup"
        if not _alnum(_strip_citations(before)):
            return "citation"
        if not [w for w in _word_tokens(before) if words.is_word(w)] or _repeated(before, around) or _labels(before):
            return "debris"
        return "deleted"
    return "added" if _alnum(after) else "punctuation"


def _key(token: str) -> str:
    """What two tokens are compared by: casefolded, without punctuation at their edges."""
    return _EDGE_PUNCT.sub("", unicodedata.normalize("NFKC", token).casefold()) or token


def _span(text: str, tokens: list[tuple[str, int, int]], first: int, last: int) -> str:
    """Tokens first..last-1 of `text` with the space after each, as the text has it."""
    if first >= last:
        return ""
    end = tokens[last][1] if last < len(tokens) else len(text)
    return text[tokens[first][1]:end]


def _neighbours(tokens: list[tuple[str, int, int]], first: int, last: int) -> tuple[str, ...]:
    width = max(last - first, 1)
    return tuple(t for t, _, _ in tokens[max(first - width, 0):first] + tokens[last:last + width])


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-\u00ad\u2010\u2011]", "", _fold(text))


def _alnum(text: str) -> str:
    return "".join(_ALNUM.findall(_fold(text)))


def _letters(text: str) -> str:
    return "".join(_LETTERS.findall(_fold(text)))


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", patterns.repair_mojibake_runs(text)).casefold()


def _strip_markup(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", token) for token in text.split())


def _strip_citations(text: str) -> str:
    text = patterns.YEAR_PARENTHESIS.sub(" ", text)
    text = patterns.NUMERIC_CITATION.sub(" ", text)
    return patterns.AUTHOR_YEAR_CITATION.sub(" ", text)


def _word_tokens(text: str) -> list[str]:
    return [w for w in _LETTERS.findall(_fold(text)) if len(w) >= 2 or w in ("a", "i")]


def _words_gone(before: str, after: str) -> list[str]:
    """Words of the language in `before` that `after` does not have (as a multiset)."""
    left = Counter(w for w in _word_tokens(before) if words.is_word(w))
    return list((left - Counter(_word_tokens(after))).elements())


_STOPWORDS = frozenset("a an and are as at be by for from has have in is it of on or that the this to was "
                       "were which with".split())
_PLAIN_WORD = re.compile(r"[A-Z]?[a-z]+")


def _labels(before: str) -> bool:
    """A run of a figure's or a table's labels, not prose: three tokens or more, none of them
    a function word or a lower-case word, and half of them names no dictionary has
    ("SFT Alignment OpenChat HumanConversation ChatGPT+GPT4 LLaMA", "Self-Align, RLCD,
    ReST,"). A heading ("Knowledge Distillation Methods") is words: content."""
    tokens = [t.strip(",;:.()") for t in before.split()]
    tokens = [t for t in tokens if t]
    if len(tokens) < 3 or any(t.casefold() in _STOPWORDS or t[0].islower() for t in tokens):
        return False
    named = sum(not (_PLAIN_WORD.fullmatch(t) and words.is_word(t)) for t in tokens)
    return named * 2 >= len(tokens)


def _repeated(before: str, around: tuple[str, ...]) -> bool:
    """`before` says again what stands right beside it ("the the", a heading printed twice)."""
    mine = [_key(t) for t in before.split()]
    theirs = [_key(t) for t in around]
    return bool(mine) and any(theirs[k:k + len(mine)] == mine for k in range(len(theirs) - len(mine) + 1))


def summary(edits) -> str:
    """The model's edits in words: "the model removed 41 pieces of debris, split or joined
    12 words; 5 content edits reverted" ("" when it made none)."""
    counts = Counter((edit.kind, edit.kept) for edit in edits)
    said = [f"{_PHRASES[kind].format(n=n, s='' if n == 1 else 's')}" for kind in CLEANING
            if (n := counts[kind, True])]
    content = sum(n for (kind, kept), n in counts.items() if kind in CONTENT and kept)
    if content:
        said.append(f"made {content} content edit{'' if content == 1 else 's'} (allowed)")
    reverted = sum(n for (kind, kept), n in counts.items() if kind in CONTENT and not kept)
    text = f"the model {', '.join(said)}" if said else ""
    if reverted:
        text += ("; " if text else "the model's ") + f"{reverted} content edit{'' if reverted == 1 else 's'} reverted"
    return text


_PHRASES = {
    "spacing": "split or joined {n} word{s}",
    "punctuation": "repaired punctuation {n} time{s}",
    "characters": "repaired {n} character{s}",
    "markup": "removed markup {n} time{s}",
    "citation": "removed {n} citation{s}",
    "debris": "removed {n} piece{s} of debris",
}

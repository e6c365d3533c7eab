"""Where a row's output stands in its source chunk: a pointer that only moves forward.

Cleaning is mostly copying. `Anchor` follows one row's output token by token and keeps a
pointer into the chunk's own token ids (`pipeline.prompt.source_ids`):

- a token equal to the source token at the pointer is a copy: the pointer moves one on;
- any other token is an edit. The row stays "in sync" only if the token re-joins the source
  just ahead of the pointer (the edit skipped a span): the pointer then jumps past it. Else the
  row is out of sync, and each later token is tried against the source ahead of the pointer,
  never behind it, until the output runs along the source again.

The pointer never moves back. A global longest-suffix search, as plain prompt-lookup decoding
does, re-matches text already copied and lets a row loop back through its chunk; this cannot.

How far ahead a re-join may land depends on how many output tokens agree with the source
there: the next token or the one after on 1 token (a word inserted, changed or dropped),
up to `NEAR` tokens ahead on 2, anywhere further on 3 (a skipped footnote, header or
reference). The nearest such place wins.

While in sync the anchor offers what copying would write next: `draft(k)` for drafted
decoding and `expected(i)` for the copy bias. After the last source token the expected token
is the end of text (`end_token`): `at_end` says the source is used up.

    a = Anchor([5, 6, 7], end_token=0)
    a.draft(8)            -> [5, 6, 7, 0]
    a.advance(5); a.advance(9)      # 9 is an edit: out of sync
    a.advance(7)          # 7 re-joins one token ahead: in sync again, pointer after 7
    a.at_end              -> True

Pure Python, no model: the engine calls it for every token it accepts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence

NEAR = 32  # a re-join this close needs 2 agreeing tokens; further ahead, 3


def _need(distance: int) -> int:
    """Agreeing output tokens a re-join `distance` tokens past the pointer needs."""
    if distance <= 1:
        return 1
    return 2 if distance <= NEAR else 3


class Anchor:
    __slots__ = ("source", "end_token", "pointer", "synced", "output", "_where", "copied", "edits")

    def __init__(self, source: Sequence[int], end_token: int | None = None):
        self.source = list(source)
        self.end_token = end_token
        self.pointer = 0  # source tokens consumed: the next expected one is source[pointer]
        self.synced = True  # the output so far ends on the source at the pointer
        self.output: list[int] = []
        self.copied = 0  # tokens that were plain copies
        self.edits = 0  # tokens that were not
        where: dict[int, list[int]] = defaultdict(list)
        for i, token in enumerate(self.source):
            where[token].append(i)
        self._where = where

    @property
    def at_end(self) -> bool:
        """In sync with the whole source consumed: the next token should end the text."""
        return self.synced and self.pointer >= len(self.source)

    def expected(self, ahead: int = 0) -> int | None:
        """The token copying would write `ahead` tokens from now (the end token after the
        source), or None when out of sync or past the end."""
        if not self.synced:
            return None
        at = self.pointer + ahead
        if at < len(self.source):
            return self.source[at]
        return self.end_token if at == len(self.source) else None

    def draft(self, k: int) -> list[int]:
        """Up to k tokens that copying would write next, the end token included; [] out of sync."""
        if not self.synced or k <= 0:
            return []
        draft = self.source[self.pointer : self.pointer + k]
        if len(draft) < k and self.end_token is not None:
            draft.append(self.end_token)
        return draft

    def advance(self, token: int) -> None:
        """Follow one output token."""
        self.output.append(token)
        if self.synced and self.pointer < len(self.source) and token == self.source[self.pointer]:
            self.pointer += 1
            self.copied += 1
            return
        self.edits += 1
        found = self._rejoin()
        if found is None:
            self.synced = False
        else:
            self.pointer = found + 1
            self.synced = True

    def _rejoin(self) -> int | None:
        """The nearest source position at or after the pointer where the output's last tokens
        run along the source, with as many agreeing tokens as the distance needs."""
        places = self._where.get(self.output[-1])
        if not places:
            return None
        out = self.output
        for j in places[bisect_left(places, self.pointer) :]:
            n = _need(j - self.pointer)
            if n > len(out) or j - n + 1 < 0:
                continue
            if out[-n:] == self.source[j - n + 1 : j + 1]:
                return j
        return None

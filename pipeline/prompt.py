"""How a chunk becomes a prompt, and how the model's text becomes a cleaned chunk.

    ids = prompt_ids(tokenizer, chunk.text, system_prompt)   # the templated prompt
    src = source_ids(tokenizer, chunk.text)                  # what copying the chunk would write
    text = tidy_output(model_text, chunk.text)

The system prompt (prompts/clean.txt, or the caller's) is the system turn; the user turn is the
chunk itself and nothing else, through the model's own chat template with the generation prompt
added. There is no instruction line and no marker around the chunk: a small model repeats
whatever stands beside the text ("<text>", "Clean up this text:"), so nothing stands there.

The chunk is data: every string the tokenizer would read as a special token ("<|im_end|>",
"<|eot_id|>", ...) is broken with a zero-width space first, so text from a PDF cannot end the
user turn or open a system one. `source_ids` are the ids of that same neutralised text, which
are also the ids the chunk has inside the prompt: copying the chunk means writing them.

Not here: decoding (pipeline.engine), which chunk runs when (pipeline.schedule).
"""

from __future__ import annotations

import re
from pathlib import Path

PROMPT_FILE = Path(__file__).resolve().parent.parent / "prompts" / "clean.txt"
# Markers an older prompt put around the chunk. Models (served ones above all) still write them
# now and then; tidy_output drops them and the guard counts them as echoes of a prompt.
DATA_MARKERS = ("<text>", "</text>")
ZWSP = "\u200b"

# Control tokens of common chat templates, neutralised even when the model's tokenizer does
# not know them (a chunk quoting another family's template should stay inert text too).
_FOREIGN_CONTROL = re.compile(
    r"<\|[A-Za-z0-9_.:-]{1,40}\|>"  # <|im_start|>, <|eot_id|>, <|start_header_id|>, ...
    r"|\[/?INST\]|<</?SYS>>|</?s>|<(?:start|end)_of_turn>|<\uff5c[^<>]{1,40}\uff5c>"
)


def default_system_prompt() -> str:
    """The system prompt shipped in prompts/clean.txt."""
    return PROMPT_FILE.read_text(encoding="utf-8").strip()


def _special_strings(tokenizer) -> list[str]:
    """Every string the tokenizer turns into one added/special token, longest first."""
    found = set(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for token in decoder.values():
        found.add(getattr(token, "content", str(token)))
    found.update(DATA_MARKERS)
    return sorted((s for s in found if s and len(s) > 1 and not s.isspace()), key=len, reverse=True)


def neutralise(text: str, tokenizer=None) -> str:
    """Break special-token strings in PDF text so the tokenizer reads them as plain text.

    A zero-width space goes after the first character: "<|im_end|>" -> "<\u200b|im_end|>".
    The text reads the same and can no longer close the user turn.
    """
    strings = _special_strings(tokenizer) if tokenizer is not None else list(DATA_MARKERS)
    parts = [re.escape(s) for s in strings] + [_FOREIGN_CONTROL.pattern]
    pattern = re.compile("|".join(parts))
    for _ in range(3):  # a break could, in theory, expose another match: repeat until clean
        new = pattern.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)
        if new == text:
            break
        text = new
    return text


def build_messages(text: str, system_prompt: str, tokenizer=None) -> list[dict]:
    """The chat for one chunk: our instructions as the system turn, the chunk alone as the user turn."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": neutralise(text, tokenizer)},
    ]


def prompt_ids(tokenizer, text: str, system_prompt: str) -> list[int]:
    """Token ids of the templated prompt for one chunk (the template adds BOS if it wants)."""
    rendered = tokenizer.apply_chat_template(
        build_messages(text, system_prompt, tokenizer), add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])


def source_ids(tokenizer, text: str) -> list[int]:
    """The ids a model writes when it copies the chunk: the neutralised chunk, tokenized alone."""
    return list(tokenizer(neutralise(text, tokenizer), add_special_tokens=False)["input_ids"])


_PREAMBLE = re.compile(
    r"^\s*(?:(?:here(?:'s| is| are)|sure|certainly|okay|ok|below is|the (?:cleaned|revised|rewritten|edited) "
    r"(?:text|version))[^\n]{0,160}:|the text is:)\s*\n",
    re.IGNORECASE,
)


def tidy_output(text: str, source: str | None = None) -> str:
    """Model text minus what models wrap around it: a one-line preamble ending in ':'
    ("Here's the cleaned text:") and <text> markers echoed back (anything after a closing
    marker is commentary). Nothing else changes. A preamble-like first line that is also in
    `source` (the chunk) is the chunk's own text and stays.

    tidy_output("Here's the cleaned text:\n\nThe model works.") -> "The model works."
    """
    text = text.strip()  # zero-width spaces stay until the end: they mark the chunk's own "</text>"
    match = _PREAMBLE.match(text)
    if match and not (source and " ".join(match.group(0).split()) in " ".join(source.split())):
        text = text[match.end() :].strip()
    text = text.removeprefix(DATA_MARKERS[0]).strip()
    end = DATA_MARKERS[1]
    if end in text:
        text = text[: text.index(end)]
    else:  # cut off by the token budget half way through the closing marker: "...Mistral.\n</"
        for k in range(len(end) - 1, 1, -1):
            if text.endswith(end[:k]):
                text = text[:-k]
                break
    return text.replace(ZWSP, "").strip()

"""Upload sizes: the server's limit as written on its command line, and the check with a
message that says how to raise it.

    parse_size("50mb") -> 52428800; size_label(52428800) -> "50 MB"
    check_upload("/tmp/x.pdf", limit=parse_size("50mb"))   # raises UserError when over

Gradio's own `max_file_size` refuses large uploads at its upload route; the check here
catches the ways around that route (a URL that a client hands over and the server fetches).
What it does not do: no reading of the file, no Gradio.
"""

from __future__ import annotations

import os
import re

from webapp.errors import UserError

MAX_FILE_SIZE_ENV = "PDF_CLEANER_MAX_FILE_SIZE"
DEFAULT_MAX_FILE_SIZE = "50mb"

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_size(text: str | int) -> int:
    """Bytes in a size written as Gradio's max_file_size takes it, units of 1,024:
    `parse_size("50mb") -> 52428800`, `parse_size("1.5kb") -> 1536`, `parse_size(100) -> 100`."""
    if isinstance(text, int):
        return text
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a file size: {text!r} (write it like 50mb, 500kb or 2gb)")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def size_label(size: int) -> str:
    """`size_label(52428800) -> "50 MB"`, in the units of 1,024 that the limit is counted in."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def check_upload(path: str, limit: int) -> None:
    """Refuse a file over the upload limit, in words that say how to raise it."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # the pipeline says what is wrong with the path
    if size > limit:
        raise UserError(
            f"This file is {size_label(size)} ({size:,} bytes), over this server's upload limit of "
            f"{size_label(limit)} ({limit:,} bytes). "
            f"Save the pages you need as a smaller PDF, or start PDF Cleaner with a higher limit: "
            f"python app.py --max-file-size 200mb (or {MAX_FILE_SIZE_ENV}=200mb)."
        )


def upload_path(pdf) -> str | None:
    """The file path of an uploaded PDF as Gradio hands it over: a path, or a file object."""
    return pdf if pdf is None or isinstance(pdf, str) else getattr(pdf, "name", None) or getattr(pdf, "path", None)

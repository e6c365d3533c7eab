"""The web app's one error type for what a visitor can fix.

    raise UserError("Choose a PDF first (or click one of the examples).")

The run controller, the form and the upload check raise it; app.py turns it into Gradio's
error toast (escaped: a message may quote the visitor's input or the PDF). Any other
exception is a bug: `in_words(exc)` logs it and words it for the same toast, so the visitor
still learns what happened (Gradio would show only "Error", and ZeroGPU's worker sends back only
a class name). What it does not do: no Gradio, no HTML.
"""

from __future__ import annotations

import logging

log = logging.getLogger("pdf_cleaner.app")


class UserError(Exception):
    """Something the visitor can fix; its message is shown to them as it is."""


def unexpected(exc: BaseException) -> str:
    """A bug's message for the visitor: what failed, and where the details are."""
    detail = " ".join(str(exc).split())
    detail = detail if len(detail) <= 500 else detail[:497] + "..."
    return (f"PDF Cleaner failed unexpectedly ({type(exc).__name__}: {detail}). The server's log has the "
            "details; other runs are not affected.")


def in_words(exc: Exception) -> str:
    """What the visitor is told of `exc`: a UserError's message, or a bug's in words (logged
    with its traceback; call it where the exception is being handled)."""
    if isinstance(exc, UserError):
        return str(exc)
    log.exception("a handler failed")
    return unexpected(exc)

"""The web app's one error type for what a visitor can fix.

    raise UserError("Choose a PDF first (or click one of the examples).")

The run controller, the form and the upload check raise it; app.py turns it into Gradio's
error toast (escaped: a message may quote the visitor's input or the PDF). What it does not
do: no Gradio, no HTML.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the visitor can fix; its message is shown to them as it is."""

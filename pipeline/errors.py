"""Errors a user can act on.

Every failure the user can cause (a file that is not a PDF, a missing password, a page
range with nothing in it, ...) is a `PipelineError` subclass whose message says what
happened and what to do. The UI shows the message, the CLI prints it and exits 2.

Anything else that escapes the pipeline is a bug and must surface as one: do not wrap
unexpected exceptions in these classes.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: bad input or a missing resource, explained in the message."""


class NotAPdfError(PipelineError):
    """The bytes do not start like a PDF, whatever the file is called."""


class EmptyFileError(PipelineError):
    """The upload has no bytes (or only whitespace)."""


class DamagedPdfError(PipelineError):
    """The file starts like a PDF but pypdf cannot read its structure."""


class PasswordRequiredError(PipelineError):
    """The PDF is encrypted and the empty password does not open it."""


class WrongPasswordError(PipelineError):
    """A password was given and it does not open the PDF."""


class NoTextError(PipelineError):
    """No page has a text layer: the PDF looks scanned (images of text)."""


class PageRangeError(PipelineError):
    """The page range cannot be parsed or selects no page of this document."""


class FileTooLargeError(PipelineError):
    """The file is over the size limit (Settings.max_file_mb)."""


class TooComplexError(PipelineError):
    """Reading the PDF would exceed a limit on time, memory or structure (a parse bomb)."""


class ModelUnavailableError(PipelineError):
    """The chosen model cannot be loaded (not found, gated, hub unreachable, ...)."""

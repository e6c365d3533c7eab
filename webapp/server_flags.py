"""The web server's command line: `python app.py --help`, each flag with an environment
variable as its default, checked before anything starts.

    flags = parse_flags(["--host", "0.0.0.0", "--models", "bundled,Qwen/Qwen2.5-1.5B-Instruct"])
    flags.limits()        # ServerLimits(upload=52428800, read_timeout=..., read_memory_mb=...)

These are the operator's settings: limits that protect everyone on the server and the models
visitors may pick. What it does not do: no Gradio, no launching (app.serve does both).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields

from pipeline import Settings
from pipeline.settings import SettingsError
from webapp.form import ServedModel, ServerLimits
from webapp.model_service import MODEL_ENV
from webapp.offered import FREE_ENV, MODELS_ENV
from webapp.uploads import DEFAULT_MAX_FILE_SIZE, MAX_FILE_SIZE_ENV, parse_size

QUEUE_SIZE_ENV = "PDF_CLEANER_QUEUE_SIZE"
READ_TIMEOUT_ENV = "PDF_CLEANER_READ_TIMEOUT"  # seconds the reading process of one PDF may take
READ_MEMORY_ENV = "PDF_CLEANER_READ_MEMORY_MB"  # memory the reading process of one PDF may use
OCR_SECONDS_ENV = "PDF_CLEANER_OCR_PAGE_SECONDS"  # time the reading may take per page read by OCR
API_BASE_ENV = "PDF_CLEANER_API_BASE"  # a served model's OpenAI-compatible address
API_KEY_ENV = "PDF_CLEANER_API_KEY"  # its key, from the environment only (a flag shows in `ps`)
SERVED_RUNS = 4  # runs at once against a served model: its server batches them
QUEUE_SIZE = 32  # runs that may wait for the model; past it a visitor is told to come back
MIN_READ_MEMORY_MB = 256


@dataclass
class ServerFlags:
    host: str = "127.0.0.1"
    port: int | None = 7860
    share: bool = False
    model: str | None = None  # the server's model (None: $PDF_CLEANER_MODEL or bundled)
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE
    queue_size: int = QUEUE_SIZE
    read_timeout: float = Settings().read_timeout
    read_memory_mb: int = Settings().read_memory_mb
    ocr_page_seconds: float = Settings().ocr_page_seconds
    models: list[str] | None = None  # offered to visitors (None: $PDF_CLEANER_MODELS or the default)
    free_model_choice: bool | None = None  # None: decided by where the page is served
    api_base: str | None = None  # a served model's address (None: the model runs in this process)
    concurrency: int = Settings().concurrency  # a run's requests in flight to the served model
    request_timeout: float = Settings().request_timeout
    retries: int = Settings().retries

    def served(self) -> ServedModel | None:
        """The served model, with its key from the environment; None when the model runs here."""
        if not self.api_base:
            return None
        return ServedModel(self.api_base, os.environ.get(API_KEY_ENV) or None, self.concurrency,
                           self.request_timeout, self.retries)

    def limits(self) -> ServerLimits:
        return ServerLimits(upload=parse_size(self.max_file_size), read_timeout=self.read_timeout,
                            read_memory_mb=self.read_memory_mb, ocr_page_seconds=self.ocr_page_seconds)


def _size(text: str) -> str:
    try:
        parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    defaults = ServerFlags()
    parser = argparse.ArgumentParser(prog="python app.py", description="PDF Cleaner web app")
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", defaults.host),
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT") or defaults.port),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also create a public share link")
    parser.add_argument("--model", default=None,
                        help=f"default model: 'auto' (the best this machine can hold), 'bundled', a Hub id or a local folder "
                             f"(default: ${MODEL_ENV} or auto)")
    parser.add_argument("--max-file-size", default=env(MAX_FILE_SIZE_ENV) or defaults.max_file_size, type=_size,
                        help=f"largest upload, e.g. 50mb, 500kb, 2gb (default: ${MAX_FILE_SIZE_ENV} or 50mb)")
    parser.add_argument("--queue-size", type=int, default=int(env(QUEUE_SIZE_ENV) or QUEUE_SIZE),
                        help=f"runs that may wait for the model; more are told the app is busy "
                             f"(default: ${QUEUE_SIZE_ENV} or {QUEUE_SIZE})")
    parser.add_argument("--read-timeout", type=float, default=float(env(READ_TIMEOUT_ENV) or defaults.read_timeout),
                        help="seconds reading one PDF may take; pages read by then are kept "
                             f"(default: ${READ_TIMEOUT_ENV} or {defaults.read_timeout:g})")
    parser.add_argument("--read-memory-mb", type=int, default=int(env(READ_MEMORY_ENV) or defaults.read_memory_mb),
                        help=f"memory the process reading one PDF may use (default: ${READ_MEMORY_ENV} "
                             f"or {defaults.read_memory_mb})")
    parser.add_argument("--ocr-page-seconds", type=float,
                        default=float(env(OCR_SECONDS_ENV) or defaults.ocr_page_seconds),
                        help="seconds the reading may take on top of --read-timeout for each page read by OCR "
                             f"(default: ${OCR_SECONDS_ENV} or {defaults.ocr_page_seconds:g})")
    parser.add_argument("--models", default=None, type=_names,
                        help=f"comma-separated models visitors may pick (default: ${MODELS_ENV}, "
                             "or the server's model and 'bundled')")
    parser.add_argument("--free-model-choice", action=argparse.BooleanOptionalAction, default=None,
                        help="let visitors type any Hub id or local folder (default: only on a page "
                             "served on a loopback address, with no --share, no Space and no --models; "
                             f"${FREE_ENV}=1/0)")
    served = parser.add_argument_group(
        "served model", "a model served over the OpenAI-compatible API (vLLM, llama.cpp's server, Ollama); "
                        f"its key comes from ${API_KEY_ENV}. --model names the served model.")
    served.add_argument("--api-base", default=env(API_BASE_ENV) or None, metavar="URL",
                        help=f"e.g. http://127.0.0.1:8000/v1 (default: ${API_BASE_ENV}; none: the model "
                             "runs in this process)")
    served.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help="a run's chunks in flight at once (default: %(default)s)")
    served.add_argument("--request-timeout", type=float, default=defaults.request_timeout,
                        help="seconds one chunk's request may take (default: %(default)s)")
    served.add_argument("--retries", type=int, default=defaults.retries,
                        help="further tries of a failed request (default: %(default)s)")
    return parser


def parse_flags(argv: list[str] | None = None) -> ServerFlags:
    """The flags from `argv` (or sys.argv); a bad value exits with argparse's usage message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.read_timeout > 0:
        parser.error("--read-timeout must be more than 0")
    if not args.ocr_page_seconds > 0:
        parser.error("--ocr-page-seconds must be more than 0")
    if args.read_memory_mb < MIN_READ_MEMORY_MB:
        parser.error(f"--read-memory-mb must be at least {MIN_READ_MEMORY_MB}")
    if args.queue_size < 0:
        parser.error("--queue-size must be 0 or more")
    try:  # the pipeline's own rules and messages for the served model's settings
        Settings(api_base=args.api_base, concurrency=args.concurrency, request_timeout=args.request_timeout,
                 retries=args.retries).validate()
    except SettingsError as exc:
        parser.error(str(exc))
    return ServerFlags(**{f.name: getattr(args, f.name) for f in fields(ServerFlags)})

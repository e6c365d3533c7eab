"""Command line: python -m pipeline INPUT.pdf -o OUTPUT.txt [options]
              python -m pipeline FOLDER_OR_PDFS... -o OUTDIR [options]   (pipeline.batch)

Consumes the same event stream as the web app. Progress and the document summary go to
stderr; the cleaned text goes to the output file (or stdout with `-o -`). What the structure
stage took out of the text is counted on stderr at the end and listed, piece by piece, in
OUTPUT.removed.txt next to the output file (or the file --removed names). The per-chunk report
goes to OUTPUT.report.jsonl (or the file --report names); a second run of the same PDF with the
same settings and model takes the chunks it already holds from it instead of cleaning them
again (pipeline.resume; --fresh starts over).

Several PDFs, or a folder, go to pipeline.batch: one set of files per document in OUTDIR.

Exit codes: 0 success, 2 a problem with the input or options (one line on stderr, no
traceback; with several documents: at least one was skipped), 1 a bug (with its traceback),
130 interrupted with Ctrl-C (finished chunks kept).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from pipeline.choose_model import AUTO, resolve_model
from pipeline.edits import summary as edits_summary
from pipeline.errors import PipelineError
from pipeline.events import (
    ChunkDone,
    ChunkPlan,
    ChunkProgress,
    DocumentInfo,
    Notice,
    OcrProgress,
    PageRead,
    RunFinished,
    document_fields,
)
from pipeline.output import removed_lines, write_removed
from pipeline.runner import run
from pipeline.settings import CITATION_MODES, EDIT_MODES, GUARD_POLICIES, MATH_MODES, OCR_MODES, Settings


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Turn a PDF into clean, podcast-ready text.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a PDF; or several PDFs, or a folder (every *.pdf in it and its subfolders)")
    parser.add_argument("-o", "--output",
                        help="one PDF: where to write the text (default: INPUT.clean.txt; '-' for stdout); "
                             "several PDFs or a folder: the folder for every document's files (default: ./cleaned)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", default=True,
                       help="take the chunks an earlier run of the same PDF, settings and model already wrote to "
                            "the report instead of cleaning them again (the default)")
    again.add_argument("--fresh", action="store_true", help="clean every chunk again, even when a report holds some")
    parser.add_argument("--pages", help='page range such as "1-3,5,10-" (default: all)')
    parser.add_argument("--max-chars", type=int, default=defaults.max_chars, help="character budget (default: %(default)s)")
    parser.add_argument("--password", help="password of an encrypted PDF")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-pages", type=int, default=defaults.max_pages, help="read at most this many pages (default: %(default)s)")
    limits.add_argument("--max-file-mb", type=float, default=defaults.max_file_mb, help="refuse larger files (default: %(default)s MB)")
    limits.add_argument("--read-timeout", type=float, default=defaults.read_timeout,
                        help="seconds reading the PDF may take; pages read by then are kept (default: %(default)s)")
    limits.add_argument("--read-memory-mb", type=int, default=defaults.read_memory_mb,
                        help="memory the reading process may use (default: %(default)s MB)")
    ocr = parser.add_argument_group("OCR", "pages without a text layer (scans), read by Tesseract")
    ocr.add_argument("--ocr", choices=OCR_MODES, default=defaults.ocr,
                     help="auto: pages whose text layer is empty or junk; always: every page; never "
                          "(default: %(default)s)")
    ocr.add_argument("--ocr-language", default=defaults.ocr_language, metavar="LANG",
                     help="Tesseract language code(s), e.g. deu or deu+eng (default: %(default)s)")
    ocr.add_argument("--ocr-dpi", type=int, default=defaults.ocr_dpi, help="resolution pages are rendered at "
                     "for OCR (default: %(default)s)")
    ocr.add_argument("--ocr-page-seconds", type=float, default=defaults.ocr_page_seconds,
                     help="the reading's time limit grows by this for each page read by OCR (default: %(default)s)")
    podcast = parser.add_argument_group(
        "podcast options",
        "Layout-aware reading drops running headers and footers, page numbers, stamps, figure and table "
        "internals and footnote marks; these choose what else a podcast writer gets.",
    )
    podcast.add_argument("--no-layout", action="store_true",
                         help="read pypdf's plain text in content-stream order: no structure stage, nothing "
                              "removed, the options below do nothing (default: layout-aware reading)")
    for name, what in (("captions", "figure and table captions"),
                       ("footnotes", "footnotes"),
                       ("authors", "the author block under the title (names, affiliations, e-mails)"),
                       ("appendix", "the appendix"),
                       ("references", "the reference list")):
        default = "kept" if getattr(defaults, f"keep_{name}") else "dropped"
        podcast.add_argument(f"--keep-{name}", action="store_true", help=f"keep {what} (default: {default})")
    podcast.add_argument("--math", choices=MATH_MODES, default=defaults.math,
                         help="display equations: 'drop' them, put a 'placeholder' line \"[equation]\" in their "
                              "place, or 'keep' their text (default: %(default)s)")
    podcast.add_argument("--citations", choices=CITATION_MODES, default=defaults.citations,
                         help="'remove' citations such as [12] and (Smith et al., 2020), keeping an author's "
                              "name that is part of the sentence, or 'keep' them (default: %(default)s)")
    podcast.add_argument("--removed", metavar="PATH",
                         help="list every removed piece with its page and category here (default: "
                              "OUTPUT.removed.txt next to the output file; none with '-o -' unless given)")
    parser.add_argument("--chunk-size", type=int, default=defaults.chunk_size, help="target characters per chunk (default: %(default)s)")
    parser.add_argument("--chunk-tokens", type=int, help="also cap each chunk at this many tokens of the model's tokenizer")
    parser.add_argument("--no-llm", action="store_true", help="rules only: extract and normalize, no model")
    llm = parser.add_argument_group("LLM cleaning")
    llm.add_argument("--model", default=AUTO,
                     help="'auto' (the best model this machine can hold: a larger one where the Hugging Face Hub "
                          "or its cache has it and it fits the time, else 'bundled'), 'bundled', a Hugging Face "
                          "Hub id, a local folder, or a served model's name (default: %(default)s)")
    llm.add_argument("--batch-size", type=int, help="chunks generated at once (default: adapt to the device)")
    llm.add_argument("--temperature", type=float, default=defaults.temperature, help="0 = greedy (default: %(default)s)")
    llm.add_argument("--top-p", type=float, default=defaults.top_p, help="(default: %(default)s)")
    llm.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens, help="per chunk (default: %(default)s)")
    llm.add_argument("--seed", type=int, help="make sampling repeatable")
    llm.add_argument("--copy-bias", type=float, metavar="B",
                     help="logit bonus for copying the source where the model would edit "
                          "(default: the model's own, 8 for the bundled model, 0 = off for others)")
    llm.add_argument("--draft-tokens", type=int, default=defaults.draft_tokens, metavar="K",
                     help="source tokens checked per forward pass; 0 = no drafting (default: %(default)s)")
    llm.add_argument("--system-prompt", metavar="FILE", help="system prompt file (default: prompts/clean.txt)")
    llm.add_argument("--guard-policy", choices=GUARD_POLICIES, default=defaults.guard_policy,
                     help="for a chunk the guard rejects: 'fallback' keeps the normalized input, 'keep' keeps the model output (default: %(default)s)")
    llm.add_argument("--model-edits", choices=EDIT_MODES, default=defaults.model_edits,
                     help="which of the model's edits to keep in a chunk the guard lets through: 'cleaning' "
                          "(debris, spacing, punctuation, markup, citations; a word it deleted, added or "
                          "changed goes back to the input's) or 'all', for a model you trust (default: %(default)s)")
    llm.add_argument("--report", metavar="PATH",
                     help="write the per-chunk JSONL report here (default: OUTPUT.report.jsonl next to the output "
                          "file; none with '-o -' unless given)")
    served = parser.add_argument_group(
        "served model",
        "A model behind an OpenAI-compatible API (vLLM, llama.cpp's server, Ollama, TGI) instead of one loaded "
        "here; --model names it on the server. Its key, if it needs one, is read from the environment variable "
        "PDF_CLEANER_API_KEY only, never from an option, which any user of the machine could read in the process list.")
    served.add_argument("--api-base", metavar="URL", default=os.environ.get("PDF_CLEANER_API_BASE") or None,
                        help="the server's address, e.g. http://127.0.0.1:8000/v1 (default: the environment variable "
                             "PDF_CLEANER_API_BASE; unset: the model runs in this process)")
    served.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help="chunks sent to the server at once (default: %(default)s)")
    served.add_argument("--request-timeout", type=float, default=defaults.request_timeout, metavar="S",
                        help="seconds one chunk's request may take, streaming included (default: %(default)s)")
    served.add_argument("--retries", type=int, default=defaults.retries,
                        help="further tries of a chunk whose request failed before it is marked failed "
                             "(default: %(default)s)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the options, checked by Settings.validate (the web app's rules too)."""
    system_prompt = None
    if args.system_prompt:
        try:
            system_prompt = Path(args.system_prompt).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PipelineError(f"cannot read the system prompt file {args.system_prompt}: {exc}") from exc
    return Settings(
        password=args.password,
        pages=args.pages,
        max_chars=args.max_chars,
        max_pages=args.max_pages,
        max_file_mb=args.max_file_mb,
        read_timeout=args.read_timeout,
        read_memory_mb=args.read_memory_mb,
        ocr=args.ocr,
        ocr_language=args.ocr_language,
        ocr_dpi=args.ocr_dpi,
        ocr_page_seconds=args.ocr_page_seconds,
        layout=not args.no_layout,
        keep_captions=args.keep_captions,
        keep_footnotes=args.keep_footnotes,
        keep_authors=args.keep_authors,
        keep_appendix=args.keep_appendix,
        keep_references=args.keep_references,
        math=args.math,
        citations=args.citations,
        chunk_size=args.chunk_size,
        chunk_tokens=args.chunk_tokens,
        use_llm=not args.no_llm,
        model=args.model,
        system_prompt=system_prompt,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
        copy_bias=args.copy_bias,
        draft_tokens=args.draft_tokens,
        guard_policy=args.guard_policy,
        model_edits=args.model_edits,
        api_base=args.api_base,
        api_key=os.environ.get("PDF_CLEANER_API_KEY") or None,
        concurrency=args.concurrency,
        request_timeout=args.request_timeout,
        retries=args.retries,
    ).validate()


def ocr_summary(ocr_pages) -> str:
    """`ocr_summary(((1, 91.0), (2, 55.5))) -> "2 pages (1, 2), mean confidence 73.2%; low confidence: 2"`."""
    from pipeline.ocr import LOW_CONFIDENCE

    def listed(numbers: list[int]) -> str:
        return ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")

    pages = [page for page, _ in ocr_pages]
    mean = sum(confidence for _, confidence in ocr_pages) / len(ocr_pages)
    low = [page for page, confidence in ocr_pages if confidence < LOW_CONFIDENCE]
    return (f"{len(pages)} page{'s' if len(pages) != 1 else ''} ({listed(pages)}), mean confidence {mean:.1f}%"
            + (f"; low confidence: {listed(low)}" if low else ""))


def describe(info: DocumentInfo) -> str:
    """The metadata summary printed before the work starts."""
    lines = [f"pages: {info.page_count}   size: {info.file_size:,} bytes" + ("   (encrypted)" if info.encrypted else "")]
    for label, value in document_fields(info):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # pypdf logs recoverable damage ("EOF marker not found") as warnings; the user sees
    # skipped pages and errors through our own messages instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        settings = settings_from_args(args)
        if settings.use_llm:  # "auto" decided once, and said, before any work
            choice = resolve_model(settings)
            settings = settings.with_(model=choice.name)
            print(f"model: {choice.why}", file=sys.stderr)
        if len(args.inputs) > 1 or Path(args.inputs[0]).is_dir():
            return many(args, settings)
        source = Path(args.inputs[0])
        if not source.is_file():
            raise PipelineError(f"no such file: {args.inputs[0]}")
        to_stdout = args.output == "-"
        output = None if to_stdout else Path(args.output or source.with_suffix(".clean.txt"))
        removed = removed_path(output, args.removed)
        if removed is not None and output is not None and removed.resolve() == output.resolve():
            raise PipelineError("--removed must name another file than the output")
        report = report_path(output, args.report)
        if report is not None and report.resolve() in {p.resolve() for p in (output, removed) if p is not None}:
            raise PipelineError("--report must name another file than the output and the list of removed pieces")
        return consume(source, settings, output, report, to_stdout, removed, resume=not args.fresh)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Reading the input or writing the output failed: the user can fix the path.
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def many(args: argparse.Namespace, settings: Settings) -> int:
    """Several PDFs or a folder: pipeline.batch, after refusing the options that name one file."""
    from pipeline.batch import run_batch

    if args.output == "-":
        raise PipelineError("-o - writes one text to stdout: with several PDFs or a folder, -o names a folder")
    for flag, value in (("--report", args.report), ("--removed", args.removed)):
        if value:
            raise PipelineError(f"{flag} names one file: with several PDFs or a folder, each document's files "
                                "are OUTDIR/NAME.clean.txt, NAME.removed.txt and NAME.report.jsonl")
    outdir = Path(args.output or "cleaned")
    if outdir.exists() and not outdir.is_dir():
        raise PipelineError(f"-o must name a folder with several PDFs or a folder as input, not the file {outdir}")
    return run_batch([Path(p) for p in args.inputs], outdir, settings, resume=not args.fresh)


def _next_to(output: Path, suffix: str) -> Path:
    """`_next_to(Path("out/paper.clean.txt"), ".report.jsonl") -> Path("out/paper.report.jsonl")`."""
    stem = output.name.removesuffix(".txt").removesuffix(".clean")
    return output.with_name(f"{stem or output.name}{suffix}")


def report_path(output: Path | None, given: str | None) -> Path | None:
    """Where the per-chunk report goes: the path given, else next to the output file
    (`paper.clean.txt` -> `paper.report.jsonl`); None when the text goes to stdout and no
    path was given. Written by default because resuming an interrupted run reads it."""
    if given:
        return Path(given)
    return None if output is None else _next_to(output, ".report.jsonl")


def removed_path(output: Path | None, given: str | None) -> Path | None:
    """Where the list of removed pieces goes: the path given, else next to the output file
    (`paper.clean.txt` -> `paper.removed.txt`, `paper.txt` -> `paper.removed.txt`); None when
    the text goes to stdout and no path was given."""
    if given:
        return Path(given)
    return None if output is None else _next_to(output, ".removed.txt")


def consume(source: Path, settings: Settings, output: Path | None, report: Path | str | None, to_stdout: bool,
            removed: Path | None = None, resume: bool = True) -> int:
    """Drive the run and render its events as progress bars on stderr."""
    stop = threading.Event()
    pages_bar = chunks_bar = None
    tokens_total = 0
    model_edits: tuple = ()  # every edit the model made, kept or reverted
    plan = None
    events = run(source, settings, stop=stop, output_path=output, report_path=report, resume=resume)
    try:
        for event in events:
            if isinstance(event, DocumentInfo):
                print(describe(event), file=sys.stderr)
            elif isinstance(event, OcrProgress):
                if pages_bar is None:
                    pages_bar = tqdm(total=event.selected, desc="reading", unit="page", file=sys.stderr)
                pages_bar.set_postfix_str(f"OCR page {event.position}/{event.selected}")
            elif isinstance(event, PageRead):
                if pages_bar is None:
                    pages_bar = tqdm(total=event.selected, desc="reading", unit="page", file=sys.stderr)
                pages_bar.update(1)
                if event.error:
                    tqdm.write(f"warning: page {event.page} skipped: {event.error}", file=sys.stderr)
            elif isinstance(event, ChunkPlan):
                plan = event
                if pages_bar is not None:
                    pages_bar.close()
                if removed is not None:  # written now, so an interrupted run leaves it too
                    write_removed(removed, event.removed, source.name, settings.layout, event.plain_pages)
                for note in event.notes:  # a limit cut the reading: say which, and how to raise it
                    print(f"warning: {note}", file=sys.stderr)
                print(
                    f"read {event.raw_chars:,} characters from {len(event.pages_read)} pages; "
                    f"{event.normalized_chars:,} after clean-up; {len(event.chunks)} chunks",
                    file=sys.stderr,
                )
                if event.ocr_pages:
                    print(f"OCR: {ocr_summary(event.ocr_pages)}", file=sys.stderr)
                if event.resume_note:
                    print(f"note: {event.resume_note}", file=sys.stderr)
                if event.resumed:
                    print(f"resuming: {len(event.resumed)} of {len(event.chunks)} chunks already cleaned",
                          file=sys.stderr)
                chunks_bar = tqdm(total=len(event.chunks), desc="cleaning", unit="chunk", file=sys.stderr)
            elif isinstance(event, ChunkProgress):
                pass  # the bar moves per finished chunk; tokens are counted from ChunkDone
            elif isinstance(event, Notice):  # the run changed course by itself (a served model)
                tqdm.write(f"warning: {event.message}", file=sys.stderr)
            elif isinstance(event, ChunkDone):
                model_edits += event.edits
                tokens_total += 0 if event.resumed else event.tokens  # tok/s of this run's model work
                if chunks_bar is not None:
                    chunks_bar.update(1)
                    if tokens_total:
                        elapsed = chunks_bar.format_dict["elapsed"] or 1e-9
                        chunks_bar.set_postfix_str(f"{tokens_total / elapsed:.1f} tok/s", refresh=False)
                if event.source in ("fallback", "failed"):
                    reason = "; ".join(event.guard.reasons) if event.guard else (event.error or "")
                    what = "kept the normalized input" if event.source == "fallback" else "failed"
                    tqdm.write(f"warning: chunk {event.index + 1} {what}: {reason}", file=sys.stderr)
            elif isinstance(event, RunFinished):
                if chunks_bar is not None:
                    chunks_bar.close()
                if to_stdout:
                    sys.stdout.write(event.text + "\n")
                if plan is not None:
                    for line in removed_lines(plan.removed, settings.layout):
                        print(line, file=sys.stderr)
                if said := edits_summary(model_edits):
                    print(f"{said} (each listed in the report)", file=sys.stderr)
                if event.output_path:
                    print(f"wrote {event.output_path}", file=sys.stderr)
                if event.report_path:
                    print(f"wrote {event.report_path}", file=sys.stderr)
                if removed is not None and plan is not None:
                    print(f"wrote {removed} (every removed piece with its page and category)", file=sys.stderr)
    except KeyboardInterrupt:
        stop.set()
        events.close()
        print("\ninterrupted: every finished chunk was kept (the rest is marked in the output file)",
              file=sys.stderr)
        return 130
    finally:
        for bar in (pages_bar, chunks_bar):
            if bar is not None:
                bar.close()
    return 0


if __name__ == "__main__":
    # Keep tokenizers from warning about forked workers in a one-shot command.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())

"""PDF Cleaner's web page (Gradio). UI and wiring only: all work is done by pipeline.run().

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

This first page uploads a PDF, shows its metadata and streams the text of each finished
chunk. It renders PDF text only in plain-text components, never as HTML or Markdown.
"""

from __future__ import annotations

import argparse
import os

import gradio as gr

from pipeline import ChunkDone, ChunkPlan, DocumentInfo, PageRead, PipelineError, RunFinished, Settings, run
from pipeline.__main__ import describe


def clean_pdf(path: str | None, use_llm: bool):
    """Stream (document summary, text so far, status line) as the pipeline's events arrive."""
    if not path:
        raise gr.Error("Choose a PDF first.")
    summary, text, status = "", "", "starting"
    try:
        for event in run(path, Settings(use_llm=use_llm)):
            if isinstance(event, DocumentInfo):
                summary = describe(event)
            elif isinstance(event, PageRead):
                status = f"reading page {event.position}/{event.selected}"
            elif isinstance(event, ChunkPlan):
                summary += f"\ncharacters read: {event.raw_chars:,}"
                if event.budget_stopped_at:
                    summary += f" (character budget reached on page {event.budget_stopped_at})"
                status = f"{len(event.chunks)} chunks to clean"
            elif isinstance(event, ChunkDone):
                text = (text + event.chunk.separator if text else "") + event.output
                status = f"chunk {event.index + 1} done"
            elif isinstance(event, RunFinished):
                status = f"done: {event.chunks_done}/{event.chunks_total} chunks in {event.seconds:.1f} s"
            yield summary, text, status
    except PipelineError as exc:
        raise gr.Error(str(exc)) from exc


def build() -> gr.Blocks:
    with gr.Blocks(title="PDF Cleaner") as demo:
        gr.Markdown("# PDF Cleaner\nUpload a PDF and get clean, podcast-ready text.")
        with gr.Row():
            pdf = gr.File(label="PDF", file_types=[".pdf"], type="filepath")
            use_llm = gr.Checkbox(label="Clean with the LLM", value=False)
        run_button = gr.Button("Run", variant="primary")
        status = gr.Textbox(label="Status", interactive=False)
        summary = gr.Textbox(label="Document", lines=6, interactive=False)
        output = gr.Textbox(label="Cleaned text", lines=20, interactive=False)
        run_button.click(clean_pdf, [pdf, use_llm], [summary, output, status], api_name="clean")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="PDF Cleaner web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public share link")
    args = parser.parse_args()
    build().queue().launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()

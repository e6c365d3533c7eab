"""Speed of the model stage on a whole paper: the engine against today's and the notebook's.

    python bench/throughput.py                       # the KD survey, bundled model, default settings
    python bench/throughput.py --baseline-chunks 8 --notebook-chunks 2     # a shorter run
    python bench/throughput.py --chunks 33 --baseline-chunks 0 --notebook-chunks 0 --batch-size 4
    python bench/throughput.py --random-config llama-3.2-1b --device cuda  # GPU, random weights

The paper is the notebook's own example, the KD survey, as extracted
(../shared/reference/kd-survey-arxiv-2402.13116-extracted.txt), drawn into a PDF line by line
(tests/pdf_factory.text_pdf) and read back by `pipeline.run()`: reading, rules, chunking,
the model stage and the guard, with the default settings (100,000 characters, 1,000-character
chunks). Without the reference file a generated 17-page paper stands in. In the same process,
one after the other, on the same chunks and prompts:

- **engine**: `pipeline.run()` end to end, every chunk (copy-anchored decoding, drafts, refill);
- **today's engine** (bench/baseline_engine.py: batched generate(), length-sorted batches, rows
  run until end of text or max_new_tokens; its defaults, which were the notebook's: sampling at
  0.7 / 0.9, 512 new tokens) on the first `--baseline-chunks` chunks;
- **notebook loop**: one chunk per generate() call, the notebook's sampling (0.7 / 0.9) and
  512 new tokens, on the first `--notebook-chunks` chunks.

The two baselines are slow (the bundled model runs to 512 tokens on most chunks), so they
run on the first chunks only and their whole-paper time is extrapolated from seconds per
chunk: labelled as such in the table. For each: wall time, tokens written, tok/s, the first
finished chunk, the share of chunks whose model text the guard let into the result, and for
the engine the draft acceptance rate and every word-level edit the model made in the text
used. Then the compute bound: 2 x parameters x (prompt + output tokens) at this machine's
fp32 matmul rate, measured in the same run on the model's own matrix shapes (before and after
the engine; the mean), and at 143 GFLOP/s; the engine's share of it. Counted twice: with
every prompt whole (as the target was set), and with the system prompt once (the engine
encodes it once and reuses its keys and values).

`--random-config llama-3.2-1b` builds a random-weight model with Llama-3.2-1B's shape (for
GPU machines without Hub access); it reuses the bundled SmolLM2 tokenizer (or `--tokenizer
FOLDER`) and `--text FILE` for the text. Random weights rarely agree with a draft, so on it
the engine measures what drafting costs, not what it gains; there the comparison is run on
`--chunks` chunks for every path, with the same attention backend for all (SDPA without cuDNN).
On a shared CPU, OMP_WAIT_POLICY=PASSIVE (set before Python starts) avoids spinning threads.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

REFERENCE = ROOT.parent / "shared" / "reference" / "kd-survey-arxiv-2402.13116-extracted.txt"
TARGET_GFLOPS = 143.0  # the CPU rate the speed target (docs/PERFORMANCE.md) was set against
# What the baselines ran with: the notebook's sampling and budget (also today's engine's defaults).
NOTEBOOK = dict(temperature=0.7, top_p=0.9, max_new_tokens=512, seed=0)

RANDOM_CONFIGS = {
    # Llama-3.2-1B's shape (config.json of meta-llama/Llama-3.2-1B-Instruct).
    "llama-3.2-1b": dict(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        vocab_size=128256,
        tie_word_embeddings=True,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        head_dim=64,
    ),
}


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def paper_pdf(text_path: Path | None) -> tuple[bytes, str]:
    """The KD survey drawn into a PDF (its pages as extracted), else a generated paper."""
    from tests.pdf_factory import paper, text_pdf

    path = text_path or REFERENCE
    if path.is_file():
        sys.path.insert(0, str(ROOT / "tests"))
        from tests.test_normalize import reference_pages

        pages = [text for _, text in reference_pages(path.read_text(encoding="utf-8"))] or [path.read_text("utf-8")]
        return text_pdf(pages), f"{path.name} ({len(pages)} pages as extracted)"
    return paper(pages=17).pdf, "a generated 17-page paper (the reference text was not found)"


def load(args):
    import torch

    from pipeline.model import LoadedModel, _prepare_tokenizer, load_model, resolve_device, resolve_dtype

    if not args.random_config:
        return load_model(args.model, device=args.device, dtype=args.dtype)
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    device = resolve_device(args.device)
    dtype = resolve_dtype(device, args.dtype)
    if args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = load_model("bundled", device="cpu").tokenizer  # its ids all fit Llama's vocabulary
    config = LlamaConfig(**RANDOM_CONFIGS[args.random_config], bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tokenizer = _prepare_tokenizer(tokenizer, model, args.random_config)
    return LoadedModel(model, tokenizer, f"random:{args.random_config}", device, str(dtype).removeprefix("torch."), "random")


def sync(lm):
    if str(lm.device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def matmul_gflops(lm) -> float:
    """This machine's rate on the model's own projections: (512 x hidden) @ (hidden x intermediate)."""
    import torch

    config = lm.model.config
    dtype = next(lm.model.parameters()).dtype
    a = torch.randn(512, config.hidden_size, device=lm.model.device, dtype=dtype)
    w = torch.randn(config.intermediate_size, config.hidden_size, device=lm.model.device, dtype=dtype)
    torch.nn.functional.linear(a, w)
    best = float("inf")
    for _ in range(5):
        sync(lm)
        started = time.perf_counter()
        for _ in range(10):
            torch.nn.functional.linear(a, w)
        sync(lm)
        best = min(best, (time.perf_counter() - started) / 10)
    return 2 * 512 * config.hidden_size * config.intermediate_size / best / 1e9


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading ids two prompts share: the system prompt the engine encodes once."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def judged(chunk, model_text):
    from pipeline import guard
    from pipeline.prompt import tidy_output

    return guard.check(chunk.text, tidy_output(model_text, chunk.text)).verdict


def run_engine(pdf, settings, lm, limit=None):
    """pipeline.run() end to end (with `limit`: reading and rules, then the model stage on the
    first `limit` chunks); the plan, the finished chunks, wall seconds, first chunk done."""
    from pipeline import run
    from pipeline.events import ChunkDone, ChunkPlan
    from pipeline.runner import process_chunks

    started = time.perf_counter()
    first, done, plan = None, [], None
    if limit:
        plan = next(e for e in run(pdf, settings.with_(use_llm=False)) if isinstance(e, ChunkPlan))
        events = process_chunks(plan.chunks[:limit], settings, lm)
    else:
        events = run(pdf, settings, model=lm)
    for event in events:
        if isinstance(event, ChunkPlan):
            plan = event
        if isinstance(event, ChunkDone):
            done.append(event)
            first = first if first is not None else time.perf_counter() - started
    sync(lm)
    return plan, done, time.perf_counter() - started, first


def run_baseline(chunks, settings, lm):
    """Today's engine (plain batched generate()) on `chunks`."""
    import baseline_engine

    from pipeline.events import ChunkDone

    started = time.perf_counter()
    first = None
    done = []
    for event in baseline_engine.clean_chunks(chunks, settings, lm):
        if isinstance(event, ChunkDone):
            done.append(event)
            first = first if first is not None else time.perf_counter() - started
    sync(lm)
    return done, time.perf_counter() - started, first


def run_notebook(chunks, settings, lm):
    """The notebook's process_chunk loop: one chunk per generate(), only the new ids decoded."""
    import torch

    from pipeline.engine import _attention_backends
    from pipeline.prompt import default_system_prompt, prompt_ids

    system = default_system_prompt()
    started = time.perf_counter()
    first = None
    outputs = []
    torch.manual_seed(0)
    for chunk in chunks:
        ids = torch.tensor([prompt_ids(lm.tokenizer, chunk.text, system)], device=lm.model.device)
        # The same attention backend as the engines (on CUDA: SDPA without cuDNN).
        with torch.inference_mode(), _attention_backends(str(lm.device)):
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                    temperature=settings.temperature, top_p=settings.top_p,
                                    max_new_tokens=settings.max_new_tokens, pad_token_id=lm.tokenizer.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        outputs.append((chunk, new))
        first = first if first is not None else time.perf_counter() - started
    sync(lm)
    return outputs, time.perf_counter() - started, first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-chunks", type=int, default=16, help="chunks for today's engine (default: %(default)s)")
    parser.add_argument("--notebook-chunks", type=int, default=4, help="chunks for the notebook loop (default: %(default)s)")
    parser.add_argument("--chunks", type=int, default=None, help="the engine's chunks too: the first N (default: all)")
    parser.add_argument("--batch-size", type=int, default=None, help="the engine's rows at once (default: auto)")
    parser.add_argument("--draft-tokens", type=int, default=None, help="the engine's draft length (default: 32)")
    parser.add_argument("--model", default="bundled", help="bundled, a Hub id or a folder")
    parser.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="random weights of this shape")
    parser.add_argument("--tokenizer", type=Path, help="with --random-config: tokenizer folder")
    parser.add_argument("--text", type=Path, help="reference text file (default: ../shared/reference/...)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pipeline import guard  # noqa: F401  (imported before timing starts)
    from pipeline.prompt import default_system_prompt, prompt_ids
    from pipeline.settings import Settings

    pdf, source = paper_pdf(args.text)
    started = time.perf_counter()
    lm = load(args)
    load_s = time.perf_counter() - started
    on_cuda = str(lm.device).startswith("cuda")
    params = sum(p.numel() for p in lm.model.parameters())
    print(f"model      {lm.name} ({lm.source}) on {lm.device}, {lm.dtype}, {params / 1e6:.0f}M parameters; "
          f"loaded in {load_s:.1f} s")
    if on_cuda:
        print(f"gpu        {torch.cuda.get_device_name(lm.device)}")
    print(f"torch      {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, cpus {os.cpu_count()}")
    gflops = matmul_gflops(lm)
    print(f"matmul     {gflops:.0f} GFLOP/s (fp32 on this machine now, the model's projection shapes)")
    print(f"paper      {source}")

    settings = Settings(seed=0, batch_size=args.batch_size)
    if args.draft_tokens is not None:
        settings = settings.with_(draft_tokens=args.draft_tokens)
    print(f"engine     batch size {settings.batch_size or 'auto'}, draft tokens {settings.draft_tokens}, "
          f"copy bias {settings.copy_bias if settings.copy_bias is not None else 'the model default'}, "
          f"temperature {settings.temperature}")
    # Warm-up: imports, allocator and kernels, on the first chunk.
    run_engine(pdf, settings.with_(max_chars=1200), lm)

    rows = []
    plan, done, wall, first = run_engine(pdf, settings, lm, args.chunks)
    chunks = plan.chunks[: args.chunks] if args.chunks else plan.chunks
    tokens = sum(d.tokens for d in done)
    drafted, accepted = sum(d.drafted for d in done), sum(d.accepted for d in done)
    used = sum(d.source == "llm" for d in done)
    rows.append((f"engine, default settings ({'first ' if args.chunks else 'all '}{len(done)} chunks)",
                 len(done), tokens, wall, first, used, False))
    system = default_system_prompt()
    prompt_tokens = sum(len(prompt_ids(lm.tokenizer, c.text, system)) for c in chunks)
    shared = shared_prefix(prompt_ids(lm.tokenizer, "a", system), prompt_ids(lm.tokenizer, "b", system))
    print(f"  done: engine ({wall:.1f} s, peak RSS so far {peak_rss_mb():.0f} MB)", flush=True)
    # The machine's rate drifts when others share it: measured again right after the engine.
    gflops_after = matmul_gflops(lm)
    print(f"matmul     {gflops_after:.0f} GFLOP/s after the engine", flush=True)

    n = min(args.baseline_chunks, len(chunks))
    if n:
        base = run_baseline(list(chunks[:n]), Settings(**NOTEBOOK), lm)
        base_done, base_wall, base_first = base
        base_used = sum(judged(d.chunk, d.model_output or d.output) != "rejected" for d in base_done)
        rows.append((f"today's engine (first {n} chunks)", len(base_done), sum(d.tokens for d in base_done),
                     base_wall, base_first, base_used, True))
        print(f"  done: today's engine ({base_wall:.1f} s)", flush=True)
    n = min(args.notebook_chunks, len(chunks))
    if n:
        outputs, nb_wall, nb_first = run_notebook(list(chunks[:n]), Settings(**NOTEBOOK), lm)
        nb_used = sum(judged(c, lm.tokenizer.decode(t, skip_special_tokens=True)) != "rejected" for c, t in outputs)
        rows.append((f"notebook loop (first {n} chunks)", len(outputs), sum(len(t) for _, t in outputs),
                     nb_wall, nb_first, nb_used, True))
        print(f"  done: notebook loop ({nb_wall:.1f} s)", flush=True)

    total = len(chunks)
    print()
    print(f"{'':40} {'chunks':>6} {'tokens':>7} {'wall s':>7} {'tok/s':>6} {'1st done':>8} {'used':>9} "
          f"{'s/chunk':>7} {'paper':>9} {'vs engine':>9}")
    engine_paper = rows[0][3]
    for label, count, toks, secs, first_s, good, extrapolated in rows:
        per_chunk = secs / max(1, count)
        paper = per_chunk * total
        mark = "*" if extrapolated else " "
        print(f"{label:40} {count:6d} {toks:7,d} {secs:7.1f} {toks / secs:6.1f} {first_s:7.1f}s "
              f"{good:3d}/{count:<3d}={good / max(1, count):4.0%} {per_chunk:7.2f} {paper / 60:6.1f}m{mark} "
              f"{paper / engine_paper:8.1f}x")
    print("* extrapolated: seconds per chunk x all chunks of the paper")
    print(f"\nengine: {total} chunks, {wall:.1f} s wall ({wall / 60:.2f} min), {tokens:,} tokens written, "
          f"{tokens / wall:.1f} tok/s; draft tokens accepted {accepted:,}/{drafted:,} = {accepted / max(1, drafted):.1%}; "
          f"model text used for {used}/{total} = {used / max(1, total):.1%} of chunks; first chunk done {first:.1f} s")
    rate = (gflops + gflops_after) / 2
    for what, count in (("every prompt whole", prompt_tokens),
                        (f"the {shared}-token system prompt once", prompt_tokens - (total - 1) * shared)):
        flops = 2 * params * (count + tokens)
        print(f"compute bound, {what}: 2 x {params / 1e6:.0f}M parameters x ({count:,} prompt + {tokens:,} output "
              f"tokens) = {flops / 1e12:.1f} TFLOP: {flops / rate / 1e9:.0f} s at this machine's {rate:.0f} GFLOP/s "
              f"(the engine reaches {flops / rate / 1e9 / wall:.0%} of it), {flops / TARGET_GFLOPS / 1e9:.0f} s at "
              f"{TARGET_GFLOPS:.0f} GFLOP/s ({flops / TARGET_GFLOPS / 1e9 / wall:.0%})")
    print(f"process peak RSS {peak_rss_mb():.0f} MB")
    print_edits(done)
    return 0


def print_edits(done) -> None:
    """What the model changed in the chunks whose text the result took: word-level edits by kind."""
    from collections import Counter

    from quality import edit_kinds

    kinds: Counter = Counter()
    lines = []
    changed = 0
    for d in done:
        if d.source != "llm":
            continue
        edits = edit_kinds(d.chunk.text, d.output)
        changed += bool(edits)
        for kind, before, after in edits:
            kinds[kind] += 1
            lines.append(f"  chunk {d.index + 1}, {kind}: {before[:70]!r} -> {after[:70]!r}")
    used = sum(d.source == "llm" for d in done)
    print(f"\nthe model changed {changed} of the {used} chunks whose text was used; edits by kind {dict(kinds)}")
    print("\n".join(lines[:40]) + (f"\n  ... {len(lines) - 40} more" if len(lines) > 40 else ""))


if __name__ == "__main__":
    sys.exit(main())

"""LLM throughput: the notebook's one-chunk-per-generate loop against our batched engine.

Both run in one process, one after the other, on the same chunks of the reference paper
(../shared/reference/kd-survey-arxiv-2402.13116-extracted.txt, else a generated text), with
the same prompts and a fixed number of new tokens per chunk (min_new_tokens =
max_new_tokens), so the only difference is how the work is scheduled. Prints tok/s for both,
the ratio, chunks per minute, peak resident memory and an estimate for the whole
100,000-character paper.

    python bench/throughput.py                           # bundled model, 16 chunks, 64 tokens
    python bench/throughput.py --chunks 32 --new-tokens 128 --batch-size 8,16
    python bench/throughput.py --random-config llama-3.2-1b --device cuda --chunks 64

`--random-config llama-3.2-1b` builds a random-weight model with Llama-3.2-1B's shape (for
GPU machines without Hub access); it reuses the bundled SmolLM2 tokenizer (its 49,152 ids
all fit in Llama's 128,256-entry vocabulary), so prompt lengths are SmolLM2's. The text it
generates is noise; only the speed means something. On a machine without the bundled model
(a lent GPU machine), `--tokenizer FOLDER` reads the tokenizer from a folder instead (the
converted bundled folder's tokenizer.json, tokenizer_config.json and chat_template.jinja), and
`--text FILE` the reference text from a copy of it.

On a shared CPU, OMP_WAIT_POLICY=PASSIVE (set before Python starts) avoids OpenMP threads
spinning against other processes; `--threads` sets torch's intra-op threads.
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

REFERENCE = ROOT.parent / "shared" / "reference" / "kd-survey-arxiv-2402.13116-extracted.txt"
PAPER_CHARS = 100_000  # the notebook's character budget

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
    """The process's high-water mark so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


class RssSampler:
    """Peak resident memory during one phase, sampled every 20 ms (ru_maxrss never resets)."""

    def __init__(self):
        import threading

        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self.peak = self.process.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def reference_text(path: Path | None = None) -> tuple[str, str]:
    if path is not None:
        return path.read_text(encoding="utf-8")[:PAPER_CHARS], path.name
    if REFERENCE.is_file():
        return REFERENCE.read_text(encoding="utf-8")[:PAPER_CHARS], str(REFERENCE.relative_to(ROOT.parent))
    words = ("knowledge distillation transfers the abilities of a large teacher model to a small "
             "student model through generated data and feedback").split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(PAPER_CHARS // 7))
    return text[:PAPER_CHARS], "generated text"


def load(args):
    import torch

    from pipeline.model import LoadedModel, _prepare_tokenizer, load_model, resolve_device, resolve_dtype

    if not args.random_config:
        return load_model(args.model, device=args.device, dtype=args.dtype)
    from transformers import LlamaConfig, LlamaForCausalLM

    device = resolve_device(args.device)
    dtype = resolve_dtype(device, args.dtype)
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = load_model("bundled", device="cpu").tokenizer  # SmolLM2's, see the docstring
    config = LlamaConfig(
        **RANDOM_CONFIGS[args.random_config],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tokenizer = _prepare_tokenizer(tokenizer, model, args.random_config)  # left padding, as load_model
    return LoadedModel(model, tokenizer, f"random:{args.random_config}", device, str(dtype).removeprefix("torch."), "random")


def sync(lm):
    if lm.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def notebook_loop(lm, chunks, system_prompt, settings, new_tokens):
    """The notebook's process_chunk loop: one chunk per generate() call, decoding only new ids."""
    import torch

    from pipeline.clean import prompt_ids

    tokens = 0
    outputs = []
    torch.manual_seed(0)
    for text in chunks:
        ids = torch.tensor([prompt_ids(lm.tokenizer, text, system_prompt)], device=lm.model.device)
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=lm.tokenizer.pad_token_id,
            )
        new = out[0, ids.shape[1]:]
        tokens += int(new.shape[0])
        outputs.append(lm.tokenizer.decode(new, skip_special_tokens=True))
    sync(lm)
    return tokens, outputs


def engine(lm, chunks, system_prompt, settings, new_tokens, reuse_prefix=True):
    from pipeline.clean import clean_chunks
    from pipeline.events import Chunk, ChunkDone

    items = [Chunk(index=i, text=t, first_page=1, last_page=1) for i, t in enumerate(chunks)]
    tokens, first_done, started = 0, None, time.perf_counter()
    for event in clean_chunks(
        items,
        settings,
        lm,
        system_prompt=system_prompt,
        generate_kwargs={"min_new_tokens": new_tokens},
        reuse_prefix=reuse_prefix,
    ):
        if isinstance(event, ChunkDone):
            tokens += event.tokens
            if first_done is None:
                first_done = time.perf_counter() - started
    sync(lm)
    return tokens, first_done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=16, help="chunks to clean (spread over the paper)")
    parser.add_argument("--new-tokens", type=int, default=64, help="new tokens per chunk (min = max)")
    parser.add_argument("--batch-size", default="auto", help="engine batch size(s): auto, or e.g. 8,16")
    parser.add_argument("--chunk-size", type=int, default=1000, help="characters per chunk (notebook: 1000)")
    parser.add_argument("--model", default="bundled", help="bundled, a Hub id or a folder")
    parser.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="random weights of this shape")
    parser.add_argument("--tokenizer", type=Path, help="with --random-config: tokenizer folder "
                        "(default: the bundled model's)")
    parser.add_argument("--text", type=Path, help="reference text file (default: ../shared/reference/...)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--no-notebook", action="store_true", help="skip the notebook loop")
    parser.add_argument("--compare-prefix", action="store_true",
                        help="also run the engine without reusing the system prompt's cache")
    parser.add_argument("--compare-cache", action="store_true",
                        help="also run the engine with the other cache kind (static <-> dynamic)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pipeline.chunk import create_word_bounded_chunks
    from pipeline.clean import choose_batch_size, default_system_prompt, prompt_ids
    from pipeline.settings import Settings

    text, text_source = reference_text(args.text)
    all_chunks = create_word_bounded_chunks(text, args.chunk_size)
    n = min(args.chunks, len(all_chunks))
    step = len(all_chunks) / n
    chunks = [all_chunks[int(k * step)] for k in range(n)]

    t0 = time.perf_counter()
    lm = load(args)
    load_s = time.perf_counter() - t0
    system_prompt = default_system_prompt()
    lengths = [len(prompt_ids(lm.tokenizer, c, system_prompt)) for c in chunks]
    settings = Settings(max_new_tokens=args.new_tokens, seed=0)  # notebook sampling: 0.7 / 0.9
    auto = choose_batch_size(lm.model, lm.device, lengths, args.new_tokens)
    sizes = [auto if s.strip() == "auto" else int(s) for s in args.batch_size.split(",")]

    print(f"model      {lm.name} ({lm.source}) on {lm.device}, {lm.dtype}; loaded in {load_s:.1f} s")
    if lm.device.startswith("cuda"):
        print(f"gpu        {torch.cuda.get_device_name(lm.device)}")
    print(f"torch      {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, cpus {os.cpu_count()}")
    print(f"text       {text_source}: {len(all_chunks)} chunks of <= {args.chunk_size} chars in "
          f"{len(text):,} chars; using {n}")
    print(f"prompts    {min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / n:.0f}); "
          f"{args.new_tokens} new tokens per chunk; auto batch size {auto}")

    # Warm-up (first-call costs: lazy imports, allocator, kernels) for both paths.
    engine(lm, chunks[:2], system_prompt, settings.with_(batch_size=2, max_new_tokens=2), 2)
    notebook_loop(lm, chunks[:1], system_prompt, settings, 2)
    print(f"rss        {peak_rss_mb():.0f} MB peak after loading and warm-up")

    from pipeline import clean

    on_cuda = lm.device.startswith("cuda")

    def measure(label, work):
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(lm.device)
        with RssSampler() as rss:
            wall, cpu = time.perf_counter(), time.process_time()
            tokens, first = work()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        gpu = torch.cuda.max_memory_allocated(lm.device) / 2**30 if on_cuda else None
        rows.append((label, tokens, wall, cpu, first, rss.peak / 2**20, gpu))
        print(f"  done: {label} ({wall:.1f} s)", flush=True)

    rows = []
    if not args.no_notebook:
        measure("notebook loop (batch 1)",
                lambda: (notebook_loop(lm, chunks, system_prompt, settings, args.new_tokens)[0], None))
    default_kind = "static" if lm.device.split(":")[0] in clean.STATIC_CACHE_DEVICES else "dynamic"
    runs = [(size, True, default_kind) for size in sizes]
    if args.compare_prefix:
        runs += [(size, False, default_kind) for size in sizes]
    if args.compare_cache:
        other = "dynamic" if default_kind == "static" else "static"
        runs += [(size, True, other) for size in sizes]
    kind_of = lm.device.split(":")[0]
    for size, reuse, kind in runs:
        clean.STATIC_CACHE_DEVICES = {kind_of} if kind == "static" else set()
        label = f"engine batch {size}, {kind}" + ("" if reuse else ", no prefix reuse")
        measure(label, lambda: engine(lm, chunks, system_prompt, settings.with_(batch_size=size),
                                      args.new_tokens, reuse))

    paper_chunks = len(all_chunks)
    print()
    print(f"{'':42} {'tokens':>6} {'wall s':>7} {'cpu s':>7} {'tok/s':>6} {'ratio':>6} {'cpu ratio':>9} "
          f"{'chunks/min':>10} {'1st done':>8} {'paper':>7} {'peak RSS':>9}" + (f" {'GPU peak':>9}" if on_cuda else ""))
    base = None if args.no_notebook else rows[0]
    for label, tokens, wall, cpu, first, rss, gpu in rows:
        rate = tokens / wall
        ratio = f"x{rate / (base[1] / base[2]):.2f}" if base else "-"
        cpu_ratio = f"x{(tokens / cpu) / (base[1] / base[3]):.2f}" if base else "-"
        first_s = f"{first:.1f} s" if first is not None else "-"
        print(f"{label:42} {tokens:6d} {wall:7.1f} {cpu:7.1f} {rate:6.1f} {ratio:>6} {cpu_ratio:>9} "
              f"{60 * n / wall:10.1f} {first_s:>8} {wall / n * paper_chunks / 60:5.1f} m {rss:6.0f} MB"
              + (f" {gpu:5.2f} GiB" if gpu is not None else ""))
    print(f"process peak RSS {peak_rss_mb():.0f} MB")
    if on_cuda:
        print(f"GPU peak = torch.cuda.max_memory_allocated during that phase (weights included: "
              f"{sum(p.numel() * p.element_size() for p in lm.model.parameters()) / 2**30:.2f} GiB)")
    print(f"paper = estimated minutes for all {paper_chunks} chunks of the {len(text):,}-char text at "
          f"{args.new_tokens} new tokens per chunk (wall seconds per chunk x {paper_chunks}); cpu s = "
          f"process CPU time, steadier than wall time on a shared machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())

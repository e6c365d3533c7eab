"""Stand-ins that load in milliseconds, for tests of ordering, stopping and error paths.

- `FakeTokenizer`: word-level, with atomic special tokens like a real tokenizer's added ones.
- `FakeEngine`: the interface of pipeline.engine.Engine (admit, step, release, rows, free).
  Each row copies its source, `per_step` tokens a pass, then ends; words in a chunk script
  other behaviour: "loopme" writes a loop forever, "boom" raises ValueError in any pass it
  is in, "huge" runs out of memory while it shares a pass with another row. Every pass and
  admission is logged on the class, so tests can see what ran together.
- `tiny_llama`: a random 2-layer Llama with the fake tokenizer, for the real engine.
- `tiny_model_folder`, `damaged_model_folder`: the same shape saved as a model folder (with a
  character-level tokenizer of its own and a chat template) for the real loader, whole or with
  its weights cut in half.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import torch

from pipeline.anchor import Anchor
from pipeline.engine import Row
from pipeline.events import Chunk
from pipeline.model import LoadedModel

SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
PAD, BOS, EOS = 0, 1, 2
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


class FakeTokenizer:
    """Word-level tokenizer with atomic special tokens, like a real one's added tokens."""

    pad_token, eos_token, bos_token = "<pad>", "<|im_end|>", "<|im_start|>"
    pad_token_id, eos_token_id, bos_token_id = PAD, EOS, BOS
    padding_side = "left"
    chat_template = "chatml"
    all_special_tokens = SPECIALS

    def __init__(self, vocab_size: int = 100_000):
        self.vocab = {s: i for i, s in enumerate(SPECIALS)}
        self.inverse = dict(enumerate(SPECIALS))
        self.vocab_size = vocab_size

    @property
    def added_tokens_decoder(self):
        return {i: SimpleNamespace(content=s) for i, s in enumerate(SPECIALS)}

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def _id(self, word: str) -> int:
        if word not in self.vocab:
            assert len(self.vocab) < self.vocab_size, "test vocabulary too small"
            self.vocab[word] = len(self.vocab)
            self.inverse[self.vocab[word]] = word
        return self.vocab[word]

    def __call__(self, text, add_special_tokens=False):
        ids = []
        for piece in _SPECIAL_RE.split(text):
            if piece in SPECIALS:
                ids.append(self.vocab[piece])
            else:
                ids.extend(self._id(w) for w in piece.split())
        return {"input_ids": ids}

    def decode(self, ids, skip_special_tokens=True):
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        words = [self.inverse.get(i, f"w{i}") for i in ids if not (skip_special_tokens and i < len(SPECIALS))]
        return " ".join(words)

    def convert_ids_to_tokens(self, i):
        return self.inverse[i]


class FakeModel:
    """Enough of a model for the scheduler: a config, parameters, a generation config."""

    def __init__(self):
        self.device = torch.device("cpu")
        self.config = SimpleNamespace(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      head_dim=8, hidden_size=32)
        self.generation_config = SimpleNamespace(eos_token_id=EOS, pad_token_id=PAD)

    def parameters(self):
        yield torch.zeros(1)


def fake_lm() -> LoadedModel:
    return LoadedModel(FakeModel(), FakeTokenizer(), "fake", "cpu", "float32", "test")


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{k}" for k in range(n))


def chunks_of(*texts: str) -> list[Chunk]:
    return [Chunk(index=i, text=t, first_page=1, last_page=1, separator=" " if i else "") for i, t in enumerate(texts)]


class FakeEngine:
    """pipeline.engine.Engine's interface; see the module docstring."""

    per_step = 3  # tokens a row writes per pass
    delay = 0.0  # seconds each pass takes
    log: list[tuple] = []  # ("init", slots) / ("admit", key) / ("step", [keys])

    @staticmethod
    def supports(model):
        return None

    def __init__(self, lm, decoding, *, slots, capacity, prefix, eos_ids, end_token, interrupt=None):
        self.lm, self.decoding, self.slots = lm, decoding, slots
        self.end_token, self.interrupt = end_token, interrupt
        self.rows: list[Row] = []
        FakeEngine.log.append(("init", slots))

    @classmethod
    def reset(cls, per_step=3, delay=0.0):
        cls.per_step, cls.delay, cls.log = per_step, delay, []

    @property
    def free(self) -> int:
        return self.slots - len(self.rows)

    def _words(self, row: Row) -> list[str]:
        return self.lm.tokenizer.decode(row.request.source).split()

    def admit(self, request) -> Row:
        FakeEngine.log.append(("admit", request.key))
        row = Row(request=request, anchor=Anchor(request.source, self.end_token))
        self.rows.append(row)
        return row

    def step(self) -> list[Row]:
        keys = [r.request.key for r in self.rows]
        FakeEngine.log.append(("step", keys))
        if self.delay:
            time.sleep(self.delay)
        texts = [self._words(r) for r in self.rows]
        if any("boom" in t for t in texts):
            raise ValueError("odd text")
        if len(self.rows) > 1 and any("huge" in t for t in texts):
            raise MemoryError()
        for row, text in zip(self.rows, texts):
            if "loopme" in text:
                loop = self.lm.tokenizer("again and again the same words come back")["input_ids"]
                for _ in range(self.per_step):
                    row.tokens.append(loop[len(row.tokens) % len(loop)])
                continue
            source = row.request.source
            for _ in range(self.per_step):
                if len(row.tokens) >= len(source):
                    row.finished = "end"
                    break
                row.tokens.append(source[len(row.tokens)])
                if len(row.tokens) >= row.request.budget:
                    row.finished = "budget"
                    break
        return list(self.rows)

    def release(self, row: Row) -> None:
        self.rows.remove(row)


def tiny_llama(vocab_size: int = 512, seed: int = 0) -> LoadedModel:
    """A random 2-layer Llama (grouped-query attention) that speaks FakeTokenizer's ids."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, initializer_range=0.3)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    return LoadedModel(model, FakeTokenizer(vocab_size), "tiny", "cpu", "float32", "test")


def tiny_model_folder(folder) -> str:
    """A random 2-layer Llama saved in `folder` with a character-level tokenizer and a chat
    template: a local model folder that pipeline.model.load_model loads in about a second."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="?"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def damaged_model_folder(folder) -> str:
    """tiny_model_folder with its weight file cut in half, as an interrupted copy leaves it:
    its config and tokenizer read, its weights do not."""
    from pathlib import Path

    tiny_model_folder(folder)
    weights = Path(folder) / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    return str(folder)

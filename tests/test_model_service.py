"""webapp.model_service: which model the web app preloads (named, chosen for the machine,
or served by another server) and the line that tells visitors where it runs."""

from __future__ import annotations

import pytest

from pipeline.choose_model import ModelChoice
from pipeline.errors import PipelineError
from webapp.form import ServedModel
from webapp.model_service import ModelStatus, pick_default_model, served_default_model


def test_a_named_model_is_used_as_it_is(monkeypatch):
    monkeypatch.delenv("PDF_CLEANER_MODEL", raising=False)
    asked = []
    name, note = pick_default_model("Qwen/Qwen2.5-0.5B-Instruct", choose=lambda *a, **k: asked.append(a))
    assert (name, note, asked) == ("Qwen/Qwen2.5-0.5B-Instruct", "", [])


def test_auto_is_the_default_and_says_why(monkeypatch):
    monkeypatch.delenv("PDF_CLEANER_MODEL", raising=False)
    seen = {}

    def choose(name, device=None):
        seen.update(name=name, device=device)
        return ModelChoice("HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct: the largest ...")

    name, note = pick_default_model(None, device="cuda", choose=choose)
    assert seen == {"name": "auto", "device": "cuda"}
    assert name == "HuggingFaceTB/SmolLM2-360M-Instruct" and note.startswith("chosen as HuggingFaceTB/")


def test_offline_auto_is_the_bundled_model_when_it_is_installed(monkeypatch):
    monkeypatch.delenv("PDF_CLEANER_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name, note = pick_default_model(None)  # the real choice: no network call when offline
    assert name == "bundled" and "cannot be reached" in note


def test_a_served_model_is_named_by_the_operator_or_by_its_server(monkeypatch):
    monkeypatch.delenv("PDF_CLEANER_MODEL", raising=False)
    served = ServedModel("http://127.0.0.1:9/v1")  # nothing listens on port 9
    assert pick_default_model("smollm2", served) == ("smollm2", "")
    with pytest.raises(PipelineError, match=r"cannot be reached .*check that it is running"):
        served_default_model(None, served)


def test_the_line_of_a_served_model_says_where_it_is_and_that_it_did_not_answer():
    status = ModelStatus(served=ServedModel("http://127.0.0.1:9/v1"))
    status.start("smollm2", background=False)
    line = status.line()
    assert line.startswith("Device: served at http://127.0.0.1:9/v1 · Model: smollm2 · not available:")
    assert "Tick 'rules only'" in line

"""webapp.offered: which models visitors may pick, decided without Gradio."""

from __future__ import annotations

import pytest

from webapp.offered import CannotOffer, ModelNotOffered, OfferedModels, is_loopback


def decide(**changes) -> OfferedModels:
    values = dict(server_model="bundled", listed=None, free=None, host="127.0.0.1", share=False, space=False)
    values.update(changes)
    return OfferedModels.decide(**values)


def test_a_local_page_keeps_free_choice_unless_a_list_is_given():
    assert decide().free
    assert not decide(listed=["bundled"]).free


@pytest.mark.parametrize("reachable", [dict(space=True), dict(share=True), dict(host="0.0.0.0"),
                                        dict(host="192.168.1.5"), dict(host="example.org")])
def test_a_page_others_can_reach_offers_the_list_only(reachable):
    offered = decide(**reachable)
    assert not offered.free
    assert offered.names == ("bundled",)


def test_the_operator_flag_decides_either_way():
    assert decide(space=True, free=True).free
    assert not decide(free=False).free


def test_the_server_model_is_offered_first_with_bundled():
    assert decide(server_model="Qwen/Qwen2.5-1.5B-Instruct").names == ("Qwen/Qwen2.5-1.5B-Instruct", "bundled")
    assert decide(server_model="x/y", listed=["bundled", "a/b"]).names == ("x/y", "bundled", "a/b")


def test_refusals_say_the_same_thing_for_every_name_and_never_look_at_paths(tmp_path):
    offered = decide(space=True)
    messages = set()
    for name in ("/etc", str(tmp_path), "/no/such/folder", "meta-llama/Llama-3.2-1B-Instruct", "../../x"):
        with pytest.raises(ModelNotOffered) as raised:
            offered.check(name)
        messages.add(str(raised.value))
    assert messages == {"That model is not offered on this server. Pick one of: bundled."}
    assert offered.check("bundled") == "bundled"


def test_environment_list_and_switch(monkeypatch):
    monkeypatch.setenv("PDF_CLEANER_MODELS", "bundled, a/b")
    monkeypatch.delenv("SPACE_ID", raising=False)
    offered = OfferedModels.from_environment("bundled", None, None, "127.0.0.1", False)
    assert offered.names == ("bundled", "a/b") and not offered.free
    monkeypatch.setenv("PDF_CLEANER_FREE_MODEL_CHOICE", "1")
    assert OfferedModels.from_environment("bundled", None, None, "0.0.0.0", False).free
    monkeypatch.delenv("PDF_CLEANER_MODELS")
    monkeypatch.delenv("PDF_CLEANER_FREE_MODEL_CHOICE")
    monkeypatch.setenv("SPACE_ID", "someone/pdf-cleaner")
    assert not OfferedModels.from_environment("bundled", None, None, "127.0.0.1", False).free


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("10.0.0.1")


def test_a_served_model_is_offered_without_bundled():
    offered = OfferedModels.decide("smollm2", None, None, "127.0.0.1", False, False, with_bundled=False)
    assert offered.names == ("smollm2",)


def test_on_zerogpu_only_the_start_up_model_is_offered_and_more_is_refused_at_start_up():
    offered = OfferedModels.decide("Qwen/Qwen2.5-1.5B-Instruct", None, None, "0.0.0.0", False, True,
                                   preloaded_only=True)
    assert offered.names == ("Qwen/Qwen2.5-1.5B-Instruct",) and not offered.free
    with pytest.raises(ModelNotOffered):
        offered.check("bundled")
    same = OfferedModels.decide("m", ["m"], None, "0.0.0.0", False, True, preloaded_only=True)
    assert same.names == ("m",)
    with pytest.raises(CannotOffer, match="--models naming bundled"):
        OfferedModels.decide("m", ["m", "bundled"], None, "0.0.0.0", False, True, preloaded_only=True)
    with pytest.raises(CannotOffer, match="--free-model-choice"):
        OfferedModels.decide("m", None, True, "127.0.0.1", False, True, preloaded_only=True)
    with pytest.raises(ModelNotOffered, match="No model runs on this server"):
        OfferedModels.decide(None, None, None, "0.0.0.0", False, True, preloaded_only=True).check("bundled")

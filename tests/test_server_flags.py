"""webapp.server_flags: the web server's command line, its environment defaults and checks."""

from __future__ import annotations

import pytest

from webapp.server_flags import ServerFlags, build_parser, parse_flags


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PDF_CLEANER_MAX_FILE_SIZE", "2mb")
    monkeypatch.setenv("PDF_CLEANER_QUEUE_SIZE", "5")
    monkeypatch.setenv("PDF_CLEANER_READ_TIMEOUT", "12.5")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "9000")
    flags = parse_flags([])
    assert (flags.max_file_size, flags.queue_size, flags.read_timeout, flags.port) == ("2mb", 5, 12.5, 9000)
    assert flags.limits().upload == 2 * 2**20 and flags.limits().read_timeout == 12.5
    # A flag wins over the environment.
    assert parse_flags(["--queue-size", "7"]).queue_size == 7


def test_offered_models_and_free_choice_are_parsed():
    flags = parse_flags(["--models", " bundled, Qwen/Qwen2.5-1.5B-Instruct ,", "--no-free-model-choice"])
    assert flags.models == ["bundled", "Qwen/Qwen2.5-1.5B-Instruct"] and flags.free_model_choice is False
    assert parse_flags([]).free_model_choice is None  # decided by where the page is served


@pytest.mark.parametrize("argv, message", [
    (["--max-file-size", "lots"], "not a file size: 'lots'"),
    (["--read-timeout", "0"], "--read-timeout must be more than 0"),
    (["--read-memory-mb", "100"], "--read-memory-mb must be at least 256"),
    (["--queue-size", "-1"], "--queue-size must be 0 or more"),
])
def test_bad_values_stop_with_argparses_message(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_flags(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_every_flag_is_a_field_the_server_takes():
    assert set(vars(parse_flags([]))) == set(ServerFlags.__dataclass_fields__)


def test_a_served_model_comes_from_flags_and_its_key_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("PDF_CLEANER_API_BASE", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("PDF_CLEANER_API_KEY", "sk-secret")
    flags = parse_flags(["--model", "smollm2", "--concurrency", "8", "--retries", "0"])
    served = flags.served()
    assert (served.api_base, served.api_key, served.concurrency, served.retries) == (
        "http://127.0.0.1:8080/v1", "sk-secret", 8, 0)
    assert "sk-secret" not in repr(served) and "sk-secret" not in repr(flags)
    assert served.fields()["api_base"] == "http://127.0.0.1:8080/v1"
    monkeypatch.delenv("PDF_CLEANER_API_BASE")
    assert parse_flags([]).served() is None  # the model runs in this process
    assert "--api-key" not in " ".join(build_parser().format_help().split())  # a flag would show in `ps`


@pytest.mark.parametrize("argv, message", [
    (["--api-base", "ftp://example.org"], "api_base (--api-base) must be an http:// or https:// address"),
    (["--api-base", "http://127.0.0.1:1/v1", "--concurrency", "0"], "concurrency (--concurrency) must be between 1"),
    (["--api-base", "http://127.0.0.1:1/v1", "--retries", "-1"], "retries (--retries) must be between 0 and 10"),
])
def test_bad_served_model_flags_get_the_pipelines_messages(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_flags(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err

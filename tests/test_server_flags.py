"""webapp.server_flags: the web server's command line, its environment defaults and checks."""

from __future__ import annotations

import pytest

from webapp.server_flags import ServerFlags, parse_flags


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

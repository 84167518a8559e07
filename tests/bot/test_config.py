from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from bardbot.config import ConfigError, load_config
from bardbot.engine import EngineLimits


def test_defaults_without_token():
    config = load_config([], {"HOME": "/home/x"})
    assert config.token is None
    assert config.db_path == Path("/home/x/.local/state/bardbot/settings.db")
    assert config.chat is True and config.sharded is False and config.sync_guild is None


def test_token_from_env_is_never_in_repr():
    config = load_config([], {"DISCORD_TOKEN": " secret.token.value \n"})
    assert config.token == "secret.token.value"
    assert "secret" not in repr(config)


def test_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("file.token\n")
    assert load_config(["--token-file", str(token_file)], {}).token == "file.token"
    assert load_config([], {"DISCORD_TOKEN_FILE": str(token_file)}).token == "file.token"
    with pytest.raises(ConfigError, match="cannot read the token file given by --token-file"):
        load_config(["--token-file", str(tmp_path / "missing")], {})


@pytest.mark.parametrize("argv", [["--token", "abc"], ["--token=abc"]])
def test_no_token_flag(argv):
    with pytest.raises(ConfigError, match="never a command-line argument") as info:
        load_config(argv, {})
    assert "abc" not in str(info.value)


def test_flags_override_env(tmp_path):
    env = {"BARDBOT_DB": "/env.db", "BARDBOT_SYNC_GUILD": "5", "BARDBOT_CHAT": "0",
           "BARDBOT_SHARDS": "auto", "BARDBOT_LOG_LEVEL": "debug"}
    config = load_config([], env)
    assert config.db_path == Path("/env.db") and config.sync_guild == 5 and not config.chat
    assert config.sharded and config.shard_count is None and config.log_level == "DEBUG"
    config = load_config(["--db", str(tmp_path / "a.db"), "--sync-guild", "7", "--shards", "4",
                          "--shard-ids", "0,2"], env)
    assert config.db_path == tmp_path / "a.db" and config.sync_guild == 7
    assert config.shard_count == 4 and config.shard_ids == (0, 2)


def test_every_engine_limit_has_its_flag():
    env = {"BARDBOT_MAX_QUEUED_TEXTS": "100", "BARDBOT_MAX_GENERATIONS": "9"}
    assert load_config([], {}).limits == EngineLimits()  # the engine's own defaults
    limits = load_config([], env).limits
    assert (limits.max_queued_texts, limits.max_generations) == (100, 9)
    limits = load_config(["--max-queued-texts", "7", "--workers", "2"], env).limits
    assert (limits.max_queued_texts, limits.generate_workers) == (7, 2)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--sync-guild", "abc"], {}, "--sync-guild / BARDBOT_SYNC_GUILD must be a whole number"),
        (["--shard-ids", "0"], {}, "--shard-ids needs --shards N"),
        (["--shards", "0"], {}, "at least 1"),
        ([], {"BARDBOT_CHAT": "maybe"}, "BARDBOT_CHAT must be on or off"),
        (["--log-level", "loud"], {}, "must be DEBUG, INFO, WARNING or ERROR"),
        ([], {"BARDBOT_MAX_QUEUED_TEXTS": "0"}, "BARDBOT_MAX_QUEUED_TEXTS must be at least 1"),
    ],
)
def test_bad_values(argv, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(argv, env)


def test_a_mistyped_model_path_names_the_setting_it_came_from(tmp_path):
    from bardbot.assembly import load_models
    from bardbot.models import ModelError

    config = load_config([], {"BARDBOT_SENTIMENT_MODEL": str(tmp_path / "typo.onnx")})
    with pytest.raises(ModelError, match=r"typo\.onnx.*BARDBOT_SENTIMENT_MODEL") as info:
        load_models(config)
    assert "no such file" in str(info.value) and "rebuild" not in str(info.value)


def test_help_lists_exactly_the_log_levels_accepted():
    from bardbot.config import parser

    help_text = " ".join(parser().format_help().split())
    listed = help_text.split("--log-level LEVEL ", 1)[1].split(" (default", 1)[0].split(", ")
    for level in listed:
        assert load_config(["--log-level", level], {}).log_level == level
    for level in set(logging.getLevelNamesMapping()) - set(listed):
        with pytest.raises(ConfigError, match="must be"):
            load_config(["--log-level", level], {})


def test_models_are_chosen_by_name_or_path():
    assert load_config([], {}).sentiment_model is None  # the shipped default
    env = {"BARDBOT_SENTIMENT_MODEL": "reference", "BARDBOT_SHAKESPEARE_MODEL": "/m/x.onnx"}
    config = load_config([], env)
    assert (config.sentiment_model, config.shakespeare_model) == ("reference", "/m/x.onnx")
    assert load_config(["--sentiment-model", "message"], env).sentiment_model == "message"


TOKEN = "MTIz.secret-token_value"


def token_file(tmp_path, data: bytes, mode: int = 0o600) -> str:
    path = tmp_path / "token"
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"caf\xe9\n", "is not UTF-8 text"),  # used to be a UnicodeDecodeError traceback
        (f"{TOKEN}\n{TOKEN}\n".encode(), "holds more than one line"),  # an aiohttp traceback
        (f"{TOKEN} x\n".encode(), "holds spaces or characters no Discord token has"),
        (b"x" * 5000, "is larger than 4096 bytes"),
        (b"\n \n", "is empty"),
    ],
)
def test_a_bad_token_file_is_one_clear_line_that_never_shows_the_token(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(["--token-file", token_file(tmp_path, data)], {})
    assert TOKEN not in str(info.value)


def test_a_token_file_must_be_a_regular_file(tmp_path):
    # /dev/zero used to read until MemoryError; a FIFO hung the start.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        with pytest.raises(ConfigError, match="is not a regular file"):
            load_config(["--token-file", path], {})


def test_a_token_file_others_can_read_is_accepted_with_a_warning(tmp_path):
    config = load_config(["--token-file", token_file(tmp_path, TOKEN.encode(), 0o644)], {})
    assert config.token == TOKEN
    (warning,) = config.warnings
    assert "can be read or changed by other users (mode 644); chmod 600 it" in warning
    assert load_config(["--token-file", token_file(tmp_path, TOKEN.encode())], {}).warnings == ()


def test_a_token_in_the_environment_is_checked_too():
    with pytest.raises(ConfigError, match="DISCORD_TOKEN holds more than one line") as info:
        load_config([], {"DISCORD_TOKEN": f"{TOKEN}\n{TOKEN}"})
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [["-t", TOKEN], [TOKEN], [f"-t{TOKEN}"], [f"--tok={TOKEN}"], [f"--console={TOKEN}"],
     ["--db", "x", f"--sync-guild={TOKEN}x'"]],
)
def test_no_argument_error_echoes_a_value(argv):
    # `bardbot -t TOKEN` used to print the token in argparse's "unrecognized arguments".
    with pytest.raises(ConfigError) as info:
        load_config(argv, {})
    assert TOKEN not in str(info.value)


def test_request_logs_stay_at_info_and_never_show_interaction_tokens(capsys):
    from bardbot.__main__ import setup_logging

    setup_logging("DEBUG")
    http = logging.getLogger("discord.http")
    assert http.getEffectiveLevel() == logging.INFO
    assert logging.getLogger("discord.webhook.async_").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("bardbot").getEffectiveLevel() == logging.DEBUG
    http.warning("We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.",
                 "POST", f"https://discord.com/api/v10/interactions/123/{TOKEN}/callback", 1.0)
    err = capsys.readouterr().err
    assert "interactions/123/<token>/callback" in err and TOKEN not in err


# Shaped like a real bot token (id in base64, timestamp, signature); not a real one.
REAL_SHAPED = "MTE2NjI5ODc5MDg5MjA0NjM1OQ.GxYz12.abcdefghijklmnopqrstuvwxyz0123456789AB"


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([f"--token-file={REAL_SHAPED}"], {}),
        (["--token-file", REAL_SHAPED], {}),
        ([], {"DISCORD_TOKEN_FILE": REAL_SHAPED}),
        (["--sentiment-model", REAL_SHAPED], {}),
        ([], {"BARDBOT_SHAKESPEARE_MODEL": REAL_SHAPED}),
        ([], {"BARDBOT_PLAY_SPEAKER": REAL_SHAPED}),
        ([], {"BARDBOT_PLAY_SPEAKER": REAL_SHAPED[:45]}),  # past a name's 40: not echoed
        (["--db", f"/srv/{REAL_SHAPED}.db"], {}),
    ],
)
def test_a_token_given_in_the_wrong_place_is_never_echoed(argv, env, capsys, monkeypatch):
    """Issue 15, D8': each of these printed the token in full in its error."""
    import bardbot.__main__ as entry

    with pytest.raises(ConfigError) as info:
        load_config(argv, env)
    assert REAL_SHAPED not in str(info.value) and REAL_SHAPED[:30] not in str(info.value)
    for name in ("DISCORD_TOKEN", "DISCORD_TOKEN_FILE", "BARDBOT_PLAY_SPEAKER",
                 "BARDBOT_SHAKESPEARE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert entry.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bardbot: ") and REAL_SHAPED[:30] not in err


def test_a_dotted_file_name_is_not_taken_for_a_token():
    path = "/m/my_sentiment_model_export.final.sentiment_message_model_v3.onnx"
    assert load_config(["--sentiment-model", path], {}).sentiment_model == path


def test_every_error_printed_hides_a_token_shaped_value(capsys):
    import bardbot.__main__ as entry

    entry._fail(f"cannot open {REAL_SHAPED}/x: no such file")
    err = capsys.readouterr().err
    assert REAL_SHAPED not in err and "(a token, not shown)/x" in err


def test_gateway_debug_logs_hide_interaction_tokens_and_what_users_wrote(capsys):
    """Issue 15, D8'': discord.py's gateway logs every event it receives at DEBUG."""
    from bardbot.__main__ import setup_logging

    setup_logging("DEBUG")
    gateway = logging.getLogger("discord.gateway")
    interaction = {"t": "INTERACTION_CREATE", "s": 3, "op": 0, "d": {
        "id": "1", "type": 2, "token": "aW50ZXJhY3Rpb246MTIzOnNlY3JldA-interaction-token",
        "data": {"name": "sentiment", "options": [
            {"name": "text", "type": 3, "value": "my secret diary entry"}]},
        "message": {"content": "a resolved message's words", "embeds": [
            {"title": "embed words", "description": "more embed words"}]}}}
    message = {"t": "MESSAGE_CREATE", "s": 4, "op": 0, "d": {
        "id": "2", "content": "<@1> the private message text", "author": {"id": "9"}}}
    for payload in (interaction, message):  # discord.py's own format string
        gateway.debug("For Shard ID %s: WebSocket Event: %s", 0, payload)
    gateway.debug("Received %s", '{"token": "raw-json-token", "content": "raw words"}')
    err = capsys.readouterr().err
    assert "INTERACTION_CREATE" in err and "MESSAGE_CREATE" in err and "sentiment" in err
    for secret in ("interaction-token", "secret diary", "resolved message", "embed words",
                   "private message", "raw-json-token", "raw words"):
        assert secret not in err

from __future__ import annotations

from pathlib import Path

import pytest
from bardbot.config import ConfigError, load_config


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


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--sync-guild", "abc"], {}, "--sync-guild / BARDBOT_SYNC_GUILD must be a whole number"),
        (["--shard-ids", "0"], {}, "--shard-ids needs --shards N"),
        (["--shards", "0"], {}, "at least 1"),
        ([], {"BARDBOT_CHAT": "maybe"}, "BARDBOT_CHAT must be on or off"),
        (["--log-level", "loud"], {}, "must be DEBUG, INFO, WARNING or ERROR"),
    ],
)
def test_bad_values(argv, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(argv, env)


def test_a_mistyped_model_path_names_the_setting_it_came_from(tmp_path):
    from bardbot.extension import load_models
    from bardbot.models import ModelError

    config = load_config([], {"BARDBOT_SENTIMENT_MODEL": str(tmp_path / "typo.onnx")})
    with pytest.raises(ModelError, match=r"typo\.onnx.*BARDBOT_SENTIMENT_MODEL"):
        load_models(config)


def test_models_are_chosen_by_name_or_path():
    assert load_config([], {}).sentiment_model is None  # the shipped default
    env = {"BARDBOT_SENTIMENT_MODEL": "reference", "BARDBOT_SHAKESPEARE_MODEL": "/m/x.onnx"}
    config = load_config([], env)
    assert (config.sentiment_model, config.shakespeare_model) == ("reference", "/m/x.onnx")
    assert load_config(["--sentiment-model", "message"], env).sentiment_model == "message"

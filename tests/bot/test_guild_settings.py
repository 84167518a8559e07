"""/bardbot settings and /bardbot-set through the real CommandTree, persisted in SQLite."""

from __future__ import annotations

import bardbot.__main__ as entry
import pytest
from bardbot.config import load_config
from bardbot.models.sentiment import SentimentClassifier
from bardbot.models.shakespeare import ShakespeareGenerator
from bardbot.settings import SettingsError

from tests.bot.conftest import make_env
from tests.bot.harness import (
    CATEGORY_ID,
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    OTHER_GUILD_ID,
    USER_ID,
    FakeClassifier,
    FakeGenerator,
    interaction_payload,
    option,
    run_interaction,
)

EPHEMERAL = 64


def channel_option(name: str, channel_id: int, kind: int = 0) -> tuple[dict, dict]:
    data = {"id": str(channel_id), "name": "somewhere", "type": kind,
            "permissions": str(MANAGE_GUILD)}
    return {"name": name, "type": 7, "value": str(channel_id)}, {str(channel_id): data}


async def set_(env, *options, permissions=MANAGE_GUILD, guild_id=GUILD_ID, resolved=None,
               user_id=USER_ID):
    payload = interaction_payload("bardbot-set", list(options), permissions=permissions,
                                  guild_id=guild_id, user_id=user_id,
                                  resolved={"channels": resolved} if resolved else None)
    await run_interaction(env.bot, payload)
    return env.session.replies[-1]


async def show(env, guild_id=GUILD_ID) -> dict[str, str]:
    await run_interaction(env.bot, interaction_payload("bardbot", subcommand="settings",
                                                       guild_id=guild_id))
    reply = env.session.replies[-1]
    assert reply.message["flags"] == EPHEMERAL
    assert reply.message["allowed_mentions"] == {"parse": []}
    (embed,) = reply.message["embeds"]
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_set_then_restart_then_read_back(tmp_path):
    db = tmp_path / "settings.db"
    env = await make_env(db)
    option_c, resolved = channel_option("allow_channel", CHANNEL_ID)
    reply = await set_(env, option("temperature", 0.8), option("length", 300),
                       option("show_sentiment", True), option_c, resolved=resolved)
    assert reply.message["flags"] == EPHEMERAL
    assert reply.message["embeds"][0]["title"] == "Updated for Globe Theatre"
    await env.bot.remove_cog("Bard")  # closes the store

    env = await make_env(db)  # a new bot process on the same file
    fields = await show(env)
    assert fields["temperature"] == "0.8"
    assert fields["length"] == "300"
    assert fields["sentiment in chat"] == "on"
    assert fields["chat channels"] == f"<#{CHANNEL_ID}>"
    await env.bot.remove_cog("Bard")


async def test_permission_denied_without_manage_server(env):
    reply = await set_(env, option("temperature", 1.5), permissions=0)
    assert reply.message["flags"] == EPHEMERAL
    assert "Manage Server" in reply.message["content"]
    assert (await env.store.get(GUILD_ID)).temperature == 0.5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([option("temperature", 2.5)], "temperature must be between 0.1 and 2.0"),
        ([option("temperature", 0.0)], "temperature must be between 0.1 and 2.0"),
        ([option("length", 0)], "length must be a whole number between 1 and 1500"),
        ([option("length", 5000)], "length must be a whole number between 1 and 1500"),
        ([], "Give at least one setting to change."),
    ],
)
async def test_bad_values_rejected(env, options, message):
    reply = await set_(env, *options)
    assert reply.message["flags"] == EPHEMERAL
    assert message in reply.message["content"]
    assert await env.store.get(GUILD_ID) == env.store.defaults


async def test_unknown_or_unusable_channel_rejected(env):
    option_c, resolved = channel_option("allow_channel", CATEGORY_ID, kind=4)  # a category
    reply = await set_(env, option_c, resolved=resolved)
    assert "is not a channel of this server I can chat in" in reply.message["content"]
    option_c, resolved = channel_option("allow_channel", 399999999999999999)  # not in the server
    reply = await set_(env, option_c, resolved=resolved)
    assert "I cannot see the channel" in reply.message["content"]
    assert (await env.store.get(GUILD_ID)).allowed_channels == frozenset()


async def test_disallow_channel(env):
    await env.store.allow_channel(GUILD_ID, CHANNEL_ID)
    option_c, resolved = channel_option("disallow_channel", CHANNEL_ID)
    await set_(env, option_c, resolved=resolved)
    assert (await env.store.get(GUILD_ID)).allowed_channels == frozenset()


async def test_servers_are_isolated(env):
    await set_(env, option("temperature", 1.7), option("chat", False))
    assert (await show(env))["temperature"] == "1.7"
    other = await show(env, guild_id=OTHER_GUILD_ID)
    assert other["temperature"] == "0.5" and other["chat replies"] == "on"


async def test_settings_in_dm(env):
    await run_interaction(env.bot, interaction_payload("bardbot", subcommand="settings",
                                                       guild_id=None))
    reply = env.session.replies[-1]
    assert reply.message["flags"] == EPHEMERAL
    assert "belong to a server" in reply.message["content"]
    # /bardbot-set is declared server-only; a forged DM invocation is still refused.
    reply = await set_(env, option("temperature", 1.0), guild_id=None)
    assert "only works in a server" in reply.message["content"]


async def test_database_failing_at_run_time(env, caplog):
    await env.store.close()
    await run_interaction(env.bot, interaction_payload("bardbot", subcommand="settings"))
    reply = env.session.replies[-1]
    assert reply.message["flags"] == EPHEMERAL
    assert reply.message["content"] == "Something went wrong; it has been logged."


def fake_models(monkeypatch):
    # Patch the runtime itself: discord.py re-executes extension modules on load.
    monkeypatch.setattr(SentimentClassifier, "load", classmethod(lambda cls, p: FakeClassifier()))
    monkeypatch.setattr(ShakespeareGenerator, "load", classmethod(lambda cls, p: FakeGenerator()))


def corrupt(path):
    path.write_bytes(b"this is not a database" * 100)
    return path.read_bytes()


async def test_corrupt_database_fails_the_plugin_load_and_is_preserved(tmp_path, monkeypatch):
    from discord.ext import commands

    from tests.bot.harness import make_bot, start

    db = tmp_path / "settings.db"
    before = corrupt(db)
    monkeypatch.setenv("BARDBOT_DB", str(db))
    fake_models(monkeypatch)
    host, _ = make_bot()
    await start(host)
    with pytest.raises(commands.ExtensionFailed) as info:
        await host.load_extension("bardbot.extension")
    assert isinstance(info.value.original, SettingsError)
    assert str(db) in str(info.value.original)
    assert db.read_bytes() == before


def test_corrupt_database_stops_the_bot_before_connecting(tmp_path, monkeypatch, capsys):
    db = tmp_path / "settings.db"
    before = corrupt(db)
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    fake_models(monkeypatch)
    assert entry.main(["--db", str(db)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("bardbot: the settings database") and str(db) in err
    assert "not-a-real-token" not in capsys.readouterr().err
    assert db.read_bytes() == before
    assert load_config([], {}).token is None

"""/bardbot settings and /bardbot-set through the real CommandTree, persisted in SQLite and in
PostgreSQL (every test that takes `env` runs against both)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import bardbot.__main__ as entry
import pytest
from bardbot.cog import DEFAULTS_USED
from bardbot.config import load_config
from bardbot.interactions import SETTINGS_UNAVAILABLE
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
    dispatch_message,
    interaction_payload,
    option,
    run_interaction,
)
from tests.bot.test_chat import mention
from tests.bot.test_settings import raw_execute

EPHEMERAL = 64


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "settings.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def env(target):
    env = await make_env(target)
    yield env
    await env.bot.remove_cog("Bard")


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


async def test_set_then_restart_then_read_back(target):
    db = target
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


async def shakespeare(env, **options) -> list:
    before = len(env.session.replies)
    opts = [option("prompt", "to be")] + [option(k, v) for k, v in options.items()]
    await run_interaction(env.bot, interaction_payload("shakespeare", opts))
    return env.session.replies[before:]


async def test_a_bad_stored_value_never_locks_a_server_out(env, target, caplog):
    """length=5000 in the database (a hand edit, an older bardbot): that field reads as its
    default everywhere, the rest of the server's settings still apply, and /bardbot-set fixes it."""
    await env.store.update(GUILD_ID, length=300, temperature=1.5)
    await raw_execute(target, "UPDATE guilds SET length = $1 WHERE guild_id = $2", 5000, GUILD_ID)
    [reply] = await shakespeare(env)
    assert "settings" not in reply.message.get("content", "").lower()[:40]
    # The default length (200), plus the one character that finds a word boundary.
    assert (env.gen.calls[-1]["length"], env.gen.calls[-1]["temperature"]) == (201, 1.5)
    await dispatch_message(env.bot, mention("speak, I am bound to hear"))
    assert env.session.requests[-1].json["content"]  # a mention still gets its reply
    assert (await show(env))["length"] == "200"
    reply = await set_(env, option("length", 100))
    assert reply.message["embeds"][0]["title"] == "Updated for Globe Theatre"
    assert (await show(env))["length"] == "100"
    logged = [r.getMessage() for r in caplog.records if "invalid stored length" in r.getMessage()]
    assert len(logged) == 1 and f"server {GUILD_ID}" in logged[0] and "/bardbot-set" in logged[0]


async def test_postgres_lost_while_running(pg_url, pg_cluster, caplog):
    """Every command answers within Discord's 3 s: with the defaults where that is safe, with a
    true "unavailable" otherwise, chat not at all; once the server is back, everything works
    again by itself."""
    env = await make_env(pg_url)
    try:
        await env.store.update(GUILD_ID, length=321)
        pg_cluster.stop()
        try:
            started = time.monotonic()
            replies = await shakespeare(env)
            assert time.monotonic() - started < 3
            assert env.gen.calls[-1]["length"] == 201  # the defaults (+1 for a word boundary)
            assert replies[-1].message["content"] == DEFAULTS_USED
            assert replies[-1].message["flags"] == EPHEMERAL
            await run_interaction(env.bot, interaction_payload("bardbot", subcommand="settings"))
            assert env.session.replies[-1].message["content"] == SETTINGS_UNAVAILABLE
            assert "nothing was read or changed" in (await set_(env, option("length", 9))
                                                     ).message["content"]
            # Chat fails closed: the server may have turned it off (issue 15, N8).
            generated, sent = len(env.gen.calls), len(env.session.requests)
            await dispatch_message(env.bot, mention("what, art thou there?", user_id=USER_ID + 7))
            assert (len(env.gen.calls), len(env.session.requests)) == (generated, sent)
            assert time.monotonic() - started < 4 * 3
        finally:
            pg_cluster.start()
        assert (await show(env))["length"] == "321"
        assert len(await shakespeare(env)) == 1 and env.gen.calls[-1]["length"] == 322
    finally:
        await env.bot.remove_cog("Bard")
    assert pg_cluster.password not in caplog.text
    assert "unreachable" in caplog.text  # the operator is told, without the password


_SHARD = """
import asyncio, functools, sys
from discord.ext import commands
from tests.bot.conftest import make_env
from tests.bot import harness
from tests.bot.test_chat import mention
from tests.bot.test_guild_settings import set_

async def main(url, shard_id):
    bot_class = functools.partial(commands.AutoShardedBot, shard_ids=[shard_id], shard_count=2)
    harness_make_bot = harness.make_bot
    harness.make_bot = lambda: harness_make_bot(bot_class)
    import tests.bot.conftest as conftest
    conftest.make_bot = harness.make_bot
    env = await make_env(url)
    print("ready", flush=True)
    for n, line in enumerate(sys.stdin):
        command, _, value = line.strip().partition(" ")
        if command == "set":
            await set_(env, harness.option("length", int(value)))
            print("set", flush=True)
        else:
            await harness.dispatch_message(env.bot, mention("o", user_id=harness.USER_ID + n))
            print(env.gen.calls[-1]["length"], flush=True)
    await env.bot.remove_cog("Bard")

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_shard_processes_use_each_others_changes(pg_url):
    """Two OS processes with different shard ids on one PostgreSQL database: a setting changed
    through one is used by the other on its next message."""
    repo = Path(__file__).resolve().parents[2]
    shards = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _SHARD, pg_url, str(shard_id), cwd=repo,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for shard_id in (0, 1)
    ]

    async def ask(shard, line: str) -> str:
        shard.stdin.write(line.encode() + b"\n")
        await shard.stdin.drain()
        return (await asyncio.wait_for(shard.stdout.readline(), 30)).decode().strip()

    try:
        for shard in shards:
            assert (await asyncio.wait_for(shard.stdout.readline(), 60)) == b"ready\n"
        a, b = shards
        # Each length is the setting plus the one character that finds a word boundary.
        assert await ask(b, "chat") == "201"
        assert await ask(a, "set 77") == "set"
        assert await ask(b, "chat") == "78"
        assert await ask(b, "set 33") == "set"
        assert await ask(a, "chat") == "34"
    finally:
        for shard in shards:
            shard.stdin.close()
        assert [await asyncio.wait_for(s.wait(), 30) for s in shards] == [0, 0]


def test_postgres_down_at_start_stops_the_bot_with_one_line(pg_cluster, monkeypatch, capsys):
    url = pg_cluster.url().replace(str(pg_cluster.port), "1")  # nothing listens on port 1
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("BARDBOT_DB", url)
    fake_models(monkeypatch)
    assert entry.main([]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("bardbot: cannot connect to the settings database postgresql://bard:***@")
    assert pg_cluster.password not in err and "not-a-real-token" not in err


async def test_the_postgres_password_is_never_logged_nor_shown(pg_url, pg_cluster, monkeypatch,
                                                               caplog):
    from tests.bot.harness import make_bot, start

    monkeypatch.setenv("BARDBOT_DB", pg_url)
    fake_models(monkeypatch)
    host, session = make_bot()
    await start(host)
    with caplog.at_level("DEBUG"):
        await host.load_extension("bardbot")
        await run_interaction(host, interaction_payload("bardbot", subcommand="about"))
        await host.remove_cog("Bard")  # closes the store (unloading would purge bardbot.*)
    assert "bardbot loaded (settings: postgresql://bard:***@127.0.0.1" in caplog.text
    assert pg_cluster.password not in caplog.text
    assert pg_cluster.password not in str(session.replies[-1].message)

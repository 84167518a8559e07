"""The standalone bot: intents, command sync on request, owner-only sync, tree errors."""

from __future__ import annotations

import logging

import aiohttp
import discord
import pytest
from bardbot.client import BardBot, ShardedBardBot, assemble, make_bot
from bardbot.config import load_config
from bardbot.engine import Engine
from discord.ext import commands

from tests.bot.harness import (
    APP_ID,
    BOT_ID,
    BOT_USER,
    GUILD_ID,
    USER_ID,
    FakeClassifier,
    FakeGenerator,
    attach,
    dispatch_message,
    interaction_payload,
    message_payload,
    run_interaction,
    start,
    user_payload,
)


@pytest.fixture
async def standalone(tmp_path):
    async def build(*argv):
        config = load_config(list(argv), {"HOME": str(tmp_path)})
        bot = make_bot(config)
        session = attach(bot)
        await start(bot)
        await assemble(bot, config, Engine(FakeClassifier(), FakeGenerator()))
        await bot.setup_hook()
        built.append(bot)
        return bot, session

    built: list[commands.Bot] = []
    yield build
    for bot in built:
        await bot.remove_cog("Bard")


async def test_defaults(standalone):
    bot, session = await standalone()
    assert type(bot) is BardBot
    assert bot.intents == discord.Intents.default()
    assert not bot.intents.message_content and not bot.intents.members
    assert bot.allowed_mentions.to_dict() == {"parse": []}
    assert bot.get_cog("Bard") is not None
    assert session.requests == []  # nothing synced unless asked
    assert bot.get_cog("Bard").store.defaults.chat_enabled  # chat on in the standalone bot
    assert bot.get_cog("Bard").speakers.spec == "rotate"


async def test_the_play_speaker_flag_reaches_the_cog(standalone):
    bot, _ = await standalone("--play-speaker", "JULIET")
    assert bot.get_cog("Bard").speakers.next() == "JULIET"


async def test_sync_guild_at_start(standalone):
    _, session = await standalone("--sync-guild", str(GUILD_ID))
    (sync,) = session.requests
    assert (sync.method, sync.path) == ("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    assert {c["name"] for c in sync.json} == {
        "sentiment", "shakespeare", "bardbot", "bardbot-set", "Analyze sentiment"}


async def test_sharded(standalone):
    bot, _ = await standalone("--shards", "4", "--shard-ids", "1,3")
    assert isinstance(bot, ShardedBardBot) and isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])


async def test_owner_sync_command_and_chat_do_not_collide(standalone, caplog):
    bot, session = await standalone()
    bot.owner_id = USER_ID
    sync = message_payload(f"<@{BOT_ID}> sync", mentions=[BOT_USER])
    await dispatch_message(bot, sync)
    put, reply = session.requests
    assert put.path == f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    assert reply.json["content"] == "Synced 5 commands to this server."
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert bot.get_cog("Bard")._chat_cooldown._cache == {}  # not taken for a chat line

    session.requests.clear()
    stranger = message_payload(f"<@{BOT_ID}> sync", mentions=[BOT_USER],
                               author=user_payload(USER_ID + 1, "mallory"))
    await dispatch_message(bot, stranger)
    assert session.requests == []  # not the owner: no sync, no chat reply either

    with caplog.at_level(logging.ERROR):
        await dispatch_message(bot, message_payload(f"<@{BOT_ID}> to be or not",
                                                    mentions=[BOT_USER]))
    assert len(session.replies) == 1  # a chat reply
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no CommandNotFound


async def test_a_mention_is_parsed_once(standalone, monkeypatch):
    bot, session = await standalone()
    parsed, get_prefix = [], bot.get_prefix

    async def counted(message):
        parsed.append(message.id)
        return await get_prefix(message)

    monkeypatch.setattr(bot, "get_prefix", counted)  # one call for each parse
    chat = message_payload(f"<@{BOT_ID}> to be or not", mentions=[BOT_USER])
    await dispatch_message(bot, chat)
    assert len(session.replies) == 1 and parsed == [int(chat["id"])]


async def test_tree_errors_are_answered_and_logged_once(standalone, caplog):
    bot, session = await standalone()
    with caplog.at_level(logging.ERROR):
        await run_interaction(bot, interaction_payload("no-such-command"))
    (reply,) = session.replies
    assert reply.message["flags"] == 64
    assert reply.message["content"] == "Something went wrong; it has been logged."
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bardbot.client"]
    assert "CommandNotFound" in line and f"user={USER_ID}" in line and "\n" not in line


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (discord.LoginFailure("Improper token has been passed."),
         "bardbot: Discord rejected the token: check DISCORD_TOKEN / DISCORD_TOKEN_FILE"),
        (aiohttp.ClientConnectionError("Cannot connect to host discord.com:443"),
         "bardbot: cannot connect to Discord (ClientConnectionError: Cannot connect to host "
         "discord.com:443); check the network connection and try again"),
    ],
)
def test_login_problems_are_one_line_without_the_token(tmp_path, monkeypatch, capsys, caplog,
                                                       error, expected):
    import bardbot.__main__ as entry
    from bardbot.models.sentiment import SentimentClassifier
    from bardbot.models.shakespeare import ShakespeareGenerator

    async def login(self, token):
        raise error

    monkeypatch.setattr(SentimentClassifier, "load", classmethod(lambda cls, p: FakeClassifier()))
    monkeypatch.setattr(ShakespeareGenerator, "load", classmethod(lambda cls, p: FakeGenerator()))
    monkeypatch.setattr(discord.Client, "login", login)
    # main() adds a root log handler on the stream capsys swaps per test: keep it out.
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kwargs: None)
    monkeypatch.setenv("DISCORD_TOKEN", "MTIzNDU2.secret-token")
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    assert entry.main(["--db", str(tmp_path / "s.db")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == expected
    assert "Traceback" not in err and "secret-token" not in err
    assert not [r for r in caplog.records if "voice will NOT be supported" in r.getMessage()]
    assert "secret-token" not in caplog.text

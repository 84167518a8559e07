"""Chat replies: MESSAGE_CREATE payloads through discord.py's parser, HTTP recorded."""

from __future__ import annotations

import asyncio
import threading
import time

from bardbot.cog import CHAT_QUEUE
from bardbot.engine import EngineLimits
from bardbot.handlers import MESSAGE_LIMIT

from tests.bot.conftest import make_env
from tests.bot.harness import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    USER_ID,
    dispatch_message,
    message_payload,
    settle,
    user_payload,
)

NO_PINGS = {"parse": [], "replied_user": False}


def mention(text: str, *, user_id: int = USER_ID, nick: bool = False, **kw) -> dict:
    tag = f"<@!{BOT_ID}>" if nick else f"<@{BOT_ID}>"
    return message_payload(
        f"{tag} {text}", author=user_payload(user_id), mentions=[BOT_USER], **kw
    )


async def test_mention_gets_a_real_reply(env):
    msg = mention("Shall I compare thee to a summer's day?")
    await dispatch_message(env.bot, msg)
    typing, reply = env.session.requests
    assert (typing.method, typing.path) == ("POST", f"/channels/{CHANNEL_ID}/typing")
    assert (reply.method, reply.path) == ("POST", f"/channels/{CHANNEL_ID}/messages")
    body = reply.json
    assert body["message_reference"]["message_id"] == int(msg["id"])
    assert body["message_reference"]["fail_if_not_exists"] is False  # deleted meanwhile: still sent
    assert body["allowed_mentions"] == NO_PINGS  # mention_author=False, nobody pinged
    assert body["content"].startswith("…and thou art more lovely, @everyone")
    assert len(body["content"]) <= MESSAGE_LIMIT
    # The mention is stripped; the server's defaults (0.5, 200) apply; a space keeps the reply
    # off the last word, one char more lets it end at a word boundary (models/play.py).
    assert env.gen.calls == [{"prompt": "Shall I compare thee to a summer's day? ",
                              "length": 201, "temperature": 0.5, "seed": None}]


async def test_nickname_mention_and_server_settings(env):
    await env.store.update(GUILD_ID, temperature=1.2, length=40, show_sentiment=True)
    await dispatch_message(env.bot, mention("what a wonderful, great day", nick=True))
    (reply,) = env.session.replies
    assert env.gen.calls[-1]["prompt"] == "what a wonderful, great day "
    assert (env.gen.calls[-1]["temperature"], env.gen.calls[-1]["length"]) == (1.2, 41)
    content = reply.json["content"]
    assert content.splitlines()[-1] == "-# your message reads positive (88% positive)"


async def test_dm_gets_a_reply(env):
    dm_channel = 600000000000000001
    msg = message_payload("to be or not to be", channel_id=dm_channel, guild_id=None)
    await dispatch_message(env.bot, msg)
    (reply,) = env.session.replies
    assert reply.path == f"/channels/{dm_channel}/messages"
    assert reply.json["message_reference"]["message_id"] == int(msg["id"])
    assert reply.json["allowed_mentions"] == NO_PINGS


async def test_ignored_messages(env):
    # Not addressed to the bot, another user mentioned, the bot's own message, another bot.
    await dispatch_message(env.bot, message_payload("just chatting"))
    await dispatch_message(env.bot, message_payload(
        "<@42> hi", mentions=[user_payload(42, "carol")]))
    await dispatch_message(env.bot, mention("talking to myself", user_id=BOT_ID) | {
        "author": BOT_USER})
    other_bot = user_payload(700000000000000001, "otherbot", bot=True)
    await dispatch_message(env.bot, mention("beep") | {"author": other_bot})
    await dispatch_message(env.bot, message_payload(
        "hello from a bot", guild_id=None, author=other_bot))
    assert env.session.requests == []
    assert env.gen.calls == []


async def test_mention_only_gets_a_hint(env):
    await dispatch_message(env.bot, message_payload(f"<@{BOT_ID}>", mentions=[BOT_USER]))
    (reply,) = env.session.replies
    assert "Say something after the mention" in reply.json["content"]
    assert env.gen.calls == []


async def test_hostile_text(env):
    text = "@everyone @here <@&999> <@123> ```py\nx\n``` **bold** > quote " * 80
    await dispatch_message(env.bot, mention(text[:3900]))
    (reply,) = env.session.replies
    assert reply.json["allowed_mentions"] == NO_PINGS
    assert len(reply.json["content"]) <= MESSAGE_LIMIT
    assert len(env.gen.calls[-1]["prompt"]) <= 1000  # the end of the message is the prompt


async def test_chat_off_and_allowed_channels(env):
    await env.store.update(GUILD_ID, chat_enabled=False)
    await dispatch_message(env.bot, mention("hello"))
    assert env.session.requests == []
    await env.store.update(GUILD_ID, chat_enabled=True)
    await env.store.allow_channel(GUILD_ID, OTHER_CHANNEL_ID)
    await dispatch_message(env.bot, mention("hello", user_id=USER_ID + 1))
    assert env.session.requests == []
    await dispatch_message(env.bot, mention("hello", user_id=USER_ID + 2,
                                            channel_id=OTHER_CHANNEL_ID))
    (reply,) = env.session.replies
    assert reply.path == f"/channels/{OTHER_CHANNEL_ID}/messages"


async def test_no_chat_reply_while_the_settings_cannot_be_read(env, monkeypatch):
    """Fail closed (issue 15, N8): chat turned off, or kept to another channel, must not be
    bypassed by replying with the defaults while the database is down. DMs need no settings."""
    from bardbot.settings import SettingsUnavailable

    await env.store.update(GUILD_ID, chat_enabled=False)
    await env.store.allow_channel(GUILD_ID, OTHER_CHANNEL_ID)
    real_get = env.store.get

    async def unavailable(guild_id):
        raise SettingsUnavailable("the settings database did not answer within 2 s")

    monkeypatch.setattr(env.store, "get", unavailable)
    for n, channel in enumerate((CHANNEL_ID, OTHER_CHANNEL_ID)):
        await dispatch_message(env.bot, mention("hello", user_id=USER_ID + n, channel_id=channel))
    assert env.session.requests == [] and env.gen.calls == []
    dm = message_payload("hello", channel_id=600000000000000001, guild_id=None,
                         author=user_payload(USER_ID + 5))
    await dispatch_message(env.bot, dm)
    assert len(env.session.replies) == 1  # a DM is answered
    monkeypatch.setattr(env.store, "get", real_get)
    await env.store.update(GUILD_ID, chat_enabled=True)
    await dispatch_message(env.bot, mention("hello", user_id=USER_ID + 6,
                                            channel_id=OTHER_CHANNEL_ID))
    assert len(env.session.replies) == 2  # back: the allowed channel is answered


async def test_per_user_cooldown(env):
    for i in range(5):
        await dispatch_message(env.bot, mention(f"line {i}"))
    assert len(env.session.replies) == 3  # CHAT_RATE per 30 s
    await dispatch_message(env.bot, mention("someone else", user_id=USER_ID + 1))
    assert len(env.session.replies) == 4


async def test_burst_is_answered_in_order(tmp_path):
    env = await make_env(tmp_path / "s.db", limits=EngineLimits(generate_workers=3))
    generate = env.gen.generate

    def slow_first(prompt, **kw):  # without the channel lock, "first" would be answered last
        if prompt == "first":
            time.sleep(0.3)
        return generate(prompt, **kw)

    env.gen.generate = slow_first
    messages = [mention(text, user_id=USER_ID + i) for i, text in
                enumerate(["first", "second", "third"])]
    before = None
    for msg in messages:
        env.bot._connection.parse_message_create(msg)
    await settle(before)
    replied_to = [r.json["message_reference"]["message_id"] for r in env.session.replies]
    assert replied_to == [int(m["id"]) for m in messages]
    await env.bot.remove_cog("Bard")


async def test_busy_chat_says_so(tmp_path):
    env = await make_env(tmp_path / "s.db", limits=EngineLimits(max_generations=0))
    await dispatch_message(env.bot, mention("hello"))
    (reply,) = env.session.replies
    assert "busy" in reply.json["content"]
    await env.bot.remove_cog("Bard")


async def test_broken_model_keeps_the_bot_alive(env, caplog):
    def explode(*a, **kw):
        raise RuntimeError("boom")

    env.gen.generate = explode
    await dispatch_message(env.bot, mention("hello"))
    assert env.session.replies == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bardbot.cog"]
    assert "chat reply failed" in line and "RuntimeError: boom" in line and "\n" not in line
    env.gen.generate = type(env.gen).generate.__get__(env.gen)
    await dispatch_message(env.bot, mention("hello again", user_id=USER_ID + 1))
    assert len(env.session.replies) == 1


async def test_a_flood_in_one_channel_gets_busy_past_the_channel_queue(tmp_path):
    # The per-channel lock used to queue without bound: 300 mentions in one channel at length
    # 1500 got 0 "busy" and the last reply after 59 s, since only one generation at a time
    # ever reached the engine and its cap never filled.
    env = await make_env(tmp_path / "s.db")
    env.gen.gate = threading.Event()
    messages = [mention(f"line {i}", user_id=USER_ID + i) for i in range(300)]
    before = asyncio.all_tasks()
    for msg in messages:
        env.bot._connection.parse_message_create(msg)
    for _ in range(50):  # let every listener run up to its first blocking point
        await asyncio.sleep(0)
    env.gen.gate.set()
    await settle(before, timeout=30)
    busy = [r for r in env.session.replies if "busy" in r.json["content"]]
    answered = [r for r in env.session.replies if "busy" not in r.json["content"]]
    assert len(busy) == 300 - CHAT_QUEUE
    # What was accepted is answered in arrival order.
    assert [r.json["message_reference"]["message_id"] for r in answered] == [
        int(m["id"]) for m in messages[:CHAT_QUEUE]
    ]
    assert env.cog._chat_queues == {}  # nothing left behind
    await env.bot.remove_cog("Bard")

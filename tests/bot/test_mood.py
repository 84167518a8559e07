"""Channel mood: /bardbot mood and /bardbot-set mood through the real CommandTree, the counts in
SQLite and PostgreSQL, the engine's background priority, the console's /mood."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path

import asyncpg
import discord
import pytest
from bardbot.client import content_intent_status, make_bot
from bardbot.config import load_config
from bardbot.console import Console
from bardbot.engine import Busy, Engine, EngineLimits
from bardbot.mood import MoodRecorder, bin_rows, hour_of, summary
from bardbot.mood_commands import MOOD_OFF, NO_INTENT
from bardbot.settings import MoodRow, SettingsStore, SettingsUnavailable, open_store

from tests.bot.conftest import make_env
from tests.bot.harness import (
    CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    OTHER_CHANNEL_ID,
    OTHER_GUILD_ID,
    USER_ID,
    FakeClassifier,
    FakeGenerator,
    advance,
    dispatch_message,
    interaction_payload,
    message_payload,
    option,
    run_interaction,
    user_payload,
)

ROOT = Path(__file__).resolve().parents[2]
EPHEMERAL = 64
HOUR = 500_000  # an hour since the epoch (in 2027)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "settings.db"
    return request.getfixturevalue("pg_url")


async def mood_env(target, *, content_intent: bool = True):
    # Background texts go at once: each message is settled before the next is sent.
    env = await make_env(target, limits=EngineLimits(background_wait=0))
    # What a bot started with --message-content (or a host with the intent) has.
    env.bot._connection._intents.message_content = content_intent
    env.cog.mood.start_writer()  # as in a bot that has been counting: not a message's task
    return env


@pytest.fixture
async def env(target):
    env = await mood_env(target)
    yield env
    await env.bot.remove_cog("Bard")


async def set_mood(env, on: bool, **extra):
    options = [option("mood", on), *(option(k, v) for k, v in extra.items())]
    await run_interaction(env.bot, interaction_payload("bardbot-set", options,
                                                       permissions=MANAGE_GUILD))
    return env.session.replies[-1]


async def ask_mood(env, *options, resolved=None):
    advance(30)  # past the command's cooldown
    payload = interaction_payload("bardbot", list(options), subcommand="mood",
                                  resolved={"channels": resolved} if resolved else None)
    await run_interaction(env.bot, payload)
    return env.session.replies[-1]


async def say(env, text: str, user_id: int = USER_ID, **kw) -> dict:
    message = message_payload(text, author=user_payload(user_id, f"user{user_id % 1000}"), **kw)
    await dispatch_message(env.bot, message)
    return message


def channel_option(channel_id: int) -> dict:
    return {"name": "channel", "type": 7, "value": str(channel_id)}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    return struct.unpack(">II", data[16:24])


async def stored_values(target) -> list:
    """Every value in every table of the settings database."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as con:
            listing = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = [r[0] for r in listing]
            values = [v for t in tables for row in con.execute(f"SELECT * FROM {t}") for v in row]
        con.close()
        return values
    conn = await asyncpg.connect(target)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'bardbot'")
        values = []
        for t in tables:
            for row in await conn.fetch(f"SELECT * FROM bardbot.{t['tablename']}"):
                values.extend(row.values())
        return values
    finally:
        await conn.close()


# -- through the command tree ----------------------------------------------------------------


async def test_forty_messages_from_forty_users_make_a_chart_and_keep_nothing_identifying(
    env, target
):
    reply = await set_mood(env, True)
    assert "Channel mood is on" in reply.message["content"]
    fields = {f["name"]: f["value"] for f in reply.message["embeds"][0]["fields"]}
    assert fields["channel mood"] == "on, kept 30 days"
    texts = ["I loved this great film"] * 25 + ["what an awful boring day"] * 15
    sent = [await say(env, text, USER_ID + i) for i, text in enumerate(texts)]

    reply = await ask_mood(env)
    assert reply.files, reply
    assert png_size(reply.files["mood.png"]) == (720, 450)
    body = reply.message
    assert body["content"].startswith("Globe Theatre, the last 7 days: 40 messages judged, 62%"
                                      " positive (nothing counted in the 7 days before).")
    assert body.get("flags", 0) != EPHEMERAL  # this channel, asked here: everyone may see it
    assert body["allowed_mentions"] == {"parse": []}

    values = await stored_values(target)
    identifying = {int(m["id"]) for m in sent} | {int(m["author"]["id"]) for m in sent}
    assert not identifying & {v for v in values if isinstance(v, int)}
    texts_stored = [v for v in values if isinstance(v, str)]
    assert not any(word in v for v in texts_stored for word in ("loved", "awful", "user"))
    rows = await env.store.mood_rows(GUILD_ID, 0, [CHANNEL_ID])
    assert [(r.channel_id, r.messages, r.positive) for r in rows] == [(CHANNEL_ID, 40, 25)]


async def test_turning_mood_off_deletes_the_history_at_once(env):
    await set_mood(env, True)
    for i in range(3):
        await say(env, "great fun", USER_ID + i)
    await env.cog.mood.settle()
    await env.cog.mood.flush()
    assert await env.store.mood_rows(GUILD_ID, 0, [CHANNEL_ID])
    reply = await set_mood(env, False)
    assert "mood history was deleted (1 channel-hours)" in reply.message["content"]
    assert await env.store.mood_rows(GUILD_ID, 0, [CHANNEL_ID]) == []
    await say(env, "great fun again")
    await env.cog.mood.flush()
    assert await env.store.mood_rows(GUILD_ID, 0, [CHANNEL_ID]) == []
    reply = await ask_mood(env)
    assert reply.message["content"] == MOOD_OFF


async def test_mood_is_off_by_default_and_bad_input_gets_one_line(env):
    await say(env, "I loved it")
    assert env.cog.mood.counted == 0
    reply = await ask_mood(env)
    assert (reply.message["content"], reply.message["flags"]) == (MOOD_OFF, EPHEMERAL)
    await set_mood(env, True)
    hidden = {"id": str(OTHER_CHANNEL_ID + 5), "name": "staff", "type": 0,
              "guild_id": str(GUILD_ID), "permissions": "0"}
    reply = await ask_mood(env, channel_option(OTHER_CHANNEL_ID + 5),
                           resolved={hidden["id"]: hidden})
    assert reply.message["content"] == f"You cannot read <#{OTHER_CHANNEL_ID + 5}>."
    reply = await ask_mood(env, option("days", 91))
    assert reply.message["flags"] == EPHEMERAL and "91" in reply.message["content"]
    reply = await ask_mood(env, option("days", 3))
    assert reply.message["content"] == "No messages judged in Globe Theatre in the last 3 days."


async def test_without_the_content_intent_mood_stays_off_and_says_why(target):
    env = await mood_env(target, content_intent=False)
    try:
        reply = await set_mood(env, True)
        assert reply.message["content"] == NO_INTENT
        assert not (await env.store.get(GUILD_ID)).mood_enabled
        await run_interaction(env.bot, interaction_payload("bardbot", subcommand="about"))
        fields = {f["name"]: f["value"] for f in env.session.replies[-1].message["embeds"][0]
                  ["fields"]}
        assert fields["Channel mood"].startswith("off: the Message Content intent was not granted")
    finally:
        await env.bot.remove_cog("Bard")


async def test_another_channel_is_shown_to_the_asker_only_and_threads_count_in_their_channel(
    env
):
    await set_mood(env, True)
    await say(env, "wonderful", channel_id=OTHER_CHANNEL_ID)
    other = {"id": str(OTHER_CHANNEL_ID), "name": "stage", "type": 0,
             "guild_id": str(GUILD_ID), "permissions": str(1024)}
    reply = await ask_mood(env, channel_option(OTHER_CHANNEL_ID),
                           resolved={other["id"]: other})
    assert reply.message["flags"] == EPHEMERAL
    assert reply.message["content"].startswith("\\#stage, the last 7 days: 1 message judged")


# -- the store -------------------------------------------------------------------------------


async def test_counts_add_up_once_per_batch_and_only_where_mood_is_on(target):
    async with await open_store(target) as store:
        await store.update(GUILD_ID, mood_enabled=True)
        batch = {(GUILD_ID, CHANNEL_ID, HOUR): (3, 2, 2.1),
                 (OTHER_GUILD_ID, CHANNEL_ID, HOUR): (5, 5, 4.0)}  # mood off there
        await store.add_mood("a", batch)
        await store.add_mood("a", batch)  # a retry of the same batch: counted once
        await store.add_mood("b", {(GUILD_ID, CHANNEL_ID, HOUR): (1, 0, 0.2)})
        (row,) = await store.mood_rows(GUILD_ID, HOUR, [CHANNEL_ID])
        assert row[:4] == (CHANNEL_ID, HOUR, 4, 2) and row.p_sum == pytest.approx(2.3)
        assert await store.mood_rows(OTHER_GUILD_ID, 0, [CHANNEL_ID]) == []


async def test_retention_prunes_each_server_by_its_mood_days(target):
    async with await open_store(target) as store:
        await store.update(GUILD_ID, mood_enabled=True, mood_days=2)
        await store.update(OTHER_GUILD_ID, mood_enabled=True)  # the default, 30 days
        counts = {(g, CHANNEL_ID, HOUR - age): (1, 1, 0.9)
                  for g in (GUILD_ID, OTHER_GUILD_ID) for age in (0, 47, 49, 30 * 24 + 1)}
        await store.add_mood("c", counts)
        assert await store.prune_mood(HOUR) == 2 + 1  # older than 48 h here, 720 h there
        kept = {g: [r.hour for r in await store.mood_rows(g, 0, [CHANNEL_ID])]
                for g in (GUILD_ID, OTHER_GUILD_ID)}
        assert kept == {GUILD_ID: [HOUR - 47, HOUR], OTHER_GUILD_ID: [HOUR - 49, HOUR - 47, HOUR]}
        with pytest.raises(ValueError, match="mood_days must be a whole number of days from 1"):
            await store.update(GUILD_ID, mood_days=366)


class LosesTheAnswer:
    """A store whose first add commits and then reports the database unreachable."""

    def __init__(self, store: SettingsStore):
        self.store, self.failed = store, False

    async def add_mood(self, batch_id, counts):
        await self.store.add_mood(batch_id, counts)
        if not self.failed:
            self.failed = True
            raise SettingsUnavailable("the answer was lost")

    def __getattr__(self, name):
        return getattr(self.store, name)


async def test_a_batch_retried_after_a_lost_answer_counts_once(tmp_path):
    async with await open_store(tmp_path / "s.db") as store:
        await store.update(GUILD_ID, mood_enabled=True)
        engine = Engine(FakeClassifier(), FakeGenerator())
        recorder = MoodRecorder(LosesTheAnswer(store), engine, clock=lambda: HOUR * 3600.0)
        for text in ("good", "bad", "great"):
            recorder.sample(GUILD_ID, CHANNEL_ID, text)
        await recorder.settle()
        with pytest.raises(SettingsUnavailable):
            await recorder.flush()
        recorder.sample(GUILD_ID, CHANNEL_ID, "fun")  # arrives meanwhile: the next batch
        await recorder.settle()
        await recorder.flush()  # the retried batch (a no-op: it landed) and the new one
        (row,) = await store.mood_rows(GUILD_ID, 0, [CHANNEL_ID])
        assert (row.messages, row.positive) == (4, 3)
        await recorder.close()
        engine.close()


def test_two_processes_on_one_postgresql_add_up_exactly(pg_url):
    """2 x 5,000 messages, counted by two processes into the same channel-hours at once."""
    asyncio.run(_enable(pg_url))
    workers = [subprocess.Popen([sys.executable, "-m", "tests.bot.mood_worker", pg_url, str(i)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert [o.split() for o in outputs] == [["counted", "5000", "dropped", "0"]] * 2

    async def totals():
        async with await open_store(pg_url) as store:
            rows = await store.mood_rows(GUILD_ID, 0, [CHANNEL_ID, OTHER_CHANNEL_ID])
        return sum(r.messages for r in rows), sum(r.positive for r in rows), len(rows)

    assert asyncio.run(totals()) == (10_000, 2 * 3_000, 2 * 3)  # 2 channels x 3 hours


async def _enable(url):
    async with await open_store(url) as store:
        await store.update(GUILD_ID, mood_enabled=True)


# -- the engine's priority -------------------------------------------------------------------


class HeldClassifier(FakeClassifier):
    """Holds every batch whose first text starts with one of `held` until `release` is set;
    records each batch's texts as it starts."""

    def __init__(self, held: tuple[str, ...] = ("",)):
        super().__init__()
        self.held = held
        self.release = threading.Event()
        self.started: list[list[str]] = []

    def predict(self, texts):
        self.started.append(list(texts))
        if texts[0].startswith(self.held):
            self.release.wait(10)
        return super().predict(texts)


async def test_background_texts_wait_while_a_request_waits_for_the_worker():
    clf = HeldClassifier()
    engine = Engine(clf, FakeGenerator())
    try:
        first = asyncio.ensure_future(engine.classify("first"))  # occupies the worker
        await asyncio.sleep(0.05)
        request = asyncio.ensure_future(engine.classify("request"))  # waits for it
        background = asyncio.ensure_future(engine.classify_background("bg"))
        await asyncio.sleep(0.1)
        assert clf.started == [["first"]]  # the background text did not start meanwhile
        clf.release.set()
        await asyncio.gather(first, request, background)
        assert sorted(clf.started) == [["bg"], ["first"], ["request"]]
    finally:
        engine.close()


async def test_a_request_never_waits_behind_background_texts_and_overflow_is_counted():
    clf = HeldClassifier(held=("bg",))
    limits = EngineLimits(background_batch=2, background_wait=0, max_background=2)
    engine = Engine(clf, FakeGenerator(), limits)
    try:
        background = [asyncio.ensure_future(engine.classify_background(f"bg{i}"))
                      for i in range(5)]
        await asyncio.sleep(0.05)  # bg0 runs (held), bg1 and bg2 wait, bg3 and bg4 are dropped
        for dropped in background[3:]:
            with pytest.raises(Busy):
                await dropped
        assert engine.background_dropped == 2
        result = await asyncio.wait_for(engine.classify("a great request"), 5)
        assert result.label == "positive"  # answered while the background batch is held
        clf.release.set()
        await asyncio.gather(*background[:3])
        assert [b for b in clf.started if b[0].startswith("bg")] == [["bg0"], ["bg1", "bg2"]]
    finally:
        engine.close()


async def test_background_texts_gather_until_enough_or_waited_long_enough():
    clf = FakeClassifier()
    engine = Engine(clf, FakeGenerator(), EngineLimits(background_batch=3, background_wait=0.3))
    try:
        first = [asyncio.ensure_future(engine.classify_background(t)) for t in ("a", "b")]
        await asyncio.sleep(0.05)
        assert clf.batches == []  # two of three, not waited long enough
        await asyncio.gather(*first, engine.classify_background("c"))
        assert clf.batches == [3]
        started = asyncio.get_running_loop().time()
        await engine.classify_background("d")  # alone: goes once it has waited
        assert clf.batches == [3, 1]
        assert asyncio.get_running_loop().time() - started >= 0.25
    finally:
        engine.close()


# -- pieces ----------------------------------------------------------------------------------


def test_bins_and_summary():
    rows = [MoodRow(CHANNEL_ID, HOUR, 4, 3, 2.8), MoodRow(CHANNEL_ID, HOUR - 30, 2, 0, 0.4),
            MoodRow(CHANNEL_ID, HOUR - 24, 1, 1, 0.9)]
    current, previous = bin_rows(rows, HOUR, 1)
    assert (current.bin_hours, len(current.messages), current.total, previous.total) == (1, 24, 4,
                                                                                          3)
    assert current.means()[-1] == pytest.approx(0.7) and current.means()[0] is None
    assert summary(current, previous, "#general", 1) == (
        "#general, the last day: 4 messages judged, 75% positive (+42 points on the 1 day before).")
    daily, _ = bin_rows(rows, HOUR, 30)
    assert (daily.bin_hours, len(daily.messages), daily.total) == (24, 30, 7)


def test_hour_of():
    assert hour_of(3600 * HOUR + 3599.9) == HOUR


async def test_console_mood_saves_the_chart_and_prints_its_path(tmp_path):
    engine = Engine(FakeClassifier(), FakeGenerator())
    console = Console(engine, chart_dir=tmp_path / "charts")
    try:
        for line in ("what a great day", "I loved it", "boring"):
            await console.handle(line)
        reply = await console.handle("/mood days=1")
        summary_line, saved = reply.content.split("\n")
        assert summary_line.startswith("this console, the last day: 3 messages judged, 67%")
        path = Path(saved.removeprefix("Chart saved to "))
        assert path.parent == tmp_path / "charts" and png_size(path.read_bytes()) == (720, 450)
        with pytest.raises(ValueError, match="days must be a whole number from 1 to 90"):
            await console.handle("/mood days=0")
    finally:
        await console.close()
        engine.close()


def test_chart_renders_without_a_display():
    from bardbot.mood_chart import render_png

    current, _ = bin_rows([MoodRow(1, HOUR, 5, 4, 3.5)], HOUR, 30)
    data = render_png(current, "#a $very$ long channel name, last 30 days")
    assert png_size(data) == (720, 450)
    assert io.BytesIO(data).getbuffer().nbytes < 200_000


# -- the Message Content intent --------------------------------------------------------------


class _App:
    def __init__(self, **flags):
        self.flags = discord.ApplicationFlags(**flags)


def test_the_intent_is_asked_for_only_when_configured_and_its_grant_is_reported(tmp_path):
    home = {"HOME": str(tmp_path)}
    assert not load_config([], home).message_content
    assert load_config([], {**home, "BARDBOT_MESSAGE_CONTENT": "1"}).message_content
    plain = make_bot(load_config([], home))
    assert not plain.intents.message_content
    assert content_intent_status(plain).startswith("Message Content intent not requested")
    bot = make_bot(load_config(["--message-content"], home))
    assert bot.intents.message_content and not bot.intents.members
    bot._application = _App(gateway_message_content_limited=True)  # what login fetched
    assert content_intent_status(bot).endswith("granted: servers may turn on channel mood")
    bot._application = _App()  # the portal switch is off: say so before Discord refuses
    with pytest.raises(discord.PrivilegedIntentsRequired):
        content_intent_status(bot)


def test_a_refused_intent_is_one_line_naming_the_switch(monkeypatch, capsys):
    import bardbot.__main__ as entry
    import bardbot.assembly
    import bardbot.client

    async def refused(config, engine):
        raise discord.PrivilegedIntentsRequired(None)

    monkeypatch.setenv("DISCORD_TOKEN", "a.b.c")
    monkeypatch.setattr(bardbot.assembly, "load_engine", lambda config: None)
    monkeypatch.setattr(bardbot.client, "run_bot", refused)
    assert entry.main(["--message-content"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "switch on Message Content Intent" in err


def test_the_chart_helper_reports_a_failed_chart_and_keeps_drawing():
    from bardbot.chart_process import ChartProcess, ChartProcessError

    current, _ = bin_rows([MoodRow(1, HOUR, 5, 4, 3.5)], HOUR, 1)
    helper = ChartProcess()
    try:
        with pytest.raises(ChartProcessError, match="ValueError"):
            helper.render(current, r"$\frac$")  # mathtext that cannot be drawn
        assert png_size(helper.render(current, "#general")) == (720, 450)
    finally:
        helper.close()
    assert not helper.alive


def test_the_chart_helper_never_runs_the_hosts_script(tmp_path):
    # multiprocessing's spawn would re-import it, and a host's `bot.run()` would run twice.
    (tmp_path / "host.py").write_text(
        "import asyncio\n"
        "print('host started', flush=True)\n"
        "from bardbot import mood_chart\n"
        "from bardbot.mood import MoodRow, bin_rows\n"
        f"current, _ = bin_rows([MoodRow(1, {HOUR}, 3, 2, 1.5)], {HOUR}, 1)\n"
        "print(len(asyncio.run(mood_chart.render(current, 'x'))) > 1000, flush=True)\n"
        "mood_chart.shutdown()\n"
    )
    out = subprocess.run([sys.executable, "host.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.splitlines() == ["host started", "True"], out.stderr[-2000:]

"""Prometheus metrics: what a scrape of /metrics shows after real commands through the tree."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import discord
import prometheus_client
import pytest
from bardbot import metrics
from bardbot.config import ConfigError, load_config
from bardbot.engine import EngineLimits
from prometheus_client.parser import text_string_to_metric_families

from tests.bot.harness import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    dispatch_message,
    interaction_payload,
    message_payload,
    option,
    run_interaction,
    user_payload,
)

TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
DB_URL = "postgresql://bard:hunter2-secret@db.example.org/bardbot"
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, metric: str, **labels: str) -> float:
    return samples(text).get((metric, frozenset(labels.items())), 0.0)


@pytest.fixture
async def metered(env):
    exporter = metrics.start(("127.0.0.1", 0), env.bot, env.engine, env.cog)
    env.url = exporter.url
    env.scrape = lambda: asyncio.to_thread(scrape, exporter.url)
    yield env
    metrics.stop()


async def command(env, name: str, *, user_id: int = USER_ID, guild_id: int = GUILD_ID,
                  channel_id: int = CHANNEL_ID, **options) -> None:
    opts = [option(k, v) for k, v in options.items()]
    await run_interaction(env.bot, interaction_payload(
        name, opts, user_id=user_id, guild_id=guild_id, channel_id=channel_id,
        permissions=MANAGE_GUILD))


async def mention(env, text: str, *, user_id: int = USER_ID) -> None:
    await dispatch_message(env.bot, message_payload(
        f"<@{BOT_ID}> {text}", author=user_payload(user_id), mentions=[BOT_USER]))


async def test_commands_are_counted_by_name_and_outcome(metered, monkeypatch):
    await command(metered, "sentiment", text="I loved this film")
    await command(metered, "sentiment", user_id=USER_ID + 1, text="   ")  # no text: user error
    for _ in range(6):  # 5 per 10 s, then the cooldown
        await command(metered, "sentiment", user_id=USER_ID + 2, text="a dull film")
    metered.engine.limits = EngineLimits(max_queued_texts=0)
    await command(metered, "sentiment", user_id=USER_ID + 3, text="good")  # busy
    metered.engine.limits = EngineLimits()
    monkeypatch.setattr(metered.clf, "predict", lambda texts: 1 / 0)
    await command(metered, "sentiment", user_id=USER_ID + 4, text="fine")  # failed
    await command(metered, "shakespeare", prompt="to be, or not to be", length=30)

    text = await metered.scrape()
    counts = {o: value(text, "bardbot_commands_total", command="sentiment", outcome=o)
              for o in metrics.OUTCOMES}
    assert counts == {"ok": 6, "user_error": 1, "cooldown": 1, "busy": 1, "failed": 1}
    assert value(text, "bardbot_commands_total", command="shakespeare", outcome="ok") == 1
    assert value(text, "bardbot_busy_rejections_total", queue="sentiment") == 1
    # Every command has its end-to-end time, failures included.
    assert value(text, "bardbot_request_duration_seconds_count", kind="sentiment") == 10
    assert value(text, "bardbot_request_duration_seconds_count", kind="shakespeare") == 1


async def test_model_queue_and_settings_metrics(metered):
    for i in range(3):
        await command(metered, "sentiment", user_id=USER_ID + i, text="great fun")
    await command(metered, "shakespeare", prompt="o romeo", length=40)
    await command(metered, "bardbot-set", temperature=0.8)
    target = message_payload("what a great day", author=user_payload(USER_ID + 5, "bob"))
    await run_interaction(metered.bot, interaction_payload(
        "Analyze sentiment", kind=3, target_id=int(target["id"]),
        resolved={"messages": {target["id"]: target}}))

    for sub in ("about", "settings"):
        await run_interaction(metered.bot, interaction_payload("bardbot", subcommand=sub))

    text = await metered.scrape()
    assert value(text, "bardbot_commands_total", command="Analyze sentiment", outcome="ok") == 1
    assert value(text, "bardbot_commands_total", command="bardbot about", outcome="ok") == 1
    assert value(text, "bardbot_commands_total", command="bardbot settings", outcome="ok") == 1
    assert value(text, "bardbot_commands_total", command="bardbot-set", outcome="ok") == 1
    assert value(text, "bardbot_sentiment_batch_size_count") == 4
    assert value(text, "bardbot_sentiment_batch_size_sum") == 4
    assert value(text, "bardbot_model_run_seconds_count", model="sentiment") == 4
    assert value(text, "bardbot_queue_wait_seconds_count", queue="sentiment") == 4
    assert value(text, "bardbot_model_run_seconds_count", model="shakespeare") == 1
    assert value(text, "bardbot_queue_wait_seconds_count", queue="generation") == 1
    assert value(text, "bardbot_generated_characters_total") == metered.gen.calls[-1]["length"]
    assert value(text, "bardbot_settings_calls_total", operation="get", outcome="ok") == 2
    assert value(text, "bardbot_settings_calls_total", operation="update", outcome="ok") == 1
    assert value(text, "bardbot_settings_call_seconds_count", access="read") == 2
    assert value(text, "bardbot_settings_call_seconds_count", access="write") == 1
    assert value(text, "bardbot_queue_depth", queue="sentiment") == 0
    assert value(text, "bardbot_guilds") == len(metered.bot.guilds)
    assert value(text, "bardbot_model_info", role="sentiment", name="unknown",
                 sha256="ab" * 32) == 1
    assert value(text, "bardbot_connected", shard="0") in (0, 1)


async def test_chat_replies_are_counted(metered):
    for _ in range(4):  # 3 per 30 s, then the cooldown (no reply)
        await mention(metered, "shall I compare thee to a summer's day")
    await mention(metered, "   ", user_id=USER_ID + 1)  # nothing after the mention
    text = await metered.scrape()
    assert value(text, "bardbot_chat_replies_total", outcome="ok") == 3
    assert value(text, "bardbot_chat_replies_total", outcome="cooldown") == 1
    assert value(text, "bardbot_chat_replies_total", outcome="user_error") == 1
    assert value(text, "bardbot_request_duration_seconds_count", kind="chat") == 4


async def test_no_secret_or_id_reaches_the_metrics(metered, monkeypatch, tmp_path):
    """Red team: token-shaped text, URLs with passwords, mentions, in every place a request can
    carry them, including a failure whose message repeats the text."""
    hostile = f"{TOKEN} {DB_URL} <@{USER_ID}> @everyone <#{CHANNEL_ID}> https://x.example/?k=v"
    ids = dict(user_id=USER_ID + 77, guild_id=GUILD_ID + 77, channel_id=CHANNEL_ID + 77)
    await command(metered, "sentiment", text=hostile, **ids)
    await command(metered, "shakespeare", prompt=hostile[:900], **ids)
    await mention(metered, hostile, user_id=ids["user_id"])

    def fail(texts):
        raise RuntimeError(f"cannot read {texts[0]} from {DB_URL}")

    monkeypatch.setattr(metered.clf, "predict", fail)
    await command(metered, "sentiment", text=hostile, user_id=USER_ID + 78)
    text = await metered.scrape()
    assert value(text, "bardbot_commands_total", command="sentiment", outcome="failed") == 1
    secrets = [TOKEN, "hunter2", "db.example.org", "x.example", "everyone", str(tmp_path),
               *(str(i) for i in (USER_ID, GUILD_ID, CHANNEL_ID, *ids.values()))]
    leaked = [s for s in secrets if s in text]
    assert not leaked


async def test_cardinality_stays_bounded(metered):
    async def every_kind(i: int) -> None:
        where = dict(user_id=USER_ID + i, guild_id=GUILD_ID + i, channel_id=CHANNEL_ID + i)
        await command(metered, "sentiment", text=f"good film number {i}", **where)
        await command(metered, "shakespeare", prompt=f"line {i}", length=5, **where)
        await command(metered, "bardbot-set", length=10 + i, **where)
        await mention(metered, f"hello {i}", user_id=USER_ID + i)

    await every_kind(0)
    first = set(samples(await metered.scrape()))
    for i in range(1, 30):
        await every_kind(i)
    series = {key for key in samples(await metered.scrape())
              if not key[0].startswith("bardbot_process_")}
    assert series <= first
    assert len(series) < 700


async def test_commands_of_others_are_not_counted_and_names_are_bounded(metered):
    counted = metrics.active()
    assert counted is not None
    assert counted.command_name("sentiment") == "sentiment"
    assert counted.command_name("a host command") == metrics.OTHER
    assert counted.command_name(None) == metrics.OTHER


async def test_metrics_stop_with_the_cog(env):
    exporter = metrics.start(("127.0.0.1", 0), env.bot, env.engine, env.cog)
    assert "bardbot_commands_total" in await asyncio.to_thread(scrape, exporter.url)
    await env.bot.remove_cog("Bard")
    assert metrics.active() is None
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(scrape, exporter.url)
    await env.bot.add_cog(env.cog)  # for the fixture's teardown


async def test_a_taken_port_is_one_clear_error(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(metrics.MetricsError, match=f"127.0.0.1:{port}.*BARDBOT_METRICS"):
            metrics.start(("127.0.0.1", port), env.bot, env.engine, env.cog)
    assert metrics.active() is None


def test_the_default_registry_is_left_alone():
    names = [family.name for family in prometheus_client.REGISTRY.collect()]
    assert names and not any(n.startswith("bardbot_") for n in names)


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "address"), [
    ("9464", ("127.0.0.1", 9464)),
    (":9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:9100", ("0.0.0.0", 9100)),
    ("[::1]:9100", ("::1", 9100)),
    ("metrics.internal:80", ("metrics.internal", 80)),
])
def test_metrics_address(given, address):
    assert load_config(["--metrics", given], {}).metrics == address
    assert load_config([], {"BARDBOT_METRICS": given}).metrics == address


@pytest.mark.parametrize("bad", ["host:", "host:port", "70000", "[::1]:", f"{TOKEN}:1x"])
def test_bad_metrics_address_names_the_setting_never_a_long_value(bad):
    with pytest.raises(ConfigError, match="BARDBOT_METRICS") as info:
        load_config([], {"BARDBOT_METRICS": bad})
    assert TOKEN not in str(info.value)


def test_metrics_are_off_by_default():
    assert load_config([], {}).metrics is None


# -- structured logs -----------------------------------------------------------------------


def test_json_logs_are_one_object_a_line_with_tokens_redacted(capsys):
    from bardbot.__main__ import setup_logging

    assert load_config(["--log-format", "json"], {}).log_format == "json"
    with pytest.raises(ConfigError, match="BARDBOT_LOG_FORMAT"):
        load_config([], {"BARDBOT_LOG_FORMAT": "xml"})
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    setup_logging("INFO", "json")
    try:
        logging.getLogger("discord.http").warning(
            "POST %s responded with 429", f"https://discord.com/api/v10/webhooks/1/{TOKEN}")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bardbot.cog").exception("command failed: x")
    finally:  # the other tests log as before
        root.handlers[:], root.level = handlers, level
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    http, failure = lines[-2], lines[-1]
    assert http["message"] == "POST https://discord.com/api/v10/webhooks/1/<token> responded " \
                              "with 429"
    assert (http["level"], http["logger"]) == ("WARNING", "discord.http")
    assert http["time"].endswith("+00:00")
    assert failure["logger"] == "bardbot.cog" and "ValueError: boom" in failure["exception"]
    assert TOKEN not in "".join(json.dumps(line) for line in lines)



# -- the standalone bot ----------------------------------------------------------------------


async def test_standalone_bot_serves_metrics_when_asked(tmp_path):
    from bardbot.client import assemble, make_bot
    from bardbot.engine import Engine

    from tests.bot.harness import FakeClassifier, FakeGenerator, attach, start

    config = load_config(["--metrics", "127.0.0.1:0"], {"HOME": str(tmp_path)})
    bot = make_bot(config)
    attach(bot)
    await start(bot)
    await assemble(bot, config, Engine(FakeClassifier(), FakeGenerator()))
    try:
        exporter = metrics._exporter
        assert exporter is not None and exporter.cog is bot.get_cog("Bard")
        await command(SimpleNamespace(bot=bot), "sentiment", text="good")
        text = await asyncio.to_thread(scrape, exporter.url)
        assert value(text, "bardbot_commands_total", command="sentiment", outcome="ok") == 1
        assert value(text, "bardbot_commands_total", command="bardbot about", outcome="ok") == 0
        assert ("bardbot_commands_total", frozenset(
            {"command": "bardbot", "outcome": "ok"}.items())) not in samples(text)  # a group
    finally:
        await bot.remove_cog("Bard")
    assert metrics.active() is None


def test_a_taken_port_stops_the_bot_with_one_line(tmp_path, monkeypatch, capsys):
    import bardbot.__main__ as entry
    from bardbot.models.sentiment import SentimentClassifier
    from bardbot.models.shakespeare import ShakespeareGenerator

    from tests.bot.harness import FakeClassifier, FakeGenerator

    async def login(self, token):
        raise AssertionError("the bot must stop before connecting")

    monkeypatch.setattr(SentimentClassifier, "load", classmethod(lambda cls, p: FakeClassifier()))
    monkeypatch.setattr(ShakespeareGenerator, "load", classmethod(lambda cls, p: FakeGenerator()))
    monkeypatch.setattr(discord.Client, "login", login)
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kwargs: None)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert entry.main(["--db", str(tmp_path / "s.db"), "--metrics", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"bardbot: cannot serve metrics on 127.0.0.1:{port} ")
    assert TOKEN not in "".join(err)


async def test_the_grafana_dashboard_queries_metrics_that_exist(metered):
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"bardbot_\w+", target["expr"])}
    await command(metered, "sentiment", text="good")
    await command(metered, "shakespeare", prompt="o romeo", length=10)
    await mention(metered, "hello")
    families = list(text_string_to_metric_families(await metered.scrape()))
    exported = {f.name for f in families} | {s.name for f in families for s in f.samples}
    assert queried and queried <= exported, queried - exported

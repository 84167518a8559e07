"""Against the real thing: a Prometheus server scrapes the bot's /metrics, and its HTTP API
shows the command counter rising."""

from __future__ import annotations

import asyncio
import time

import pytest
from bardbot import metrics

from tests.bot.harness import USER_ID, interaction_payload, option, run_interaction
from tests.bot.prometheus_server import start_prometheus

SENTIMENT_OK = 'bardbot_commands_total{job="bardbot",command="sentiment",outcome="ok"}'


@pytest.fixture
async def prometheus(env, tmp_path):
    exporter = metrics.start(("127.0.0.1", 0), env.bot, env.engine, env.cog)
    server = await asyncio.to_thread(start_prometheus, tmp_path, f"127.0.0.1:{exporter.port}")
    yield server
    server.stop()
    metrics.stop()


async def sentiments(env, count: int, first_user: int) -> None:
    for user in range(first_user, first_user + count):  # one user each: no cooldown
        await run_interaction(env.bot, interaction_payload(
            "sentiment", [option("text", "what a great film")], user_id=user))


async def until(prometheus, query: str, expected: float, timeout: float = 30.0) -> None:
    """Wait for Prometheus to have scraped `query` at `expected` (the bot keeps running)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(prometheus.value, query)
        if seen == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{query} is {seen}, expected {expected}; prometheus log:\n"
                         f"{prometheus.log.read_text()}")


async def test_prometheus_scrapes_the_bot_and_sees_commands_counted(env, prometheus):
    await until(prometheus, 'up{job="bardbot"}', 1)
    await sentiments(env, 1, USER_ID)
    await until(prometheus, SENTIMENT_OK, 1)
    await sentiments(env, 3, USER_ID + 1)
    await until(prometheus, SENTIMENT_OK, 4)
    # The histograms and scrape-time gauges made it too, under their documented names.
    assert await asyncio.to_thread(
        prometheus.value, 'bardbot_model_run_seconds_count{model="sentiment"}') == 4
    assert await asyncio.to_thread(prometheus.value, 'bardbot_queue_depth{queue="sentiment"}') == 0
    targets = await asyncio.to_thread(prometheus.api, "targets")
    (target,) = targets["activeTargets"]
    assert target["health"] == "up" and not target["lastError"]

"""Metrics benchmark (not a test): how big and how slow a scrape of /metrics is, and whether
anything secret reaches it.

    .venv/bin/python bench/bench_metrics.py                 # shipped models, 10 shards
    .venv/bin/python bench/bench_metrics.py --json out.json

A real bot runs the Bard cog on the real models (discord.py's HTTP is the recording fake from
bardbot.testing). Red-team requests go through every command and the chat listener: token-shaped
text, URLs with passwords, mentions, ids of users, servers and channels. Then every metric is
populated (every command x outcome, every queue, every settings call, 10 shards' latencies) and
the endpoint is scraped over HTTP, as Prometheus does: bytes, median and p99 time per scrape.
Before all that, the event loop's CPU time per /sentiment with metrics off and on (requests one
at a time through the real tree, rounds alternating off-on / on-off): what the hooks cost, a
figure that a busy machine disturbs far less than latencies. Latency with metrics on vs off
under paced load is in bench_bot_load.py (--skip burst,paced,rss keeps only that phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

from bardbot import metrics, testing
from bardbot.cog import Bard
from bardbot.engine import Engine
from bardbot.settings import GuildSettings, open_store
from prometheus_client import generate_latest

TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
SECRETS = [TOKEN, "hunter2", "db.example.org", "paste.example", "@everyone"]
HOSTILE = (f"{TOKEN} postgresql://bard:hunter2@db.example.org/bardbot "
           "https://paste.example/raw?key=hunter2 @everyone <@{user}> <#{channel}>")


class Shard:
    def __init__(self, closed: bool) -> None:
        self.closed = closed

    def is_closed(self) -> bool:
        return self.closed


def ten_shards() -> SimpleNamespace:
    """What BotState reads of an AutoShardedBot with 10 shards in 25,000 servers."""
    return SimpleNamespace(
        latencies=[(i, 0.04 + i / 1000) for i in range(10)],
        shards={i: Shard(closed=i == 9) for i in range(10)},
        guilds=range(25_000),
    )


async def red_team(bot, cog: Bard, users: list[int]) -> None:
    for i, user in enumerate(users):
        where = dict(user_id=user, guild_id=testing.GUILD_ID + i,
                     channel_id=testing.CHANNEL_ID + i)
        text = HOSTILE.format(user=user, channel=where["channel_id"])
        for name, options in (("sentiment", [testing.option("text", text)]),
                              ("shakespeare", [testing.option("prompt", text),
                                               testing.option("length", 50)]),
                              ("bardbot-set", [testing.option("length", 50 + i)])):
            await testing.run_interaction(bot, testing.interaction_payload(
                name, options, permissions=1 << 5, **where))
        await testing.dispatch_message(bot, testing.message_payload(
            f"<@{testing.BOT_ID}> {text}", author=testing.user_payload(user),
            mentions=[testing.BOT_USER]))


def populate(m: metrics.Metrics) -> None:
    """Every series a long-running bot can have, as if every path had been taken."""
    for command in (*m.commands, metrics.OTHER):
        for outcome in metrics.OUTCOMES:
            m.commands_total.labels(command, outcome).inc(7)
        m.request_seconds.labels(command).observe(0.05)
    m.request_seconds.labels("chat").observe(0.2)
    for outcome in metrics.OUTCOMES:
        m.chat_total.labels(outcome).inc(3)
    for queue in metrics.QUEUES:
        m.busy_total.labels(queue).inc()
    for queue in ("sentiment", "generation"):
        m.queue_wait.labels(queue).observe(0.002)
    for model in metrics.MODELS:
        m.model_seconds.labels(model).observe(0.01)
    for size in metrics.BATCH_SIZES:
        m.batch_size.observe(size)
    for operation in metrics.SETTINGS_OPERATIONS:
        for outcome in metrics.SETTINGS_OUTCOMES:
            m.settings_total.labels(operation, outcome).inc()
    for access in ("read", "write"):
        m.settings_seconds.labels(access).observe(0.0004)
    m.generated_chars.inc(123_456)


def scrape(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read()
    return time.perf_counter() - started, body


async def loop_cpu(bot, cog: Bard, rounds: int, per_round: int) -> dict:
    """Event-loop CPU ms per /sentiment, metrics off vs on (the model runs in its own thread)."""
    cpu = {"off": 0.0, "on": 0.0}
    user = testing.USER_ID + 10_000
    for i in range(rounds):
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if mode == "on":
                metrics.start(("127.0.0.1", 0), bot, cog.engine, cog)
            started = time.thread_time()
            for _ in range(per_round):
                user += 1  # one user each: no cooldown
                await testing.run_interaction(bot, testing.interaction_payload(
                    "sentiment", [testing.option("text", "a fine film")], user_id=user))
            cpu[mode] += time.thread_time() - started
            metrics.stop()
    off, on = (cpu[m] * 1000 / (rounds * per_round) for m in ("off", "on"))
    return {"loop_cpu_ms_per_request_off": round(off, 4),
            "loop_cpu_ms_per_request_on": round(on, 4),
            "loop_cpu_on_over_off": round(on / off, 3), "requests_per_mode": rounds * per_round}


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scrapes", type=int, default=500)
    p.add_argument("--rounds", type=int, default=10, help="off/on rounds of the CPU comparison")
    p.add_argument("--per-round", type=int, default=300, help="requests per mode and round")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()

    from bardbot.models import SentimentClassifier, ShakespeareGenerator

    bot, _ = testing.make_bot()
    await testing.start(bot)
    engine = Engine(SentimentClassifier.load(), ShakespeareGenerator.load())
    cog = Bard(bot, engine, await open_store(":memory:", GuildSettings()))
    await bot.add_cog(cog)
    overhead = await loop_cpu(bot, cog, args.rounds, args.per_round)
    exporter = metrics.start(("127.0.0.1", 0), bot, engine, cog)
    users = [testing.USER_ID + 1000 + i for i in range(5)]
    await red_team(bot, cog, users)
    _, body = await asyncio.to_thread(scrape, exporter.url)
    text = body.decode()
    ids = [str(i) for u in range(len(users))
           for i in (users[u], testing.GUILD_ID + u, testing.CHANNEL_ID + u)]
    leaked = [s for s in SECRETS + ids if s in text]

    # The same endpoint, its bot state swapped for 10 shards, every series populated.
    shards = ten_shards()
    assert exporter.metrics.bot_state is not None
    exporter.metrics.bot_state.bot = shards
    populate(exporter.metrics)
    times = []
    for _ in range(args.scrapes):
        seconds, body = await asyncio.to_thread(scrape, exporter.url)
        times.append(seconds * 1000)
    times.sort()
    render_cpu = []  # CPU time of the exposition alone, in this thread: less load-sensitive
    for _ in range(args.scrapes):
        started = time.thread_time()
        generate_latest(exporter.registry)
        render_cpu.append((time.thread_time() - started) * 1000)
    lines = body.decode().splitlines()
    results = {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **overhead,
        "red_team_requests": len(users) * 4,
        "secrets_or_ids_in_metrics": leaked,
        "scrape_bytes": len(body),
        "series": sum(1 for line in lines if line and not line.startswith("#")),
        "shards": len(shards.shards),
        "scrape_ms_median": round(statistics.median(times), 3),
        "scrape_ms_p99": round(times[min(len(times) - 1, round(0.99 * (len(times) - 1)))], 3),
        "render_cpu_ms_median": round(statistics.median(render_cpu), 3),
        "scrapes": args.scrapes,
    }
    print(json.dumps(results, indent=2))
    print(f"scrape with 10 shards, every metric populated: {len(body) / 1000:.1f} KB "
          f"(goal < 50), median {results['scrape_ms_median']} ms, p99 "
          f"{results['scrape_ms_p99']} ms (goal < 10), rendering CPU median "
          f"{results['render_cpu_ms_median']} ms; secrets or ids in /metrics: "
          f"{len(leaked)} (goal 0); event-loop CPU per /sentiment on/off: "
          f"{results['loop_cpu_on_over_off']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    await bot.remove_cog("Bard")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Channel mood benchmark (not a test): what counting a busy server's mood costs the commands.

    .venv/bin/python bench/bench_mood.py [--rate 50] [--background 200] [--json out.json]

The bot of bench_bot_load.py (real models, the real command tree, a recording HTTP fake) with
the Message Content intent and a server that turned mood on, counting into a SQLite file.
Measured, side by side in one run:
- /sentiment paced at --rate per second: p50 / p99 alone, while MESSAGE_CREATE events arrive
  at --background per second in the opted-in server (through discord.py's parser and the real
  listener), and while the same messages arrive in a server whose mood is off (what parsing
  them costs any bot with the intent); the phases alternate round after round so that a busy
  machine's drift hits all; every /sentiment must be answered, and every message counted or
  counted as dropped;
- overload: one phase with a flood at 10x --background: how many samples were dropped (and counted),
  /sentiment still answered;
- the chart: render time of a 7-day hourly and a 90-day daily chart, and the event loop's worst
  lag while charts are drawn back to back, against the same ticker with the loop idle; drawn in
  the helper process (what the bot does) and, for comparison, in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bardbot import mood_chart, testing
from bardbot.cog import Bard
from bardbot.engine import Engine, EngineLimits
from bardbot.mood import MoodRow, bin_rows, hour_of
from bardbot.settings import open_store
from bench_bot_load import Bench, LoopLag, TimingSession, percentile

MESSAGES = [
    "lol that was a great match", "ugh my train is late again", "anyone up for a game tonight?",
    "this patch is awful, they broke everything", "thanks, that helped a lot!",
    "I can't believe it's monday already", "love the new emotes", "meh",
]


async def start(db: Path, limits: EngineLimits) -> tuple:
    from bardbot.models import SentimentClassifier, ShakespeareGenerator

    bot, _ = testing.make_bot()
    session = TimingSession()
    bot.http._HTTPClient__session = session  # type: ignore[attr-defined]
    await testing.start(bot)
    bot._connection._intents.message_content = True  # as with --message-content
    store = await open_store(db)
    await store.update(testing.GUILD_ID, mood_enabled=True)
    engine = Engine(SentimentClassifier.load(), ShakespeareGenerator.load(), limits)
    cog = Bard(bot, engine, store)
    await bot.add_cog(cog)
    cog.mood.start_writer()
    return bot, session, cog


async def feed_messages(bot, rate: float, seconds: float, guild_id: int) -> int:
    """MESSAGE_CREATE events at `rate` per second for `seconds`, each from another user."""
    channel_id = testing.CHANNEL_ID if guild_id == testing.GUILD_ID else testing.OTHER_CHANNEL_ID
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        for _ in range(due - sent):
            author = testing.user_payload(testing.USER_ID + 10_000 + sent, "someone")
            bot._connection.parse_message_create(
                testing.message_payload(MESSAGES[sent % len(MESSAGES)], author=author,
                                        guild_id=guild_id, channel_id=channel_id)
            )
            sent += 1
        await asyncio.sleep(0.002)
    return sent


async def sentiment_phase(
    bench: Bench, bot, cog, args, background: float, guild_id: int = testing.GUILD_ID
) -> dict:
    counted, dropped = cog.mood.counted, cog.mood.dropped
    seconds = args.sentiment / args.rate
    feeder = (asyncio.ensure_future(feed_messages(bot, background, seconds, guild_id))
              if background else None)
    result = await bench.run(["sentiment"] * args.sentiment, args.rate)
    sent = await feeder if feeder else 0
    await cog.mood.settle(timeout=30)
    result["messages_sent"] = sent
    result["messages_counted"] = cog.mood.counted - counted
    result["messages_dropped"] = cog.mood.dropped - dropped
    return result


async def chart_phase(repeats: int, in_a_thread: bool) -> dict:
    mood_chart.shutdown()
    mood_chart.IN_A_THREAD = in_a_thread
    end = hour_of(time.time())
    rows = [MoodRow(1, end - h, 20 + h % 24, 12, 11.0 + (h % 7) / 3) for h in range(90 * 24)]
    out: dict = {}
    await mood_chart.render(*_series(rows, end, 1))  # imports matplotlib, warms its caches
    for days in (7, 90):
        series, title = _series(rows, end, days)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            await mood_chart.render(series, title)
            times.append((time.perf_counter() - start) * 1000)
        out[f"{days}_days_ms"] = {"median": round(statistics.median(times), 1),
                                  "p90": round(percentile(times, 0.9), 1)}
    with LoopLag() as idle:
        await asyncio.sleep(3)
    series, title = _series(rows, end, 7)
    with LoopLag() as busy:
        deadline = time.perf_counter() + 3
        while time.perf_counter() < deadline:
            await mood_chart.render(series, title)
    out["loop_lag_idle_ms"] = round(idle.worst * 1000, 2)
    out["loop_lag_rendering_ms"] = round(busy.worst * 1000, 2)
    return out


def _series(rows, end, days):
    current, _ = bin_rows(rows, end, days)
    return current, f"#general, last {days} days"


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=50, help="/sentiment per second")
    p.add_argument("--sentiment", type=int, default=300, help="/sentiment per phase")
    p.add_argument("--background", type=float, default=200, help="messages per second")
    p.add_argument("--rounds", type=int, default=8,
                   help="(alone, with) pairs: many short ones, so that a busy machine's"
                   " hiccups hit both alike")
    p.add_argument("--charts", type=int, default=20, help="renders per chart size")
    p.add_argument("--background-batch", type=int, default=EngineLimits.background_batch)
    p.add_argument("--skip-charts", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    results: dict = {"load_average_before": [round(x, 2) for x in os.getloadavg()],
                     "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        limits = EngineLimits(background_batch=args.background_batch)
        results["background_batch"] = limits.background_batch
        bot, session, cog = await start(Path(folder) / "settings.db", limits)
        bench = Bench(bot, session, 50)
        await bench.run(["sentiment"] * 50, None)  # warm up
        gc.collect()
        gc.freeze()  # as `bardbot` does once started (bot/client.py)
        alone, loaded, mood_off = [], [], []
        for i in range(args.rounds):
            alone.append(await sentiment_phase(bench, bot, cog, args, 0))
            loaded.append(await sentiment_phase(bench, bot, cog, args, args.background))
            # The same messages in a server whose mood is off: what parsing them costs anyway.
            mood_off.append(await sentiment_phase(bench, bot, cog, args, args.background,
                                                  testing.OTHER_GUILD_ID))
            results[f"round_{i}"] = {"alone": alone[-1], "with_background": loaded[-1],
                                     "messages_mood_off": mood_off[-1]}
        flood = await sentiment_phase(bench, bot, cog, args, 10 * args.background)
        results["overload_10x"] = flood
        await cog.mood.flush()
        rows = await cog.store.mood_rows(testing.GUILD_ID, 0, [testing.CHANNEL_ID])
        results["stored_messages"] = sum(r.messages for r in rows)
        results["counted_total"] = cog.mood.counted
        if not args.skip_charts:
            results["chart_process"] = await chart_phase(args.charts, in_a_thread=False)
            results["chart_thread"] = await chart_phase(args.charts, in_a_thread=True)
        await bot.remove_cog("Bard")
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    def p99(phases):
        return statistics.median(ph["sentiment"]["p99_ms"] for ph in phases)

    ratios = [w["sentiment"]["p99_ms"] / a["sentiment"]["p99_ms"]
              for a, w in zip(alone, loaded, strict=True)]
    results["summary"] = {
        "sentiment_p99_alone_ms": p99(alone),  # medians over the rounds
        "sentiment_p99_with_background_ms": p99(loaded),
        "sentiment_p99_messages_mood_off_ms": p99(mood_off),
        "ratio": round(p99(loaded) / p99(alone), 2),
        "ratio_per_round": [round(r, 2) for r in ratios],
        "median_ratio_per_round": round(statistics.median(ratios), 2),
        "sentiment_lost": sum(
            ph["sentiment"]["lost"] for ph in [*alone, *loaded, *mood_off, flood]
        ),
        "background_sent": sum(ph["messages_sent"] for ph in loaded),
        "background_counted": sum(ph["messages_counted"] for ph in loaded),
        "background_dropped": sum(ph["messages_dropped"] for ph in loaded),
        "flood_sent_counted_dropped": [flood["messages_sent"], flood["messages_counted"],
                                       flood["messages_dropped"]],
        "stored_equals_counted": results["stored_messages"] == results["counted_total"],
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

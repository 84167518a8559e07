"""Load benchmark for the bot (not a test): many concurrent interactions through the real tree.

    .venv/bin/python bench/bench_bot_load.py                 # shipped models
    .venv/bin/python bench/bench_bot_load.py --json out.json

A real `commands.Bot` runs the Bard cog on the real models; discord.py's HTTP session is the
recording fake from tests/bot/testing.py (no network). INTERACTION_CREATE payloads are fed
one per event-loop turn, as the gateway delivers them, each from a different user (so per-user
cooldowns do not interfere). Measured:
- latency per interaction: from its arrival to the moment its final reply (message, or the
  follow-up after a defer) reaches the HTTP layer; p50 / p99 / max;
- the worst event-loop lag: a ticker asks for 5 ms sleeps and records the overshoot;
- lost interactions: any without a reply (there must be none); "busy" replies are counted;
- RSS after 1,000 and after 10,000 requests (same mix), to see memory stays flat.
Two arrival patterns: a burst (all at once) and paced (a steady rate).
Metrics overhead: paced /sentiment with the Prometheus metrics off and on (scraped every
second), in alternating rounds of the same run, latencies pooled per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

import discord
from bardbot import metrics, testing
from bardbot.cog import Bard
from bardbot.engine import Engine, EngineLimits
from bardbot.settings import GuildSettings, SettingsStore, open_store

REVIEWS = [
    "This was one of the best films I have seen in years; the acting is superb.",
    "A dull, predictable mess. I wanted my two hours back.",
    "Not bad, not great either. The second half drags but the ending works.",
    "I loved every minute of it, and the soundtrack is wonderful!",
    "The worst script I have read in a long time, and the cast knew it.",
]
PROMPTS = ["to be, or not to be", "shall i compare thee", "o romeo, romeo", "now is the winter"]


class TimingSession(testing.FakeSession):
    """Answers like FakeSession but keeps only the time of each interaction's final reply."""

    def __init__(self) -> None:
        super().__init__()
        self.done: dict[str, tuple[float, bool]] = {}  # token -> (time, busy)

    def record(self, request: testing.Request) -> None:
        parts = request.path.strip("/").split("/")
        if (parts[0] == "interactions" and request.callback_type == 4) or (
            parts[0] == "webhooks" and request.method == "POST"
        ):
            busy = "busy" in (request.message.get("content") or "")
            self.done[parts[2]] = (time.perf_counter(), busy)  # parts[2]: the token


class GcPauses:
    """The longest garbage collection while active: separates GC pauses from other loop lag."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._start = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.worst = max(self.worst, time.perf_counter() - self._start)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


class LoopLag:
    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.worst = max(self.worst, time.perf_counter() - start - self.interval)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Bench:
    def __init__(self, bot: discord.Client, session: TimingSession, length: int):
        self.bot = bot
        self.session = session
        self.length = length
        self.user = testing.USER_ID
        self.latencies: dict[str, list[float]] = {}  # of the last run, per kind (ms)

    def payload(self, kind: str, i: int) -> dict:
        self.user += 1
        if kind == "sentiment":
            options = [testing.option("text", f"{REVIEWS[i % len(REVIEWS)]} ({i})")]
        else:
            options = [
                testing.option("prompt", PROMPTS[i % len(PROMPTS)]),
                testing.option("length", self.length),
            ]
        return testing.interaction_payload(kind, options, user_id=self.user)

    async def run(self, kinds: list[str], rate: float | None) -> dict:
        """Feed one interaction per kind in `kinds`; `rate` per second, or a burst if None."""
        self.session.done.clear()
        arrivals: dict[str, tuple[str, float]] = {}
        tasks = []
        gap = 1 / rate if rate else 0.0
        start = time.perf_counter()
        with LoopLag() as lag, GcPauses() as gc_pauses:
            for i, kind in enumerate(kinds):
                if rate:
                    await asyncio.sleep(max(0.0, start + i * gap - time.perf_counter()))
                else:
                    await asyncio.sleep(0)  # one gateway event per loop turn
                testing.advance(0.001)
                payload = self.payload(kind, i)
                arrivals[payload["token"]] = (kind, time.perf_counter())
                tasks.append(asyncio.create_task(testing.run_interaction(self.bot, payload)))
            await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
        out: dict = {
            "wall_s": round(wall, 3),
            "loop_lag_ms": round(lag.worst * 1000, 2),
            "worst_gc_ms": round(gc_pauses.worst * 1000, 2),
        }
        for kind in sorted(set(kinds)):
            tokens = [t for t, (k, _) in arrivals.items() if k == kind]
            answered = [t for t in tokens if t in self.session.done]
            latencies = [(self.session.done[t][0] - arrivals[t][1]) * 1000 for t in answered]
            self.latencies[kind] = latencies
            out[kind] = {
                "sent": len(tokens),
                "answered": len(answered),
                "lost": len(tokens) - len(answered),
                "busy": sum(self.session.done[t][1] for t in answered),
                "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "max_ms": round(max(latencies), 2),
            }
        return out


class Scraper(threading.Thread):
    """Scrapes `url` every `interval` seconds, as Prometheus would (more often than usual)."""

    def __init__(self, url: str, interval: float = 1.0):
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.scrapes = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=5) as response:
                response.read()
            self.scrapes += 1


async def metrics_overhead(bench: Bench, cog: Bard, count: int, rate: float, rounds: int) -> dict:
    """Paced /sentiment with metrics off and on, in short rounds ordered off-on, on-off, ... so
    that a drift of the machine's load hits both alike. p50/p99 over each mode's pooled
    latencies, and the median over rounds of each round's on/off ratio (robust to one round
    that another process disturbed)."""
    pooled: dict[str, list[float]] = {"off": [], "on": []}
    ratios: dict[str, list[float]] = {"p50": [], "p99": []}
    cpu = {"off": 0.0, "on": 0.0}  # process CPU seconds (all threads: loop, models, exporter)
    scrapes = 0
    for i in range(rounds):
        this_round = {}
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if mode == "on":
                exporter = metrics.start(("127.0.0.1", 0), cog.bot, cog.engine, cog)
                scraper = Scraper(exporter.url)
                scraper.start()
            started = time.process_time()
            await bench.run(["sentiment"] * count, rate)
            cpu[mode] += time.process_time() - started
            pooled[mode] += bench.latencies["sentiment"]
            this_round[mode] = bench.latencies["sentiment"]
            if mode == "on":
                scraper.halt.set()
                scraper.join()
                scrapes += scraper.scrapes
                metrics.stop()
        on, off = this_round["on"], this_round["off"]
        ratios["p50"].append(statistics.median(on) / statistics.median(off))
        ratios["p99"].append(percentile(on, 0.99) / percentile(off, 0.99))
    out: dict = {"rate_per_s": rate, "rounds": rounds, "requests_per_mode": len(pooled["on"]),
                 "scrapes": scrapes}
    for mode, values in pooled.items():
        out[mode] = {"p50_ms": round(statistics.median(values), 3),
                     "p99_ms": round(percentile(values, 0.99), 3),
                     "cpu_ms_per_request": round(cpu[mode] * 1000 / len(values), 4)}
    for q in ("p50", "p99"):
        out[f"{q}_on_over_off_pooled"] = round(out["on"][f"{q}_ms"] / out["off"][f"{q}_ms"], 3)
        out[f"{q}_on_over_off_median_of_rounds"] = round(statistics.median(ratios[q]), 3)
    out["cpu_on_over_off"] = round(cpu["on"] / cpu["off"], 3)
    return out


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentiment-model", default=None,
                   help="NAME|PATH, or several comma-separated to compare them in one run "
                        "(e.g. reference,message); default: the shipped default")
    p.add_argument("--shakespeare-model", default=None, help="default: shipped model")
    p.add_argument("--sentiment", type=int, default=1000)
    p.add_argument("--shakespeare", type=int, default=200)
    p.add_argument("--length", type=int, default=200, help="characters per /shakespeare")
    p.add_argument(
        "--rates",
        default="100,300,1000",
        help="paced /sentiment arrivals per second, comma-separated",
    )
    p.add_argument("--rss-requests", type=int, default=10000)
    p.add_argument("--sentiment-workers", type=int, default=1)
    p.add_argument("--no-freeze", action="store_true", help="skip gc.freeze(), for comparison")
    p.add_argument("--skip", default="",
                   help="comma-separated phases to skip: burst,paced,rss,metrics")
    p.add_argument("--metrics-rate", type=float, default=200.0,
                   help="paced /sentiment arrivals per second for the metrics on/off phase")
    p.add_argument("--metrics-rounds", type=int, default=20,
                   help="rounds of the metrics phase (each runs off and on once)")
    p.add_argument("--metrics-requests", type=int, default=300,
                   help="/sentiment requests per mode and round of the metrics phase")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()

    from bardbot.models import SentimentClassifier, ShakespeareGenerator

    names = (args.sentiment_model or "").split(",")
    if len(names) > 1:
        return await compare(names, args)
    classifier = SentimentClassifier.load(names[0] or None)
    generator = ShakespeareGenerator.load(args.shakespeare_model)
    bot, session, store = await start_bot()
    engine = Engine(classifier, generator, EngineLimits(sentiment_workers=args.sentiment_workers))
    cog = Bard(bot, engine, store)
    await bot.add_cog(cog)
    bench = Bench(bot, session, args.length)
    if not args.no_freeze:
        gc.collect()
        gc.freeze()  # as `bardbot` does once started: see bot/__main__.py

    await bench.run(["sentiment"] * 50 + ["shakespeare"] * 5, None)  # warm up
    results: dict = {
        "machine": f"{platform.machine()}, {platform.python_version()}, "
        f"{__import__('os').cpu_count()} cpus",
        "models": {
            "sentiment": classifier.info.get("sha256", "?")[:12],
            "shakespeare": generator.info.get("sha256", "?")[:12],
        },
        "length": args.length,
        "sentiment_workers": args.sentiment_workers,
        "gc_freeze": not args.no_freeze,
        "load_average": [round(x, 2) for x in __import__("os").getloadavg()],
    }
    skip = set(args.skip.split(",")) - {""}
    if "burst" not in skip:
        results["sentiment_burst"] = await bench.run(["sentiment"] * args.sentiment, None)
        results["shakespeare_burst"] = await bench.run(["shakespeare"] * args.shakespeare, None)
        mixed = ["sentiment"] * args.sentiment + ["shakespeare"] * args.shakespeare
        order = sorted(range(len(mixed)), key=lambda i: (i * 7919) % len(mixed))
        results["mixed_burst"] = await bench.run([mixed[i] for i in order], None)
    if "paced" not in skip:
        for rate in (float(r) for r in args.rates.split(",")):
            results[f"sentiment_paced_{rate:g}_per_s"] = await bench.run(
                ["sentiment"] * args.sentiment, rate
            )
    if "metrics" not in skip:
        results["metrics_overhead"] = await metrics_overhead(
            bench, cog, args.metrics_requests, args.metrics_rate, args.metrics_rounds)
    results["median_sentiment_batch_ms"] = round(engine.median(engine.sentiment_ms), 2)

    if "rss" not in skip:
        # Memory: the same 10:1 mix, measured after 1,000 and after N requests in total.
        unit = ((["sentiment"] * 10 + ["shakespeare"]) * 91)[:1000]
        done, rss = 0, {}
        while done < args.rss_requests:
            await bench.run(unit, None)
            done += len(unit)
            gc.collect()
            rss[done] = round(rss_mb(), 1)  # after every 1,000
        results["rss_mb"] = rss
        first, last = rss[1000], rss[done]
        results["rss_growth_pct"] = round((last - first) / first * 100, 1)

    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    await bot.remove_cog("Bard")
    return 0


async def start_bot() -> tuple[discord.Client, TimingSession, SettingsStore]:
    """A real bot on the recording HTTP fake, started, with an in-memory settings store."""
    bot, _ = testing.make_bot()
    session = TimingSession()
    bot.http._HTTPClient__session = session  # type: ignore[attr-defined]
    await testing.start(bot)
    return bot, session, await open_store(":memory:", GuildSettings())


async def compare(names: list[str], args: argparse.Namespace) -> int:
    """Sentiment only, each model in turn through the same bot: a 1,000 burst, then rising
    paced rates; the highest rate whose p99 stays within 50 ms, side by side."""
    from bardbot.models import SentimentClassifier, ShakespeareGenerator

    generator = ShakespeareGenerator.load(args.shakespeare_model)
    bot, session, store = await start_bot()
    gc.collect()
    gc.freeze()
    rates = [float(r) for r in args.rates.split(",")]
    results: dict = {"load_average": [round(x, 2) for x in __import__("os").getloadavg()]}
    for name in names:
        engine = Engine(SentimentClassifier.load(name), generator,
                        EngineLimits(sentiment_workers=args.sentiment_workers))
        await bot.add_cog(Bard(bot, engine, store))
        bench = Bench(bot, session, args.length)
        await bench.run(["sentiment"] * 100, None)  # warm up
        row = {"burst": await bench.run(["sentiment"] * args.sentiment, None)}
        best = None
        for rate in rates:
            paced = await bench.run(["sentiment"] * args.sentiment, rate)
            row[f"paced_{rate:g}"] = paced
            if paced["sentiment"]["p99_ms"] <= 50 and not paced["sentiment"]["lost"]:
                best = rate
        row["highest_rate_p99_le_50ms"] = best
        row["median_batch_ms"] = round(engine.median(engine.sentiment_ms), 2)
        results[name] = row
        await bot.remove_cog("Bard")
    print(json.dumps(results, indent=2))
    for name in names:
        row = results[name]
        burst = row["burst"]["sentiment"]
        print(f"{name:>10}: burst of {args.sentiment} p99 {burst['p99_ms']} ms, lost "
              f"{burst['lost']}, busy {burst['busy']}; highest paced rate with p99 <= 50 ms: "
              f"{row['highest_rate_p99_le_50ms']}/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

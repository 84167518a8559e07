"""Settings store benchmark (not a test): SQLite and PostgreSQL side by side.

    .venv/bin/python bench/bench_settings.py                  # starts a throwaway PostgreSQL
    .venv/bin/python bench/bench_settings.py --postgres postgresql://bard@127.0.0.1/bench
    .venv/bin/python bench/bench_settings.py --seconds 5 --processes 1 2 4

For 1, 2 and 4 processes on one database (as one process per shard would), each process keeps
CONCURRENCY calls in flight for `--seconds`, on GUILDS servers chosen at random: reads
(`store.get`, what every chat message and /shakespeare does) and writes (`store.update` of one
field, what /bardbot-set does). Printed: calls per second over all processes and the p50/p99
latency of one call. Then the cost a chat message pays for its settings lookup: one `get` with
nothing else in flight, against what an in-process cache hit (a dict lookup) would cost and what
generating the reply costs.

The PostgreSQL server is local (127.0.0.1), with fsync and synchronous commits on like SQLite's
WAL (synchronous=FULL); a remote server adds a network round trip per call.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bardbot.settings import open_store  # noqa: E402

GUILDS = 1000
CONCURRENCY = 8


async def _populate(target: str) -> None:
    async with await open_store(target) as store:
        for guild in range(1, GUILDS + 1):
            await store.update(guild, temperature=0.7, length=150 + guild % 100)


async def _hammer(target: str, kind: str, seconds: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    latencies: list[float] = []
    async with await open_store(target) as store:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while (start := time.perf_counter()) < deadline:
                guild = rng.randint(1, GUILDS)
                if kind == "read":
                    await store.get(guild)
                else:
                    await store.update(guild, length=rng.randint(1, 1500))
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def _process(target: str, kind: str, seconds: float, seed: int, start, results) -> None:
    start.wait()  # every process begins together
    results.put(asyncio.run(_hammer(target, kind, seconds, seed)))


def run_cell(target: str, kind: str, processes: int, seconds: float) -> tuple[float, float, float]:
    """(calls per second over all processes, p50 ms, p99 ms)."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_process, args=(target, kind, seconds, seed, start, results))
        for seed in range(processes)
    ]
    for w in workers:
        w.start()
    time.sleep(1.0 + 0.3 * processes)  # let every process import and connect
    start.set()
    latencies = [x for _ in workers for x in results.get(timeout=seconds + 120)]
    for w in workers:
        w.join()
    q = statistics.quantiles(latencies, n=100)
    return len(latencies) / seconds, q[49] * 1000, q[98] * 1000


async def lookup_cost(target: str, n: int = 2000) -> tuple[float, float]:
    """p50 and p99 (µs) of one `get` with nothing else in flight: a chat message's lookup."""
    async with await open_store(target) as store:
        for guild in range(1, 101):
            await store.get(guild)  # warm up: connections, statement caches
        times = []
        for i in range(n):
            start = time.perf_counter()
            await store.get(1 + i % GUILDS)
            times.append(time.perf_counter() - start)
    q = statistics.quantiles(times, n=100)
    return q[49] * 1e6, q[98] * 1e6


def dict_lookup_cost(n: int = 200_000) -> float:
    cache = {g: object() for g in range(1, GUILDS + 1)}
    start = time.perf_counter()
    for i in range(n):
        cache.get(1 + i % GUILDS)
    return (time.perf_counter() - start) / n * 1e6


def generation_cost() -> float | None:
    """ms for a 200-character chat reply with the shipped model (what the lookup sits beside)."""
    try:
        from bardbot.models import ShakespeareGenerator

        gen = ShakespeareGenerator.load()
    except Exception:
        return None
    gen.generate("shall I compare thee", length=200, temperature=0.5, seed=0)
    times = []
    for seed in range(5):
        start = time.perf_counter()
        gen.generate("shall I compare thee", length=200, temperature=0.5, seed=seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--postgres", metavar="URL", help="use this database instead of a throwaway one")
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = p.parse_args()

    cluster = None
    if args.postgres is None:
        from tests.bot.pg_cluster import remove_cluster, start_cluster

        cluster = start_cluster(durable=True)  # fsync on: as fair to it as to SQLite
        args.postgres = cluster.url()
    folder = tempfile.TemporaryDirectory()
    targets = {"sqlite": str(Path(folder.name) / "settings.db"), "postgres": args.postgres}
    try:
        for target in targets.values():
            asyncio.run(_populate(target))
        print(f"{platform.node()}: {multiprocessing.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, {GUILDS} servers, {CONCURRENCY} calls in flight"
              f" per process, {args.seconds:g} s per cell")
        print(f"{'backend':<9} {'procs':>5} {'reads/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
              f" {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for processes in args.processes:
            for name, target in targets.items():
                reads = run_cell(target, "read", processes, args.seconds)
                writes = run_cell(target, "write", processes, args.seconds)
                print(f"{name:<9} {processes:>5} {reads[0]:>9,.0f} {reads[1]:>7.2f}"
                      f" {reads[2]:>7.2f} {writes[0]:>9,.0f} {writes[1]:>7.2f} {writes[2]:>7.2f}",
                      flush=True)
        print("\nA chat message's settings lookup (one get, nothing else in flight):")
        for name, target in targets.items():
            p50, p99 = asyncio.run(lookup_cost(target))
            print(f"  {name:<9} p50 {p50:7.0f} µs   p99 {p99:7.0f} µs")
        print(f"  {'cache hit':<9} {dict_lookup_cost():7.2f} µs (an in-process dict lookup)")
        generation = generation_cost()
        if generation is not None:
            print(f"  the reply itself: {generation:.0f} ms to generate 200 characters")
    finally:
        folder.cleanup()
        if cluster is not None:
            remove_cluster(cluster)


if __name__ == "__main__":
    main()

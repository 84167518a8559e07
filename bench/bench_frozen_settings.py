"""What a settings call costs, and what a write's caller is told, while the PostgreSQL server is
frozen (not a test): a network cut where connections stay open and nothing answers.

    .venv/bin/python bench/bench_frozen_settings.py          # starts a throwaway PostgreSQL

The server is paused with SIGSTOP (so this must run where the server's processes may be
signalled: the throwaway one is). Printed: the seconds a write, then each of several reads,
took before giving up (README: no command waits more than 2 s); what the write raised; and the
stored value once the server resumed, i.e. whether the write that was "not made" was made after
all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bardbot.settings import SettingsError, open_store  # noqa: E402

from tests.bot.pg_cluster import remove_cluster, start_cluster  # noqa: E402

GUILD = 111111111111111111
READS = 4


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def _timed(call) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        await call
        outcome = "answered"
    except SettingsError as e:
        outcome = f"{type(e).__name__}: {str(e).split(' 2 s', 1)[-1].strip('; ') or 'timed out'}"
    return time.perf_counter() - started, outcome


async def run(cluster) -> None:
    async with await open_store(cluster.url()) as store:
        await store.update(GUILD, length=44)
        pids = cluster.postgres_pids()
        _signal(pids, signal.SIGSTOP)
        try:
            seconds, outcome = await _timed(store.update(GUILD, length=55))
            print(f"write:   {seconds:5.2f} s  {outcome}")
            for i in range(READS):
                seconds, outcome = await _timed(store.get(GUILD))
                print(f"read {i + 1}:  {seconds:5.2f} s  {outcome}")
        finally:
            _signal(pids, signal.SIGCONT)
        await asyncio.sleep(2.0)  # the server works through what it had received
        length = (await store.get(GUILD)).length
        print(f"after the server resumed: length = {length} "
              f"({'the write was made' if length == 55 else 'the write was not made'})")


def main() -> None:
    cluster = start_cluster()
    try:
        asyncio.run(run(cluster))
    finally:
        remove_cluster(cluster)


if __name__ == "__main__":
    main()

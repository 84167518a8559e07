"""One shard process of test_mood's two-process test: 5,000 messages (3,000 positive) counted
into the same PostgreSQL rows as the other process, writing every 50 ms.

    python -m tests.bot.mood_worker URL WORKER
"""

from __future__ import annotations

import asyncio
import sys

from bardbot.engine import Engine
from bardbot.mood import MoodRecorder
from bardbot.settings import open_store

from tests.bot.harness import CHANNEL_ID, GUILD_ID, OTHER_CHANNEL_ID, FakeClassifier, FakeGenerator

HOUR = 500_000
MESSAGES = 5000
CHUNK = 250  # messages sampled before waiting for them to be judged


async def main(url: str) -> None:
    now = [0.0]
    async with await open_store(url) as store:
        engine = Engine(FakeClassifier(), FakeGenerator())
        recorder = MoodRecorder(store, engine, flush_seconds=0.05, clock=lambda: now[0])
        for i in range(MESSAGES):
            now[0] = (HOUR + i % 3) * 3600.0  # three hours, two channels: six shared rows
            channel = CHANNEL_ID if i % 2 else OTHER_CHANNEL_ID
            recorder.sample(GUILD_ID, channel, "great" if i % 5 < 3 else "awful")
            if i % CHUNK == CHUNK - 1:
                await recorder.settle(timeout=30)
        await recorder.settle(timeout=30)
        await recorder.close()
        engine.close()
    print(f"counted {recorder.counted} dropped {recorder.dropped}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

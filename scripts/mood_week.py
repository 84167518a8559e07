"""Draw docs/mood-week.png: `/bardbot mood days:7` over a simulated week of one busy channel.

    .venv/bin/python scripts/mood_week.py [--out docs/mood-week.png] [--seed 18]

Two weeks are simulated (the summary compares this week with the one before), not recorded:
messages per hour follow a daily rhythm (quiet at night, busiest in the evening, more at the
weekend), and each message's P(positive) is drawn from a Beta distribution around a mood that
drifts, with a bad Tuesday evening (a game lost, say) and a good Saturday. The counts go through
the real path: a SQLite settings store, `add_mood`, and the same `mood_reply` the bot answers
with.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from bardbot.console import render_text
from bardbot.mood import MoodRecorder, hour_of
from bardbot.mood_commands import mood_reply
from bardbot.settings import open_store

GUILD, CHANNEL = 1, 2


def simulate(seed: int, end_hour: int) -> dict[tuple[int, int, int], tuple[int, int, float]]:
    rng = np.random.default_rng(seed)
    counts = {}
    for hour in range(end_hour - 14 * 24 + 1, end_hour + 1):  # this week and the one before
        day, hour_of_day = divmod(hour, 24)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        evening = min(abs(hour_of_day - 20), 24 - abs(hour_of_day - 20))
        lunch = hour_of_day - 13
        rhythm = 0.15 + math.exp(-(evening**2) / 18) + 0.5 * math.exp(-(lunch**2) / 8)
        rate = 40 * rhythm * (1.4 if weekday >= 5 else 1.0)
        n = int(rng.poisson(rate))
        if not n:
            continue
        mood = (0.62 if hour > end_hour - 7 * 24 else 0.66) + 0.05 * math.sin(hour / 9)
        if weekday == 1 and 18 <= hour_of_day <= 23:
            mood -= 0.25
        if weekday == 5:
            mood += 0.12
        p = rng.beta(mood * 4, (1 - mood) * 4, size=n)
        counts[(GUILD, CHANNEL, hour)] = (n, int((p >= 0.5).sum()), float(p.sum()))
    return counts


async def draw(out: Path, seed: int) -> str:
    now = time.time()
    with tempfile.TemporaryDirectory() as folder:
        async with await open_store(Path(folder) / "settings.db") as store:
            await store.update(GUILD, mood_enabled=True)
            await store.add_mood("simulated-week", simulate(seed, hour_of(now)))
            recorder = MoodRecorder(store, engine=None)  # type: ignore[arg-type]
            reply = await mood_reply(store, recorder, GUILD, [CHANNEL], "#general", 7, now)
    assert reply.image is not None
    out.write_bytes(reply.image)
    return render_text(reply, plain=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/mood-week.png"))
    p.add_argument("--seed", type=int, default=18)
    args = p.parse_args()
    print(asyncio.run(draw(args.out, args.seed)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

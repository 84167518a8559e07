"""Adversarial texts through the message model: time and peak memory per text (not a test).

    .venv/bin/python bench/bench_text_bounds.py            # the bot's 6,000-character limit
    .venv/bin/python bench/bench_text_bounds.py --length 400

Issue 15 N1/N2: undoubling and typo correction used to enumerate combinations ('aabb' * 100
took 32 s, 'ab' * 3000 +1.8 GB). Prints seconds and peak traced MiB per text, and the worst.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from adversarial_texts import adversarial_texts
from bardbot.models import SentimentClassifier
from timing import machine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=6000, help="characters per text")
    args = p.parse_args()
    clf = SentimentClassifier.load("message")
    clf.text_budget_s = None  # measure the work itself, not the guard
    print(machine())
    print(f"{'text':<34} {'seconds':>8} {'peak MiB':>9}")
    worst = 0.0
    for name, text in adversarial_texts(args.length).items():
        start = time.perf_counter()
        clf.predict([text])
        seconds = time.perf_counter() - start
        tracemalloc.start()
        clf.predict([text])
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        worst = max(worst, seconds)
        print(f"{name:<34} {seconds:>8.3f} {peak:>9.1f}")
    start = time.perf_counter()
    clf.predict(["aabb" * 1500, "ab" * 3000, "bookkeeper" * 600])
    print(f"issue goal: predict(['aabb'*1500, 'ab'*3000, 'bookkeeper'*600]) "
          f"{time.perf_counter() - start:.3f} s; worst single text {worst:.3f} s")


if __name__ == "__main__":
    main()

"""One chat-length message, text -> result, for sentiment models side by side (not a test).

    .venv/bin/python bench/bench_message.py                    # reference vs message
    .venv/bin/python bench/bench_message.py --models reference,message,runs/x/m.onnx

Each round times `predict([text])` once per model on the same message, in alternating order,
so background load hits both alike. Messages: the behavioural suite's sentences (3-20 tokens).
Prints p50 / p90 per model and the ratio of p50s to the first model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

from bardbot.export.suite import build_cases
from bardbot.models import SentimentClassifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="reference,message", help="comma-separated NAME|PATH")
    p.add_argument("--rounds", type=int, default=3000)
    args = p.parse_args()
    names = args.models.split(",")
    models = [SentimentClassifier.load(name) for name in names]
    texts = [c.text for c in build_cases()]
    for model in models:  # warm up: first runs allocate
        model.predict(texts[:50])
    times: list[list[float]] = [[] for _ in models]
    for i in range(args.rounds):
        text = texts[i % len(texts)]
        order = range(len(models)) if i % 2 == 0 else reversed(range(len(models)))
        for j in order:
            start = time.perf_counter()
            models[j].predict([text])
            times[j].append((time.perf_counter() - start) * 1000)
    tokens = statistics.median(len(models[-1].predict([t])[0].tokens) for t in texts)
    p50s = [statistics.median(t) for t in times]
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                         f"{platform.python_version()}",
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "messages": len(texts), "median_tokens": tokens, "rounds": args.rounds}
    for name, t, p50 in zip(names, times, p50s, strict=True):
        result[name] = {"p50_ms": round(p50, 4),
                        "p90_ms": round(statistics.quantiles(t, n=10)[-1], 4),
                        f"speedup_vs_{names[0]}": round(p50s[0] / p50, 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

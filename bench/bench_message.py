"""One chat-length message, text -> result, for sentiment models side by side (not a test).

    .venv/bin/python bench/bench_message.py                    # reference vs message vs VADER
    .venv/bin/python bench/bench_message.py --models reference,message,runs/x/m.onnx

Each round times `predict([text])` once per model on the same message (and VADER's
`polarity_scores`, when vaderSentiment is installed: the train extra), in alternating order,
so background load hits all alike. Messages: the behavioural suite's sentences (3-20 tokens).
Prints p50 / p90 per model, the ratio of p50s to the first model and to VADER, and for the
last model a batch of 64 mixed messages per text against one at a time, and `explain` and
`predict_explained` against `predict`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
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
    calls = [lambda text, m=model: m.predict([text]) for model in models]
    vader = _vader()
    if vader is not None:
        names.append("vader")
        calls.append(vader.polarity_scores)
    texts = [c.text for c in build_cases()]
    for model in models:  # warm up: first runs allocate
        model.predict(texts[:50])
    times: list[list[float]] = [[] for _ in calls]
    for i in range(args.rounds):
        text = texts[i % len(texts)]
        order = range(len(calls)) if i % 2 == 0 else reversed(range(len(calls)))
        for j in order:
            start = time.perf_counter()
            calls[j](text)
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
        if vader is not None:
            result[name]["times_vader"] = round(p50 / p50s[-1], 2)
    result["batch_of_64"] = batch_ratio(models[-1], texts, args.rounds // 64 + 5)
    result["batch_of_64"]["model"] = names[len(models) - 1]
    result["explain"] = explain_ratio(models[-1], texts, args.rounds // 4)
    print(json.dumps(result, indent=2))


def batch_ratio(model: SentimentClassifier, texts: list[str], rounds: int) -> dict:
    """Per text: 64 mixed messages in one `predict` against the same 64 one at a time,
    alternating, each a different random draw of the suite's messages."""
    rng = random.Random(0)
    batched, single = [], []
    for _ in range(rounds):
        batch = rng.sample(texts, 64)
        start = time.perf_counter()
        model.predict(batch)
        batched.append((time.perf_counter() - start) * 1000 / 64)
        start = time.perf_counter()
        for text in batch:
            model.predict([text])
        single.append((time.perf_counter() - start) * 1000 / 64)
    per_text, alone = statistics.median(batched), statistics.median(single)
    return {"per_text_ms": round(per_text, 4), "one_at_a_time_ms": round(alone, 4),
            "ratio": round(per_text / alone, 3)}


def explain_ratio(model: SentimentClassifier, texts: list[str], rounds: int) -> dict:
    """`explain([text])` and `predict_explained([text])` (what `/sentiment` runs) against
    `predict([text])` on the same message, alternating."""
    explained, both, predicted = [], [], []
    for i in range(rounds):
        text = texts[i % len(texts)]
        for call, times in ((model.explain, explained), (model.predict_explained, both),
                            (model.predict, predicted)):
            start = time.perf_counter()
            call([text])
            times.append((time.perf_counter() - start) * 1000)
    p50, base = statistics.median(explained), statistics.median(predicted)
    return {"p50_ms": round(p50, 4), "predict_p50_ms": round(base, 4),
            "times_predict": round(p50 / base, 2),
            "predict_explained_times_predict": round(statistics.median(both) / base, 2)}


def _vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    return SentimentIntensityAnalyzer()


if __name__ == "__main__":
    main()

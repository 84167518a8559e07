"""Measure runtime sentiment models side by side: aclImdb test, snippets, the suite.

    python -m bardbot.export evaluate                      # reference and message
    python -m bardbot.export evaluate --model runs/x/sentiment-message.onnx --eval-limit 2000
    python -m bardbot.export evaluate --model message --model vader   # the lexicon beside it

Every set here is for measuring only; nothing in this module feeds training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from bardbot.export import data
from bardbot.export.suite import format_report, run_suite
from bardbot.trainer.message import expected_calibration_error

SNIPPETS = "movie_snippets.tsv"
# Short texts outside movies (same format and binary protocol), measured by `main` only.
OTHER_SNIPPETS = {"amazon_snippets": "amazon_snippets.tsv", "nyt_snippets": "nyt_snippets.tsv"}
# Reading budget of one text while measuring: the bot's (1 s) guards its event loop, and on a
# busy machine a long review can pass it; a measurement must not stop there.
MEASURE_BUDGET_S = 60.0


def read_snippets(path: Path) -> tuple[list[str], list[int]]:
    """The binary protocol of the data README: mean rating > +0.5 positive, < -0.5 negative,
    the rest left out."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.rstrip("\r").split("\t", 2)
        if len(parts) != 3:
            continue
        rating = float(parts[1])
        if abs(rating) > 0.5:
            texts.append(parts[2])
            labels.append(int(rating > 0))
    return texts, labels


def binary_metrics(probs: np.ndarray, labels: list[int], threshold: float) -> dict:
    labels_arr = np.asarray(labels)
    predicted = probs > threshold
    return {"accuracy": round(float((predicted == (labels_arr == 1)).mean()), 4),
            "positive_rate": round(float(predicted.mean()), 4),
            "true_positive_rate": round(float(labels_arr.mean()), 4),
            "ece": round(expected_calibration_error(probs, labels_arr), 4),
            "texts": len(labels)}


def evaluate_classifier(clf, imdb: tuple[list[str], list[int]] | None = None,
                        snippets: Path | None = None, log=print) -> dict:
    """aclImdb test and the snippets (when given) and the behavioural suite; the headline
    numbers also as flat keys (`snippets_accuracy`, `suite_accuracy`) for "about" pages."""
    out: dict = {}
    if imdb and imdb[0]:
        t0 = time.perf_counter()
        out["imdb_test"] = binary_metrics(clf.score_texts(imdb[0]), imdb[1], clf.threshold)
        log(f"aclImdb test: {out['imdb_test']} ({time.perf_counter() - t0:.0f} s)")
    if snippets is not None:
        texts, labels = read_snippets(snippets)
        out["movie_snippets"] = binary_metrics(clf.score_texts(texts), labels, clf.threshold)
        out["snippets_accuracy"] = out["movie_snippets"]["accuracy"]
        log(f"movie snippets: {out['movie_snippets']}")
    suite = run_suite(lambda texts: clf.score_texts(texts), threshold=clf.threshold)
    log(format_report(clf.info.get("name", "model"), suite))
    out["suite"] = {"overall": suite["overall"], "negation": suite["negation"],
                    "cases": suite["cases"],
                    "capabilities": {k: v["accuracy"] for k, v in suite["capabilities"].items()}}
    out["suite_accuracy"] = suite["overall"]
    return out


class VaderScorer:
    """VADER (vaderSentiment, the train extra), the lexicon chat bots use, measured like a
    model: P(positive) = (compound + 1) / 2, so a compound of 0 is not positive."""

    threshold = 0.5

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.info = {"name": "vader", "architecture": "VADER lexicon and rules (vaderSentiment)"}
        self.analyzer = SentimentIntensityAnalyzer()

    def score_texts(self, texts: list[str]) -> np.ndarray:
        return np.array([(self.analyzer.polarity_scores(t)["compound"] + 1) / 2 for t in texts])


def main(models: list[str], limit: int | None, imdb: str | None) -> dict:
    from bardbot.models import SentimentClassifier

    path = data.find(data.IMDB_ARCHIVE, imdb)
    reviews = data.imdb_test(path, limit) if path is not None else None
    missing = [name for name in (SNIPPETS, *OTHER_SNIPPETS.values()) if data.find(name) is None]
    if path is None:
        missing.insert(0, data.IMDB_ARCHIVE)
    if missing:  # say so: a number left out must not read as a number measured
        print(f"not measured, not found (--imdb, $BARDBOT_DATA, ./data, ../shared/data): "
              f"{', '.join(missing)}")
    results = {}
    for name in models:
        clf = VaderScorer() if name == "vader" else SentimentClassifier.load(name)
        clf.text_budget_s = MEASURE_BUDGET_S
        print(f"== {name}: {clf.info.get('architecture', '')}")
        results[name] = evaluate_classifier(clf, reviews, data.find(SNIPPETS))
        for key, file_name in OTHER_SNIPPETS.items():
            if (path := data.find(file_name)) is not None:
                texts, labels = read_snippets(path)
                results[name][key] = binary_metrics(clf.score_texts(texts), labels,
                                                    clf.threshold)
                print(f"{key}: {results[name][key]}")
    return results

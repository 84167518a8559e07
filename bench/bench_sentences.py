"""Runtime sentiment models on the held-out UCI sentences (not a test).

    .venv/bin/python bench/bench_sentences.py                              # message, fast
    .venv/bin/python bench/bench_sentences.py --model runs/x-export/sentiment-message.onnx

The split is the trainer's (`trainer/sentences.py`: a fixed 20 % of the amazon and yelp
sentences of the npm tarball sentiment@5.0.2, found in the data folders or the trainer's cache,
else downloaded there). Scored through the runtime (`score_texts`: normalisation, emoji ranking,
calibration), so a model trained without the sentences and one trained with them compare side
by side. `vader` is VADER 3.3.2's compound score.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from bardbot.export.evaluate import VaderScorer, binary_metrics
from bardbot.models import SentimentClassifier
from bardbot.trainer.fit import prepare_cache_dir
from bardbot.trainer.runs import UserError
from bardbot.trainer.sentences import load_sentences, texts_labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", help="a name (message, fast, reference), "
                        "an exported .onnx, or vader (default: message, fast, vader)")
    parser.add_argument("--cache-dir", type=Path, help="the trainer's cache (default: its own)")
    parser.add_argument("--heldout", type=float, default=0.2, help="the trainer's share")
    args = parser.parse_args()
    try:
        _, held, info = load_sentences("uci", None, prepare_cache_dir(args.cache_dir),
                                       args.heldout)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    groups = {"all": held, **{src: [s for s in held if s.source == src]
                              for src in info["files"]}}
    print(f"held-out sentences: {', '.join(f'{k} {len(v)}' for k, v in groups.items())}")
    print(f"{'model':<48} {'all':>6} {'amazon':>7} {'yelp':>6} {'pos. rate':>9}")
    for name in args.model or ["message", "fast", "vader"]:
        clf = VaderScorer() if name == "vader" else SentimentClassifier.load(name)
        row = {}
        for group, sentences in groups.items():
            texts, labels = texts_labels(sentences)
            row[group] = binary_metrics(np.asarray(clf.score_texts(texts)), labels,
                                        clf.threshold)
        print(f"{name:<48} {row['all']['accuracy']:>6.3f} {row['amazon']['accuracy']:>7.3f} "
              f"{row['yelp']['accuracy']:>6.3f} {row['all']['positive_rate']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

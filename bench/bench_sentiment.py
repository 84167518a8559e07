"""One sentiment prediction end to end (text -> result): Keras reference vs onnxruntime.

Reference path, as in the notebook: tokenise, look up word vectors, pad to maxlen, and call
Keras `predict` on the (1, maxlen, dim) float array with the trained LSTM/Dense weights.
Runtime path: `SentimentClassifier.predict([text])` (ids in, embedding inside the ONNX graph).
Both run in this one process on the same texts; the speed-up is the ratio of the medians.

    python bench/bench_sentiment.py [--run runs/ship/sentiment] [--model models/sentiment.onnx]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from bardbot.export import data
from bardbot.models import SentimentClassifier
from bardbot.trainer.runs import quiet_tensorflow
from timing import machine, measure, table

ROOT = Path(__file__).resolve().parents[1]  # default run folders live under it

SHORT = "I loved this film, the acting was wonderful."


def reference_model(run: Path):
    """The trained LSTM/Dense layers on word-vector input, i.e. the notebook's model."""
    import keras

    trained = keras.models.load_model(run / "model.keras", compile=False)
    embedding = trained.get_layer("embedding").get_weights()[0]
    maxlen = trained.inputs[0].shape[1]
    vectors = keras.Input((maxlen, embedding.shape[1]), name="vectors")
    x = trained.get_layer("lstm")(vectors)
    x = keras.layers.Flatten()(x)
    return keras.Model(vectors, trained.get_layer("dense")(x)), embedding


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=ROOT / "runs/ship/sentiment")
    p.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--keras-repeats", type=int, default=30)
    args = p.parse_args()
    if not (args.run / "model.keras").is_file():
        sys.exit(f"{args.run}: no trained run (model.keras); pass --run or train one with "
                 f"`python -m bardbot.trainer sentiment --out {args.run}`")
    quiet_tensorflow()

    clf = SentimentClassifier.load(args.model)
    keras_model, embedding = reference_model(args.run)
    imdb = data.find(data.IMDB_ARCHIVE)
    reviews = data.imdb_test(imdb, limit=100)[0] if imdb else [SHORT * 20]
    typical = sorted(reviews, key=len)[len(reviews) // 2]  # the median-length review

    def reference(text: str):
        ids = clf.encoding.encode(text).ids
        score = float(keras_model.predict(embedding[ids][None], verbose=0)[0, 0])
        return "positive" if score > clf.threshold else "negative"

    def reference_on_batch(text: str):
        ids = clf.encoding.encode(text).ids
        score = float(keras_model.predict_on_batch(embedding[ids][None])[0, 0])
        return "positive" if score > clf.threshold else "negative"

    ids, _ = clf.encoding.encode_batch(reviews)
    diff = np.abs(keras_model.predict(embedding[ids], verbose=0)[:, 0] - clf.scores(ids)).max()
    print(machine())
    print(f"model: {clf.info['file']} ({clf.info['embedding']['dtype']} embedding); "
          f"reference: {args.run}/model.keras on word vectors")
    print(f"score agreement on {len(reviews)} reviews: max abs diff {diff:.2e}")
    for name, text in (("short text", SHORT), ("median IMDB test review", typical)):
        n_tokens = len(clf.predict([text])[0].tokens)
        print(f"\n{name}: {len(text)} chars, {n_tokens} tokens")
        ids = clf.encoding.encode(text).ids
        rows = [
            ("keras predict (reference)",
             measure(lambda t=text: reference(t), args.keras_repeats)),
            ("keras predict_on_batch",
             measure(lambda t=text: reference_on_batch(t), args.keras_repeats)),
            ("onnxruntime SentimentClassifier.predict",
             measure(lambda t=text: clf.predict([t]), args.repeats)),
            ("  of which: encoding only (models.text)",
             measure(lambda t=text: clf.encoding.encode(t), args.repeats)),
            ("  of which: onnxruntime run only",
             measure(lambda i=ids[None]: clf.scores(i), args.repeats)),
        ]
        print(table(rows, "keras predict (reference)"))
    batch = reviews[:32]
    rows = [("onnxruntime, 1 text per call", measure(
                lambda: [clf.predict([text]) for text in batch], 10) / len(batch)),
            ("onnxruntime, 32 texts in one call", measure(
                lambda: clf.predict(batch), 10) / len(batch))]
    print(f"\nbatching: the same {len(batch)} reviews, time per text")
    print(table(rows, "onnxruntime, 1 text per call"))

if __name__ == "__main__":
    main()

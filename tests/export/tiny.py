"""Tiny trainer-shaped runs (contract layer names and shapes, random weights) and their export.

Built once per test process and shared by tests/export and tests/models.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import CharEncoding, WordEncoding

WORDS = ("the", "film", "was", "good", "bad", "great", "awful", "i", "loved", "it", "dull", ".")
MAXLEN = 12
DIM = 8
CORPUS = "to be, or not to be: that is the question.\nwhether 'tis nobler in the mind!\n"
WINDOW = 10
HIDDEN = 16


@dataclass(frozen=True)
class TinyRuns:
    root: Path
    sentiment: Path
    shakespeare: Path
    models: Path  # exported sentiment.onnx/.json + shakespeare.onnx/.json
    windowed: Path  # windowed shakespeare .onnx


def _write_meta(run: Path, meta: dict) -> None:
    (run / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def build_sentiment_run(run: Path, seed: int = 0) -> WordEncoding:
    import keras

    keras.utils.set_random_seed(seed)
    encoding = WordEncoding(WORDS, MAXLEN)
    vectors = np.random.default_rng(seed).normal(size=(encoding.vocab_size, DIM))
    vectors[:2] = 0  # padding and UNK (drop policy)
    inp = keras.Input((MAXLEN,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(encoding.vocab_size, DIM, trainable=False, name="embedding")(inp)
    x = keras.layers.LSTM(50, return_sequences=True, name="lstm")(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(inp, out)
    model.get_layer("embedding").set_weights([vectors.astype(np.float32)])
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    _write_meta(run, {
        "format": "bardbot.train.sentiment/1", "kind": "sentiment",
        "encoding": encoding.to_dict(),
        "vectors": {"source": "random (test)", "dim": DIM, "oov_ratio": 0.0},
        "params": {"trainable": model.count_params() - encoding.vocab_size * DIM,
                   "total": model.count_params()},
        "metrics": {"val_accuracy": 0.5, "test_accuracy": 0.5, "history": {}, "epoch_seconds": []},
        "seed": seed, "command": "python -m bardbot.trainer sentiment (tiny test)", "versions": {},
    })
    return encoding


def build_shakespeare_run(run: Path, objective: str = "last", seed: int = 0) -> CharEncoding:
    import keras

    keras.utils.set_random_seed(seed)
    encoding = CharEncoding.from_corpus(CORPUS)
    shape = (WINDOW, encoding.size) if objective == "last" else (None, encoding.size)
    inp = keras.Input(shape, name="chars")
    x = keras.layers.LSTM(HIDDEN, return_sequences=objective == "every", name="lstm")(inp)
    out = keras.layers.Dense(encoding.size, activation="softmax", name="dense")(x)
    model = keras.Model(inp, out)
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    _write_meta(run, {
        "format": "bardbot.train.shakespeare/1", "kind": "shakespeare",
        "encoding": encoding.to_dict(), "window": WINDOW, "step": 3, "objective": objective,
        "params": {"total": model.count_params()},
        "metrics": {"heldout_loss_windowed": 3.0, "heldout_loss_stateful": 3.0, "history": {}},
        "seed": seed, "versions": {},
        "command": "python -m bardbot.trainer shakespeare (tiny test)",
    })
    return encoding


@functools.cache
def tiny_runs() -> TinyRuns:
    from bardbot.export.sentiment import SentimentExport, export_sentiment
    from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare

    root = Path(tempfile.mkdtemp(prefix="bardbot-tiny-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    runs = TinyRuns(root, root / "sentiment", root / "shakespeare", root / "models",
                    root / "windowed.onnx")
    build_sentiment_run(runs.sentiment)
    build_shakespeare_run(runs.shakespeare)
    quiet = lambda *_: None  # noqa: E731
    # Tests never read the real data sets: parity runs on random ids / chars.
    export_sentiment(SentimentExport(runs.sentiment, runs.models, embedding_dtype="float32",
                                     search_data=False), log=quiet)
    export_shakespeare(ShakespeareExport(runs.shakespeare, runs.models, search_data=False,
                                         windowed_out=runs.windowed), log=quiet)
    return runs


def trained_message_run(core: str, units: int) -> Path:
    """A message run with this core, trained by the real trainer on a tiny aclImdb and GloVe
    (no real data)."""
    from bardbot.trainer.cli import main as train

    from tests.trainer.conftest import write_glove, write_imdb

    root = Path(tempfile.mkdtemp(prefix=f"bardbot-tiny-{core}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    imdb = write_imdb(root / "data", n_train=24)
    run = root / "run"
    assert train(["message", "--core", core, "--imdb", str(imdb),
                  "--glove-dir", str(write_glove(root)), "--out", str(run),
                  "--cache-dir", str(root / "cache"), "--epochs", "2", "--w2v-dim", "8",
                  "--min-count", "1", "--units", str(units), "--workers", "1", "--quiet"]) == 0
    return run


@functools.cache
def tiny_message_run() -> Path:
    """A BiLSTM message run on the tiny data."""
    return trained_message_run("bilstm", 4)


@functools.cache
def tiny_message_model() -> Path:
    """`tiny_message_run` exported; returns the .onnx."""
    from bardbot.export.message import MessageExport, export_message

    run = tiny_message_run()
    onnx_path, _ = export_message(MessageExport(run, run.parent / "models", search_data=False),
                                  log=lambda *_: None)
    return onnx_path


@functools.cache
def tiny_fast_run() -> Path:
    """A `message --core words` run on the tiny data."""
    return trained_message_run("words", 6)


@functools.cache
def tiny_fast_model() -> Path:
    """`tiny_fast_run` exported by `export fast`; returns the .onnx."""
    from bardbot.export.fast import FastExport, export_fast

    run = tiny_fast_run()
    onnx_path, _ = export_fast(FastExport(run, run.parent / "models", search_data=False),
                               log=lambda *_: None)
    return onnx_path

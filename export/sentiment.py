"""Export a sentiment run: token ids in (embedding folded in as a Gather), P(positive) out."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import data, onnx_io
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.sentiment import INPUT, OUTPUT, SentimentClassifier
from bardbot.models.text import WordEncoding
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run


@dataclass
class SentimentExport:
    run_dir: Path
    out_dir: Path = MODELS_DIR
    embedding_dtype: str = "auto"  # "auto": float16 if it costs <= max_fp16_cost, else float32
    max_fp16_cost: float = 0.2  # accuracy points on the test set
    max_words: int | None = None  # keep only the first N vocabulary words (trainer's order)
    imdb: str | None = None  # aclImdb tarball or folder; None = search the data folders
    search_data: bool = True  # False: use only an explicit `imdb` (tests)
    eval_limit: int | None = None  # test reviews for accuracy; None = all 25,000
    parity_samples: int = 64
    command: str | None = None  # the export command line, recorded in the JSON
    threshold: float = 0.5


def build_function(model, embedding: np.ndarray, maxlen: int):
    """tf.function: ids -> P(positive), computing exactly the Keras model's inference path.

    The embedding is a constant of the graph in its storage dtype (float16 or float32) and is
    cast to float32 after the Gather; Dropout is the identity at inference, Flatten a reshape.
    """
    import tensorflow as tf

    lstm, dense = model.get_layer("lstm"), model.get_layer("dense")

    @tf.function(input_signature=[tf.TensorSpec([None, maxlen], tf.int32, name=INPUT)])
    def predict(ids):
        x = tf.gather(tf.constant(embedding), ids)
        x = lstm(tf.cast(x, tf.float32))
        x = tf.reshape(x, [-1, maxlen * lstm.units])
        return {OUTPUT: tf.reshape(dense(x), [-1])}

    return predict


def _scores(sess, ids: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate(
        [sess.run([OUTPUT], {INPUT: ids[i : i + batch]})[0] for i in range(0, len(ids), batch)]
    )


def export_sentiment(cfg: SentimentExport, log=print) -> tuple[Path, Path]:
    """Convert a sentiment run: check parity with Keras, choose the embedding's storage dtype
    on test-set accuracy, write sentiment.onnx + .json and load them back in the runtime."""
    check_options(cfg)
    run, meta = read_run(cfg.run_dir, "sentiment")
    prepare_out_dir(cfg.out_dir)
    trained = read_trained(run, meta, cfg.max_words, log)
    texts, labels = read_test_set(cfg, log)
    parity_ids, parity_source = parity_batch(trained, texts, cfg.parity_samples)
    dtypes = ["float32", "float16"] if cfg.embedding_dtype == "auto" else [cfg.embedding_dtype]
    candidates = {dtype: convert_checked(trained, dtype, parity_ids, parity_source, log)
                  for dtype in dtypes}
    metrics = {"parity_samples": f"{len(parity_ids)} ({parity_source})"}
    if texts:
        metrics |= measure_accuracy(candidates, trained.encoding, texts, labels, cfg.threshold,
                                    log)
    chosen = choose_dtype(cfg, candidates, metrics, log)
    metrics["parity_max_abs_diff"] = candidates[chosen].parity
    out_meta = model_meta(cfg, meta, trained, chosen, metrics)
    return write_candidate(cfg.out_dir, candidates[chosen], out_meta, parity_ids, log)


def check_options(cfg: SentimentExport) -> None:
    if cfg.embedding_dtype not in ("auto", "float16", "float32"):
        raise UserError("--embedding-dtype must be auto, float16 or float32")
    if cfg.max_words is not None and cfg.max_words <= 0:
        raise UserError(f"--max-words must be a positive number of words, got {cfg.max_words}")
    if cfg.eval_limit is not None and cfg.eval_limit < 2:
        raise UserError(f"--eval-limit must be at least 2 (one review per class), "
                        f"got {cfg.eval_limit}")


@dataclass
class Trained:
    """What the export needs of a run: the Keras model, its encoding and embedding."""

    model: object
    encoding: WordEncoding
    embedding: np.ndarray  # float32, one row per id of `encoding`
    maxlen: int


def read_trained(run: Path, meta: dict, max_words: int | None, log) -> Trained:
    try:
        encoding = WordEncoding.from_dict(meta["encoding"])
    except (KeyError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding ({exc})") from exc
    model = onnx_io.load_keras(run)
    embedding = model.get_layer("embedding").get_weights()[0].astype(np.float32)
    if embedding.shape[0] != encoding.vocab_size:
        raise UserError(
            f"{run}: embedding has {embedding.shape[0]} rows, encoding {encoding.vocab_size}"
        )
    maxlen = model.inputs[0].shape[1]
    if maxlen != encoding.maxlen:
        raise UserError(f"{run}: model maxlen {maxlen} != encoding maxlen {encoding.maxlen}")
    if max_words is not None and max_words < len(encoding.words):
        encoding = WordEncoding(
            encoding.words[:max_words], encoding.maxlen, encoding.lowercase, encoding.oov
        )
        embedding = embedding[: encoding.vocab_size]
        log(f"vocabulary cut to the first {max_words} words")
    return Trained(model, encoding, embedding, maxlen)


def read_test_set(cfg: SentimentExport, log) -> tuple[list[str], list[int]]:
    """The IMDB test reviews, or none when not found (unless `auto` needs them to choose)."""
    imdb_path = data.find(data.IMDB_ARCHIVE, cfg.imdb, cfg.search_data)
    if imdb_path is None:
        if cfg.embedding_dtype == "auto":
            raise UserError(
                "--embedding-dtype auto measures accuracy on the IMDB test set, which was not "
                "found: pass --imdb PATH or choose --embedding-dtype float32/float16"
            )
        return [], []
    t0 = time.perf_counter()
    texts, labels = data.imdb_test(imdb_path, cfg.eval_limit)
    log(f"read {len(texts)} test reviews from {imdb_path} ({time.perf_counter() - t0:.0f} s)")
    return texts, labels


def parity_batch(trained: Trained, texts: list[str], n: int) -> tuple[np.ndarray, str]:
    """Real test reviews when there are any, else random ids with random lengths; plus one
    all-padding row."""
    rng = np.random.default_rng(0)
    maxlen = trained.maxlen
    if texts:
        pick = rng.choice(len(texts), min(n, len(texts)), replace=False)
        ids, _ = trained.encoding.encode_batch([texts[i] for i in pick])
        source = "IMDB test reviews"
    else:
        ids = rng.integers(2, trained.encoding.vocab_size, (n, maxlen))
        lengths = rng.integers(0, maxlen + 1, n)
        ids[np.arange(maxlen)[None, :] >= lengths[:, None]] = 0
        source = "random token ids"
    return np.concatenate([ids, np.zeros((1, maxlen))]).astype(np.int32), source


@dataclass
class Candidate:
    """The graph converted with one embedding storage dtype, and what was measured of it."""

    proto: object
    session: object
    parity: float
    scores: np.ndarray | None = None  # on the test reviews
    accuracy: float | None = None


def convert_checked(trained: Trained, dtype: str, parity_ids: np.ndarray, parity_source: str,
                    log) -> Candidate:
    """The ONNX graph with the embedding stored as `dtype`, checked against Keras running
    the very embedding values the file stores."""
    model, stored = trained.model, trained.embedding.astype(dtype)
    proto = onnx_io.convert(build_function(model, stored, trained.maxlen))
    onnx_io.check_graph(proto, {INPUT: 2}, {OUTPUT}, f"sentiment ({dtype} embedding)")
    sess = onnx_io.session(proto)
    layer = model.get_layer("embedding")
    full = np.zeros((layer.input_dim, stored.shape[1]), dtype=np.float32)
    full[: len(stored)] = stored.astype(np.float32)
    layer.set_weights([full])
    keras_out = model.predict(parity_ids, verbose=0).reshape(-1)
    check = f"ONNX vs Keras, {dtype} embedding ({parity_source})"
    diffs = onnx_io.check_parity(
        "sentiment", {check: np.abs(_scores(sess, parity_ids) - keras_out).max()}, log)
    return Candidate(proto, sess, diffs[check])


def measure_accuracy(candidates: dict[str, Candidate], encoding: WordEncoding, texts: list[str],
                     labels: list[int], threshold: float, log) -> dict:
    t0 = time.perf_counter()
    ids, _ = encoding.encode_batch(texts)
    truth = np.asarray(labels)
    metrics: dict = {}
    for dtype, cand in candidates.items():
        cand.scores = _scores(cand.session, ids)
        cand.accuracy = float(((cand.scores > threshold).astype(int) == truth).mean())
        metrics[f"test_accuracy_{dtype}_embedding"] = round(cand.accuracy, 5)
        log(f"{dtype} embedding: test accuracy {cand.accuracy:.4f} on {len(truth)} reviews")
    metrics["test_reviews"] = len(truth)
    log(f"accuracy measured in {time.perf_counter() - t0:.0f} s")
    return metrics


def choose_dtype(cfg: SentimentExport, candidates: dict[str, Candidate], metrics: dict,
                 log) -> str:
    """The dtype asked for; with `auto`, float16 unless it costs more than max_fp16_cost
    accuracy points (what it costs goes into `metrics`)."""
    if cfg.embedding_dtype != "auto":
        return cfg.embedding_dtype
    f32, f16 = candidates["float32"], candidates["float16"]
    cost = 100 * (f32.accuracy - f16.accuracy)  # type: ignore[operator]
    changes = int(((f32.scores > cfg.threshold) != (f16.scores > cfg.threshold)).sum())
    metrics.update(fp16_accuracy_cost_points=round(cost, 3),
                   fp16_vs_fp32_max_abs_score_diff=float(np.abs(f32.scores - f16.scores).max()),
                   fp16_label_changes=changes)
    chosen = "float16" if cost <= cfg.max_fp16_cost else "float32"
    log(f"float16 embedding costs {cost:.3f} accuracy points ({changes} labels change) "
        f"-> storing {chosen}")
    return chosen


def model_meta(cfg: SentimentExport, meta: dict, trained: Trained, chosen: str,
               metrics: dict) -> dict:
    encoding, maxlen, dim = trained.encoding, trained.maxlen, int(trained.embedding.shape[1])
    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "history"}
    return {
        "encoding": encoding.to_dict(),
        "threshold": cfg.threshold,
        "uncertain_margin": SentimentClassifier.uncertain_margin,
        "inputs": {INPUT: {"dtype": "int32", "shape": [None, maxlen]}},
        "outputs": {OUTPUT: {"dtype": "float32", "shape": [None], "meaning": "P(positive)"}},
        "architecture": (
            f"Embedding({encoding.vocab_size}x{dim}, frozen, stored {chosen}) "
            f"-> LSTM({trained.model.get_layer('lstm').units}, all steps) -> Dropout -> Flatten "
            "-> Dense(1, sigmoid)"
        ),
        "embedding": {"dtype": chosen, "rows": encoding.vocab_size, "dim": dim},
        "vectors": meta.get("vectors"),
        "params": meta.get("params"),
        "metrics": {"training": train_metrics, "export": metrics},
        **onnx_io.provenance(meta, cfg.command),
    }


def write_candidate(out_dir: Path, cand: Candidate, out_meta: dict, parity_ids: np.ndarray,
                    log) -> tuple[Path, Path]:
    """Write the pair once it loads in the runtime and agrees with the converted graph."""

    def check(onnx_path: Path) -> dict:
        again = SentimentClassifier.load(onnx_path).scores(parity_ids)
        if not np.array_equal(again, _scores(cand.session, parity_ids)):
            raise UserError("sentiment: runtime output differs from the converted graph")
        return {}

    return onnx_io.write_checked(out_dir, "sentiment", cand.proto, out_meta, check, log=log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SentimentExport
    onnx_io.add_run_dir_argument(parser, "sentiment")
    onnx_io.add_out_argument(parser)
    parser.add_argument("--embedding-dtype", default=d.embedding_dtype,
                        choices=("auto", "float16", "float32"),
                        help="how the embedding is stored; auto: float16 (half the size) if it "
                             f"costs <= {d.max_fp16_cost} accuracy points on the IMDB test set, "
                             "else float32")
    parser.add_argument("--max-words", type=int, default=d.max_words, metavar="N",
                        help="keep only the N most frequent vocabulary words (smaller file; the "
                             "rest become unknown words)")
    onnx_io.add_test_set_arguments(parser)


def config_from_args(args: argparse.Namespace) -> SentimentExport:
    return SentimentExport(args.run_dir, args.out, embedding_dtype=args.embedding_dtype,
                           max_words=args.max_words, imdb=args.imdb, eval_limit=args.eval_limit,
                           command=args.command_line)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return export_sentiment(config_from_args(args))

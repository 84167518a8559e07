"""Export a sentiment run: token ids in (embedding folded in as a Gather), P(positive) out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import data
from bardbot.export.onnx_io import (
    check_graph,
    convert,
    load_keras,
    removed_on_failure,
    session,
    write_model,
)
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.sentiment import INPUT, OUTPUT, SentimentClassifier
from bardbot.models.text import WordEncoding
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run, versions

PARITY_TOL = 1e-5


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
    if cfg.embedding_dtype not in ("auto", "float16", "float32"):
        raise UserError("--embedding-dtype must be auto, float16 or float32")
    if cfg.max_words is not None and cfg.max_words <= 0:
        raise UserError(f"--max-words must be a positive number of words, got {cfg.max_words}")
    if cfg.eval_limit is not None and cfg.eval_limit < 2:
        raise UserError(f"--eval-limit must be at least 2 (one review per class), "
                        f"got {cfg.eval_limit}")
    run, meta = read_run(cfg.run_dir, "sentiment")
    prepare_out_dir(cfg.out_dir)
    try:
        encoding = WordEncoding.from_dict(meta["encoding"])
    except (KeyError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding ({exc})") from exc
    model = load_keras(run)
    emb_layer = model.get_layer("embedding")
    embedding = emb_layer.get_weights()[0].astype(np.float32)
    if embedding.shape[0] != encoding.vocab_size:
        raise UserError(
            f"{run}: embedding has {embedding.shape[0]} rows, encoding {encoding.vocab_size}"
        )
    maxlen = model.inputs[0].shape[1]
    if maxlen != encoding.maxlen:
        raise UserError(f"{run}: model maxlen {maxlen} != encoding maxlen {encoding.maxlen}")
    if cfg.max_words is not None and cfg.max_words < len(encoding.words):
        encoding = WordEncoding(
            encoding.words[: cfg.max_words], encoding.maxlen, encoding.lowercase, encoding.oov
        )
        embedding = embedding[: encoding.vocab_size]
        log(f"vocabulary cut to the first {cfg.max_words} words")

    imdb_path = data.find(data.IMDB_ARCHIVE, cfg.imdb, cfg.search_data)
    eval_texts, eval_labels = [], []
    if imdb_path is not None:
        t0 = time.perf_counter()
        eval_texts, eval_labels = data.imdb_test(imdb_path, cfg.eval_limit)
        seconds = time.perf_counter() - t0
        log(f"read {len(eval_texts)} test reviews from {imdb_path} ({seconds:.0f} s)")
    elif cfg.embedding_dtype == "auto":
        raise UserError(
            "--embedding-dtype auto measures accuracy on the IMDB test set, which was not found: "
            "pass --imdb PATH or choose --embedding-dtype float32/float16"
        )

    # Parity samples: real test reviews when we have them, else random ids with random lengths.
    rng = np.random.default_rng(0)
    if eval_texts:
        pick = rng.choice(len(eval_texts), min(cfg.parity_samples, len(eval_texts)), replace=False)
        parity_ids, _ = encoding.encode_batch([eval_texts[i] for i in pick])
        parity_source = "IMDB test reviews"
    else:
        parity_ids = rng.integers(2, encoding.vocab_size, (cfg.parity_samples, maxlen))
        lengths = rng.integers(0, maxlen + 1, cfg.parity_samples)
        parity_ids[np.arange(maxlen)[None, :] >= lengths[:, None]] = 0
        parity_source = "random token ids"
    parity_ids = np.concatenate([parity_ids, np.zeros((1, maxlen))]).astype(np.int32)

    dtypes = ["float32", "float16"] if cfg.embedding_dtype == "auto" else [cfg.embedding_dtype]
    candidates = {}
    for dtype in dtypes:
        stored = embedding.astype(dtype)
        proto = convert(build_function(model, stored, maxlen))
        check_graph(proto, {INPUT: 2}, {OUTPUT}, f"sentiment ({dtype} embedding)")
        sess = session(proto)
        # The Keras reference uses the very embedding values the ONNX file stores.
        full = np.zeros((emb_layer.input_dim, embedding.shape[1]), dtype=np.float32)
        full[: len(stored)] = stored.astype(np.float32)
        emb_layer.set_weights([full])
        keras_out = model.predict(parity_ids, verbose=0).reshape(-1)
        diff = float(np.abs(_scores(sess, parity_ids) - keras_out).max())
        if not diff <= PARITY_TOL:
            raise UserError(f"sentiment parity failed ({dtype}): max abs diff {diff:.2e} > 1e-5")
        log(f"{dtype} embedding: parity ONNX vs Keras max abs diff {diff:.2e} ({parity_source})")
        candidates[dtype] = {"proto": proto, "session": sess, "parity": diff}

    metrics_export: dict = {"parity_max_abs_diff": candidates[dtypes[0]]["parity"],
                            "parity_samples": f"{len(parity_ids)} ({parity_source})"}
    if eval_texts:
        t0 = time.perf_counter()
        ids, _ = encoding.encode_batch(eval_texts)
        labels = np.asarray(eval_labels)
        for dtype, cand in candidates.items():
            cand["scores"] = _scores(cand["session"], ids)
            predicted = (cand["scores"] > cfg.threshold).astype(int)
            cand["accuracy"] = float((predicted == labels).mean())
            metrics_export[f"test_accuracy_{dtype}_embedding"] = round(cand["accuracy"], 5)
            log(f"{dtype} embedding: test accuracy {cand['accuracy']:.4f} on {len(labels)} reviews")
        metrics_export["test_reviews"] = len(labels)
        log(f"accuracy measured in {time.perf_counter() - t0:.0f} s")

    chosen = dtypes[0] if len(dtypes) == 1 else "float32"
    if cfg.embedding_dtype == "auto":
        cost = 100 * (candidates["float32"]["accuracy"] - candidates["float16"]["accuracy"])
        metrics_export["fp16_accuracy_cost_points"] = round(cost, 3)
        s32, s16 = candidates["float32"]["scores"], candidates["float16"]["scores"]
        metrics_export["fp16_vs_fp32_max_abs_score_diff"] = float(np.abs(s32 - s16).max())
        metrics_export["fp16_label_changes"] = int(
            ((s32 > cfg.threshold) != (s16 > cfg.threshold)).sum())
        chosen = "float16" if cost <= cfg.max_fp16_cost else "float32"
        log(f"float16 embedding costs {cost:.3f} accuracy points "
            f"({metrics_export['fp16_label_changes']} labels change) -> storing {chosen}")
    cand = candidates[chosen]
    metrics_export["parity_max_abs_diff"] = cand["parity"]

    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "history"}
    out_meta = {
        "encoding": encoding.to_dict(),
        "threshold": cfg.threshold,
        "uncertain_margin": SentimentClassifier.uncertain_margin,
        "inputs": {INPUT: {"dtype": "int32", "shape": [None, maxlen]}},
        "outputs": {OUTPUT: {"dtype": "float32", "shape": [None], "meaning": "P(positive)"}},
        "architecture": (
            f"Embedding({encoding.vocab_size}x{embedding.shape[1]}, frozen, stored {chosen}) "
            f"-> LSTM({model.get_layer('lstm').units}, all steps) -> Dropout -> Flatten "
            "-> Dense(1, sigmoid)"
        ),
        "embedding": {"dtype": chosen, "rows": encoding.vocab_size, "dim": int(embedding.shape[1])},
        "vectors": meta.get("vectors"),
        "params": meta.get("params"),
        "metrics": {"training": train_metrics, "export": metrics_export},
        "training_command": meta.get("command"),
        "export_command": cfg.command,
        "seed": meta.get("seed"),
        "versions": {"training": meta.get("versions"), "export": versions()},
    }
    paths = write_model(cfg.out_dir, "sentiment", cand["proto"], out_meta)
    # The written pair must load in the runtime and agree with the converted graph.
    with removed_on_failure(paths):
        clf = SentimentClassifier.load(paths[0])
        again = clf.scores(parity_ids)
        if not np.array_equal(again, _scores(cand["session"], parity_ids)):
            raise UserError(f"{paths[0]}: runtime output differs from the converted graph")
    size = sum(p.stat().st_size for p in paths)
    log(f"wrote {paths[0]} and {paths[1]} ({size / 1e6:.1f} MB)")
    return paths

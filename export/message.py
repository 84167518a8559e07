"""Export a `message` run: token ids of any length in, P(positive) out, each text's own steps.

tf2onnx turns a *masked* Keras LSTM into a generic `Loop` (slow, see TOOLCHAIN.md), so the
function converted here calls the LSTMs unmasked and the graph is then given each text's length
as the fused ONNX `LSTM` op's `sequence_lens`. The backward direction reads each text reversed
within its own length (ReverseSequence), pooling skips padded steps, and the validation-fitted
temperature divides the logit. Parity is checked against the masked Keras model on texts of
mixed lengths in one batch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import data
from bardbot.export.evaluate import SNIPPETS, evaluate_classifier
from bardbot.export.onnx_io import (
    add_out_argument,
    add_run_dir_argument,
    add_test_set_arguments,
    check_parity,
    convert,
    load_keras,
    provenance,
    session,
    write_checked,
)
from bardbot.models.metadata import MODELS_DIR, SHIPPED
from bardbot.models.sampling import PROB_FLOOR
from bardbot.models.sentiment import INPUT, OUTPUT, SentimentClassifier
from bardbot.models.text import WordEncoding
from bardbot.trainer.message import calibrate, lexicon_column, masked_max_layer, negation_matrix
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run

LENGTHS = "lengths"  # a temporary graph output: the tensor wired into every LSTM's sequence_lens


@dataclass
class MessageExport:
    run_dir: Path
    out_dir: Path = MODELS_DIR
    name: str = SHIPPED["sentiment"]["message"]  # file stem: sentiment-message.onnx
    imdb: str | None = None
    search_data: bool = True
    eval_limit: int | None = None  # IMDB test reviews for the recorded metrics; None = all
    parity_samples: int = 64
    command: str | None = None


def quantize_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows with one float32 scale each (a quarter of float32's size)."""
    scale = np.abs(matrix).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(matrix / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def build_function(model, q: np.ndarray, scale: np.ndarray, calibration: dict[str, float],
                   negation_column: int | None, negation: bool):
    """ids -> P(positive). With negation marking, id i + V (V = rows of `q`) is row i with the
    valence column negated and a "negated" flag column appended (`negation_matrix`)."""
    import keras
    import tensorflow as tf
    from bardbot.trainer.message import PAD_PENALTY

    if "bilstm" in [layer.name for layer in model.layers]:
        bi = model.get_layer("bilstm")
        forward = bi.forward_layer
        # The backward layer reads reversed input; an ordinary LSTM with its weights does the
        # same on input that ReverseSequence reversed within each text's own length.
        backward = keras.layers.LSTM(bi.backward_layer.units, return_sequences=True)
        backward.build((None, None, q.shape[1] + int(negation)))
        backward.set_weights(bi.backward_layer.get_weights())
    else:
        forward, backward = model.get_layer("lstm"), None
    dense = model.get_layer("dense")
    kernel, bias = (w.astype(np.float32) for w in dense.get_weights())
    a, b, c = (calibration[k] for k in ("scale", "bias", "log_length"))
    rows = len(q)
    flip = np.zeros(q.shape[1], np.float32)
    if negation_column is not None:
        flip[negation_column] = 2.0

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=INPUT)])
    def predict(ids):
        present = tf.not_equal(ids, 0)
        lengths = tf.reduce_sum(tf.cast(present, tf.int32), axis=1)
        is_negated = ids >= rows
        base = ids - rows * tf.cast(is_negated, tf.int32)
        x = tf.cast(tf.gather(tf.constant(q), base), tf.float32)
        x = x * tf.expand_dims(tf.gather(tf.constant(scale), base), -1)
        if negation:
            negated = tf.expand_dims(tf.cast(is_negated, tf.float32), -1)
            x = tf.concat([x * (1.0 - negated * tf.constant(flip)), negated], axis=-1)
        y = forward(x)
        if backward is not None:
            rev = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
            y_back = tf.reverse_sequence(backward(rev), lengths, seq_axis=1, batch_axis=0)
            y = tf.concat([y, y_back], axis=-1)
        y = y - (1.0 - tf.expand_dims(tf.cast(present, tf.float32), -1)) * PAD_PENALTY
        logit = tf.reshape(tf.matmul(tf.reduce_max(y, axis=1), kernel) + bias, [-1])
        log_length = tf.math.log(tf.maximum(tf.cast(lengths, tf.float32), 1.0))
        return {OUTPUT: tf.sigmoid(a * logit + b + c * log_length), LENGTHS: lengths}

    return predict


def architecture(model, encoding: WordEncoding, dim: int) -> str:
    layers = [layer.name for layer in model.layers]
    bidirectional = "bilstm" in layers
    lstm = model.get_layer("bilstm").forward_layer if bidirectional else model.get_layer("lstm")
    return (f"Embedding({encoding.id_count}x{dim}, frozen, int8 rows"
            f"{', negation-marked ids' if encoding.negation else ''}) -> "
            f"{'Bi' if bidirectional else ''}LSTM({lstm.units}, sequence_lens) -> "
            "masked max pooling -> Dense(1) -> Platt scaling -> sigmoid")


def wire_sequence_lengths(proto) -> None:
    """Feed the LENGTHS output into every LSTM's sequence_lens, drop it as an output, and
    restore topological order."""
    graph = proto.graph
    (lengths,) = [o for o in graph.output if o.name == LENGTHS]
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    if not lstms:
        raise UserError("message export: the converted graph has no ONNX LSTM op")
    for node in lstms:
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = lengths.name
    graph.output.remove(lengths)
    _sort_nodes(graph)


def _sort_nodes(graph) -> None:
    produced_by = {out: node for node in graph.node for out in node.output}
    ordered, done = [], set()

    def visit(node) -> None:
        if id(node) in done:
            return
        done.add(id(node))
        for name in node.input:
            if name in produced_by:
                visit(produced_by[name])
        ordered.append(node)

    for node in list(graph.node):
        visit(node)
    nodes = [type(n)() for n in ordered]
    for new, old in zip(nodes, ordered, strict=True):
        new.CopyFrom(old)
    del graph.node[:]
    graph.node.extend(nodes)


def parity_batch(encoding: WordEncoding, texts: list[str], n: int) -> np.ndarray:
    """Texts of mixed lengths in one batch: whole reviews and their first few words."""
    rng = np.random.default_rng(0)
    picked = [texts[i] for i in rng.choice(len(texts), min(n, len(texts)), replace=False)]
    short = [" ".join(t.split()[: int(k)]) for t, k in zip(picked, rng.integers(1, 12, len(picked)),
                                                          strict=True)]
    ids, encoded = encoding.encode_batch(picked + short, pad_to_longest=True)
    return ids[[e.length > 0 for e in encoded]]


def parity_with_keras(model, calibration: dict, ids: np.ndarray, onnx_p: np.ndarray, log
                      ) -> float:
    """The graph's P(positive) against the calibrated Keras model's on the same `ids`."""
    keras_p = np.clip(np.asarray(model.predict_on_batch(ids), np.float64).reshape(-1),
                      PROB_FLOOR, 1 - PROB_FLOOR)
    lengths = (ids != 0).sum(axis=1)
    expected = calibrate(calibration, np.log(keras_p / (1 - keras_p)), lengths)
    check = (f"ONNX vs masked Keras ({len(ids)} texts of lengths {int(lengths.min())}-"
             f"{int(lengths.max())} in one batch)")
    return check_parity("message", {check: np.abs(onnx_p - expected).max()}, log)[check]


def export_message(cfg: MessageExport, log=print) -> tuple[Path, Path]:
    run, meta = read_run(cfg.run_dir, "message")
    prepare_out_dir(cfg.out_dir)
    try:
        encoding = WordEncoding.from_dict(meta["encoding"])
        calibration = {k: float(meta["metrics"]["calibration"].get(k, 0.0))
                       for k in ("scale", "bias", "log_length")}
        valence = lexicon_column(meta["vectors"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding, calibration or vectors ({exc})"
                        ) from exc
    masked_max_layer()  # registers the custom layer before the model is read
    model = load_keras(run)
    embedding = model.get_layer("embedding").get_weights()[0].astype(np.float32)
    if embedding.shape[0] != encoding.id_count:
        raise UserError(f"{run}: embedding has {embedding.shape[0]} rows, "
                        f"encoding {encoding.id_count}")
    # Only the plain rows are stored; negated ones are computed from them in the graph.
    plain = embedding[: encoding.vocab_size, : embedding.shape[1] - encoding.negation]
    q, scale = quantize_rows(plain)
    proto = convert(build_function(model, q, scale, calibration, valence, encoding.negation))
    wire_sequence_lengths(proto)

    imdb_path = data.find(data.IMDB_ARCHIVE, cfg.imdb, cfg.search_data)
    texts: list[str] = []
    labels: list[int] = []
    if imdb_path is not None:
        texts, labels = data.imdb_test(imdb_path, cfg.eval_limit)
    sample = texts or ["a fine film", "dull and far too long", "not bad at all :)"]
    ids = parity_batch(encoding, sample, cfg.parity_samples)
    # The masked Keras model with the embedding the file stores (int8 rows times their scale).
    stored = q.astype(np.float32) * scale[:, None]
    if encoding.negation:
        stored = negation_matrix(stored, valence)
    model.get_layer("embedding").set_weights([stored])
    converted = session(proto)
    onnx_p = converted.run([OUTPUT], {INPUT: ids})[0]
    diff = parity_with_keras(model, calibration, ids, onnx_p, log)

    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "history"}
    out_meta = {
        "name": "message",
        "encoding": encoding.to_dict(),
        "threshold": 0.5,
        "uncertain_margin": SentimentClassifier.uncertain_margin,
        "calibration": {**calibration, "meaning": "P = sigmoid(scale * logit + bias + "
                        "log_length * log(tokens)), fitted on the validation split"},
        "inputs": {INPUT: {"dtype": "int32", "shape": [None, None]}},
        "outputs": {OUTPUT: {"dtype": "float32", "shape": [None], "meaning": "P(positive)"}},
        "architecture": architecture(model, encoding, embedding.shape[1]),
        "embedding": {"dtype": "int8+row scale", "rows": encoding.vocab_size,
                      "dim": int(embedding.shape[1])},
        "vectors": meta.get("vectors"),
        "params": meta.get("params"),
        "data": meta.get("data"),
        "metrics": {"training": train_metrics,
                    "export": {"parity_max_abs_diff": diff, "parity_texts": len(ids)}},
        **provenance(meta, cfg.command),
    }
    # Measured through the runtime's own scoring (empty texts, batching) on the converted
    # graph, so the pair is written once, with its metrics.
    runtime = SentimentClassifier(converted, encoding, out_meta["threshold"],
                                  {"name": "message", "variable_length": True})
    snippets = data.find(SNIPPETS, None, cfg.search_data)
    out_meta["metrics"]["export"].update(
        evaluate_classifier(runtime, (texts, labels), snippets, log=log))

    def check(onnx_path: Path) -> dict:
        if not np.allclose(SentimentClassifier.load(onnx_path).scores(ids), onnx_p, atol=1e-6):
            raise UserError(f"{cfg.name}: runtime output differs from the converted graph")
        return {}

    return write_checked(cfg.out_dir, "sentiment", proto, out_meta, check, name=cfg.name, log=log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir_argument(parser, "message")
    add_out_argument(parser)
    add_test_set_arguments(parser)


def config_from_args(args: argparse.Namespace) -> MessageExport:
    return MessageExport(args.run_dir, args.out, imdb=args.imdb, eval_limit=args.eval_limit,
                         command=args.command_line)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return export_message(config_from_args(args))

"""Export a `message --core words` run as the fast model: two table lookups, a max, a mean.

In that model everything before the pooling sees one token, so a token's outputs depend on its
id alone: they are computed here once for every id the encoding makes (plain and negated) and
stored as tables: the max-pooled units as int8 (a scale per unit, folded into the output
weights; padding's row is -128, below every real value, so the max ignores it) and the
mean-pooled score as float16 (padding's is 0):

    ids (n, t) int32 -> Gather(units table) int8 -> ReduceMax over t -> Cast -> MatMul(kernel
    x unit scale x Platt scale); Gather(scores) -> Cast -> ReduceSum / length; lengths =
    ReduceSum(Min(ids, 1)) -> Log -> length term; Sum with the offset -> Sigmoid = `prob` (n,)

Sixteen nodes and no recurrence: the session run costs about what a VADER lookup does. The
contract (input, output, encoding, calibration) is the message model's, so the runtime loads it
unchanged. Parity is checked against the Keras model (see `parity`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export.message import MessageExport, parity_texts, write_export
from bardbot.export.message_graph import ids_to_prob_model
from bardbot.export.onnx_io import (
    PARITY_TOL,
    add_out_argument,
    add_run_dir_argument,
    add_test_set_arguments,
    check_parity,
    load_keras,
    session,
)
from bardbot.models.metadata import SHIPPED
from bardbot.models.sentiment import INPUT, OUTPUT
from bardbot.models.text import WordEncoding
from bardbot.trainer.message import calibrate, register_layers
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run

PAD_LEVEL = -128  # the padding row: below every stored tanh value (-127..127)


@dataclass
class FastExport(MessageExport):
    name: str = SHIPPED["sentiment"]["fast"]  # file stem: sentiment-fast.onnx


@dataclass
class WordsWeights:
    table: np.ndarray  # int8 (ids, units): each id's max-pooled units; row 0 (padding) PAD_LEVEL
    unit_scale: np.ndarray  # float32 (units,): stored value x unit scale = tanh output
    kernel: np.ndarray  # float32 (units,): the Dense layer's weights of the max-pooled units
    scores: np.ndarray  # float16 (ids,): each id's mean-pooled score, times its Dense weight
    # and the Platt scale (as stored: the graph adds their mean to the logit); row 0 is 0
    bias: float
    calibration: dict[str, float]  # scale, bias, log_length

    def probs(self, ids: np.ndarray) -> np.ndarray:
        """P(positive) of an id matrix as the graph computes it, in numpy."""
        real = ids != 0
        stored = np.where(real[..., None], self.table[ids], PAD_LEVEL)
        pooled = stored.max(axis=1).astype(np.float64) * self.unit_scale
        lengths = np.maximum(real.sum(axis=1), 1)
        mean_score = self.scores[ids].astype(np.float64).sum(axis=1) / lengths
        cal = self.calibration
        logits = (cal["scale"] * (pooled @ self.kernel.astype(np.float64) + self.bias)
                  + mean_score + cal["bias"] + cal["log_length"] * np.log(lengths))
        return 1.0 / (1.0 + np.exp(-logits))


def token_outputs(model, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every embedding row through the words core's per-token layers: (max-pooled units
    (ids, units), mean-pooled score (ids,)), float64, as Keras computes them for one token."""
    x = embedding.astype(np.float64)
    if "token_hidden" in [layer.name for layer in model.layers]:
        kernel, bias = model.get_layer("token_hidden").get_weights()
        x = np.maximum(x @ kernel + bias, 0.0)
    kernel, bias = model.get_layer("token_dense").get_weights()
    units = np.tanh(x @ kernel + bias)
    kernel, bias = model.get_layer("token_score").get_weights()
    scores = (x @ kernel + bias).reshape(-1)
    if "word_score" in [layer.name for layer in model.layers]:
        scores = scores + model.get_layer("word_score").get_weights()[0].reshape(-1)
    return units, scores


def quantize_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 values with one scale per unit (column): a positive scale commutes with the max,
    so the graph multiplies it into the output weights instead of every step. Row 0 (padding)
    becomes PAD_LEVEL."""
    scale = np.abs(table).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
    q[0] = PAD_LEVEL
    return q, scale.astype(np.float32)


def keras_words_weights(model, embedding: np.ndarray, calibration: dict[str, float]
                        ) -> tuple[WordsWeights, np.ndarray, np.ndarray]:
    """The stored tables and output weights of a words-core Keras model; with the float
    tables (units, scores), for the parity checks."""
    units, scores = token_outputs(model, embedding)
    q, scale = quantize_table(units)
    kernel, bias = model.get_layer("dense").get_weights()
    kernel = kernel.reshape(-1).astype(np.float64)
    stored = (calibration["scale"] * kernel[-1] * scores).astype(np.float16)
    stored[0] = 0.0  # padding adds nothing to the sum
    return WordsWeights(q, scale, kernel[:-1].astype(np.float32), stored, float(bias[0]),
                        calibration), units, scores


def words_graph(weights: WordsWeights):
    """The ModelProto: `token_ids` (n, t) int32, 0 = padding after each text -> `prob` (n,)."""
    from onnx import TensorProto, helper

    cal = weights.calibration
    consts = {
        "table": weights.table,
        "scores": weights.scores,
        "one": np.array(1, np.int32),
        "time_axis": np.array([1], np.int64),
        "kernel": (cal["scale"] * weights.unit_scale.astype(np.float64)
                   * weights.kernel).astype(np.float32),
        "offset": np.array(cal["scale"] * weights.bias + cal["bias"], np.float32),
        "log_length": np.array(cal["log_length"], np.float32),
        "min_length": np.array(1.0, np.float32),
    }
    node = helper.make_node
    nodes = [
        node("Gather", ["table", INPUT], ["steps"]),  # (n, t, units) int8
        node("ReduceMax", ["steps"], ["pooled_q"], axes=[1], keepdims=0),
        node("Cast", ["pooled_q"], ["pooled"], to=TensorProto.FLOAT),
        node("MatMul", ["pooled", "kernel"], ["max_logit"]),
        node("Gather", ["scores", INPUT], ["step_scores_half"]),  # (n, t) float16
        node("Cast", ["step_scores_half"], ["step_scores"], to=TensorProto.FLOAT),
        node("ReduceSum", ["step_scores", "time_axis"], ["score_sum"], keepdims=0),
        node("Min", [INPUT, "one"], ["present"]),
        node("ReduceSum", ["present", "time_axis"], ["lengths"], keepdims=0),
        node("Cast", ["lengths"], ["length"], to=TensorProto.FLOAT),
        node("Max", ["length", "min_length"], ["length_at_least_1"]),
        node("Div", ["score_sum", "length_at_least_1"], ["mean_score"]),
        node("Log", ["length_at_least_1"], ["log_tokens"]),
        node("Mul", ["log_tokens", "log_length"], ["length_term"]),
        node("Sum", ["max_logit", "mean_score", "length_term", "offset"], ["calibrated"]),
        node("Sigmoid", ["calibrated"], [OUTPUT]),
    ]
    return ids_to_prob_model("fast_sentiment", nodes, consts, "bardbot.export.fast")


def parity(model, weights: WordsWeights, units: np.ndarray, scores: np.ndarray,
           ids: np.ndarray, onnx_p: np.ndarray, log=print) -> dict[str, float]:
    """Three checks on `ids` (texts of mixed lengths in one batch):
    - the float tables pooled in numpy against the Keras model's own pooled features (the
      tables are the model: a token's outputs depend on its id alone), to PARITY_TOL;
    - the graph against the stored tables read in numpy (the graph computes the tables'
      model), to PARITY_TOL;
    - the graph against the calibrated Keras model: int8 rounding moves each max-pooled unit
      by at most half its scale and float16 each score by its rounding, so P(positive) moves
      by at most a quarter of the logit's bound; recorded, and past it the export stops."""
    import keras

    pooled_keras = np.asarray(keras.Model(model.inputs, model.get_layer("pooled").output)
                              .predict_on_batch(ids), np.float64)
    real = ids != 0
    lengths = real.sum(axis=1)
    pooled_tables = np.hstack([np.where(real[..., None], units[ids], -np.inf).max(axis=1),
                               (np.where(real, scores[ids], 0.0).sum(axis=1) / lengths)[:, None]])
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("dense").get_weights())
    keras_p = calibrate(weights.calibration, pooled_keras @ kernel.reshape(-1) + bias[0],
                        lengths)
    check = f"({len(ids)} texts of lengths {int(lengths.min())}-{int(lengths.max())})"
    diffs = check_parity("fast", {
        f"per-id tables vs Keras pooled features {check}":
            np.abs(pooled_tables - pooled_keras).max(),
        f"ONNX vs the stored tables in numpy {check}": np.abs(onnx_p - weights.probs(ids)).max(),
    }, log)
    cal_scale = abs(weights.calibration["scale"])
    half = np.abs(weights.scores.astype(np.float64)
                  - weights.calibration["scale"] * kernel[-1, 0] * scores).max()
    bound = (cal_scale * np.abs(weights.kernel * weights.unit_scale).sum() / 2 + half) / 4
    bound += PARITY_TOL
    stored = float(np.abs(onnx_p - keras_p).max())
    log(f"parity ONNX (int8 and float16 tables) vs Keras {check}: max abs diff {stored:.2e} "
        f"(rounding bound {bound:.2e})")
    if not stored <= bound:
        raise UserError(f"fast parity failed: ONNX vs Keras {stored:.2e} > {bound:.2e}")
    return {**diffs, "stored tables vs Keras": stored, "stored tables vs Keras, bound": bound}


def architecture(encoding: WordEncoding, dim: int, units: int, hidden: int) -> str:
    per_token = f"Dense({hidden}, relu) -> " if hidden else ""
    return (f"per-id tables of Embedding({encoding.id_count}x{dim}, frozen"
            f"{', negation-marked ids' if encoding.negation else ''}) -> {per_token}"
            f"[Dense({units}, tanh), int8 | Dense(1), float16] -> [max | mean] over the text's "
            "steps -> Dense(1) -> Platt scaling -> sigmoid")


def read_words_run(run_dir: Path) -> tuple[Path, dict, WordEncoding, dict[str, float]]:
    run, meta = read_run(run_dir, "message")
    core = meta.get("training", {}).get("core", "bilstm")
    if core != "words":
        raise UserError(f"{run}: a {core} run; the fast model comes from a "
                        "`python -m bardbot.trainer message --core words` run (export this "
                        "one with `python -m bardbot.export message`)")
    try:
        encoding = WordEncoding.from_dict(meta["encoding"])
        calibration = {k: float(meta["metrics"]["calibration"].get(k, 0.0))
                       for k in ("scale", "bias", "log_length")}
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding or calibration ({exc})") from exc
    return run, meta, encoding, calibration


def export_fast(cfg: FastExport, log=print) -> tuple[Path, Path]:
    run, meta, encoding, calibration = read_words_run(cfg.run_dir)
    prepare_out_dir(cfg.out_dir)
    register_layers()  # before the model is read
    model = load_keras(run)
    embedding = model.get_layer("embedding").get_weights()[0]
    if embedding.shape[0] != encoding.id_count:
        raise UserError(f"{run}: embedding has {embedding.shape[0]} rows, "
                        f"encoding {encoding.id_count}")
    weights, units, scores = keras_words_weights(model, embedding, calibration)
    proto = words_graph(weights)

    texts, labels, ids = parity_texts(cfg, encoding)
    converted = session(proto)
    onnx_p = converted.run([OUTPUT], {INPUT: ids})[0]
    diffs = parity(model, weights, units, scores, ids, onnx_p, log)
    width = int(weights.table.shape[1])
    described = {
        "architecture": architecture(encoding, int(embedding.shape[1]), width,
                                     meta.get("training", {}).get("token_hidden", 0)),
        "table": {"dtype": "int8+unit scale (max-pooled units), float16 (mean-pooled "
                  "score)", "rows": int(weights.table.shape[0]), "units": width},
        "graph": {"nodes": len(proto.graph.node)},
    }
    return write_export(cfg, "fast", proto, converted, (texts, labels), ids, onnx_p, diffs,
                        meta, encoding, calibration, described, log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_dir_argument(parser, "message --core words")
    add_out_argument(parser)
    add_test_set_arguments(parser)


def config_from_args(args: argparse.Namespace) -> FastExport:
    return FastExport(args.run_dir, args.out, imdb=args.imdb, eval_limit=args.eval_limit,
                      command=args.command_line)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return export_fast(config_from_args(args))

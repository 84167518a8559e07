"""Export a `message` run: token ids of any length in, P(positive) out, each text's own steps.

The graph is written node by node from the trained weights (export/message_graph.py): one fused
ONNX `LSTM` op given each text's length as `sequence_lens` (tf2onnx would turn the masked Keras
LSTM into a slow generic `Loop`, see TOOLCHAIN.md), pooling that skips padded steps, and the
validation-fitted Platt scaling. Parity is checked against the masked Keras model on texts of
mixed lengths in one batch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import data
from bardbot.export.evaluate import MEASURE_BUDGET_S, SNIPPETS, evaluate_classifier
from bardbot.export.message_graph import (
    MessageWeights,
    message_graph,
    onnx_lstm_weights,
    weights_of_graph,
)
from bardbot.export.onnx_io import (
    add_out_argument,
    add_run_dir_argument,
    add_test_set_arguments,
    check_parity,
    load_keras,
    provenance,
    session,
    write_checked,
)
from bardbot.models.emoji_ranking import shipped_ranking
from bardbot.models.metadata import MODELS_DIR, SHIPPED
from bardbot.models.sampling import PROB_FLOOR
from bardbot.models.sentiment import INPUT, OUTPUT, SentimentClassifier
from bardbot.models.text import WordEncoding
from bardbot.trainer.message import calibrate, negation_matrix, register_layers
from bardbot.trainer.message_data import valence_columns
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run


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


def keras_weights(model, q: np.ndarray, scale: np.ndarray, calibration: dict[str, float],
                  valence_column: int | None, negation: bool) -> MessageWeights:
    """The graph's weights from the Keras model: its LSTM direction(s) and Dense layer."""
    layers = [layer.name for layer in model.layers]
    if "bilstm" in layers:
        bi = model.get_layer("bilstm")
        lstms = [bi.forward_layer, bi.backward_layer]
    else:
        lstms = [model.get_layer("lstm")]
    w, r, b = onnx_lstm_weights([tuple(lstm.get_weights()) for lstm in lstms])
    kernel, bias = model.get_layer("dense").get_weights()
    return MessageWeights(q, scale, w, r, b, kernel.reshape(-1).astype(np.float32),
                          float(bias[0]), calibration, negation, valence_column)


def architecture(model, encoding: WordEncoding, dim: int) -> str:
    layers = [layer.name for layer in model.layers]
    bidirectional = "bilstm" in layers
    lstm = model.get_layer("bilstm").forward_layer if bidirectional else model.get_layer("lstm")
    return (f"Embedding({encoding.id_count}x{dim}, frozen, int8 rows"
            f"{', negation-marked ids' if encoding.negation else ''}) -> "
            f"{'Bi' if bidirectional else ''}LSTM({lstm.units}, sequence_lens) -> "
            "masked max pooling -> Dense(1) -> Platt scaling -> sigmoid")


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
    if meta.get("training", {}).get("core", "bilstm") != "bilstm":
        raise UserError(f"{run}: a words-core run; export it with "
                        "`python -m bardbot.export fast RUN_DIR`")
    prepare_out_dir(cfg.out_dir)
    try:
        encoding = WordEncoding.from_dict(meta["encoding"])
        calibration = {k: float(meta["metrics"]["calibration"].get(k, 0.0))
                       for k in ("scale", "bias", "log_length")}
        valence = valence_columns(meta["vectors"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding, calibration or vectors ({exc})"
                        ) from exc
    register_layers()  # before the model is read
    model = load_keras(run)
    embedding = model.get_layer("embedding").get_weights()[0].astype(np.float32)
    if embedding.shape[0] != encoding.id_count:
        raise UserError(f"{run}: embedding has {embedding.shape[0]} rows, "
                        f"encoding {encoding.id_count}")
    # Only the plain rows are stored; negated ones are computed from them in the graph.
    plain = embedding[: encoding.vocab_size, : embedding.shape[1] - encoding.negation]
    q, scale = quantize_rows(plain)
    proto = message_graph(keras_weights(model, q, scale, calibration, valence,
                                        encoding.negation))

    texts, labels, ids = parity_texts(cfg, encoding)
    # The masked Keras model with the embedding the file stores (int8 rows times their scale).
    stored = q.astype(np.float32) * scale[:, None]
    if encoding.negation:
        stored = negation_matrix(stored, valence)
    model.get_layer("embedding").set_weights([stored])
    converted = session(proto)
    onnx_p = converted.run([OUTPUT], {INPUT: ids})[0]
    diff = parity_with_keras(model, calibration, ids, onnx_p, log)
    described = {
        "architecture": architecture(model, encoding, embedding.shape[1]),
        "embedding": {"dtype": "int8+row scale", "rows": encoding.vocab_size,
                      "dim": int(embedding.shape[1])},
    }
    return write_export(cfg, "message", proto, converted, (texts, labels), ids, onnx_p, diff,
                        meta, encoding, calibration, described, log)


def parity_texts(cfg: MessageExport, encoding: WordEncoding
                 ) -> tuple[list[str], list[int], np.ndarray]:
    """The aclImdb test reviews and labels (none when the archive is not found) and the id
    batch that parity is checked on, drawn from them."""
    imdb_path = data.find(data.IMDB_ARCHIVE, cfg.imdb, cfg.search_data)
    texts: list[str] = []
    labels: list[int] = []
    if imdb_path is not None:
        texts, labels = data.imdb_test(imdb_path, cfg.eval_limit)
    sample = texts or ["a fine film", "dull and far too long", "not bad at all :)"]
    return texts, labels, parity_batch(encoding, sample, cfg.parity_samples)


def write_export(cfg: MessageExport, name: str, proto, converted, test: tuple[list, list],
                 ids: np.ndarray, onnx_p: np.ndarray, diff: float, meta: dict,
                 encoding: WordEncoding, calibration: dict[str, float], described: dict,
                 log=print) -> tuple[Path, Path]:
    """Writes NAME.onnx + .json of a message-style model (ids of any length -> P(positive)),
    with `described` (architecture, weights' layout) and the metrics measured through the
    runtime's own scoring (empty texts, batching) on the converted graph, so the pair is
    written once, with its metrics."""
    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "history"}
    out_meta = {
        "name": name,
        "encoding": encoding.to_dict(),
        "threshold": 0.5,
        "uncertain_margin": SentimentClassifier.uncertain_margin,
        "calibration": {**calibration, "meaning": "P = sigmoid(scale * logit + bias + "
                        "log_length * log(tokens)), fitted on the validation split"},
        "inputs": {INPUT: {"dtype": "int32", "shape": [None, None]}},
        "outputs": {OUTPUT: {"dtype": "float32", "shape": [None], "meaning": "P(positive)"}},
        **described,
        "vectors": meta.get("vectors"),
        "params": meta.get("params"),
        "data": meta.get("data"),
        "metrics": {"training": train_metrics,
                    "export": {"parity_max_abs_diff": diff, "parity_texts": len(ids)}},
        **provenance(meta, cfg.command),
    }
    runtime = SentimentClassifier(converted, encoding, out_meta["threshold"],
                                  {"name": name, "variable_length": True}, shipped_ranking())
    runtime.text_budget_s = MEASURE_BUDGET_S
    snippets = data.find(SNIPPETS, None, cfg.search_data)
    out_meta["metrics"]["export"].update(evaluate_classifier(runtime, test, snippets, log=log))

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


def rebuild_message_file(onnx_path: Path, log=print, command: str | None = None
                         ) -> tuple[Path, Path]:
    """Rewrite an exported message model (NAME.onnx + NAME.json) in place with this exporter's
    graph: the same weights read back from the file, so the same scores (checked to 1e-6 on
    the behavioural suite's texts, one at a time and in one batch); the JSON gains the new
    sha256. A file that fails the check is put back as it was."""
    import json

    import onnx
    from bardbot.export.seal import dump_json, sealed
    from bardbot.export.suite import build_cases
    from bardbot.models.metadata import sha256_hex

    onnx_path = Path(onnx_path)
    json_path = onnx_path.with_suffix(".json")
    before = SentimentClassifier.load(onnx_path)  # verifies the pair first
    if not before.variable_length:
        raise UserError(f"{onnx_path}: not a message model (fixed-length input)")
    meta = json.loads(json_path.read_text(encoding="utf-8"))
    weights = weights_of_graph(onnx.load(onnx_path), meta["calibration"],
                               before.encoding.negation, valence_columns(meta["vectors"]))
    proto = message_graph(weights)
    data = proto.SerializeToString()
    meta["sha256"] = sha256_hex(data)
    meta["graph"] = {"nodes": len(proto.graph.node), "rebuilt_by": command}
    old = (onnx_path.read_bytes(), json_path.read_bytes())
    for path, payload in ((onnx_path, data), (json_path, dump_json(sealed(meta)))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        tmp.replace(path)
    try:
        after = SentimentClassifier.load(onnx_path)
        texts = [case.text for case in build_cases()]
        together = np.abs(after.score_texts(texts) - before.score_texts(texts)).max()
        alone = max(abs(after.score_texts([t])[0] - before.score_texts([t])[0]) for t in texts)
        check_parity("message", {f"rebuilt vs before, {len(texts)} suite texts in one batch":
                                 together, "the same texts one at a time": alone}, log)
        if max(together, alone) > 1e-6:
            raise UserError(f"{onnx_path}: the rebuilt graph's scores differ by "
                            f"{max(together, alone):.1e} (> 1e-6)")
    except Exception:
        onnx_path.write_bytes(old[0])
        json_path.write_bytes(old[1])
        raise
    log(f"rewrote {onnx_path} ({len(proto.graph.node)} nodes) and {json_path}")
    return onnx_path, json_path

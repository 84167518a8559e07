"""Export a bard run: the step model (tf2onnx) with its generation loop, as models/bard.onnx.

The step model has the same interface as the reference's (char ids + (h, c) in, probs + new
(h, c) out), so one runtime serves both; for a stacked LSTM, h and c are the layers' states
side by side ([batch, layers * units]). Checks: the ONNX step model against Keras on held-out
text (every position, and with the state carried across a cut), the loop against the step
model (same seed, same chars), and the runtime's held-out loss over the whole held-out text.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import generator, onnx_io
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.shakespeare import INPUTS, OUTPUTS, ShakespeareGenerator
from bardbot.models.text import CharEncoding
from bardbot.trainer.data import split_heldout
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run

# float16 weights may cost at most this much held-out loss (nats/char), else float32 ships.
FP16_TOLERANCE = 0.002
NAME = "bard"


@dataclass
class BardExport:
    run_dir: Path
    out_dir: Path = MODELS_DIR
    text: str | None = None  # tinyshakespeare.txt for parity and the held-out loss
    weights: str = "auto"  # "auto" | "float16" | "float32"
    command: str | None = None
    name: str = NAME  # file stem: bard.onnx, or bard-chat.onnx for a bard-topics run


def build_step_function(model):
    import keras
    import tensorflow as tf
    from bardbot.trainer.bard import model_shape

    units, layers = model_shape(model)
    table = model.get_layer("embed").get_weights()[0]
    lstms = []
    for i in range(layers):
        trained = model.get_layer(f"lstm{i}")
        lstm = keras.layers.LSTM.from_config({**trained.get_config(), "name": f"step_lstm{i}",
                                              "return_sequences": True, "return_state": True})
        lstm.build((None, None, table.shape[1] if i == 0 else units))
        lstm.set_weights(trained.get_weights())
        lstms.append(lstm)
    kernel, bias = model.get_layer("dense").get_weights()
    width = units * layers

    @tf.function(input_signature=[
        tf.TensorSpec([None, None], tf.int64, name="char_ids"),
        tf.TensorSpec([None, width], tf.float32, name="h"),
        tf.TensorSpec([None, width], tf.float32, name="c"),
    ])
    def step(ids, h, c):
        # A Gather of the embedding rows (no OneHot): portable and cheaper.
        x = tf.gather(tf.constant(table), ids)
        hs, cs = tf.split(h, layers, axis=1), tf.split(c, layers, axis=1)
        h_out, c_out = [], []
        for lstm, h0, c0 in zip(lstms, hs, cs, strict=True):
            x, h1, c1 = lstm(x, initial_state=[h0, c0])
            h_out.append(h1)
            c_out.append(c1)
        logits = tf.matmul(x, tf.constant(kernel)) + tf.constant(bias)
        return {"probs": tf.nn.softmax(logits), "h_out": tf.concat(h_out, 1),
                "c_out": tf.concat(c_out, 1)}

    return step


def to_float16(proto, min_size: int = 1024):
    """Large float initializers stored as float16, each Cast back to float32 at load (the
    session folds the Casts, so it runs in float32 at the same speed)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph, casts, kept = out.graph, [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and array.size >= min_size:
            kept.append(numpy_helper.from_array(array.astype(np.float16), init.name + "/fp16"))
            casts.append(helper.make_node("Cast", [init.name + "/fp16"], [init.name],
                                          to=TensorProto.FLOAT))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(out)
    return out


def from_float16(proto):
    """The inverse of `to_float16`: each Cast-back float16 initializer as float32 again."""
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    stored = {init.name: init for init in graph.initializer if init.name.endswith("/fp16")}
    casts = [node for node in graph.node
             if node.op_type == "Cast" and node.input[0] in stored
             and node.output[0] + "/fp16" == node.input[0]]
    inits = [numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32),
                                     init.name[: -len("/fp16")])
             if init.name in stored else init for init in graph.initializer]
    nodes = [node for node in graph.node if node not in casts]
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(inits)
    graph.node.extend(nodes)
    return out


def _keras_probs(model, ids: np.ndarray, states=None):
    """Keras' P(next char) after every id (softmax of its logits, in float64)."""
    from bardbot.trainer.bard import model_shape

    units, layers = model_shape(model)
    if states is None:
        states = [np.zeros((len(ids), units), np.float32)] * (2 * layers)
    logits, *new = model.predict_on_batch([ids.astype(np.int32), *states])
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True), new


def choose_weights(candidates: dict, out_meta: dict, held: str, requested: str, log,
                   name: str = NAME) -> tuple[str, dict[str, float]]:
    """The runtime's held-out loss with each candidate's weights; float16 ships when asked
    for, or (`auto`) when it costs at most FP16_TOLERANCE over float32."""
    losses, chosen = {}, "float32"
    for dtype, proto in candidates.items():
        with onnx_io.staged("shakespeare", proto, out_meta, name=name) as paths:
            losses[dtype] = ShakespeareGenerator.load(paths[0]).loss(held)
            log(f"{dtype} weights: runtime held-out loss {losses[dtype]:.4f} nats/char over "
                f"{len(held) - 1:,} chars ({paths[0].stat().st_size / 1e6:.2f} MB)")
        forced = requested == dtype
        if dtype == "float32" or forced or losses[dtype] <= losses["float32"] + FP16_TOLERANCE:
            chosen = dtype
    return chosen, losses


def export_bard(cfg: BardExport, log=print) -> tuple[Path, Path]:
    from bardbot.trainer.bard import find_text, model_shape

    if cfg.weights not in ("auto", "float16", "float32"):
        raise UserError("--weights must be auto, float16 or float32")
    run, meta = read_run(cfg.run_dir, "bard")
    prepare_out_dir(cfg.out_dir)
    encoding = CharEncoding.from_dict(meta["encoding"])
    model = onnx_io.load_keras(run)
    units, layers = model_shape(model)
    width = units * layers
    n_chars = encoding.size

    step = onnx_io.convert(build_step_function(model))
    onnx_io.check_graph(step, {"char_ids": 2, "h": 2, "c": 2}, set(OUTPUTS), "bard step",
                        lstms=layers)
    text_path = find_text(cfg.text)
    _, held = split_heldout(encoding.encode(text_path.read_text(encoding="utf-8")),
                            float(meta.get("data", {}).get("heldout_fraction", 0.1)))
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(held) - 200, 16)
    ids = np.stack([held[s:s + 200] for s in starts]).astype(np.int64)
    keras_probs, _ = _keras_probs(model, ids)
    sess = onnx_io.session(step)
    zeros = np.zeros((len(ids), width), np.float32)
    probs, _, _ = sess.run(list(OUTPUTS), {"char_ids": ids, "h": zeros, "c": zeros})
    _, h1, c1 = sess.run(list(OUTPUTS), {"char_ids": ids[:, :100], "h": zeros, "c": zeros})
    split = sess.run(["probs"], {"char_ids": ids[:, 100:], "h": h1, "c": c1})[0]
    checks = onnx_io.check_parity("bard", {
        "step_every_position_vs_keras": np.abs(probs - keras_probs).max(),
        "step_state_carried_vs_one_pass": np.abs(split - probs[:, 100:]).max(),
    }, log)

    full = generator.add_generation_loop(step)
    candidates = {"float32": full}
    if cfg.weights in ("auto", "float16"):
        candidates["float16"] = to_float16(full)
    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "evals"}
    out_meta = {
        "encoding": encoding.to_dict(),
        "window": int(meta.get("training", {}).get("seq", 100)),
        "objective": "every",
        "hidden": width,
        "units": units,
        "layers": layers,
        "mode": "stateful",
        "mode_reason": "trained statefully (truncated BPTT, state carried between steps)",
        "inputs": {name: {"dtype": dtype, "shape": [None, None] if name == "char_ids"
                          else [None, width]} for name, dtype in INPUTS.items()},
        "outputs": {
            "probs": {"dtype": "float32", "shape": [None, None, n_chars],
                      "meaning": "P(next char) after each input char"},
            "h_out": {"dtype": "float32", "shape": [None, width]},
            "c_out": {"dtype": "float32", "shape": [None, width]},
            **generator.LOOP_OUTPUTS_META,
        },
        "generation": generator.LOOP_META,
        "architecture": (f"Embedding({n_chars}, {model.get_layer('embed').output_dim}) -> "
                         f"{layers} x LSTM({units}) -> Dense({n_chars}, softmax)"),
        "params": meta.get("params"),
        "metrics": {"training": train_metrics, "curve": meta.get("metrics", {}).get("evals"),
                    "export": {"parity": checks}},
        "samples": meta.get("samples"),
        **({"topics": meta["topics"]} if "topics" in meta else {}),
        **onnx_io.provenance(meta, cfg.command),
    }
    chosen, losses = choose_weights(candidates, out_meta, encoding.decode(held), cfg.weights,
                                    log, cfg.name)
    proto = candidates[chosen]
    out_meta["weights"] = chosen
    out_meta["metrics"]["export"].update(
        heldout_loss_onnx_stateful=round(losses[chosen], 6),
        heldout_loss_by_weights={k: round(v, 6) for k, v in losses.items()},
        heldout_chars=len(held) - 1)

    def check(onnx_path: Path) -> dict:
        gen = ShakespeareGenerator.load(onnx_path)
        return {"loop_equals_step_loop": generator.check_loop(gen, log)}

    return onnx_io.write_checked(cfg.out_dir, "shakespeare", proto, out_meta, check,
                                 name=cfg.name, log=log, note=f"{chosen} weights, ")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = BardExport
    onnx_io.add_run_dir_argument(parser, "bard")
    onnx_io.add_out_argument(parser)
    parser.add_argument("--text", default=d.text, metavar="PATH",
                        help="tinyshakespeare.txt (default: search the data folders)")
    parser.add_argument("--weights", default=d.weights, choices=("auto", "float16", "float32"),
                        help="how the weights are stored (default auto: float16 if it costs <= "
                             f"{FP16_TOLERANCE} nats/char of held-out loss, else float32)")
    parser.add_argument("--name", default=d.name, metavar="STEM",
                        help="file names STEM.onnx + STEM.json (default: bard; the chat bard of a "
                             "`trainer bard-topics` run: bard-chat)")


def config_from_args(args: argparse.Namespace) -> BardExport:
    return BardExport(args.run_dir, args.out, args.text, args.weights, args.command_line,
                      args.name)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return export_bard(config_from_args(args))

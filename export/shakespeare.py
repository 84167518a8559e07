"""Export a Shakespeare run: the step model the runtime uses, and the windowed model.

Step model: char ids (batch, T) + LSTM state (h, c) -> next-char probabilities after every id
(batch, T, n_chars) + the new state. It is the trained LSTM/Dense weights in a Keras LSTM with
return_state over the given ids, so one graph serves the prompt (T = its length) and each new
char (T = 1). The windowed model (batch, window, n_chars) one-hot -> probabilities is the
trained model as is; only the benchmark uses it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.export import data, generator, onnx_io
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.shakespeare import INPUTS, OUTPUTS, ShakespeareGenerator
from bardbot.models.text import CharEncoding
from bardbot.trainer.data import split_heldout
from bardbot.trainer.runs import UserError, prepare_out_dir, read_run

WINDOW_INPUT, WINDOW_OUTPUT = "window", "probs"
# Running statefully may cost at most this much held-out loss (nats/char) over the training
# windows; more, and the runtime predicts each char from the last `window` chars instead.
STATEFUL_TOLERANCE = 0.01


@dataclass
class ShakespeareExport:
    run_dir: Path
    out_dir: Path = MODELS_DIR
    mode: str = "auto"  # "auto" | "stateful" | "windowed"
    text: str | None = None  # real text for parity (gutenberg.zip or a .txt); None = search
    search_data: bool = True  # False: use only an explicit `text` (tests)
    windowed_out: Path | None = None  # also write the windowed model here (.onnx)
    parity_windows: int = 64
    heldout_check: bool = True  # score the held-out text with the runtime (needs real text)
    command: str | None = None  # the export command line, recorded in the JSON


def build_step_function(model, n_chars: int):
    import keras
    import tensorflow as tf

    trained = model.get_layer("lstm")
    config = {**trained.get_config(), "return_sequences": True, "return_state": True,
              "name": "lstm_step"}
    lstm = keras.layers.LSTM.from_config(config)
    lstm.build((None, None, n_chars))
    lstm.set_weights(trained.get_weights())
    kernel, bias = model.get_layer("dense").get_weights()
    units = trained.units

    @tf.function(input_signature=[
        tf.TensorSpec([None, None], tf.int64, name="char_ids"),
        tf.TensorSpec([None, units], tf.float32, name="h"),
        tf.TensorSpec([None, units], tf.float32, name="c"),
    ])
    def step(ids, h, c):
        seq, h_out, c_out = lstm(tf.one_hot(ids, n_chars, dtype=tf.float32), initial_state=[h, c])
        # The Dense layer as one MatMul on the 3-D sequence: Keras' own 3-D Dense becomes eight
        # shape-juggling ONNX nodes, which cost ~3 us on every generated char.
        logits = tf.matmul(seq, tf.constant(kernel)) + tf.constant(bias)
        return {"probs": tf.nn.softmax(logits), "h_out": h_out, "c_out": c_out}

    return step


def build_window_function(model, window: int, n_chars: int, every_step: bool):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, window, n_chars], tf.float32,
                                                name=WINDOW_INPUT)])
    def windowed(x):
        probs = model(x, training=False)
        return {WINDOW_OUTPUT: probs[:, -1, :] if every_step else probs}

    return windowed


def _real_texts(encoding: CharEncoding, text_path, search: bool, max_chars: int | None = None
                ) -> tuple[list, str | None]:
    """Id arrays of the real texts (the plays, each cut to the run's --max-chars as the trainer
    cut them), or [] when none is found."""
    path = data.find(data.GUTENBERG_ARCHIVE, text_path, search)
    if path is None:
        return [], None
    return [encoding.encode(text[:max_chars]) for text in data.plays_texts(path)], path.name


def _parity_windows(texts: list, window: int, count: int) -> np.ndarray | None:
    rng = np.random.default_rng(0)
    ids = np.concatenate(texts) if texts else np.zeros(0, dtype=np.int64)
    if len(ids) <= window + 1:
        return None
    starts = rng.integers(0, len(ids) - window, count)
    return np.stack([ids[s : s + window] for s in starts]).astype(np.int64)


def heldout_loss(gen: ShakespeareGenerator, texts: list, heldout: float) -> float:
    """The runtime's nats/char on the held-out end of each text, split as the trainer does."""
    total, count = 0.0, 0
    for ids in texts:
        _, held = split_heldout(ids, heldout)
        if len(held) >= 2:
            total += gen.loss(gen.encoding.decode(held)) * (len(held) - 1)
            count += len(held) - 1
    return total / count if count else float("nan")


def _choose_mode(requested: str, meta: dict) -> tuple[str, str]:
    if requested != "auto":
        return requested, "chosen on the command line"
    metrics = meta.get("metrics", {})
    windowed = metrics.get("heldout_loss_windowed")
    # Compare on the positions the windowed loss scores (each has a full window before it).
    stateful = metrics.get("heldout_loss_stateful_same_positions",
                           metrics.get("heldout_loss_stateful"))
    if windowed is None or stateful is None:
        return "stateful", "the run recorded no stateful-vs-windowed comparison"
    reason = (f"held-out loss stateful {stateful:.4f} vs windowed {windowed:.4f} nats/char "
              f"(tolerance {STATEFUL_TOLERANCE})")
    return ("stateful" if stateful <= windowed + STATEFUL_TOLERANCE else "windowed"), reason


def parity_checks(model, encoding: CharEncoding, step_sess, window_sess, ids: np.ndarray,
                  every_step: bool, log) -> tuple[dict, np.ndarray]:
    """Both graphs against Keras on the parity windows `ids` (the step model also with its
    state carried across a cut); returns the checked differences and Keras' last-char
    probabilities."""
    one_hot = encoding.one_hot(ids)
    keras_probs = model.predict(one_hot, verbose=0)
    keras_last = keras_probs[:, -1, :] if every_step else keras_probs
    zeros = np.zeros((len(ids), model.get_layer("lstm").units), dtype=np.float32)
    step_probs, _, _ = step_sess.run(list(OUTPUTS), {"char_ids": ids, "h": zeros, "c": zeros})
    # The same windows in two pieces, carrying the state across: must equal one pass.
    cut = ids.shape[1] // 2
    _, h1, c1 = step_sess.run(list(OUTPUTS), {"char_ids": ids[:, :cut], "h": zeros, "c": zeros})
    split_probs = step_sess.run(["probs"], {"char_ids": ids[:, cut:], "h": h1, "c": c1})[0]
    (window_probs,) = window_sess.run([WINDOW_OUTPUT], {WINDOW_INPUT: one_hot})
    checks = {
        "windowed_onnx_vs_keras": np.abs(window_probs - keras_last).max(),
        "step_from_zero_state_vs_keras_window": np.abs(step_probs[:, -1] - keras_last).max(),
        "step_state_carried_vs_one_pass": np.abs(split_probs[:, -1] - step_probs[:, -1]).max(),
    }
    if every_step:
        checks["step_every_position_vs_keras"] = np.abs(step_probs - keras_probs).max()
    checks = onnx_io.check_parity("shakespeare", checks, log)
    return checks, keras_last


def check_runtime(gen: ShakespeareGenerator, ids: np.ndarray, keras_last: np.ndarray,
                  texts: list, meta: dict, log) -> dict:
    """The runtime scores a parity window like Keras did, its one-run loop draws what the step
    loop draws, and on the trainer's `texts` it reproduces the trainer's held-out loss."""
    if not np.abs(gen.next_char_probs(ids)[-1] - keras_last).max() <= onnx_io.PARITY_TOL:
        raise UserError("shakespeare: runtime output differs from Keras")
    measured = {}
    if gen.has_loop:
        measured["loop_equals_step_loop"] = generator.check_loop(gen, log)
    if texts:
        loss = heldout_loss(gen, texts, float(meta["data"].get("heldout_fraction", 0.1)))
        trained = meta.get("metrics", {}).get("heldout_loss_stateful")
        log(f"runtime held-out loss {loss:.4f} nats/char (trainer, stateful Keras: {trained})")
        measured["heldout_loss_onnx_stateful"] = round(loss, 6)
    return measured


def export_shakespeare(cfg: ShakespeareExport, log=print) -> tuple[Path, Path]:
    if cfg.mode not in ("auto", "stateful", "windowed"):
        raise UserError("--mode must be auto, stateful or windowed")
    run, meta = read_run(cfg.run_dir, "shakespeare")
    prepare_out_dir(cfg.out_dir)
    try:
        encoding = CharEncoding.from_dict(meta["encoding"])
        window = int(meta["window"])
        every_step = meta.get("objective", "last") == "every"
    except (KeyError, ValueError) as exc:
        raise UserError(f"{run}/meta.json: bad encoding or window ({exc})") from exc
    model = onnx_io.load_keras(run)
    n_chars, units = encoding.size, model.get_layer("lstm").units
    if model.get_layer("dense").units != n_chars:
        raise UserError(f"{run}: model has {model.get_layer('dense').units} outputs, "
                          f"the char set {n_chars}")

    step_proto = onnx_io.convert(build_step_function(model, n_chars))
    onnx_io.check_graph(step_proto, {"char_ids": 2, "h": 2, "c": 2}, set(OUTPUTS),
                        "shakespeare step")
    window_proto = onnx_io.convert(build_window_function(model, window, n_chars, every_step))
    onnx_io.check_graph(window_proto, {WINDOW_INPUT: 3}, {WINDOW_OUTPUT}, "shakespeare windowed")
    step_sess, window_sess = onnx_io.session(step_proto), onnx_io.session(window_proto)

    run_data = meta.get("data", {})
    texts, source = _real_texts(encoding, cfg.text, cfg.search_data, run_data.get("max_chars"))
    ids = _parity_windows(texts, window, cfg.parity_windows)
    if ids is None:
        source = "random chars"
        ids = np.random.default_rng(0).integers(0, n_chars, (cfg.parity_windows, window))
    log(f"parity on {len(ids)} windows of {source}")
    checks, keras_last = parity_checks(model, encoding, step_sess, window_sess, ids, every_step,
                                       log)

    mode, reason = _choose_mode(cfg.mode, meta)
    log(f"generation mode: {mode} ({reason})")
    if mode == "stateful":  # one run draws all new chars (export/generator.py)
        step_proto = generator.add_generation_loop(step_proto)
    train_metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "history"}
    out_meta = {
        "encoding": encoding.to_dict(),
        "window": window,
        "step": meta.get("step"),
        "objective": meta.get("objective", "last"),
        "hidden": units,
        "mode": mode,
        "mode_reason": reason,
        "inputs": {name: {"dtype": dtype, "shape": [None, None] if name == "char_ids"
                          else [None, units]} for name, dtype in INPUTS.items()},
        "outputs": {
            "probs": {"dtype": "float32", "shape": [None, None, n_chars],
                      "meaning": "P(next char) after each input char"},
            "h_out": {"dtype": "float32", "shape": [None, units]},
            "c_out": {"dtype": "float32", "shape": [None, units]},
            **(generator.LOOP_OUTPUTS_META if mode == "stateful" else {}),
        },
        **({"generation": generator.LOOP_META} if mode == "stateful" else {}),
        "architecture": f"one-hot({n_chars}) -> LSTM({units}) -> Dense({n_chars}, softmax)",
        "params": meta.get("params"),
        "metrics": {"training": train_metrics,
                    "export": {"parity": checks, "parity_samples": f"{len(ids)} windows "
                               f"of {window} chars ({source})"}},
        **onnx_io.provenance(meta, cfg.command),
    }
    if cfg.windowed_out is not None:
        Path(cfg.windowed_out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.windowed_out).write_bytes(window_proto.SerializeToString())
        log(f"wrote the windowed model to {cfg.windowed_out}")
    # Same texts and split as the trainer: the runtime must reproduce its held-out loss.
    same_texts = bool(texts) and cfg.heldout_check and run_data.get("texts") == list(data.PLAYS)

    def check(onnx_path: Path) -> dict:
        return check_runtime(ShakespeareGenerator.load(onnx_path), ids[0], keras_last[0],
                             texts if same_texts else [], meta, log)

    return onnx_io.write_checked(cfg.out_dir, "shakespeare", step_proto, out_meta, check, log=log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ShakespeareExport
    onnx_io.add_run_dir_argument(parser, "shakespeare")
    onnx_io.add_out_argument(parser)
    parser.add_argument("--mode", default=d.mode, choices=("auto", "stateful", "windowed"),
                        help="how the runtime generates: stateful (carry the state, O(1) per "
                             "char) or windowed (re-read the last window per char, like the "
                             "reference); auto: stateful unless the run measured it worse than "
                             "windowed")
    parser.add_argument("--text", default=d.text, metavar="PATH",
                        help="gutenberg.zip or a .txt for the parity windows (default: search "
                             "the data folders for gutenberg.zip, else random chars)")
    parser.add_argument("--windowed-out", type=Path, default=d.windowed_out, metavar="FILE",
                        help="also write the windowed model (for bench/) to this .onnx path")


def config_from_args(args: argparse.Namespace) -> ShakespeareExport:
    return ShakespeareExport(args.run_dir, args.out, mode=args.mode, text=args.text,
                             windowed_out=args.windowed_out, command=args.command_line)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return export_shakespeare(config_from_args(args))

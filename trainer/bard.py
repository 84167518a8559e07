"""The bard: a (stacked) character LSTM on tinyshakespeare, case kept, truncated BPTT.

The training text (the first 90 %) is cut into `batch` parallel streams; every step trains on
the next `seq` chars of each stream, starting from the LSTM state the previous step ended in
(gradients stop at the step boundary), so the model learns from context far longer than one
sequence and is trained exactly the way it generates: statefully, one char after another.
The held-out loss (the last 10 %) is measured every `eval_every` steps by running the held-out
text through the model statefully; the best weights are kept, and training stops when that
loss has not improved for `patience` evaluations, after `max_steps` (when given) or after
`max_minutes`. The cosine learning-rate schedule runs over `max_steps` when given, so such a run
gives the same weights however fast the machine is; else over `max_minutes`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from bardbot.models.sampling import sample_index
from bardbot.models.text import CharEncoding
from bardbot.trainer import fit, runs
from bardbot.trainer.config import BardConfig
from bardbot.trainer.data import split_heldout
from bardbot.trainer.runs import UserError

EVAL_STREAMS = 16  # held-out text cut into this many streams, each run from a zero state


def build_model(n_chars: int, units: int, layers: int = 1, embed: int = 64,
                dropout: float = 0.0):
    """ids + (h, c) per layer -> logits after every id + the new (h, c) per layer."""
    import keras

    ids = keras.Input((None,), dtype="int32", name="char_ids")
    x = keras.layers.Embedding(n_chars, embed, name="embed")(ids)
    states_in, states_out = [], []
    for i in range(layers):
        h, c = keras.Input((units,), name=f"h{i}"), keras.Input((units,), name=f"c{i}")
        states_in += [h, c]
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"drop{i}")(x)
        x, h_out, c_out = keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                            name=f"lstm{i}")(x, initial_state=[h, c])
        states_out += [h_out, c_out]
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"drop{layers}")(x)
    logits = keras.layers.Dense(n_chars, name="dense")(x)
    return keras.Model([ids, *states_in], [logits, *states_out], name="bard")


def model_shape(model) -> tuple[int, int]:
    """(units, layers) of a model made by `build_model`."""
    lstms = [layer for layer in model.layers if layer.name.startswith("lstm")]
    return lstms[0].units, len(lstms)


def streams(ids: np.ndarray, n: int) -> np.ndarray:
    """`ids` cut into `n` equal contiguous rows (the tail that does not divide is dropped)."""
    length = len(ids) // n
    return ids[: n * length].reshape(n, length)


def find_text(text: str | None) -> Path:
    from bardbot.trainer.data import data_search_dirs

    if text is not None:
        path = Path(text).expanduser()
        if not path.is_file():
            raise UserError(f"--text {text} does not exist; give tinyshakespeare.txt")
        return path
    for folder in data_search_dirs():
        if (folder / "tinyshakespeare.txt").is_file():
            return folder / "tinyshakespeare.txt"
    raise UserError("tinyshakespeare.txt not found in $BARDBOT_DATA, ./data or ../shared/data; "
                    "give --text FILE")


class Trainer:
    """The model, its optimizer and compiled train/eval steps."""

    def __init__(self, cfg: BardConfig, n_chars: int) -> None:
        import keras
        import tensorflow as tf

        self.cfg = cfg
        self.model = build_model(n_chars, cfg.units, cfg.layers, cfg.embed, cfg.dropout)
        self.optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        model, optimizer, clip = self.model, self.optimizer, cfg.clip
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

        @tf.function(reduce_retracing=True)
        def train_step(x, y, states):
            with tf.GradientTape() as tape:
                logits, *new = model([x, *states], training=True)
                loss = tf.reduce_mean(ce(y, logits))
            grads = tape.gradient(loss, model.trainable_variables)
            grads, _ = tf.clip_by_global_norm(grads, clip)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss, new

        @tf.function(reduce_retracing=True)
        def eval_step(x, y, states):
            logits, *new = model([x, *states], training=False)
            return tf.reduce_sum(ce(y, logits)), new

        self.train_step, self.eval_step = train_step, eval_step

    def zero_states(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, self.cfg.units), np.float32)] * (2 * self.cfg.layers)

    def heldout_loss(self, ids: np.ndarray, chunk: int = 256) -> float:
        """nats/char of held-out `ids` run statefully in EVAL_STREAMS streams."""
        rows = streams(ids, min(EVAL_STREAMS, max(1, len(ids) // 2)))
        states, total = self.zero_states(len(rows)), 0.0
        for i in range(0, rows.shape[1] - 1, chunk):
            x = rows[:, i : min(i + chunk, rows.shape[1] - 1)]
            y = rows[:, i + 1 : i + 1 + x.shape[1]]
            loss, states = self.eval_step(x.astype(np.int32), y.astype(np.int32), states)
            total += float(loss)
        return total / (rows.shape[0] * (rows.shape[1] - 1))


def generate(model, encoding: CharEncoding, prompt: str, length: int, temperature: float,
             seed: int) -> str:
    """Stateful sampling with Keras (the check that the trained model writes plays)."""
    units, layers = model_shape(model)
    rng = np.random.default_rng(seed)
    states = [np.zeros((1, units), np.float32)] * (2 * layers)
    x = encoding.encode(prompt)[None].astype(np.int32)
    out = []
    for _ in range(length):
        logits, *states = model.predict_on_batch([x, *states])
        logits = np.asarray(logits[0, -1], np.float64)
        probs = np.exp(logits - logits.max())
        nxt = sample_index((probs / probs.sum()).astype(np.float32), temperature, rng)
        out.append(nxt)
        x = np.array([[nxt]], np.int32)
    return encoding.decode(out)


def budget_used(cfg: BardConfig, steps: int, seconds: float) -> float:
    """How far the learning-rate schedule is, in [0, 1]: by steps when `max_steps` is given
    (the same run however fast the machine), else by the time budget."""
    if cfg.max_steps:
        return min(1.0, steps / cfg.max_steps)
    return min(1.0, seconds / (cfg.max_minutes * 60))


def learning_rate(cfg: BardConfig, steps: int, seconds: float) -> float:
    """Cosine decay from --learning-rate to a tenth of it over the budget."""
    progress = budget_used(cfg, steps, seconds)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def out_of_budget(cfg: BardConfig, steps: int, seconds: float) -> str:
    """Why training stops now (--max-steps reached, the time budget spent), or ""."""
    if cfg.max_steps and steps >= cfg.max_steps:
        return f"{cfg.max_steps} steps"
    if seconds >= cfg.max_minutes * 60:
        return f"time budget of {cfg.max_minutes} minutes"
    return ""


def train(trainer: Trainer, cfg: BardConfig, train_ids: np.ndarray, held_ids: np.ndarray
          ) -> dict:
    """Truncated BPTT until patience, --max-steps, the time budget or --max-epochs stops it;
    the weights with the best held-out loss are kept. Returns the run's training metrics."""
    rows = streams(train_ids, cfg.batch_size)
    if rows.shape[1] <= cfg.seq + 1:
        raise UserError(f"the training text is too short for {cfg.batch_size} streams of "
                        f"{cfg.seq}-char steps; give more text or a smaller --batch-size")
    rng = np.random.default_rng(cfg.seed)
    evals: list[dict] = []
    best, best_weights, bad, step, epoch, stop = math.inf, None, 0, 0, 0, ""
    train_losses: list[float] = []
    t0 = time.perf_counter()
    while not stop:
        epoch += 1
        states = trainer.zero_states(cfg.batch_size)
        # A new offset each epoch: the step boundaries move, so no char is always a first.
        offset = int(rng.integers(0, cfg.seq))
        for i in range(offset, rows.shape[1] - cfg.seq - 1, cfg.seq):
            elapsed = time.perf_counter() - t0
            trainer.optimizer.learning_rate.assign(learning_rate(cfg, step, elapsed))
            x, y = rows[:, i : i + cfg.seq], rows[:, i + 1 : i + 1 + cfg.seq]
            loss, states = trainer.train_step(x.astype(np.int32), y.astype(np.int32), states)
            train_losses.append(float(loss))
            step += 1
            spent = out_of_budget(cfg, step, elapsed)
            if step % cfg.eval_every == 0 or spent:
                held = trainer.heldout_loss(held_ids)
                minutes = (time.perf_counter() - t0) / 60
                evals.append({"step": step, "epoch": epoch, "minutes": round(minutes, 2),
                              "chars_seen": step * cfg.batch_size * cfg.seq,
                              "train_loss": float(np.mean(train_losses[-cfg.eval_every:])),
                              "heldout_loss": held})
                mark = ""
                if held < best:
                    best, best_weights, bad, mark = held, trainer.model.get_weights(), 0, " *"
                else:
                    bad += 1
                print(f"step {step} epoch {epoch} {minutes:.1f} min: train "
                      f"{evals[-1]['train_loss']:.4f} held-out {held:.4f}{mark}", flush=True)
                if bad >= cfg.patience:
                    stop = f"no better held-out loss in {cfg.patience} evaluations"
                else:
                    stop = spent
                if stop:
                    break
        if not stop and epoch >= cfg.max_epochs:
            stop = f"{cfg.max_epochs} epochs"
    train_minutes = (time.perf_counter() - t0) / 60
    print(f"stopped: {stop}; best held-out loss {best:.4f} nats/char")
    if best_weights is not None:
        trainer.model.set_weights(best_weights)
    return {"heldout_loss": best, "train_minutes": round(train_minutes, 2), "steps": step,
            "epochs": epoch, "stopped": stop, "evals": evals}


def run(cfg: BardConfig) -> dict:
    cfg.validate()
    started = time.perf_counter()
    out = runs.prepare_out_dir(cfg.out)
    path = find_text(cfg.text)
    text = path.read_text(encoding="utf-8")[: cfg.max_chars]
    if len(text) < 1000:
        raise UserError(f"{path}: {len(text)} chars is too little text to train on")
    encoding = CharEncoding.from_corpus(text)
    encoding = CharEncoding(encoding.chars, lowercase=False)
    ids = encoding.encode(text)
    train_ids, held_ids = split_heldout(ids, cfg.heldout)
    print(f"corpus {path.name}: {len(text):,} chars, {encoding.size} symbols; "
          f"train {len(train_ids):,}, held out {len(held_ids):,}")

    fit.limit_threads(cfg.threads)
    fit.set_seed(cfg.seed)
    trainer = Trainer(cfg, encoding.size)
    params = fit.param_counts(trainer.model)
    print(f"params: {params['total']:,} ({cfg.layers} x LSTM({cfg.units}), embed {cfg.embed})")

    trained = train(trainer, cfg, train_ids, held_ids)

    samples = {"prompt": cfg.prompt, "length": cfg.sample_length}
    for temperature in cfg.temperatures:
        samples[str(temperature)] = generate(trainer.model, encoding, cfg.prompt,
                                             cfg.sample_length, temperature, cfg.seed)
        print(f"--- T={temperature}\n{cfg.prompt}{samples[str(temperature)]}\n")

    meta = {
        "format": runs.run_format("bard"),
        "kind": "bard",
        "encoding": encoding.to_dict(),
        "units": cfg.units,
        "layers": cfg.layers,
        "embed": cfg.embed,
        "params": params,
        "metrics": {
            "heldout_loss": trained["heldout_loss"],
            "heldout_loss_note": f"stateful, held-out text in {EVAL_STREAMS} streams",
            "heldout_chars": len(held_ids),
            **{k: trained[k] for k in ("train_minutes", "steps", "epochs", "stopped", "evals")},
        },
        "data": {"text": path.name, "chars": len(text), "heldout_fraction": cfg.heldout,
                 "max_chars": cfg.max_chars, "train_chars": len(train_ids)},
        "training": {k: v for k, v in asdict(cfg).items()
                     if k not in ("out", "text", "verbose", "command", "temperatures")},
        "samples": samples,
    }
    curve = json.dumps(trained["evals"], indent=1) + "\n"
    return runs.save_run(out, trainer.model, meta, cfg, started,
                         lambda: (out / "curve.json").write_text(curve, encoding="utf-8"))


# Flag -> what it sets; each default is the config's.
_INT_FLAGS = {
    "seed": "seed for init, stream offsets and sampling", "units": "LSTM units per layer",
    "layers": "stacked LSTM layers", "embed": "char embedding size",
    "batch-size": "parallel text streams per step", "seq": "chars per BPTT step",
    "max-epochs": "passes over the training text at most",
    "max-steps": "training steps at most, the learning rate decayed over them, not over "
                 "--max-minutes: the same weights however fast the machine (0: no limit)",
    "eval-every": "steps between held-out evaluations",
    "patience": "evaluations without improvement before stopping",
    "threads": "TensorFlow intra-op threads", "sample-length": "chars per sample",
}
_FLOAT_FLAGS = {
    "dropout": "dropout before/after each LSTM", "learning-rate": "Adam learning rate",
    "clip": "global gradient-norm clip", "max-minutes": "training time budget",
    "heldout": "held-out fraction at the end of the text",
}


def add_arguments(parser: argparse.ArgumentParser, d: BardConfig | None = None) -> None:
    """The bard's flags, with defaults from `d` (a subclass's config: `bard-topics`)."""
    d = d or BardConfig(out=Path("runs/bard"))
    parser.add_argument("--out", type=Path, default=d.out, metavar="DIR",
                        help=f"folder for model.keras and meta.json (default: {d.out})")
    parser.add_argument("--text", metavar="FILE",
                        help="tinyshakespeare.txt (default: search $BARDBOT_DATA, ./data, "
                             "../shared/data)")
    for flags, metavar in ((_INT_FLAGS, "N"), (_FLOAT_FLAGS, "X")):
        for flag, what in flags.items():
            runs.add_option(parser, f"--{flag}", d, what, metavar)
    parser.add_argument("--max-chars", type=int, default=None, metavar="N",
                        help="use only the first N chars of the text (sweeps, smoke runs)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures),
                        metavar="T", help="one sample per temperature after training")
    parser.add_argument("--prompt", default=d.prompt,
                        help=f"sample prompt (default: {d.prompt!r})")
    parser.add_argument("--quiet", action="store_true", help="accepted for symmetry; progress "
                        "is one line per held-out evaluation")


def config_from_args(args: argparse.Namespace) -> BardConfig:
    return BardConfig(
        out=args.out, text=args.text, seed=args.seed, units=args.units, layers=args.layers,
        embed=args.embed, dropout=args.dropout, batch_size=args.batch_size, seq=args.seq,
        learning_rate=args.learning_rate, clip=args.clip, max_minutes=args.max_minutes,
        max_epochs=args.max_epochs, max_steps=args.max_steps, eval_every=args.eval_every,
        patience=args.patience, heldout=args.heldout, max_chars=args.max_chars,
        threads=args.threads,
        sample_length=args.sample_length, temperatures=tuple(args.temperatures),
        prompt=args.prompt, verbose=runs.verbosity(args), command=args.command_line)

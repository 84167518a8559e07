"""Character-level Shakespeare: the reference LSTM(128) on 40-char windows, honest held-out loss.

Held-out text is the last 10% of each play; training windows never reach into it. Two held-out
losses are measured in nats/char:
  windowed: every 40-char held-out window predicts its next char (what the model was trained on);
  stateful: the same weights run once over each held-out text from a zero state, predicting
            every char from all chars before it (how the bot generates, one char at a time).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from bardbot.models.sampling import PROB_FLOOR, sample_index
from bardbot.models.text import CharEncoding
from bardbot.trainer import data, fit, runs
from bardbot.trainer.config import ShakespeareConfig
from bardbot.trainer.runs import UserError

FORMAT = runs.run_format("shakespeare")


def reference_params(n_chars: int, units: int = 128) -> int:
    return 4 * (units * (n_chars + units) + units) + (units * n_chars + n_chars)


def build_model(n_chars: int, window: int = 40, units: int = 128, objective: str = "last",
                learning_rate: float = 0.01):
    """one-hot chars -> LSTM(128) -> Dense(n_chars, softmax); "every" predicts at each step."""
    import keras

    every = objective == "every"
    inputs = keras.Input(shape=(None if every else window, n_chars), name="chars")
    x = keras.layers.LSTM(units, return_sequences=every, name="lstm")(inputs)
    outputs = keras.layers.Dense(n_chars, activation="softmax", name="dense")(x)
    model = keras.Model(inputs, outputs, name=f"char_lstm_{objective}")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
                  loss="categorical_crossentropy")
    return model


def sequence_model(model):
    """Same weights, any input length, a prediction after every char (for stateful use)."""
    lstm, dense = model.get_layer("lstm"), model.get_layer("dense")
    seq = build_model(dense.units, units=lstm.units, objective="every")
    seq.get_layer("lstm").set_weights(lstm.get_weights())
    seq.get_layer("dense").set_weights(dense.get_weights())
    return seq


def window_starts(segments: list[np.ndarray], window: int, step: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ids and the start of every window (plus its next char) inside one segment."""
    starts, offset = [], 0
    for seg in segments:
        if len(seg) > window:
            starts.append(offset + np.arange(0, len(seg) - window, step))
        offset += len(seg)
    ids = np.concatenate(segments) if segments else np.zeros(0, dtype=np.int64)
    return ids, (np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64))


def make_batches(encoding: CharEncoding, ids: np.ndarray, starts: np.ndarray, window: int,
                 batch_size: int, objective: str, seed: int):
    """One-hot batches built from ids on the fly (the reference's full one-hot array is ~1 GB)."""
    import keras

    class WindowBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(starts))
            self.offsets = np.arange(window + 1)

        def __len__(self) -> int:
            return math.ceil(len(starts) / batch_size)

        def __getitem__(self, i):
            chosen = starts[self.order[i * batch_size:(i + 1) * batch_size]]
            seq = ids[chosen[:, None] + self.offsets]
            x = encoding.one_hot(seq[:, :-1])
            y = encoding.one_hot(seq[:, 1:] if objective == "every" else seq[:, -1])
            return x, y

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(starts))

    return WindowBatches()


def _last_step(probs: np.ndarray) -> np.ndarray:
    return probs[:, -1, :] if probs.ndim == 3 else probs


def windowed_loss(model, encoding: CharEncoding, segments: list[np.ndarray], window: int,
                  batch: int = 1024) -> float:
    """Mean nats of each held-out char at position >= window given the `window` chars before."""
    ids, starts = window_starts(segments, window, 1)
    if len(starts) == 0:
        return float("nan")
    total = 0.0
    offsets = np.arange(window)
    for i in range(0, len(starts), batch):
        chosen = starts[i:i + batch]
        probs = _last_step(model.predict_on_batch(encoding.one_hot(ids[chosen[:, None]
                                                                      + offsets])))
        target = ids[chosen + window]
        total += -np.log(np.maximum(probs[np.arange(len(chosen)), target], PROB_FLOOR)).sum()
    return float(total / len(starts))


def stateful_losses(seq_model, encoding: CharEncoding, segments: list[np.ndarray],
                    window: int) -> dict:
    """Run over each held-out text from a zero state; nats/char over text[1:] and over the
    positions the windowed loss scores (>= window), so the two are directly comparable."""
    nll_all, nll_same = [], []
    for seg in segments:
        if len(seg) < 2:
            continue
        probs = seq_model.predict_on_batch(encoding.one_hot(seg[None, :-1]))[0]
        nll = -np.log(np.maximum(probs[np.arange(len(seg) - 1), seg[1:]], PROB_FLOOR))
        nll_all.append(nll)
        nll_same.append(nll[window - 1:])
    cat_all = np.concatenate(nll_all) if nll_all else np.zeros(0)
    cat_same = np.concatenate(nll_same) if nll_same else np.zeros(0)
    halves = np.array_split(cat_all, 2)
    return {
        "all": float(cat_all.mean()) if cat_all.size else float("nan"),
        "same_positions": float(cat_same.mean()) if cat_same.size else float("nan"),
        "first_half": float(halves[0].mean()) if halves[0].size else float("nan"),
        "second_half": float(halves[1].mean()) if halves[1].size else float("nan"),
        "chars": int(cat_all.size),
    }


def generate(seq_model, encoding: CharEncoding, prompt: str, length: int, temperature: float,
             window: int, seed: int) -> str:
    """The reference's loop: the last `window` chars in, sample the next (models.sampling)."""
    rng = np.random.default_rng(seed)
    context = list(encoding.encode(prompt))
    out = []
    for _ in range(length):
        x = encoding.one_hot(np.asarray(context[-window:])[None, :])
        probs = seq_model.predict_on_batch(x)[0, -1]
        nxt = sample_index(probs, temperature, rng)
        context.append(nxt)
        out.append(encoding.chars[nxt])
    return "".join(out)


def load_corpus(cfg: ShakespeareConfig, cache_dir: Path) -> tuple[list[tuple[str, str]], bool]:
    if cfg.text is not None:
        plays = data.load_text_file(cfg.text)
    else:
        plays = data.load_plays(cfg.plays, cfg.gutenberg, cache_dir)
    reference = cfg.text is None and data.is_reference_corpus(plays)
    plays = [(name, text.lower()) for name, text in plays]
    if cfg.max_chars is not None:
        plays = [(name, text[:cfg.max_chars]) for name, text in plays]
    if not any(text for _, text in plays):
        raise UserError("the text corpus is empty; give a non-empty --text or the Gutenberg zip")
    return plays, reference


def _init_from(run_dir: str, encoding: CharEncoding, objective: str, window: int):
    """The model of a finished shakespeare run, if it fits this run's corpus and settings."""
    import keras

    meta_path = Path(run_dir) / "meta.json"
    fix = "give a finished `python -m bardbot.trainer shakespeare` run or train from scratch"
    if not meta_path.is_file() or not (Path(run_dir) / "model.keras").is_file():
        raise UserError(f"--init-from {run_dir} has no meta.json and model.keras; {fix}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--init-from: {meta_path} is unreadable ({exc}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"--init-from: {meta_path} is not a shakespeare run ({FORMAT}); {fix}")
    old = CharEncoding.from_dict(meta["encoding"])
    if old.chars != encoding.chars:
        extra = "".join(sorted(set(encoding.chars) - set(old.chars)))
        missing = "".join(sorted(set(old.chars) - set(encoding.chars)))
        raise UserError(f"the corpus character set differs from {meta_path} (new {extra!r}, "
                        f"missing {missing!r}); train from scratch or use the same corpus")
    if meta.get("objective") != objective:
        raise UserError(f"--objective {objective} differs from {meta_path} "
                        f"({meta.get('objective')}); use the same objective")
    # The "last" model's input has a fixed window length; the "every" model takes any length.
    if objective == "last" and meta.get("window") != window:
        raise UserError(f"--window {window} differs from {meta_path} ({meta.get('window')}); "
                        f"use the same window")
    return keras.models.load_model(Path(run_dir) / "model.keras")


def _load_plays(cfg: ShakespeareConfig, cache_dir: Path
                ) -> tuple[list[tuple[str, str]], bool, str, CharEncoding]:
    """The texts, whether they are the reference plays (then checked), and their encoding."""
    plays, reference = load_corpus(cfg, cache_dir)
    joined = "".join(text for _, text in plays)
    encoding = CharEncoding.from_corpus(joined)
    if reference and cfg.max_chars is None and (
            len(joined) != data.REFERENCE_CHARS or encoding.size != data.REFERENCE_SYMBOLS):
        raise RuntimeError(f"reference plays gave {len(joined)} chars / {encoding.size} symbols, "
                           f"expected {data.REFERENCE_CHARS} / {data.REFERENCE_SYMBOLS}")
    print(f"corpus: {', '.join(n for n, _ in plays)}: {len(joined):,} chars, "
          f"{encoding.size} symbols" + (" (reference corpus verified)" if reference else ""))
    return plays, reference, joined, encoding


def _fit(model, encoding: CharEncoding, ids: np.ndarray, starts: np.ndarray,
         held_segs: list[np.ndarray], cfg: ShakespeareConfig):
    """Fit, scoring the held-out text after each epoch; returns (history, epoch timer)."""
    import keras

    held_history: list[float] = []

    class HeldOut(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            held_history.append(windowed_loss(self.model, encoding, held_segs, cfg.window))
            print(f"  held-out windowed loss after epoch {epoch + 1}: {held_history[-1]:.4f}")

    timer = fit.epoch_timer()
    batches = make_batches(encoding, ids, starts, cfg.window, cfg.batch_size, cfg.objective,
                           cfg.seed)
    history = model.fit(batches, epochs=cfg.epochs, callbacks=[timer, HeldOut()],
                        verbose=cfg.verbose)
    hist = fit.plain_history(history.history)
    hist["heldout_loss_windowed"] = held_history
    return hist, timer


def _samples(seq, encoding: CharEncoding, held_segs: list[np.ndarray],
             cfg: ShakespeareConfig) -> dict:
    """One sample per temperature from --prompt, else the start of the held-out text."""
    prompt = cfg.prompt if cfg.prompt is not None else encoding.decode(held_segs[0][:cfg.window])
    samples = {"prompt": encoding.normalize(prompt), "length": cfg.sample_length}
    for temperature in cfg.temperatures:
        samples[str(temperature)] = generate(seq, encoding, prompt, cfg.sample_length,
                                             temperature, cfg.window, cfg.seed)
        print(f"--- T={temperature}\n{samples['prompt']}|{samples[str(temperature)]}\n")
    return samples


def run(cfg: ShakespeareConfig) -> dict:
    cfg.validate()
    started = time.perf_counter()
    out = runs.prepare_out_dir(cfg.out)
    cache_dir = fit.prepare_cache_dir(cfg.cache_dir)
    plays, reference, joined, encoding = _load_plays(cfg, cache_dir)

    if cfg.prompt is not None and len(encoding.encode(cfg.prompt)) == 0:
        # Caught before fitting: sampling comes after training, and would fail there.
        raise UserError(f"--prompt {cfg.prompt!r} has no character of the corpus; give a prompt "
                        f"in the text's own characters or leave --prompt out")
    splits = [data.split_heldout(encoding.encode(t), cfg.heldout) for _, t in plays]
    train_segs, held_segs = [train for train, _ in splits], [held for _, held in splits]
    ids, starts = window_starts(train_segs, cfg.window, cfg.step)
    if len(starts) == 0:
        raise UserError(f"the corpus is too short for {cfg.window}-char windows; give more text")
    held_chars = sum(len(s) for s in held_segs)
    print(f"training windows: {len(starts):,} (step {cfg.step}); held-out chars: {held_chars:,}")

    fit.set_seed(cfg.seed)
    if cfg.init_from:
        model = _init_from(cfg.init_from, encoding, cfg.objective, cfg.window)
    else:
        model = build_model(encoding.size, cfg.window, cfg.units, cfg.objective,
                            cfg.learning_rate)
    params = fit.param_counts(model)
    assert params["total"] == reference_params(encoding.size, cfg.units), params
    print(f"params: {params['total']:,} (objective: {cfg.objective})")

    hist, timer = _fit(model, encoding, ids, starts, held_segs, cfg)

    seq = sequence_model(model)
    windowed = hist["heldout_loss_windowed"][-1]
    t0 = time.perf_counter()
    stateful = stateful_losses(seq, encoding, held_segs, cfg.window)
    stateful_seconds = round(time.perf_counter() - t0, 1)
    print(f"held-out nats/char: windowed {windowed:.4f}; stateful {stateful['all']:.4f} "
          f"(same positions {stateful['same_positions']:.4f})")

    samples = _samples(seq, encoding, held_segs, cfg)

    meta = {
        "format": FORMAT,
        "kind": "shakespeare",
        "encoding": encoding.to_dict(),
        "window": cfg.window,
        "step": cfg.step,
        "objective": cfg.objective,
        "params": params,
        "metrics": {
            "heldout_loss_windowed": windowed,
            "heldout_loss_stateful": stateful["all"],
            "heldout_loss_stateful_same_positions": stateful["same_positions"],
            "heldout_loss_stateful_halves": [stateful["first_half"], stateful["second_half"]],
            "heldout_chars": held_chars,
            "stateful_eval_seconds": stateful_seconds,
            "train_loss": hist["loss"][-1],
            "history": hist,
            "epoch_seconds": timer.seconds,
            "epoch_load_average": timer.load,
        },
        "data": {"texts": [n for n, _ in plays], "chars": len(joined), "reference": reference,
                 "heldout_fraction": cfg.heldout, "train_windows": len(starts),
                 "max_chars": cfg.max_chars},
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size,
                     "optimizer": "rmsprop", "learning_rate": cfg.learning_rate,
                     "loss": "categorical_crossentropy", "units": cfg.units,
                     "init_from": cfg.init_from},
        "samples": samples,
    }
    return runs.save_run(out, model, meta, cfg, started, lambda: fit.plot_curves(
        hist, out / "training_curves.png", f"shakespeare, objective {cfg.objective}"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ShakespeareConfig
    runs.add_run_arguments(parser, d, out="runs/shakespeare")
    g = parser.add_argument_group("data")
    g.add_argument("--gutenberg", metavar="PATH",
                   help="gutenberg.zip or an nltk_data folder (default: search $BARDBOT_DATA, "
                        "./data, ../shared/data, then NLTK_DATA / nltk.download)")
    g.add_argument("--text", metavar="FILE", help="train on a plain UTF-8 text file instead")
    g.add_argument("--max-chars", type=int, metavar="N",
                   help="use only the first N chars of each text: quick smoke runs")
    runs.add_option(g, "--heldout", d, "held-out fraction at the end of each text",
                    metavar="FRACTION")
    m = parser.add_argument_group("model")
    m.add_argument("--objective", choices=("last", "every"), default=d.objective,
                   help="last: predict the char after each window (reference); every: predict "
                        "at every step of the window (same 98,098 params)")
    runs.add_option(m, "--window", d, "characters the model reads per training example")
    runs.add_option(m, "--step", d, "a new training window starts every N characters")
    runs.add_option(m, "--learning-rate", d, "RMSprop learning rate", metavar="LR")
    m.add_argument("--init-from", metavar="RUN_DIR",
                   help="continue training a finished shakespeare run (same character set "
                        "and objective; may equal --out)")
    runs.add_option(m, "--sample-length", d, "characters generated per sample temperature "
                    "after training")
    m.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures),
                   metavar="T", help="one sample per temperature: low = safe, high = "
                   f"adventurous, 0 = greedy (default: {' '.join(map(str, d.temperatures))})")
    m.add_argument("--prompt", help="sample prompt (default: start of the held-out text)")


def config_from_args(args: argparse.Namespace) -> ShakespeareConfig:
    if args.text and args.gutenberg:
        raise UserError("give either --text or --gutenberg, not both")
    return ShakespeareConfig(
        **runs.run_fields(args), gutenberg=args.gutenberg, text=args.text, window=args.window,
        step=args.step, learning_rate=args.learning_rate, objective=args.objective,
        heldout=args.heldout, max_chars=args.max_chars, sample_length=args.sample_length,
        temperatures=tuple(args.temperatures), prompt=args.prompt, init_from=args.init_from)

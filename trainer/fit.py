"""What fitting a Keras model shares across runs: cache folder, seeding, timing, curves."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from bardbot.trainer.runs import make_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    """Tokenised corpora and trained word vectors are cached here (never in the repo tree)."""
    env = os.environ.get("BARDBOT_CACHE")
    return Path(env) if env else REPO_ROOT / "runs" / "cache"


def prepare_cache_dir(cache_dir: Path | str | None) -> Path:
    """--cache-dir (default: `default_cache_dir()`), created now so a bad one fails early."""
    return make_dir(Path(cache_dir) if cache_dir else default_cache_dir(), "--cache-dir")


def param_counts(model) -> dict:
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {"trainable": trainable, "total": int(model.count_params())}


def limit_threads(intra: int) -> None:
    """TensorFlow's op threads: `intra` within an op, one across ops. TF fixes them when it first
    runs anything, so a second run in the same process (a notebook, the tests) keeps the
    first run's and says so, instead of failing."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        kept = tf.config.threading.get_intra_op_parallelism_threads()
        if kept != intra:
            print(f"note: TensorFlow already runs in this process with {kept or 'its default'} "
                  f"op threads; --threads {intra} applies to a new process")


def set_seed(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def epoch_timer():
    """A Keras callback that records the seconds of each epoch's fitting (not later callbacks)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            # 1-min load average (this run included) at the end of each epoch: context for
            # timings on a shared machine.
            self.load: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._start, 2))
            try:
                self.load.append(round(os.getloadavg()[0], 2))
            except OSError:
                self.load.append(float("nan"))

    return EpochTimer()


def plain_history(history: dict) -> dict:
    return {key: [float(v) for v in values] for key, values in history.items()}


def plot_curves(history: dict, path: Path, title: str) -> Path:
    """One PNG per run: every loss-like series in one panel, accuracies in another."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = {k: v for k, v in history.items() if "loss" in k}
    accs = {k: v for k, v in history.items() if "acc" in k}
    panels = [p for p in (losses, accs) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, series in zip(axes[0], panels, strict=True):
        for name, values in series.items():
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

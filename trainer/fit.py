"""What every training run shares: output folder, seeding, timing, curves, metadata, memory."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from bardbot.trainer.config import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    """Tokenised corpora and trained word vectors are cached here (never in the repo tree)."""
    env = os.environ.get("BARDBOT_CACHE")
    return Path(env) if env else REPO_ROOT / "runs" / "cache"


def prepare_cache_dir(cache_dir: Path | str | None) -> Path:
    """--cache-dir (default: `default_cache_dir()`), created now so a bad one fails early."""
    return _make_dir(Path(cache_dir) if cache_dir else default_cache_dir(), "--cache-dir")


def _make_dir(path: Path, flag: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot create the folder ({exc.strerror}); give a "
                        f"writable folder") from None
    return path


def prepare_out_dir(out: Path) -> Path:
    """Create the run folder. A finished run already there stays intact until `mark_unfinished`,
    so a rerun that stops on a user error (or reads --init-from the same folder) loses nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the run outputs")
    return _make_dir(out, "--out")


def mark_unfinished(out: Path) -> None:
    """Call before the first output is (over)written: a stale meta.json must not vouch for it."""
    (Path(out) / "meta.json").unlink(missing_ok=True)


def json_safe(value):
    """NaN/inf (e.g. a held-out loss over too little text) -> None: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_meta(out: Path, meta: dict) -> Path:
    """Write meta.json atomically, as the very last output: its presence marks a complete run."""
    path = Path(out) / "meta.json"
    tmp = path.with_suffix(".json.tmp")
    text = json.dumps(json_safe(meta), indent=2, ensure_ascii=False, allow_nan=False)
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def finish_run(out: Path, meta: dict, seed: int, command: str, started: float) -> dict:
    """Add what every run records (seed, command, versions, time, memory); write meta.json."""
    meta.update(seed=seed, command=command or command_line(), versions=versions(),
                wall_seconds=round(time.perf_counter() - started, 1), peak_rss_mb=peak_rss_mb())
    write_meta(out, meta)
    print(f"wrote {out}/model.keras and meta.json (peak RSS {meta['peak_rss_mb']} MB, "
          f"wall {meta['wall_seconds']} s)")
    return meta


def param_counts(model) -> dict:
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {"trainable": trainable, "total": int(model.count_params())}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024, 1)


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "gensim", "nltk"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def command_line() -> str:
    return f"python -m bardbot.trainer {shlex.join(sys.argv[1:])}".rstrip()


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
            self.load: list[float] = []  # 1-min load average at the end of each epoch
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(round(time.perf_counter() - self._start, 2))
            self.load.append(load_average())

    return EpochTimer()


def load_average() -> float:
    """1-minute load average (this run included): context for timings on a shared machine."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


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

"""Training-run folders, written by the trainer and read by the exporter, and what both share.

A run folder holds model.keras, plots and, written last of all, meta.json (format
`bardbot.train.KIND/1`): a folder without meta.json is an unfinished run. Both command lines
report a `UserError` as one line, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Protocol

# Recorded in meta.json of runs and exported models (those installed).
DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime",
                 "numpy", "gensim", "nltk")


class UserError(Exception):
    """A problem the user can fix (bad path, flag or file): one line, no traceback."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]  # one line, no usage dump
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def add_option(group, flag: str, config: type, what: str, metavar: str | None = "N") -> None:
    """`--flag` whose type and default are the config's field of the same name (said once)."""
    default = getattr(config, flag.removeprefix("--").replace("-", "_"))
    group.add_argument(flag, type=type(default), default=default, metavar=metavar,
                       help=f"{what} (default: {default})")


def add_run_arguments(parser: argparse.ArgumentParser, config: type, out: str) -> None:
    """The `run` group of the epoch-based trainers."""
    g = parser.add_argument_group("run")
    g.add_argument("--out", type=Path, default=Path(out), metavar="DIR",
                   help=f"folder for model.keras, meta.json and plots (default: {out})")
    add_option(g, "--seed", config, "seed for shuffling, weight init and sampling: same seed, "
               "same run", metavar=None)
    add_option(g, "--epochs", config, "passes over the training data", metavar=None)
    add_option(g, "--batch-size", config, "examples per gradient step", metavar=None)
    add_cache_argument(g)
    g.add_argument("--quiet", action="store_true",
                   help="no Keras progress output while fitting (summaries still print)")


def run_fields(args: argparse.Namespace) -> dict:
    """The config fields of `add_run_arguments`, and the command line being run."""
    return dict(out=args.out, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
                cache_dir=args.cache_dir, verbose=verbosity(args), command=args.command_line)


def add_cache_argument(group) -> None:
    group.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                       help="cache for tokenised corpora and trained vectors, reused by later "
                            "runs (default: $BARDBOT_CACHE, else runs/cache in the checkout)")


def add_imdb_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The `data` group of the IMDB trainers (returned: a trainer adds its own data flags)."""
    g = parser.add_argument_group("data")
    g.add_argument("--imdb", metavar="PATH", help="aclImdb folder, its parent, or "
                   "aclImdb_v1.tar.gz (default: search $BARDBOT_DATA, ./data, ../shared/data)")
    g.add_argument("--download", action="store_true",
                   help="download aclImdb_v1.tar.gz (84 MB, sha256-checked) if not found")
    g.add_argument("--url", help="download from this URL instead of the Stanford one")
    g.add_argument("--max-reviews", type=int, metavar="N",
                   help="use at most N reviews per split (train/test/unsup): quick smoke runs")
    return g


def imdb_fields(args: argparse.Namespace) -> dict:
    return dict(imdb=args.imdb, download=args.download, url=args.url,
                max_reviews=args.max_reviews)


def verbosity(args: argparse.Namespace) -> int:
    """Keras: a live progress bar on a terminal, one line per epoch in a log file."""
    if getattr(args, "quiet", False):
        return 0
    return 1 if sys.stdout.isatty() else 2


def quiet_tensorflow() -> None:
    """TensorFlow's C++ log without its INFO and WARNING lines; call before importing it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_format(kind: str) -> str:
    return f"bardbot.train.{kind}/1"


def make_dir(path: Path, flag: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot create the folder ({exc.strerror}); give a "
                        f"writable folder") from None
    return path


def prepare_out_dir(out: str | Path) -> Path:
    """Create --out up front, so a bad folder fails before the slow work. A finished run
    already there stays intact until `save_run`, so a rerun that stops on a user error
    (or reads --init-from the same folder) loses nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the outputs")
    return make_dir(out, "--out")


@contextlib.contextmanager
def removed_if_left_empty(out: Path) -> Iterator[None]:
    """The folders of `out` that do not exist yet are removed again if the run fails and
    leaves them empty: a failed first run must not leave an empty runs/NAME behind."""
    out = Path(out).absolute()
    missing = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first; a folder holding anything stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


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


class RunConfig(Protocol):
    seed: int
    command: str  # "" when run from the command line: then `command_line()` is recorded


def save_run(out: Path, model, meta: dict, cfg: RunConfig, started: float,
             write_extras: Callable[[], object] = lambda: None) -> dict:
    """Every trainer's closing steps: mark the run unfinished, save model.keras, write the
    extras (plots, curves), then meta.json with what every run records (seed, command,
    versions, time, memory), last of all."""
    (Path(out) / "meta.json").unlink(missing_ok=True)  # must not vouch for what is rewritten
    model.save(out / "model.keras")
    write_extras()
    meta.update(seed=cfg.seed, command=cfg.command or command_line(), versions=versions(),
                wall_seconds=round(time.perf_counter() - started, 1), peak_rss_mb=peak_rss_mb())
    write_meta(out, meta)
    print(f"wrote {out}/model.keras and meta.json (peak RSS {meta['peak_rss_mb']} MB, "
          f"wall {meta['wall_seconds']} s)")
    return meta


def read_run(run_dir: str | Path, kind: str) -> tuple[Path, dict]:
    """A finished run folder of `kind` and its meta.json."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"{run}: no such run folder; "
                        f"train one with `python -m bardbot.trainer {kind}`")
    meta_path = run / "meta.json"
    if not meta_path.is_file():
        raise UserError(f"{run}: no meta.json, so the run is unfinished or failed; "
                        f"finish it with `python -m bardbot.trainer {kind} --out {run}`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{meta_path}: unreadable ({exc})") from exc
    if meta.get("format") != run_format(kind):
        raise UserError(f"{meta_path}: format {meta.get('format')!r}, expected "
                        f"{run_format(kind)!r} (is this a {kind} run?)")
    if not (run / "model.keras").is_file():
        raise UserError(f"{run}: model.keras is missing")
    return run, meta


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024, 1)


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in DISTRIBUTIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def command_line() -> str:
    return f"python -m bardbot.trainer {shlex.join(sys.argv[1:])}".rstrip()

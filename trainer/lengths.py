"""Review length analysis as the reference does it, for choosing `maxlen`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import WordEncoding
from bardbot.trainer import fit, runs
from bardbot.trainer.config import LengthsConfig, SentimentConfig
from bardbot.trainer.data import load_imdb
from bardbot.trainer.vectors import add_vector_arguments, tokenize_corpus, vector_fields


@dataclass(frozen=True)
class LengthStats:
    maxlen: int
    reviews: int
    padded: int  # shorter than maxlen: zero vectors appended
    equal: int  # exactly maxlen
    truncated: int  # longer than maxlen: cut
    mean_length: float  # before cutting
    median_length: float
    p90_length: float
    max_length: int
    mean_kept: float  # tokens the model sees on average after cutting

    def describe(self) -> str:
        n = max(self.reviews, 1)
        return (f"maxlen {self.maxlen}: {self.reviews} reviews, padded {self.padded} "
                f"({self.padded / n:.1%}), equal {self.equal}, truncated {self.truncated} "
                f"({self.truncated / n:.1%}); average length {self.mean_length:.1f} "
                f"(median {self.median_length:.0f}, 90th pct {self.p90_length:.0f}, "
                f"max {self.max_length}); average kept {self.mean_kept:.1f}")


def length_stats(lengths: np.ndarray, maxlen: int) -> LengthStats:
    """`lengths` = tokens per review that the model would see before cutting."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if maxlen <= 0:
        raise ValueError(f"maxlen must be positive, got {maxlen}")
    if lengths.size == 0:
        return LengthStats(maxlen, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0, 0.0)
    return LengthStats(
        maxlen=maxlen,
        reviews=int(lengths.size),
        padded=int((lengths < maxlen).sum()),
        equal=int((lengths == maxlen).sum()),
        truncated=int((lengths > maxlen).sum()),
        mean_length=float(lengths.mean()),
        median_length=float(np.median(lengths)),
        p90_length=float(np.percentile(lengths, 90)),
        max_length=int(lengths.max()),
        mean_kept=float(np.minimum(lengths, maxlen).mean()),
    )


def plot_histogram(lengths: np.ndarray, maxlens: list[int], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    top = max(int(np.percentile(lengths, 99)), *maxlens) if len(lengths) else max(maxlens)
    ax.hist(np.minimum(lengths, top), bins=60, color="#4c72b0")
    for m in maxlens:
        ax.axvline(m, color="#c44e52", linestyle="--", label=f"maxlen {m}")
    ax.set_xlabel("tokens per review (after dropping unknown tokens; clipped at 99th pct)")
    ax.set_ylabel("reviews")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--maxlen", type=int, nargs="+", default=list(LengthsConfig.maxlens),
                        metavar="N", help="one or more maxlen values to compare (default: "
                        f"{' '.join(map(str, LengthsConfig.maxlens))})")
    parser.add_argument("--out", type=Path, default=Path("runs/lengths"), metavar="DIR",
                        help="folder for lengths.png and lengths.json (default: runs/lengths)")
    runs.add_option(parser, "--seed", SentimentConfig, "seed for Word2Vec and --max-reviews "
                    "sampling", metavar=None)
    runs.add_cache_argument(parser)
    parser.add_argument("--raw", action="store_true",
                        help="count every token (no vectors needed, nothing dropped)")
    runs.add_imdb_arguments(parser)
    add_vector_arguments(parser)


def config_from_args(args: argparse.Namespace) -> LengthsConfig:
    # Nothing is fitted: one epoch of one example keeps the corpus config's checks satisfied.
    corpus = SentimentConfig(
        out=args.out, seed=args.seed, cache_dir=args.cache_dir, epochs=1, batch_size=1,
        maxlen=max(args.maxlen), verbose=runs.verbosity(args), command=args.command_line,
        **runs.imdb_fields(args), **vector_fields(args))
    return LengthsConfig(corpus, maxlens=tuple(args.maxlen), raw=args.raw)


def run(cfg: LengthsConfig) -> None:
    """Count the train reviews' tokens; print, plot and write lengths.json for each maxlen."""
    cfg.validate()
    corpus = cfg.corpus
    cache_dir = fit.prepare_cache_dir(corpus.cache_dir)
    out = runs.prepare_out_dir(corpus.out)
    count = _raw_lengths if cfg.raw else _vector_lengths
    lengths, what = count(corpus, cache_dir)
    stats = [length_stats(lengths, m) for m in cfg.maxlens]
    print(f"train reviews, counting {what}:")
    for st in stats:
        print("  " + st.describe())
    plot_histogram(lengths, list(cfg.maxlens), out / "lengths.png",
                   f"train review lengths ({what})")
    (out / "lengths.json").write_text(json.dumps(
        {"counting": what, "stats": [asdict(s) for s in stats], "command": corpus.command},
        indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}/lengths.png and lengths.json")


def _raw_lengths(cfg: SentimentConfig, cache_dir: Path) -> tuple[np.ndarray, str]:
    imdb = load_imdb(cfg.imdb, download=cfg.download, url=cfg.url, unsup=False,
                     max_per_split=cfg.max_reviews, seed=cfg.seed)
    lengths = tokenize_corpus([r.text for r in imdb.train], cfg.use_lowercase,
                              cache_dir).lengths()
    return np.asarray(lengths), "all tokens"


def _vector_lengths(cfg: SentimentConfig, cache_dir: Path) -> tuple[np.ndarray, str]:
    # Imported here: the sentiment trainer imports this module for its own lengths.png.
    from bardbot.trainer.sentiment import encode_texts, prepare_corpus

    corpus = prepare_corpus(cfg, cache_dir)
    encoding = WordEncoding(corpus.words, cfg.maxlen, cfg.use_lowercase, cfg.oov)  # type: ignore[arg-type]
    lengths = encode_texts(encoding, [r.text for r in corpus.imdb.train], cache_dir,
                           "encode train").raw_lengths
    return np.asarray(lengths), f"tokens with a {cfg.vectors} vector"

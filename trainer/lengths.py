"""Review length analysis as the reference does it, for choosing `maxlen`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


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

    def as_dict(self) -> dict:
        return asdict(self)

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

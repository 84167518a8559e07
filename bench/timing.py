"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np


def machine() -> str:
    """CPU count and load: timings on a busy machine are slower and noisier."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} (1/5/15 min)"


def measure(fn: Callable[[], object], repeats: int, warmup: int = 2) -> np.ndarray:
    """Wall-clock milliseconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def table(rows: list[tuple[str, np.ndarray]], baseline: str) -> str:
    """p50/p90 per path and each path's speed-up over `baseline` (ratio of medians)."""
    base = float(np.median(dict(rows)[baseline]))
    lines = [f"{'path':<46} {'n':>4} {'p50 ms':>10} {'p90 ms':>10} {'speed-up':>9}"]
    for name, ms in rows:
        p50, p90 = np.percentile(ms, [50, 90])
        lines.append(f"{name:<46} {len(ms):>4} {p50:>10.3f} {p90:>10.3f} {base / p50:>8.1f}x")
    return "\n".join(lines)

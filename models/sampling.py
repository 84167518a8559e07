"""Temperature sampling exactly as the reference: log(p) / T, renormalise, draw."""

from __future__ import annotations

import math

import numpy as np

# log(0) would be -inf; a floor keeps never-seen symbols at (practically) zero probability and
# an impossible char's loss at ~27.6 nats. Sampling, losses and the exported loop all use it.
PROB_FLOOR = 1e-12


def check_temperature(temperature: float) -> float:
    # float(True) would silently mean T = 1.0, float("0.5") would accept text.
    if isinstance(temperature, bool) or not isinstance(temperature, int | float | np.number):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    temperature = float(temperature)
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, got {temperature}")
    return temperature


def reweight(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The distribution the reference samples from: softmax(log(p) / T), as float64.

    Temperature <= 0 means greedy: all mass on the argmax (no division by zero).
    """
    temperature = check_temperature(temperature)
    probs = np.asarray(probs, dtype=np.float64)
    if temperature <= 0:
        out = np.zeros_like(probs)
        out[int(np.argmax(probs))] = 1.0
        return out
    log_probs = np.log(np.maximum(probs, PROB_FLOOR))
    # Shift before dividing: the same softmax, but a tiny T cannot overflow to inf - inf = NaN.
    # Overflow there only drives non-maximal entries to -inf, i.e. probability 0: the right limit.
    with np.errstate(over="ignore"):
        logits = (log_probs - log_probs.max()) / temperature
    weights = np.exp(logits)
    return weights / weights.sum()


def sample_index(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw one index from `reweight(probs, temperature)`; greedy (argmax) when T <= 0."""
    if check_temperature(temperature) <= 0:
        return int(np.argmax(probs))
    return draw_index(reweight(probs, temperature), rng)


def draw_index(weights: np.ndarray, rng: np.random.Generator) -> int:
    """One index with probability proportional to `weights`, from one `rng.random()`."""
    # Inverse-CDF draw: same distribution as the reference's np.random.multinomial, faster.
    target = rng.random() * weights.sum()
    return int(min(np.searchsorted(np.cumsum(weights), target, side="right"), len(weights) - 1))

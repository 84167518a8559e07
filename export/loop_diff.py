"""Why the one-run generator and the step loop wrote different texts, for `check_loop`'s error:
the first char they differ at, and how close that draw was to the boundary between the two
chars. The two samplers agree up to float64 rounding (~1e-15 of the cdf, measured), so a
difference at a draw far from any boundary is a real one: the loop computes other
probabilities than the step model, or draws differently.
"""

from __future__ import annotations

import numpy as np
from bardbot.models import sampling

# A draw this close to a boundary (as a share of the total weight) could be flipped by the
# last bits of float32 probabilities; farther away, nothing but a real difference flips it.
NEAR_TIE = 1e-6


def boundary_gap(probs: np.ndarray, temperature: float, u: float, one_run: int,
                 steps: int) -> float:
    """How far the draw `u` lies from the boundary between the chars `one_run` and `steps`
    in the step model's distribution `probs`, as a share of the total weight (chars of no
    weight between them share the boundary). Greedy: their probabilities' gap over the max."""
    p = np.asarray(probs, dtype=np.float64)
    if temperature <= 0:
        return float(abs(p[one_run] - p[steps]) / p.max())
    weights = sampling.reweight(p, temperature)
    cdf = np.cumsum(weights) / weights.sum()
    low, high = sorted((one_run, steps))
    return float(max(abs(u - cdf[low]), abs(u - cdf[high - 1])))


def describe(gen, prompt: str, temperature: float, seed: int, one_run: str, steps: str,
             steered: bool = False) -> str:
    """Where `one_run` (gen.generate) and `steps` (gen.generate_steps) first differ and why."""
    case = (f"prompt {prompt[:20]!r}{'...' if len(prompt) > 20 else ''}, T={temperature}, "
            f"seed {seed}{', steered' if steered else ''}")
    a, b = gen.encoding.encode(one_run), gen.encoding.encode(steps)
    k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if k is None:
        return f"{case}: one run wrote {len(a)} chars, the step loop {len(b)}"
    where = f"{case}: char {k} is {one_run[k]!r} in one run, {steps[k]!r} step by step"
    if steered:  # the automaton's gains are not replayed here
        return where
    probs = gen.next_char_probs(np.concatenate([gen._prompt_ids(prompt), b[:k]]))[-1]
    u = float(np.random.default_rng(seed).random(k + 1)[k]) if temperature > 0 else 0.0
    gap = boundary_gap(probs, temperature, u, int(a[k]), int(b[k]))
    verdict = ("a near tie, which float32 rounding of the probabilities can flip"
               if gap <= NEAR_TIE else "not a near tie: a real difference")
    return f"{where}; the draw lies {gap:.2g} from the boundary between them ({verdict})"

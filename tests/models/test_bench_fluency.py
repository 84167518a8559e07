"""bench/bench_fluency.py's min-p drawer: the step loop's drawer plus a tail cut, nothing else."""

import sys
from pathlib import Path

import numpy as np
from bardbot.export.generator import random_steering
from bardbot.models import sampling, shakespeare

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # scripts import by name
import bench_fluency

N_CHARS = 12


def draws(drawer, rows: np.ndarray) -> list[int]:
    return [drawer(p) for p in rows]


def test_without_a_cut_it_draws_what_the_step_loop_draws():
    rows = np.random.default_rng(0).dirichlet(np.ones(N_CHARS) * 0.3, size=200)
    steering = random_steering(N_CHARS)
    for steer_with in (None, steering):
        plain = shakespeare._Drawer(0.5, np.random.default_rng(1), steer_with)
        cut = bench_fluency.MinPDrawer(0.5, np.random.default_rng(1), steer_with)
        assert cut.min_p == 0.0 and draws(cut, rows) == draws(plain, rows)


def test_the_cut_drops_chars_far_below_the_likeliest_after_temperature_and_gains():
    rows = np.random.default_rng(2).dirichlet(np.ones(N_CHARS) * 0.3, size=300)
    steering = random_steering(N_CHARS)

    class Cut(bench_fluency.MinPDrawer):
        min_p = 0.3

    drawer = Cut(0.5, np.random.default_rng(3), steering)
    states = [drawer._state]
    chosen = []
    for p in rows:
        chosen.append(drawer(p))
        states.append(drawer._state)
    for p, state, index in zip(rows, states, chosen, strict=False):
        weights = steering.weights(state, p, sampling.reweight(p, 0.5))
        assert weights[index] >= 0.3 * weights.max()
    # The automaton moves on exactly as in the step loop.
    expected = [steering.start]
    for index in chosen:
        expected.append(int(steering.next[expected[-1], index]))
    assert states == expected

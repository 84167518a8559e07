"""bench/bench_fluency.py: its min-p drawer (the step loop's drawer plus a tail cut) and its
redrawn answer (the bard's answer, drawn again while a content word comes 3 times)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from bardbot.export.generator import random_steering
from bardbot.models import ShakespeareGenerator, sampling, shakespeare, steer
from bardbot.models.metadata import MODELS_DIR

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


def test_a_reply_that_says_a_content_word_three_times_repeats():
    lexicon = steer.Lexicon.with_counts({"feast": 3}, words=("feast",), english={},
                                        neighbours={}, stopwords=frozenset({"the", "and"}))
    assert bench_fluency.repeats("the feast, the feasts and the feast", lexicon)  # "s" folded
    assert not bench_fluency.repeats("the the the bread and bread", lexicon)  # stopwords
    assert not bench_fluency.repeats("Bread, feast and bread", lexicon)
    assert bench_fluency.repeats("Bread, feast and bread", lexicon, times=2)


@pytest.mark.skipif(not (MODELS_DIR / "bard.onnx").is_file(), reason="bard not exported")
def test_the_benchs_answer_is_the_bards_and_redraws_while_it_repeats(monkeypatch):
    bard = ShakespeareGenerator.load("bard")
    message = "the bread is stale"
    once = bench_fluency.answer(bard, message, "ROMEO", 0.5, seed=2)
    assert once == bard.answer(message, "ROMEO", 200, 0.5, seed=2)
    tries = []
    monkeypatch.setattr(bench_fluency, "repeats", lambda text, _: tries.append(text) or True)
    last = bench_fluency.answer(bard, message, "ROMEO", 0.5, seed=2, redraws=2)
    assert len(tries) == 3 and tries[0] == once and last == tries[-1] != once

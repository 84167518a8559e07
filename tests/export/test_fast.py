"""The fast model: a words-core run exported as one per-id table, scored like Keras."""

import json

import numpy as np
import pytest
from bardbot.export.__main__ import main as export_main
from bardbot.export.fast import (
    PAD_LEVEL,
    keras_words_weights,
    quantize_table,
    words_graph,
)
from bardbot.export.onnx_io import session
from bardbot.models import SentimentClassifier
from bardbot.trainer.message import build_model, calibrate, negation_matrix

from tests.export.tiny import tiny_fast_model, tiny_fast_run, tiny_message_run

CALIBRATION = {"scale": 1.3, "bias": -0.2, "log_length": 0.1}


def _keras_probs(model, ids: np.ndarray) -> np.ndarray:
    p = np.asarray(model.predict_on_batch(ids), np.float64).reshape(-1)
    return calibrate(CALIBRATION, np.log(p / (1 - p)), (ids != 0).sum(axis=1))


@pytest.mark.parametrize("word_scores", [False, True])
def test_the_table_graph_scores_like_the_masked_keras_model(word_scores):
    rows, columns = 30, 7
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(rows, columns)).astype(np.float32)
    vectors[:2] = 0.0
    embedding = negation_matrix(vectors, columns - 1)
    model = build_model(2 * rows, columns + 1, embedding, units=5, core="words",
                        token_hidden=6, word_scores=word_scores)
    assert "token_dense" in [layer.name for layer in model.layers]
    if word_scores:  # as if trained: each id's own score
        model.get_layer("word_score").set_weights([rng.normal(size=(2 * rows, 1))])
    weights, _, _ = keras_words_weights(model, embedding, CALIBRATION)
    proto = words_graph(weights)
    ids = np.zeros((4, 9), np.int32)  # mixed lengths, negated ids (>= rows) among them
    for i, n in enumerate((9, 1, 4, 6)):
        ids[i, :n] = rng.integers(2, 2 * rows, n)
    got = session(proto).run(["prob"], {"token_ids": ids})[0]
    # Exactly what the stored table says; within int8 rounding of the Keras model.
    np.testing.assert_allclose(got, weights.probs(ids), atol=1e-6)
    assert np.abs(got - _keras_probs(model, ids)).max() < 0.02
    assert len(proto.graph.node) == 16


def test_the_padding_row_is_below_every_real_row():
    table = np.tanh(np.random.default_rng(2).normal(size=(50, 4)) * 5).astype(np.float32)
    table[7] = -1.0  # the least a tanh can give
    q, scale = quantize_table(table)
    assert q.dtype == np.int8 and (q[0] == PAD_LEVEL).all() and (q[1:] >= -127).all()
    assert np.abs(q[1:] * scale - table[1:]).max() <= scale.max() / 2 + 1e-7


@pytest.fixture(scope="module")
def fast() -> SentimentClassifier:
    return SentimentClassifier.load(tiny_fast_model())


TEXTS = ["great film :)", "not bad at all", "the worst. day. ever.", "I hate mondays 😡",
         "a dull, boring, awful film with a plot that goes nowhere and actors who look lost"]


def test_the_exported_run_loads_with_the_message_contract(fast):
    meta = json.loads(tiny_fast_model().with_suffix(".json").read_text())
    assert meta["name"] == "fast" and meta["graph"]["nodes"] == 16
    assert meta["table"]["units"] == 6 and fast.variable_length
    alone = [fast.score_texts([t])[0] for t in TEXTS]
    np.testing.assert_allclose(fast.score_texts(TEXTS), alone, atol=1e-6)
    ids, _ = fast.encoding.encode_batch(TEXTS[:1], pad_to_longest=True)
    padded = np.zeros((1, 40), np.int32)
    padded[0, : ids.shape[1]] = ids[0]
    np.testing.assert_allclose(fast.scores(padded), fast.scores(ids), atol=1e-6)
    [unknown] = fast.predict(["zzqx vvbn"])
    assert unknown.score == 0.5
    for pairs in fast.explain(TEXTS):
        assert pairs and all(isinstance(points, float) for _, points in pairs)


def test_the_export_checks_parity_against_keras():
    meta = json.loads(tiny_fast_model().with_suffix(".json").read_text())
    diffs = meta["metrics"]["export"]["parity_max_abs_diff"]
    assert max(v for k, v in diffs.items() if "vs Keras pooled" in k or "in numpy" in k) < 1e-5
    assert diffs["stored tables vs Keras"] <= diffs["stored tables vs Keras, bound"]


def test_each_exporter_refuses_the_other_core(tmp_path, capsys):
    assert export_main(["message", str(tiny_fast_run()), "--out", str(tmp_path)]) == 1
    assert "export fast" in capsys.readouterr().err
    assert export_main(["fast", str(tiny_message_run()), "--out", str(tmp_path)]) == 1
    assert "--core words" in capsys.readouterr().err

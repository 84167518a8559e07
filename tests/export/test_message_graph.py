"""The message model's hand-written graph: the masked Keras model's scores, fewer nodes."""

import numpy as np
import pytest
from bardbot.export.message import keras_weights, quantize_rows, rebuild_message_file
from bardbot.export.message_graph import message_graph
from bardbot.export.onnx_io import session
from bardbot.models import SentimentClassifier
from bardbot.trainer.message import build_model, negation_matrix

from tests.export.tiny import tiny_message_model

CALIBRATION = {"scale": 1.3, "bias": -0.2, "log_length": 0.1}


@pytest.mark.parametrize("bidirectional", [True, False])
def test_the_graph_scores_like_the_masked_keras_model(bidirectional):
    rows, columns = 30, 7
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(rows, columns)).astype(np.float32)
    vectors[:2] = 0.0  # padding and UNK, as in every vocabulary matrix
    q, scale = quantize_rows(vectors)
    stored = negation_matrix(q.astype(np.float32) * scale[:, None], columns - 1)
    model = build_model(2 * rows, columns + 1, stored, units=5, bidirectional=bidirectional)
    proto = message_graph(keras_weights(model, q, scale, CALIBRATION, columns - 1, True))
    ids = np.zeros((4, 9), np.int32)  # mixed lengths, negated ids (>= rows) among them
    for i, n in enumerate((9, 1, 4, 6)):
        ids[i, :n] = rng.integers(2, 2 * rows, n)
    p = np.asarray(model.predict_on_batch(ids), np.float64).reshape(-1)
    n = (ids != 0).sum(axis=1)
    logit = CALIBRATION["scale"] * np.log(p / (1 - p)) + CALIBRATION["bias"]
    expected = 1 / (1 + np.exp(-(logit + CALIBRATION["log_length"] * np.log(n))))
    got = session(proto).run(["prob"], {"token_ids": ids})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(proto.graph.node) == 28


def test_rebuilding_a_file_keeps_its_scores(tmp_path):
    src = tiny_message_model()
    for suffix in (".onnx", ".json"):
        (tmp_path / f"m{suffix}").write_bytes(src.with_suffix(suffix).read_bytes())
    texts = ["great film :)", "not bad at all", "the worst. day. ever.", "I hate mondays 😡"]
    before = SentimentClassifier.load(tmp_path / "m.onnx").score_texts(texts)
    rebuild_message_file(tmp_path / "m.onnx", log=lambda _: None)
    after = SentimentClassifier.load(tmp_path / "m.onnx")  # sha256 and JSON seal updated
    np.testing.assert_allclose(after.score_texts(texts), before, atol=1e-6)
    rebuild_message_file(tmp_path / "m.onnx", log=lambda _: None)  # its own graph reads back
    np.testing.assert_allclose(SentimentClassifier.load(tmp_path / "m.onnx")
                               .score_texts(texts), before, atol=1e-6)

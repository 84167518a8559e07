import numpy as np
import pytest
from bardbot.models.sampling import reweight, sample_index
from bardbot.models.text import CharEncoding
from bardbot.trainer.data import split_heldout
from bardbot.trainer.sentiment import build_model as build_sentiment
from bardbot.trainer.sentiment import param_counts, reference_trainable_params
from bardbot.trainer.shakespeare import (
    build_model,
    generate,
    make_batches,
    reference_params,
    sequence_model,
    stateful_losses,
    window_starts,
    windowed_loss,
)


def test_reference_sentiment_model_has_90201_trainable_params():
    model = build_sentiment(vocab_size=10, dim=300, maxlen=400)
    assert param_counts(model)["trainable"] == 90_201 == reference_trainable_params(300, 400)
    assert param_counts(model)["total"] == 90_201 + 10 * 300  # + the frozen embedding
    assert model.inputs[0].name == "token_ids" and model.inputs[0].dtype == "int32"
    assert [layer.name for layer in model.layers[1:3]] == ["embedding", "lstm"]
    assert not model.get_layer("embedding").trainable
    assert model.layers[-1].name == "dense"


def test_frozen_embedding_gets_the_vectors():
    matrix = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    model = build_sentiment(4, 3, 5, embedding=matrix)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], matrix)


def test_reference_char_model_has_98098_params_for_both_objectives():
    assert reference_params(50) == 98_098
    for objective in ("last", "every"):
        model = build_model(50, objective=objective)
        assert model.count_params() == 98_098
    assert build_model(50).inputs[0].shape == (None, 40, 50)
    assert build_model(50, objective="every").inputs[0].shape == (None, None, 50)


def test_windows_never_cross_the_heldout_split_or_texts():
    texts = [np.arange(100), np.arange(100, 150)]
    train, held = zip(*(split_heldout(t, 0.1) for t in texts), strict=True)
    assert [len(t) for t in train] == [90, 45] and [len(h) for h in held] == [10, 5]
    assert split_heldout("to be or not", 0.25) == ("to be or ", "not")  # text splits alike
    ids, starts = window_starts(train, window=40, step=3)
    assert ids.tolist() == list(range(90)) + list(range(100, 145))
    for s in starts:  # window + next char inside one training segment
        assert (s + 40 < 90) or (s >= 90 and s + 40 < 135)
    assert len(starts) == len(range(0, 50, 3)) + len(range(0, 5, 3))


def test_batches_are_one_hot_windows_and_next_chars():
    enc = CharEncoding.from_corpus("abcdefgh")
    ids = enc.encode("abcdefghabcdefgh")
    _, starts = window_starts([ids], 4, 2)
    last = make_batches(enc, ids, starts, 4, 3, "last", seed=0)
    x, y = last[0]
    assert x.shape == (3, 4, 8) and y.shape == (3, 8)
    first = x.argmax(-1)[:, 0]
    np.testing.assert_array_equal(y.argmax(-1), (first + 4) % 8)
    every = make_batches(enc, ids, starts, 4, 3, "every", seed=0)
    x2, y2 = every[0]
    assert y2.shape == (3, 4, 8)
    np.testing.assert_array_equal(y2.argmax(-1)[:, :-1], x2.argmax(-1)[:, 1:])


def test_stateful_run_equals_windowed_where_contexts_coincide():
    """A held-out text of exactly window+1 chars: both see the same 40 chars from zero state."""
    enc = CharEncoding.from_corpus("abcdefghij")
    model = build_model(enc.size, window=6, units=8)
    seq = sequence_model(model)
    seg = enc.encode("abcdefg")
    windowed = windowed_loss(model, enc, [seg], 6)
    stateful = stateful_losses(seq, enc, [seg], 6)
    assert stateful["same_positions"] == pytest.approx(windowed, rel=1e-5)
    assert stateful["chars"] == 6
    x = enc.one_hot(seg[None, :6])
    np.testing.assert_allclose(seq.predict_on_batch(x)[0, -1], model.predict_on_batch(x)[0],
                               atol=1e-6)


def test_sampling_properties():
    probs = np.array([0.05, 0.6, 0.25, 0.1])
    rng = np.random.default_rng(0)
    assert all(sample_index(probs, t, rng) == 1 for t in (0.0, -1.0, 1e-12))  # T -> 0: argmax
    for t in (0.2, 0.5, 1.0, 3.0):
        assert reweight(probs, t).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(reweight(probs, 1.0), probs)
    assert reweight(probs, 0.2)[1] > reweight(probs, 0.5)[1] > reweight(probs, 1.0)[1]
    draws = [sample_index(probs, 1.0, np.random.default_rng(7)) for _ in range(3)]
    assert len(set(draws)) == 1
    counts = np.bincount([sample_index(probs, 1.0, rng) for _ in range(4000)], minlength=4)
    np.testing.assert_allclose(counts / 4000, probs, atol=0.03)


def test_generation_is_seeded_and_uses_known_chars():
    enc = CharEncoding.from_corpus("to be or not")
    seq = sequence_model(build_model(enc.size, window=5, units=4))
    a = generate(seq, enc, "to be", 12, 1.0, 5, seed=1)
    assert a == generate(seq, enc, "to be", 12, 1.0, 5, seed=1)
    assert len(a) == 12 and set(a) <= set(enc.chars)
    greedy = generate(seq, enc, "to be", 6, 0.0, 5, seed=1)
    assert greedy == generate(seq, enc, "to be", 6, 0.0, 5, seed=2)

"""The message sentiment model at run time: its own lengths, batch independence, the switch."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from bardbot.export.suite import build_cases, run_suite
from bardbot.models import ModelError, SentimentClassifier, sentiment
from bardbot.models.metadata import META_HASH, meta_sha256, resolve_path
from bardbot.models.sentiment import length_buckets, measured_run_cost
from bardbot.models.text import WordEncoding

from tests.export.tiny import tiny_message_model


@pytest.fixture(scope="module")
def message() -> SentimentClassifier:
    return SentimentClassifier.load(tiny_message_model())


TEXTS = ["great film :)", "not bad at all", "the worst. day. ever.", "I hate mondays 😡",
         "a dull, boring, awful film with a plot that goes nowhere and actors who look lost"]


def test_the_graph_reads_token_ids_of_any_length(message):
    assert message.variable_length
    [shape] = [i.shape for i in message._session.get_inputs()]
    assert len(shape) == 2 and not isinstance(shape[1], int)


def test_a_score_does_not_depend_on_the_other_texts_in_its_batch(message):
    alone = [message.score_texts([t])[0] for t in TEXTS]
    together = message.score_texts(TEXTS)
    reordered = message.score_texts(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(reordered, alone, atol=1e-6)


def test_padding_never_changes_a_score(message):
    ids, _ = message.encoding.encode_batch(["great film :)"], pad_to_longest=True)
    padded = np.zeros((1, 60), dtype=np.int32)
    padded[0, : ids.shape[1]] = ids[0]
    np.testing.assert_allclose(message.scores(padded), message.scores(ids), atol=1e-6)


def test_a_score_does_not_depend_on_maxlen_for_a_text_shorter_than_it(message, tmp_path):
    src = tiny_message_model()
    for suffix in (".onnx", ".json"):
        (tmp_path / f"m{suffix}").write_bytes(src.with_suffix(suffix).read_bytes())
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["encoding"]["maxlen"] = 20
    meta[META_HASH] = meta_sha256(meta)
    (tmp_path / "m.json").write_text(json.dumps(meta))
    short = SentimentClassifier.load(tmp_path / "m.onnx")
    np.testing.assert_allclose(short.score_texts(TEXTS[:4]), message.score_texts(TEXTS[:4]),
                               atol=1e-6)


def test_a_batch_runs_in_length_buckets_that_hold_every_text_once():
    lengths = [3, 0, 5, 3, 12, 4, 0, 30, 5]
    for cost in (0, 1, 12, 10_000):
        buckets = length_buckets(lengths, cost)
        assert sorted(r for rows, _ in buckets for r in rows) == [i for i, n in
                                                                    enumerate(lengths) if n]
        assert all(width == max(lengths[r] for r in rows) for rows, width in buckets)
    assert len(length_buckets(lengths, 0)) == len({n for n in lengths if n})
    assert len(length_buckets(lengths, 10_000)) == 1
    assert length_buckets([7], 12) == [(slice(None), 7)]


def test_a_runs_cost_in_steps_is_its_fixed_time_over_the_time_a_step_adds(monkeypatch):
    class Session:  # 30 µs a run and 2.5 µs a text's step, on a clock of its own
        now = 0.0

        def run(self, outputs, feed):
            rows, steps = feed["token_ids"].shape
            self.now += 30e-6 + 2.5e-6 * rows * steps

    session = Session()
    monkeypatch.setattr(sentiment, "time", SimpleNamespace(perf_counter=lambda: session.now))
    assert measured_run_cost(session) == 13  # (30 + 2.5) / 2.5


def test_load_measures_the_run_cost_of_a_variable_length_model(message):
    assert "run_cost_in_steps" in vars(message)  # this model's own, not the class default
    assert message.run_cost_in_steps >= 1


def test_a_text_with_no_known_word_is_exactly_uncertain(message):
    [r] = message.predict(["zzqx vvbn"])
    assert r.score == 0.5 and r.uncertain and r.unknown_ratio == 1.0
    [empty] = message.predict([""])
    assert empty.score == 0.5 and empty.tokens == ()


def test_results_are_valid_for_nasty_text(message):
    texts = ["\x00\u202e", "😀" * 500, "<@123> <#456> https://x.y", "a" * 10_000, "NOT BAD!!!"]
    for r in message.predict(texts):
        assert 0.0 <= r.score <= 1.0 and r.label in ("positive", "negative")


def test_negated_words_get_their_own_ids():
    enc = WordEncoding(("bad", "good"), 10, lowercase=True, normalization="message",
                       negation=True)
    ids = enc.encode("bad, not bad").ids.tolist()
    assert ids[:2] == [2, 2 + enc.vocab_size] and enc.id_count == 2 * enc.vocab_size


def test_the_suite_runs_on_a_tiny_model_and_reports_every_capability(message):
    cases = build_cases()
    assert len(cases) >= 500
    result = run_suite(message.score_texts, cases)
    assert result["cases"] == len(cases)
    assert set(result["capabilities"]) == {c.capability for c in cases}
    for row in result["capabilities"].values():
        assert 0 <= row["passed"] <= row["cases"] and len(row["failures"]) <= 3
    assert 0.0 <= result["negation"] <= 1.0


def test_the_suite_counts_an_invariance_case_only_when_both_labels_agree():
    cases = [c for c in build_cases() if c.base is not None][:4]
    # A model that calls every text with a URL or mention negative breaks invariance.
    result = run_suite(lambda texts: [0.1 if ("http" in t or "@" in t or "<" in t) else 0.9
                                      for t in texts], cases)
    expected = sum(c.label == 1 and not any(m in c.text for m in ("http", "@", "<"))
                   for c in cases)
    assert sum(r["passed"] for r in result["capabilities"].values()) == expected


def test_shipped_names_resolve_to_their_files_and_a_bad_path_is_an_error(tmp_path):
    assert resolve_path("reference", "sentiment").name == "sentiment.onnx"
    assert resolve_path("message", "sentiment").name == "sentiment-message.onnx"
    assert resolve_path("fast", "sentiment").name == "sentiment-fast.onnx"
    with pytest.raises(ModelError, match=r"sentiment\.v2: not a sentiment model"):
        SentimentClassifier.load(tmp_path / "sentiment.v2")

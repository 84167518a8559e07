"""`SentimentClassifier.explain`: each written word's contribution by occlusion, in one run."""

import numpy as np
import pytest
from bardbot.models import SentimentClassifier

from tests.export.tiny import tiny_message_model


@pytest.fixture(scope="module")
def message() -> SentimentClassifier:
    return SentimentClassifier.load(tiny_message_model())


@pytest.fixture(scope="module")
def shipped() -> SentimentClassifier:
    return SentimentClassifier.load("message")


@pytest.fixture
def session_runs(shipped):
    """(the shapes of the token ids each session run got, a session that records them)."""
    calls: list[tuple[int, ...]] = []
    real = shipped._session

    class Counting:
        def run(self, *args, **kwargs):
            calls.append(args[1]["token_ids"].shape)
            return real.run(*args, **kwargs)

    return calls, Counting()


def without(words: list[str], i: int) -> str:
    return " ".join(words[:i] + words[i + 1:])


@pytest.mark.parametrize("model", ["message", "shipped"])
def test_a_contribution_is_what_the_score_loses_without_the_word(model, request):
    clf = request.getfixturevalue(model)
    text = "a great film , not bad at all and never dull"
    words = text.split()
    [pairs] = clf.explain([text])
    assert [word for word, _ in pairs] == words  # every word as written, in text order
    whole = clf.score_texts([text])[0]
    alone = clf.score_texts([without(words, i) for i in range(len(words))])
    np.testing.assert_allclose([c for _, c in pairs], 100 * (whole - alone), atol=1e-4)


def test_words_are_kept_as_written_and_unknown_ones_contribute_nothing(shipped):
    [pairs] = shipped.explain(["LOVED it 😍 zzqxv!!!"])
    assert [w for w, _ in pairs] == ["LOVED", "it", "😍", "zzqxv!!!"]
    assert dict(pairs)["LOVED"] > 2  # pushes positive (how far: the model; 😍 saturates it)
    [nothing] = shipped.explain(["zzqxv vvbnq"])
    assert nothing == [("zzqxv", 0.0), ("vvbnq", 0.0)]


def test_negation_is_recomputed_without_the_cue(shipped):
    [pairs] = shipped.explain(["not bad"])
    contributions = dict(pairs)
    assert contributions["not"] > 10  # without "not", "bad" reads negative


def test_many_texts_are_explained_in_one_session_run(shipped, session_runs, monkeypatch):
    calls, counting = session_runs
    texts = ["great film", "so boring", "", "the plot was fine but the acting was awful"]
    monkeypatch.setattr(shipped, "_session", counting)
    explained = shipped.explain(texts)
    monkeypatch.undo()
    assert [len(p) for p in explained] == [len(t.split()) for t in texts]
    # Each text and each text without one word; an empty row is not run (exactly 0.5).
    assert sum(shape[0] for shape in calls) == 3 + 3 + 0 + 10
    assert len(calls) <= 2  # one run per length bucket (similar lengths share one)


def test_only_the_first_words_of_a_long_text_are_left_out(shipped, monkeypatch):
    monkeypatch.setattr(shipped, "explained_words", 3)
    [pairs] = shipped.explain(["good great fine awful bad"])
    assert [c != 0.0 for _, c in pairs] == [True, True, True, False, False]


def test_explain_checks_its_argument_and_works_on_the_reference():
    reference = SentimentClassifier.load("reference")
    with pytest.raises(TypeError, match="list"):
        reference.explain("a text")
    [pairs] = reference.explain(["a superb film"])
    assert max(pairs, key=lambda p: p[1])[0] == "superb"
    assert reference.explain([]) == [] and reference.explain(["", "  "]) == [[], []]


@pytest.mark.parametrize("text", ["good " * 1200, "\ufdfa " * 3000, "😀 " * 3000, "zz " * 3000])
def test_explaining_a_long_text_scores_a_bounded_number_of_bounded_rows(
    shipped, session_runs, monkeypatch, text
):
    calls, counting = session_runs
    encoding = shipped.encoding
    marked = []
    real_marked = type(encoding).marked_ids

    def counting_marked(self, tokens, known):
        marked.append(len(tokens))
        return real_marked(self, tokens, known)

    monkeypatch.setattr(shipped, "_session", counting)
    monkeypatch.setattr(type(encoding), "marked_ids", counting_marked)
    [pairs] = shipped.explain([text])
    assert len(pairs) == len(text.split())
    # Only the part the model reads is taken apart: the work does not grow with the text.
    assert len(marked) <= shipped.explained_words + 1
    assert max(marked) <= 2 * encoding.maxlen + 18  # the last word read may pass the cap
    assert sum(rows for rows, _ in calls) <= shipped.explained_words + 1
    assert all(width <= shipped.encoding.maxlen for _, width in calls)


def test_predict_explained_is_predict_and_explain_in_one_session_run(shipped, session_runs,
                                                                      monkeypatch):
    calls, counting = session_runs
    texts = ["LOVED it 😍 zzqxv!!!", "not bad at all", "", "the worst. day. ever. :("]
    monkeypatch.setattr(shipped, "_session", counting)
    both = shipped.predict_explained(texts)
    runs = len(calls)
    monkeypatch.undo()
    for (result, _), alone in zip(both, shipped.predict(texts), strict=True):
        assert result.score == pytest.approx(alone.score, abs=1e-6)
        assert (result.label, result.tokens, result.unknown) == (alone.label, alone.tokens,
                                                                 alone.unknown)
    assert [pairs for _, pairs in both] == shipped.explain(texts)
    assert runs <= 2  # one per length bucket, as for `explain`

"""Messages made only of emoji: scored by the Emoji Sentiment Ranking (models/emoji_ranking.py)."""

import json
import math

import numpy as np
import pytest
from bardbot.export.emoji_ranking import export_emoji_ranking, ranking_entries
from bardbot.models import ModelError, SentimentClassifier
from bardbot.models.emoji_ranking import (
    FORMAT,
    MIN_OCCURRENCES,
    RANKING,
    EmojiRanking,
    combine,
    positive_share,
    shipped_ranking,
)

from tests.export.tiny import tiny_message_model

RANKING_FIXTURE = EmojiRanking({"🎉": 0.9, "💔": 0.2, "👍": 0.8})


@pytest.fixture(scope="module")
def shipped() -> SentimentClassifier:
    return SentimentClassifier.load("message")


def log_odds(p: float) -> float:
    return math.log(p / (1 - p))


def alone(ranking: EmojiRanking, text: str) -> float:
    """The score of a message of emoji alone: the model reads nothing (0.5)."""
    rest, evidence = ranking.split(text)
    assert rest.strip() == "" and evidence is not None
    return combine(0.5, evidence)


@pytest.mark.parametrize("text, rest, shares", [
    ("🎉", " ", [0.9]),
    ("🎉🎉🎉", "   ", [0.9]),  # each distinct emoji counts once
    (" 🎉 💔\n", "    \n", [0.9, 0.2]),
    ("👍🏽", "  ", [0.8]),  # a skin tone says nothing of sentiment
    ("👍\ufe0f", "  ", [0.8]),  # nor does the emoji presentation selector
    ("passed my exam🎉!", "passed my exam !", [0.9]),
    ("great 🤮🎉", "great 🤮 ", [0.9]),  # an emoji the ranking lacks is the model's to read
])
def test_ranked_emoji_leave_the_text_and_give_their_mean_log_odds(text, rest, shares):
    assert RANKING_FIXTURE.split(text) == (
        rest, pytest.approx(sum(map(log_odds, shares)) / len(shares)))


@pytest.mark.parametrize("text", ["", "great", ":)", "🤮", "👨\u200d💻", "\u3000", "\ufe0f", "é"])
def test_a_text_without_ranked_emoji_is_read_as_it_is(text):
    assert RANKING_FIXTURE.split(text) == (text, None)


def test_evidence_adds_to_the_models_log_odds():
    assert combine(0.7, None) == 0.7
    assert combine(0.5, log_odds(0.9)) == pytest.approx(0.9)
    assert combine(0.9, log_odds(0.2)) == pytest.approx(2.25 / 3.25)  # odds 9 x 1/4
    assert combine(1.0, -50.0) < 0.5 < combine(0.0, 50.0)  # a clipped score still moves


def test_the_evidence_without_each_word_is_that_of_the_other_words():
    words = ["🎉", "great", "💔🎉", "👍"]
    got = RANKING_FIXTURE.evidence_without_each(words)
    assert got == [RANKING_FIXTURE.split("💔🎉 👍")[1], RANKING_FIXTURE.split("🎉💔👍")[1],
                   RANKING_FIXTURE.split("🎉 👍")[1], RANKING_FIXTURE.split("🎉 💔")[1]]
    assert RANKING_FIXTURE.evidence_without_each(["🎉"]) == [None]


def test_a_share_is_of_polar_tweets_and_a_rare_emoji_is_drawn_to_one_half():
    assert positive_share(900, 100) == pytest.approx(905 / 1010)
    assert abs(positive_share(4, 0) - 0.5) < abs(positive_share(400, 0) - 0.5)
    assert positive_share(0, 0) == 0.5


def test_the_shipped_ranking_is_what_the_exporter_writes_from_the_package(tmp_path):
    from emosent import EMOJI_SENTIMENT_DICT

    path = export_emoji_ranking(tmp_path)
    assert path.read_bytes() == RANKING.read_bytes()
    entries = ranking_entries(EMOJI_SENTIMENT_DICT)
    assert all(EMOJI_SENTIMENT_DICT[e]["occurrences"] >= MIN_OCCURRENCES for e in entries)
    assert "👍" in entries and "¦" not in entries  # emoji only, not every symbol tweeted


def test_the_shipped_ranking_reads_the_emoji_the_way_tweets_used_them():
    ranking = shipped_ranking()
    assert alone(ranking, "😍") > 0.8 and alone(ranking, "😒") < 0.3
    assert alone(ranking, "🎉🎉") > 0.7 and alone(ranking, "💔") < 0.5


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read"),
    ("{not json", "cannot read"),
    (json.dumps({"format": "other/1", "emoji": {}}), "format"),
    ("[]", "format 'list'"),
    (json.dumps({"format": FORMAT, "emoji": {"🎉": [-1, 2]}}), "bad entry"),
    (json.dumps({"format": FORMAT, "emoji": {"🎉🎉": [1, 2]}}), "bad entry"),
    (f'{{"format": "{FORMAT}", "emoji": {{"x": [NaN, 2]}}}}', "bad entry"),
    (json.dumps({"format": FORMAT, "emoji": {"🎉": [1]}}), "cannot read"),
])
def test_a_missing_or_damaged_ranking_names_the_file_and_the_fix(tmp_path, content, problem):
    path = tmp_path / "emoji-ranking.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match=problem) as error:
        EmojiRanking.load(path)
    assert str(path) in str(error.value)
    assert "python -m bardbot.export emoji-ranking" in str(error.value)


def test_every_way_to_score_a_message_adds_the_emoji_evidence(shipped):
    texts = ["🎉🎉", "💔", "😡 👎", "passed my exam 🎉", "stuck in traffic 😡", "🤮 gross",
             "a fine day"]
    ranking = shipped.emoji_ranking
    without = SentimentClassifier.load("message")
    without.emoji_ranking = None  # the model alone
    expected = [combine(float(without.score_texts([rest])[0]), evidence)
                for rest, evidence in map(ranking.split, texts)]
    batch = shipped.predict(texts)
    one_by_one = [shipped.predict([t])[0] for t in texts]
    explained = shipped.predict_explained(texts)
    assert [r.score for r in batch] == pytest.approx(expected, abs=1e-9)
    assert shipped.score_texts(texts).tolist() == pytest.approx(expected, abs=1e-9)
    assert one_by_one == batch == [result for result, _ in explained]
    assert [r.label for r in batch[:5]] == ["positive", "negative", "negative", "positive",
                                             "negative"]
    assert batch[-1].score == without.predict(texts[-1:])[0].score  # no emoji: as before
    assert batch[-2].score == without.predict(texts[-2:-1])[0].score  # 🤮: not ranked


def test_an_emoji_contributes_what_the_score_loses_without_it(shipped):
    for text in ("😡 👎 😡", "passed my exam 🎉", "🎉🎉", "great 👍 movie 👎"):
        words = text.split()
        [pairs] = shipped.explain([text])
        assert [w for w, _ in pairs] == words
        whole = shipped.score_texts([text])[0]
        others = shipped.score_texts([" ".join(words[:i] + words[i + 1:])
                                      for i in range(len(words))])
        np.testing.assert_allclose([c for _, c in pairs], 100 * (whole - others), atol=1e-4)
    [pairs] = shipped.explain(["😡 👎 😡"])
    assert pairs[0][1] == 0.0  # the other 😡 still says it


def test_only_models_that_read_emoji_as_words_use_the_ranking():
    assert SentimentClassifier.load("reference").emoji_ranking is None
    assert SentimentClassifier.load(tiny_message_model()).emoji_ranking is shipped_ranking()


def test_ranked_emoji_are_tokens_of_the_result_the_commands_show(shipped):
    texts = ["🎉🎉", "got the job 🎉!", "a fine day"]
    for results in (shipped.predict(texts), [shipped.predict([t])[0] for t in texts],
                    [r for r, _ in shipped.predict_explained(texts)]):
        assert results[0].tokens == ("🎉", "🎉") and results[0].unknown_ratio == 0.0
        assert results[1].tokens == ("got", "the", "job", "!", "🎉")
        assert results[2].tokens == ("a", "fine", "day")

"""Messages made only of emoji: scored by the Emoji Sentiment Ranking (models/emoji_ranking.py)."""

import json

import pytest
from bardbot.export.emoji_ranking import export_emoji_ranking, ranking_entries
from bardbot.models import ModelError, SentimentClassifier
from bardbot.models.emoji_ranking import (
    FORMAT,
    MIN_OCCURRENCES,
    RANKING,
    EmojiRanking,
    positive_share,
    shipped_ranking,
)

from tests.export.tiny import tiny_message_model

RANKING_FIXTURE = EmojiRanking({"🎉": 0.9, "💔": 0.2, "👍": 0.8})


@pytest.fixture(scope="module")
def shipped() -> SentimentClassifier:
    return SentimentClassifier.load("message")


@pytest.mark.parametrize("text, expected", [
    ("🎉", 0.9),
    ("🎉🎉🎉", 0.9),  # each distinct emoji counts once
    (" 🎉 💔\n", (0.9 + 0.2) / 2),
    ("👍🏽", 0.8),  # a skin tone says nothing of sentiment
    ("👍\ufe0f", 0.8),  # nor does the emoji presentation selector
])
def test_a_message_of_ranked_emoji_scores_their_mean_share(text, expected):
    assert RANKING_FIXTURE.score(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    "", "great", ":)", "🎉 great", "great 🎉", "🎉!", "🤮", "🎉🤮",  # words, marks, unranked
    "👨\u200d💻", "\u3000", "\ufe0f", "é",  # a sequence, no emoji at all
])
def test_any_other_message_is_left_to_the_model(text):
    assert RANKING_FIXTURE.score(text) is None


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
    assert ranking.score("😍") > 0.8 and ranking.score("😒") < 0.3
    assert ranking.score("🎉🎉") > 0.7 and ranking.score("💔") < 0.5


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read"),
    ("{not json", "cannot read"),
    (json.dumps({"format": "other/1", "emoji": {}}), "format"),
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


def test_every_way_to_score_a_message_gives_the_ranking_for_emoji_alone(shipped):
    texts = ["🎉🎉", "💔", "😡 👎", "🎉 great party", "❤️"]
    ranked = [shipped.emoji_ranking.score(t) for t in texts]
    assert [r is None for r in ranked] == [False, False, False, True, False]
    batch = shipped.predict(texts)
    alone = [shipped.predict([t])[0] for t in texts]
    scores = shipped.score_texts(texts)
    explained = shipped.predict_explained(texts)
    for i, expected in enumerate(ranked):
        if expected is not None:
            assert batch[i].score == alone[i].score == scores[i] == pytest.approx(expected)
        assert explained[i][0] == batch[i] == alone[i]
    assert batch[0].label == "positive" and batch[1].label == "negative"


def test_an_emoji_explanation_is_what_the_ranking_loses_without_it(shipped):
    ranking = shipped.emoji_ranking
    [pairs] = shipped.explain(["😡 👎 😡"])
    assert [w for w, _ in pairs] == ["😡", "👎", "😡"]
    whole = ranking.score("😡 👎 😡")
    assert dict(pairs)["👎"] == pytest.approx(100 * (whole - ranking.score("😡 😡")))
    assert pairs[0][1] == pytest.approx(0.0)  # the other 😡 still says it
    [[(_, contribution)]] = shipped.explain(["🎉🎉"])
    assert contribution == pytest.approx(100 * (ranking.score("🎉") - 0.5))


def test_only_models_that_read_emoji_as_words_use_the_ranking():
    assert SentimentClassifier.load("reference").emoji_ranking is None
    assert SentimentClassifier.load(tiny_message_model()).emoji_ranking is shipped_ranking()

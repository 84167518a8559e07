"""The models committed in the repo: they load without TensorFlow and behave like trained models."""

import pytest
from bardbot.models import SentimentClassifier, ShakespeareGenerator
from bardbot.models.metadata import MODELS_DIR

SHIPPED = [MODELS_DIR / f"{name}{ext}" for name in ("sentiment", "shakespeare")
           for ext in (".onnx", ".json")]
pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in SHIPPED),
    reason="models not exported yet (python -m bardbot.export all)"
)


def test_shipped_files_fit_the_size_budget():
    files = [*MODELS_DIR.glob("*.onnx"), *MODELS_DIR.glob("*.json")]
    assert sum(p.stat().st_size for p in files) <= 40_000_000  # the issues' 40 MB, decimal


def test_shipped_sentiment_classifier():
    clf = SentimentClassifier.load("reference")
    good, bad = clf.predict([
        "One of the best films I have ever seen. Wonderful acting, a beautiful story, and a "
        "great score. I loved every minute of it and highly recommend it.",
        "This was the worst movie I have ever seen. Terrible acting, a boring, stupid plot and "
        "awful dialogue. A complete waste of time and money.",
    ])
    assert (good.label, bad.label) == ("positive", "negative")
    assert good.score > 0.7 and bad.score < 0.3
    assert clf.info["metrics"]["training"]["test_accuracy"] > 0.8
    assert clf.info["sha256"] and clf.info["training_command"].startswith("python -m trainer")


def test_shipped_generator():
    gen = ShakespeareGenerator.load()
    text = gen.generate("To be, or not to be, that is the question:", 300, 0.5, seed=7)
    assert len(text) == 300 and set(text) <= set(gen.encoding.chars)
    assert text == gen.generate("To be, or not to be, that is the question:", 300, 0.5, seed=7)
    # A trained model: far below the 3.9 nats/char of guessing among 50 characters.
    line = "the king is dead, my lord, and the queen hath sent for you.\nwhat says the king?"
    assert gen.loss(line) < 2.5


# Scores of the shipped reference model, recorded with the code before the message model
# existed: the reference must answer exactly as it did.
REFERENCE_SCORES = {
    "not bad at all": 0.3592737317085266, "not great": 0.6125751733779907,
    "I hate mondays": 0.5147781372070312, "worst. day. ever.": 0.5565831065177917,
    "GREAT MOVIE": 0.7523733377456665, "great movie": 0.921619713306427,
    "😀😀🎉": 0.5283410549163818, "A gripping, beautifully acted film.": 0.9927325248718262,
}


def test_the_reference_answers_exactly_as_before():
    clf = SentimentClassifier.load("reference")
    assert not clf.variable_length and clf.info["name"] == "reference"
    scores = clf.score_texts(list(REFERENCE_SCORES))
    assert scores.tolist() == pytest.approx(list(REFERENCE_SCORES.values()), abs=1e-7)


def test_the_shipped_fast_model_loads_by_name_and_reads_like_the_message_model():
    fast, message = SentimentClassifier.load("fast"), SentimentClassifier.load("message")
    assert fast.info["name"] == "fast" and fast.variable_length
    assert fast.encoding.to_dict() == message.encoding.to_dict()
    good, bad, negated = fast.predict(["what a great film, I loved it", "awful, boring, a waste "
                                       "of time", "not bad at all"])
    assert (good.label, bad.label, negated.label) == ("positive", "negative", "positive")
    assert fast.info["metrics"]["export"]["imdb_test"]["accuracy"] > 0.85

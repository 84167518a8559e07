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
    every = [p for p in MODELS_DIR.iterdir() if p.suffix in (".onnx", ".json")]
    assert sum(p.stat().st_size for p in every) <= 40 * 1024 * 1024


def test_shipped_sentiment_classifier():
    clf = SentimentClassifier.load()
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

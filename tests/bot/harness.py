"""Drive a real discord.py bot without a network: `bardbot.testing` (shared with bench/)
plus deterministic stand-ins for the two models.

`FakeClassifier` / `FakeGenerator` implement the runtime API of `models` deterministically.
"""

from __future__ import annotations

import math
import threading

from bardbot.models.sentiment import SentimentResult
from bardbot.models.text import tokenize

# The network-free Discord (payloads, FakeSession, make_bot, ...), re-exported for the tests.
from bardbot.testing import *  # noqa: F403

# -- models ---------------------------------------------------------------------------------

POSITIVE = {"good", "great", "loved", "love", "wonderful", "best", "fun"}
NEGATIVE = {"bad", "awful", "hated", "boring", "dull", "worst"}
VOCAB = POSITIVE | NEGATIVE | {"the", "a", "film", "movie", "it", "was", "i", "this", "is", "and",
                                 ",", "."}


class FakeClassifier:
    """Counts positive and negative words; records the size of every batch it is given."""

    uncertain_margin = 0.1
    maxlen = 50

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.info = {
            "kind": "sentiment",
            "metrics": {"test_accuracy": 0.875, "val_accuracy": 0.88},
            "vocab_size": len(VOCAB) + 2,
            "maxlen": self.maxlen,
            "sha256": "ab" * 32,
        }

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        self.batches.append(len(texts))
        out = []
        for text in texts:
            tokens = tuple(tokenize(text, lowercase=True))
            unknown = tuple(t for t in tokens if t not in VOCAB)
            pos = sum(t in POSITIVE for t in tokens)
            neg = sum(t in NEGATIVE for t in tokens)
            score = 1 / (1 + math.exp(-(pos - neg)))
            out.append(
                SentimentResult(
                    label="positive" if score >= 0.5 else "negative",
                    score=score,
                    confidence=max(score, 1 - score),
                    uncertain=abs(score - 0.5) <= self.uncertain_margin,
                    tokens=tokens,
                    unknown=unknown,
                    unknown_ratio=len(unknown) / len(tokens) if tokens else 0.0,
                    truncated=len(tokens) - len(unknown) > self.maxlen,
                )
            )
        return out

    def explain(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """±25 points for a word holding a positive or negative word, else 0."""
        def points(word: str) -> float:
            tokens = set(tokenize(word, lowercase=True))
            return 25.0 * (bool(tokens & POSITIVE) - bool(tokens & NEGATIVE))
        return [[(word, points(word)) for word in text.split()] for text in texts]

    def predict_explained(self, texts: list[str]) -> list:
        return list(zip(self.predict(texts), self.explain(texts), strict=True))


class FakeGenerator:
    """Cycles a fixed phrase; `gate` (a threading.Event) can hold generations to test defer
    and busy; checks its arguments like the real generator."""

    max_length = 2000
    writes_plays = False  # like the lowercase reference: chat continues the message
    PHRASE = "and thou art more lovely, @everyone <@&1> **bold** "

    def __init__(self, phrase: str | None = None) -> None:
        self.phrase = phrase or self.PHRASE
        self.calls: list[dict] = []
        self.gate: threading.Event | None = None
        self.info = {
            "kind": "shakespeare",
            "metrics": {"heldout_loss_stateful": 1.41},
            "chars": "abc",
            "sha256": "cd" * 32,
        }

    def generate(
        self, prompt: str, length: int = 200, temperature: float = 0.5, seed: int | None = None
    ) -> str:
        if not math.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number, got {temperature}")
        if not 0 <= length <= self.max_length:
            raise ValueError(f"length must be between 0 and {self.max_length}, got {length}")
        self.calls.append(
            {"prompt": prompt, "length": length, "temperature": temperature, "seed": seed}
        )
        if self.gate is not None:
            self.gate.wait(10)
        return (self.phrase * (length // len(self.phrase) + 1))[:length]

    def normalize(self, text: str) -> str:
        return text.lower()

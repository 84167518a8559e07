"""What a model is at run time: shared text encoding, onnxruntime runners, shipped models.

    from bardbot.models import SentimentClassifier, ShakespeareGenerator
    clf = SentimentClassifier.load()
    gen = ShakespeareGenerator.load()

The runners are imported lazily, so `import models.text` (used by the trainer) does not load
onnxruntime, and nothing here ever imports TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bardbot.models.errors import ModelError, TextError

if TYPE_CHECKING:
    from bardbot.models.sentiment import SentimentClassifier, SentimentResult
    from bardbot.models.shakespeare import ShakespeareGenerator

__all__ = [
    "ModelError", "SentimentClassifier", "SentimentResult", "ShakespeareGenerator", "TextError",
]

_LAZY = {
    "SentimentClassifier": "bardbot.models.sentiment",
    "SentimentResult": "bardbot.models.sentiment",
    "ShakespeareGenerator": "bardbot.models.shakespeare",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")

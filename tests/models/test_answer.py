"""Chat replies that follow the message (models/steer.py, ShakespeareGenerator.answer), and
what must not change: /shakespeare continuations of the shipped models, same seed same text."""

import hashlib
import json

import pytest
from bardbot.models import ShakespeareGenerator
from bardbot.models.metadata import MODELS_DIR

PIN_PROMPTS = ["ROMEO:\n", "To be, or not to be", "First Citizen:\nhello there\n\nJULIET:\n"]
# sha256 of {f"{seed}|{T}": bard.generate(PIN_PROMPTS[seed], 120, T, seed=seed)}, recorded
# with the bard as shipped before chat steering (commit 788fe2a).
BARD_PIN = "35ca8a61c31a3539bc2223949a35d8bfd852ea3edf42e8a305b25a9da2bfeea9"


@pytest.mark.skipif(not (MODELS_DIR / "bard.onnx").is_file(), reason="bard not exported")
def test_the_bards_continuations_do_not_change():
    bard = ShakespeareGenerator.load("bard")
    texts = {f"{seed}|{t}": bard.generate(prompt, 120, t, seed=seed)
             for seed, prompt in enumerate(PIN_PROMPTS) for t in (0.0, 0.5, 1.0)}
    assert texts["1|0.5"].startswith(" thine:\nI will not be my son with my life.\n\nKING RICH")
    digest = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()
    assert digest == BARD_PIN
    assert texts["2|0.5"] == bard.generate_steps(PIN_PROMPTS[2], 120, 0.5, seed=2)

"""Chat in play form with the shipped bard: the reply is the speaker's steered speech."""

from __future__ import annotations

import pytest
from bardbot import handlers
from bardbot.engine import Engine
from bardbot.models import ShakespeareGenerator, play
from bardbot.models.metadata import MODELS_DIR
from bardbot.settings import GuildSettings

from tests.bot.harness import FakeClassifier, FakeGenerator

pytestmark = pytest.mark.skipif(not (MODELS_DIR / "bard.onnx").is_file(),
                                reason="bard not exported")


async def test_the_bard_answers_in_play_form():
    bard = ShakespeareGenerator.load("bard")
    engine = Engine(FakeClassifier(), bard)
    try:
        settings = GuildSettings(length=120)
        message = "my dog died this morning and I cannot stop crying"
        reply = await handlers.chat(engine, message, settings, play.Speakers("JULIET"),
                                    seed=5)
        speech = bard.answer(message, "JULIET", 120, 0.5, seed=5)
        assert reply.content == "**JULIET:**\n" + handlers.escape(speech)
        assert 0 < len(speech) <= 120 and "\n\n" not in speech
    finally:
        engine.close()


def test_only_a_case_kept_model_writes_plays():
    assert ShakespeareGenerator.load("bard").writes_plays
    assert not ShakespeareGenerator.load("reference").writes_plays


async def test_a_generator_without_plays_continues_the_message():
    engine = Engine(FakeClassifier(), FakeGenerator())
    try:
        reply = await handlers.chat(engine, "to be", GuildSettings(length=20),
                                    play.Speakers("JULIET"))
        assert reply.content.startswith("…and thou art")
    finally:
        engine.close()

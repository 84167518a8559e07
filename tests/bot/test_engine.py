"""The engine's sentiment micro-batches: one bad text fails only its own request."""

from __future__ import annotations

import asyncio
import threading

import pytest
from bardbot import handlers
from bardbot.engine import Engine
from bardbot.limits import UserError
from bardbot.models import TextError
from bardbot.models.play import Speakers
from bardbot.settings import GuildSettings

from tests.bot.harness import FakeClassifier, FakeGenerator


class PoisonedClassifier(FakeClassifier):
    """Fails any batch holding the text "poison", like onnxruntime on an out-of-range id."""

    def predict(self, texts):
        if "poison" in texts:
            self.batches.append(len(texts))
            raise RuntimeError("indices element out of data bounds")
        return super().predict(texts)


async def test_a_failing_text_fails_only_its_own_request():
    # Used to fail the whole micro-batch: 9 of 10 unrelated requests got the error.
    clf = PoisonedClassifier()
    engine = Engine(clf, FakeGenerator())
    texts = ["good film"] * 5 + ["poison"] + ["bad film"] * 4
    results = await asyncio.gather(*(engine.classify(t) for t in texts), return_exceptions=True)
    engine.close()
    failed = [t for t, r in zip(texts, results, strict=True) if isinstance(r, Exception)]
    assert failed == ["poison"]
    assert [r.label for r in results if not isinstance(r, Exception)] == (
        ["positive"] * 5 + ["negative"] * 4
    )
    assert clf.batches[:2] == [1, 9]  # the first alone, the other nine batched, then one by one
    assert len(clf.batches) == 2 + 9


async def test_a_lone_failing_text_gets_its_error():
    engine = Engine(PoisonedClassifier(), FakeGenerator())
    with pytest.raises(RuntimeError, match="out of data bounds"):
        await engine.classify("poison")
    assert (await engine.classify("good")).label == "positive"  # the worker is free again
    engine.close()


class SlowTextClassifier(FakeClassifier):
    """Runs out of its per-text budget on any batch holding "aabb" (like a text that takes
    too long to read); answers the others."""

    def predict(self, texts):
        if any("aabb" in t for t in texts):
            self.batches.append(len(texts))
            raise TextError("the text took too long to read")
        return super().predict(texts)


async def test_a_text_past_its_budget_gets_a_clear_message_while_others_are_answered():
    engine = Engine(SlowTextClassifier(), FakeGenerator())
    bad = "aabb" * 1500
    replies = await asyncio.gather(handlers.sentiment(engine, bad),
                                   handlers.sentiment(engine, "a good film"),
                                   handlers.sentiment(engine, "a bad film"),
                                   return_exceptions=True)
    assert isinstance(replies[0], UserError) and str(replies[0]) == handlers.CANNOT_ANALYSE
    assert "positive" in replies[1].content and "negative" in replies[2].content
    chat = await handlers.chat(engine, bad, GuildSettings(show_sentiment=True),
                               Speakers(), seed=1)
    assert chat.content.endswith("-# could not analyse your message's sentiment")
    engine.close()


class UnexplainedClassifier(FakeClassifier):
    """Classifies, but runs out of time taking a text apart."""

    def explain(self, texts):
        raise TextError("the text took too long to read")


async def test_a_text_that_cannot_be_explained_still_gets_its_verdict():
    engine = Engine(UnexplainedClassifier(), FakeGenerator())
    reply = await handlers.sentiment(engine, "a good film")
    assert "**positive**" in reply.content and "pushed" not in reply.content
    engine.close()


async def test_explained_and_plain_requests_share_one_batch():
    """Requests arriving while a worker runs leave together, explained or not."""
    classifier = FakeClassifier()
    gate = threading.Event()
    calls: list[tuple[str, int]] = []
    real_predict = classifier.predict

    def explained(texts):
        gate.wait(5)
        calls.append(("predict_explained", len(texts)))
        return list(zip(real_predict(texts), classifier.explain(texts), strict=True))

    def predict(texts):
        gate.wait(5)
        calls.append(("predict", len(texts)))
        return real_predict(texts)

    classifier.predict_explained, classifier.predict = explained, predict
    engine = Engine(classifier, FakeGenerator())
    first = asyncio.create_task(engine.classify("a bad film"))
    await asyncio.sleep(0.05)
    together = [asyncio.create_task(engine.classify_explained("a good film")),
                asyncio.create_task(engine.classify("good")),
                asyncio.create_task(engine.classify_explained("bad"))]
    await asyncio.sleep(0.05)
    gate.set()
    assert (await first).label == "negative"
    (result, pairs), plain, (bad, bad_pairs) = await asyncio.gather(*together)
    assert result.label == "positive" and [w for w, _ in pairs] == ["a", "good", "film"]
    assert plain.label == "positive" and bad.label == "negative" and bad_pairs[0][0] == "bad"
    assert calls == [("predict", 1), ("predict_explained", 3)]
    engine.close()

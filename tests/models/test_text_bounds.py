"""Issue 15 N1/N2: reading a text is linear in its length and bounded in memory, and the
shipped message model's scores for ordinary text are exactly what they were."""

import itertools
import json
import tracemalloc
from pathlib import Path

import pytest
from bardbot.models import SentimentClassifier, TextError
from bardbot.models.respell import DOUBLE_LETTER, MAX_DOUBLES, corrected, unelongated
from bardbot.models.text import WordEncoding
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.adversarial_texts import adversarial_texts

PINS = json.loads((Path(__file__).with_name("message_pins.json")).read_text())["scores"]
WORDS = ("good", "bad", "bookkeeper", "terrible", "great", "amazing", "so", "coffee", "believe")
ENCODING = WordEncoding(WORDS, 400, lowercase=True, normalization="message", spelling=True)


def enumerated_unelongated(enc: WordEncoding, token: str) -> int | None:
    """The old undoubling, every combination of up to three doubles: the oracle."""
    doubles = [m.start() for m in DOUBLE_LETTER.finditer(token)]
    for count in range(1, min(len(doubles), 3) + 1):
        for dropped in itertools.combinations(doubles, count):
            found = enc._index.get("".join(ch for i, ch in enumerate(token) if i not in dropped))
            if found is not None:
                return found
    return None


def enumerated_corrected(enc: WordEncoding, token: str) -> int | None:
    """The old spelling correction, a set of every candidate: the oracle."""
    if len(token) < 5 or not token.isalpha() or not token.isascii():
        return None
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(token[:i], token[i:]) for i in range(len(token) + 1)]
    candidates = {a + b[1:] for a, b in splits if b}
    candidates |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    candidates |= {a + c + b[1:] for a, b in splits if b for c in letters}
    candidates |= {a + c + b for a, b in splits for c in letters}
    ids = [i for c in candidates if (i := enc._index.get(c)) is not None]
    return min(ids) if ids else None


# Letters of the vocabulary, doubled or not: tokens near the words, where matches happen.
near_words = st.lists(st.sampled_from("abcdefgiklmnoprstuvy"), min_size=1, max_size=14).map(
    "".join) | st.sampled_from(WORDS).flatmap(
    lambda w: st.lists(st.integers(0, len(w) - 1), max_size=3).map(
        lambda picks: "".join(ch * (2 if i in picks else 1) for i, ch in enumerate(w))))


@given(near_words)
@settings(max_examples=400, deadline=None)
def test_undoubling_and_spelling_find_what_the_enumeration_found(token):
    doubles = len(DOUBLE_LETTER.findall(token))
    if doubles <= MAX_DOUBLES:
        assert unelongated(ENCODING._index, token, ENCODING._longest) == \
            enumerated_unelongated(ENCODING, token)
    assert corrected(ENCODING._index, token, ENCODING._longest) == \
        enumerated_corrected(ENCODING, token)


@pytest.fixture(scope="module")
def message() -> SentimentClassifier:
    return SentimentClassifier.load("message")


class CountingIndex(dict):
    """A vocabulary index that adds up the length of every key looked up: the work of the
    undoubling and spelling steps, independent of the machine's speed."""

    looked_up = 0

    def get(self, key, default=None):
        self.looked_up += len(key)
        return super().get(key, default)


@pytest.mark.parametrize("name", list(adversarial_texts()))
def test_an_adversarial_text_takes_linear_work_and_bounded_memory(message, monkeypatch, name):
    text = adversarial_texts()[name]
    encoding = WordEncoding.from_dict(message.encoding.to_dict())
    index = CountingIndex(encoding._index)
    object.__setattr__(encoding, "_index", index)
    tracemalloc.start()
    try:
        encoded = encoding.encode(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index.looked_up <= 3000 * len(text), f"{name}: {index.looked_up} characters"
    assert peak < 64 * 2**20, f"{name}: {peak / 2**20:.0f} MiB"
    monkeypatch.setattr(message, "encoding", encoding)
    monkeypatch.setattr(message, "text_budget_s", None)  # the work is bounded above, not timed
    [result] = message.predict([text])
    assert 0.0 <= result.score <= 1.0
    read, _ = message.emoji_ranking.split(text)  # the model reads the text without ranked emoji
    assert result.truncated == (encoded if read == text else encoding.encode(read)).truncated


@given(st.text(alphabet=st.sampled_from("ab\ufb01\ufdfa😀 :)D!xX\u0301"), max_size=600)
       .map(lambda t: t * 10))
@settings(max_examples=40, deadline=None)
def test_any_text_from_adversarial_pieces_gives_a_valid_result(text):
    [result] = ENCODING.encode_batch([text], pad_to_longest=True)[1]
    assert result.length <= ENCODING.maxlen and len(result.tokens) <= ENCODING.max_chars


def test_a_text_is_read_up_to_max_chars_and_then_marked_truncated():
    enc = WordEncoding(("good",), 4, lowercase=True, normalization="message")
    assert enc.max_chars == 100
    far = enc.encode("zz " * 40 + "good")
    assert far.length == 0 and far.truncated
    near = enc.encode("zz " * 10 + "good")
    assert near.length == 1 and not near.truncated


def test_a_text_past_its_time_budget_fails_alone_with_text_error(message, monkeypatch):
    texts = ["a fine day", "zz " * 2000]
    clock = iter(itertools.count(0.0, 0.1))  # 0.1 s per clock read: the budget runs out
    monkeypatch.setattr("bardbot.models.text.time.perf_counter", lambda: next(clock))
    with pytest.raises(TextError, match="too long"):
        message.predict(texts)
    monkeypatch.undo()
    assert message.predict(texts[:1])[0].tokens == ("a", "fine", "day")


def test_the_message_model_scores_ordinary_text_exactly_as_before(message):
    scores = message.score_texts(list(PINS))
    assert len(PINS) > 500
    # Texts with emoji the emoji ranking knows are scored with it since it shipped
    # (models/emoji_ranking.py, tested there); every other pinned text exactly as before.
    plain = [i for i, t in enumerate(PINS) if message.emoji_ranking.split(t)[1] is None]
    assert len(PINS) - 100 < len(plain) < len(PINS) - 30
    assert scores[plain].tolist() == pytest.approx([list(PINS.values())[i] for i in plain],
                                                   abs=1e-6)


def test_the_issue_examples_look_up_a_few_spellings_each(message):
    encoding = WordEncoding.from_dict(message.encoding.to_dict())
    index = CountingIndex(encoding._index)
    object.__setattr__(encoding, "_index", index)
    encoding.encode_batch(["aabb" * 1500, "ab" * 3000, "bookkeeper" * 600, "\ufb01" * 6000])
    # One lookup of each token, the ligatures cut at max_chars (was about 2e9 characters).
    assert index.looked_up == 3 * 6000 + encoding.max_chars


def test_remembered_respellings_are_the_same_and_bounded(monkeypatch):
    monkeypatch.setattr("bardbot.models.text.RESPELLINGS_KEPT", 50)
    encoding = WordEncoding(WORDS, 400, lowercase=True, normalization="message", spelling=True)
    tokens = ["graet", "terrrible", "zzqx", "baad", "coffe"]
    first = [encoding.token_id(t) for t in tokens]
    assert first == [encoding.token_id(t) for t in tokens] == [ENCODING.token_id(t)
                                                               for t in tokens]
    for i in range(200):
        encoding.token_id(f"qq{i}")
    encoding.token_id("b" * 5000)  # refused at once, never kept
    assert len(encoding._respellings) <= 50 and "b" * 5000 not in encoding._respellings
    assert [encoding.token_id(t) for t in tokens] == first

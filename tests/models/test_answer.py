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


# ---------------------------------------------------------------- the steering automaton

import numpy as np  # noqa: E402
from bardbot.models import steer  # noqa: E402
from bardbot.models.text import CharEncoding  # noqa: E402

CHARS = CharEncoding("\n !',.:?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                     lowercase=False)
COUNTS = {"bread": 4, "brave": 30, "break": 20, "be": 300, "bed": 10, "feast": 6, "the": 900,
          "pie": 3, "pity": 12}


def lexicon(counts: dict = COUNTS) -> steer.Lexicon:
    return steer.Lexicon.with_counts(
        counts, words=("bread", "feast", "pity"), english={"the": 0, "eat": 1, "pizza": 2,
        "bread": 3}, neighbours={"pizza": ("bread", "feast")},
        stopwords=frozenset({"the", "a", "i", "what"}))


def walk(steering: steer.Steering, text: str) -> tuple[float, int]:
    """Product of the gains along `text` (all chars plausible) and the state at its end."""
    state, product = steering.start, 1.0
    for i in CHARS.encode(text):
        product *= steering.gain[state, i]
        state = int(steering.next[state, i])
    return product, state


def test_a_target_word_gains_the_boost_and_any_other_word_nothing():
    steering = steer.build(CHARS, ["bread"], lexicon())
    assert walk(steering, "bread ")[0] == pytest.approx(steer.BOOST)
    assert walk(steering, "Bread,")[0] == pytest.approx(steer.BOOST)  # capitalised too
    for other in ("brave ", "break ", "be ", "bed ", "breads ", "the ", "pity "):
        assert walk(steering, other)[0] == pytest.approx(1.0), other
    # "b" gets only the boost a b-word can expect: 4 of the 364 b-words are "bread".
    b = CHARS.chars.index("b")
    assert steering.gain[steering.start, b] == pytest.approx(1 + (steer.BOOST - 1) * 4 / 364)


def test_each_target_is_steered_once_and_at_most_cap_in_a_reply():
    steering = steer.build(CHARS, ["bread", "feast", "pie"], lexicon())
    _, state = walk(steering, "bread and ")
    after = steer.replace(steering, start=state)
    assert walk(after, "bread ")[0] == pytest.approx(steer.PENALTY)  # said: not again
    assert walk(after, "breads ")[0] == pytest.approx(steer.PENALTY)  # nor a longer form
    assert walk(after, "feast ")[0] == pytest.approx(steer.BOOST)
    assert walk(after, "brave ")[0] == pytest.approx(1.0)
    _, state = walk(steering, "bread and feast ")
    done = steer.replace(steering, start=state)
    assert steer.CAP == 2
    for word in ("bread ", "feast ", "pie "):  # CAP words said: no target is steered towards
        assert walk(done, word)[0] == pytest.approx(steer.PENALTY)
    assert walk(done, "pity ")[0] == pytest.approx(1.0)
    assert walk(done, "bread feast the ")[1] == state  # and it stays there


def test_an_implausible_char_gets_no_gain():
    steering = steer.build(CHARS, ["bread"], lexicon())
    probs = np.full(CHARS.size, 1e-5)
    probs[CHARS.chars.index("b")] = 0.5
    weights = steering.weights(steering.start, probs, np.ones(CHARS.size))
    assert weights[CHARS.chars.index("b")] > 1.0
    assert np.all(np.delete(weights, CHARS.chars.index("b")) == 1.0)


def test_the_quiet_first_words_are_not_steered(monkeypatch):
    assert steer.QUIET == 0  # shipped: steered from the first char
    monkeypatch.setattr(steer, "QUIET", 2)
    steering = steer.build(CHARS, ["bread", "feast"], lexicon())
    for text in ("bread ", "Bread feast ", "Bread,\n  feast. "):  # two words, any separators
        assert walk(steering, text)[0] == pytest.approx(1.0), text
    assert np.all(steering.gain[walk(steering, "O, ")[1]] == 1.0)  # one word: still quiet
    assert walk(steering, "O, bread feast ")[0] == pytest.approx(steer.BOOST)
    assert walk(steering, "I, the bread feast ")[0] == pytest.approx(steer.BOOST ** 2)


def test_targets_are_the_rarest_content_words_the_plays_use_and_their_neighbours():
    lx = lexicon()
    assert lx.content_words("What? I eat the PIZZA") == ["pizza", "eat"]
    assert lx.known("bread") and not lx.known("pizza") and lx.count("be") == 300
    # "pizza" is not the plays' word, so only its neighbours are steered towards; "zzyzx"
    # (a name, a typo) has neither, and leaves room for the next word.
    assert lx.targets("What? I eat the PIZZA") == ["bread", "feast"]
    assert lx.targets("zzyzx: the bread") == ["bread"]


def test_an_opening_takes_up_the_message_now_and_then():
    lx = lexicon()
    openings = [steer.opening("the bread is stale", lx, np.random.default_rng(s))
                for s in range(400)]
    taken = [o for o in openings if o]
    assert abs(len(taken) / len(openings) - steer.OPENING_RATE) < 0.06
    assert all("bread" in o.lower() for o in taken)
    assert steer.opening("the pizza", lx, np.random.default_rng(0)) == ""  # no word it knows


def test_the_shipped_word_list():
    lx = steer.shipped_lexicon()
    assert len(lx.words) > 3000 and len(lx.english) == 30_000
    assert "bread" in lx.neighbours["pizza"] and lx.known("love") and not lx.known("pizza")
    assert "the" in lx.stopwords and "the" not in lx.neighbours


def test_a_damaged_word_list_is_a_clear_error(tmp_path):
    from bardbot.models.errors import ModelError

    path = tmp_path / "bard-words.json"
    for damaged in ('{"format": "something else"}', "[1, 2]"):
        path.write_text(damaged, encoding="utf-8")
        with pytest.raises(ModelError, match=r"format .*export bard-words"):
            steer.Lexicon.load(path)


# ------------------------------------------------------------------ the generation loop


def test_steered_and_stopped_generation_in_one_run_equals_the_step_loop(tiny):
    from bardbot.export.generator import random_steering

    gen = ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")
    assert gen.has_steering
    steering = random_steering(gen.encoding.size)
    for seed, prompt in enumerate(["to be", "", "whether 'tis"]):
        for temperature in (0.0, 0.5, 1.0):
            args = (prompt, 80, temperature)
            kw = {"seed": seed, "steering": steering, "stop_at_blank_line": True}
            assert gen.generate(*args, **kw) == gen.generate_steps(*args, **kw)
            assert gen.generate(*args, seed=seed, steering=steering) == gen.generate_steps(
                *args, seed=seed, steering=steering)
    # Steering changes the text; the defaults change nothing.
    assert gen.generate("to be", 80, 0.7, seed=1, steering=steering) != gen.generate(
        "to be", 80, 0.7, seed=1)


def test_the_loop_stops_after_the_first_blank_line(tiny):
    gen = ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")
    stops = 0
    for seed in range(30):
        text = gen.generate("to be", 300, 1.0, seed=seed, stop_at_blank_line=True)
        full = gen.generate("to be", 300, 1.0, seed=seed)
        assert full.startswith(text)
        end = full.find("\n\n")
        assert text == (full[: end + 2] if end >= 0 else full)
        stops += end >= 0
    assert stops  # the tiny model writes blank lines now and then


def test_the_loop_stops_at_the_first_end_char_past_end_after(tiny):
    from bardbot.models import play

    gen = ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")
    ended = 0
    for seed in range(20):
        for after in (0, 10, 40):
            text = gen.generate("to be", 150, 1.0, seed=seed, end_after=after)
            assert text == gen.generate_steps("to be", 150, 1.0, seed=seed, end_after=after)
            full = gen.generate("to be", 150, 1.0, seed=seed)
            assert full.startswith(text)
            end = next((i for i, ch in enumerate(full) if i >= after and ch in play.REPLY_ENDS),
                       None)
            assert text == (full[: end + 1] if end is not None else full)
            ended += end is not None
    assert ended  # the tiny model writes line breaks and full stops now and then
    for bad, error in ((-1, ValueError), (True, TypeError), (2.5, TypeError)):
        with pytest.raises(error, match="end_after"):
            gen.generate("to be", 10, 1.0, seed=0, end_after=bad)


def test_the_loop_can_be_replaced_and_answers_as_before(tiny, tmp_path):
    import shutil

    from bardbot.export.generator import add_loop_to_file

    for suffix in (".onnx", ".json"):
        shutil.copy(tiny.models / f"shakespeare{suffix}", tmp_path / f"m{suffix}")
    before = ShakespeareGenerator.load(tmp_path / "m.onnx").generate("to be", 100, 0.5, seed=3)
    add_loop_to_file(tmp_path / "m.onnx", log=lambda *_: None, replace=True)
    after = ShakespeareGenerator.load(tmp_path / "m.onnx")
    assert after.has_steering and after.generate("to be", 100, 0.5, seed=3) == before


# -------------------------------------------------------------------------- answers


@pytest.fixture(scope="module")
def bard():
    if not (MODELS_DIR / "bard.onnx").is_file():
        pytest.skip("bard not exported")
    return ShakespeareGenerator.load("bard")


def test_an_answer_is_one_speech_the_same_for_the_same_seed(bard):
    reply = bard.answer("this pizza is the best thing I have eaten", "JULIET", 200, 0.5, seed=4)
    assert reply and len(reply) <= 200 and "\n\n" not in reply and not reply.endswith(" ")
    assert reply == bard.answer("this pizza is the best thing I have eaten", "JULIET", 200, 0.5,
                                seed=4)
    short = bard.answer("this pizza is the best thing I have eaten", "JULIET", 30, 0.5, seed=4)
    assert len(short) <= 30
    with pytest.raises(ValueError, match="seed"):
        bard.answer("hello", "JULIET", 30, 0.5, seed=-1)
    with pytest.raises(ValueError, match="length"):
        bard.answer("hello", "JULIET", 5000, 0.5, seed=1)


def test_a_long_answer_ends_at_a_sentence_or_a_line(bard):
    from bardbot.models import play

    after = play.reply_end_after(200)
    for seed in range(12):
        for message in ("tell me everything about the weather and the sea and the ships",
                        "what should I cook for dinner tonight?"):
            reply = bard.answer(message, "ROMEO", 200, 0.5, seed=seed)
            # Past `after` chars the speech ends at its first full stop or line end.
            tail = reply[after:]
            assert not any(ch in play.REPLY_ENDS for ch in tail[:-1]), reply


def test_answers_follow_their_messages(bard):
    messages = ["my dog died this morning and I cannot stop crying",
                "we are having a feast with bread and wine tonight",
                "the king has gone to war with his soldiers"]
    replies = [bard.answer(m, "ROMEO", 200, 0.5, seed=0) for m in messages]
    assert len(set(replies)) == 3
    lx = steer.shipped_lexicon()
    # Over a few seeds each message's own words or neighbours turn up in its replies.
    for m in messages:
        targets = set(lx.targets(m))
        said = " ".join(bard.answer(m, "ROMEO", 200, 0.5, seed=s) for s in range(6)).lower()
        assert targets & set(said.replace(",", " ").replace(".", " ").split()), m


def test_the_loss_of_a_reply_after_its_prompt(bard):
    prompt, reply = "ROMEO:\n", "What light through yonder window breaks?"
    alone, after = bard.loss(reply), bard.loss(reply, context=prompt)
    assert 0 < after < 5 and after != alone
    assert bard.loss(prompt + reply) == pytest.approx(
        (bard.loss(prompt) * (len(prompt) - 1) + after * len(reply)) / (len(prompt + reply) - 1))


def test_the_bards_answers_do_not_change(bard):
    """Pinned when `steer.build` was vectorised (its tables equal the loop's on 243 messages)."""
    assert bard.answer("I just burned my toast again, third time this week", "ROMEO",
                       seed=3) == ("Third? stir him, sir, buried to the king and men\n"
                                   "But not the entrance of the prince yourself.")
    assert bard.answer("what should I cook for dinner tonight?", "ROMEO", seed=5) == (
        "What night is not to the cook, if you she did,\n"
        "She is a bandred complotion for the morning.")

"""The chat bard end to end on a tiny corpus: a bard exported, fine-tuned with topic lines
(trainer/bard_topics.py), exported as bard-chat, and writing the plain bard's chat replies."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
from bardbot.models import ModelError, ShakespeareGenerator, steer
from bardbot.trainer.bard_topics import TOPIC_MARK, BardTopicsConfig, with_topics

from bench import chat_bard as bench_chat

SCRIPT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "ROMEO:\nBut soft, what light through yonder window breaks?\n\n"
          "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo? A $ for thee.\n\n"
          "MERCUTIO:\nA plague on both your houses, a plague!\n\n")
VOCABULARY = frozenset({"proceed", "further", "hear", "speak", "soft", "light", "yonder",
                        "window", "breaks", "romeo", "wherefore", "plague", "houses"})
IDF = {w: 1.0 for w in VOCABULARY}


def topics(text: str, **settings) -> str:
    cfg = BardTopicsConfig(out=None, **settings)  # type: ignore[arg-type]
    return with_topics(text, VOCABULARY, IDF, cfg, np.random.default_rng(0))


def topic_lines(text: str) -> list[tuple[str, list[str], str]]:
    """(speaker, topic words, speech) of each speech in a text with topic lines."""
    out = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if len(lines) >= 3 and lines[0].endswith(":"):
            assert lines[1].startswith(TOPIC_MARK), block
            out.append((lines[0], lines[1][1:].split(), "\n".join(lines[2:])))
    return out


def without_topics(text: str) -> str:
    return re.sub(r"(?m)^(.+:\n)\$[^\n]*\n", r"\1", text)


def test_every_speech_gets_a_topic_line_of_its_own_words():
    text = topics(SCRIPT * 5, no_topic=0.0, max_words=2)
    lines = topic_lines(text)
    assert len(lines) == 20 and without_topics(text) == SCRIPT * 5
    for _, words, speech in lines:
        assert 1 <= len(words) <= 2 and len(set(words)) == len(words)
        assert all(w in VOCABULARY and w in speech.lower() for w in words)
    assert len({tuple(w) for _, w, _ in lines}) > 4  # drawn, in random order


def test_topics_from_the_previous_speech_and_empty_ones():
    lines = topic_lines(topics(SCRIPT * 3, no_topic=0.0, topic_from="previous"))
    assert lines[0][1] == []  # the first speech has none before it
    for (_, _, before), (_, words, _) in itertools.pairwise(lines):
        assert all(w in before.lower() for w in words)
    assert all(words == [] for _, words, _ in topic_lines(topics(SCRIPT * 3, no_topic=1.0)))


def test_speech_windows_start_before_a_speakers_name():
    from bardbot.trainer.bard_topics import window_starts

    text = topics(SCRIPT * 3, no_topic=0.0)
    starts = window_starts(text, lead=5, length=30)
    assert len(starts) == 11  # every speech but the first (no blank line before it)
    for start in starts:
        window = text[start : start + 30]
        assert window[3:5] == "\n\n" and re.match(r"[A-Za-z ]+:\n\$", window[5:])
    assert len(window_starts(text, lead=5, length=len(text))) == 0


def test_bad_topic_settings_are_clear_errors():
    from bardbot.trainer.runs import UserError

    for settings, flag in (({"topic_from": "next"}, "--topic-from"), ({"max_words": 0},
                           "--max-words"), ({"no_topic": 1.5}, "--no-topic"),
                           ({"examples": "pairs"}, "--examples"),
                           ({"examples": "windows", "lead": 100}, "--lead")):
        with pytest.raises(UserError, match=flag):
            BardTopicsConfig(out=None, **settings).validate()  # type: ignore[arg-type]


def test_the_topic_of_a_message_is_in_the_plays_words():
    lexicon = steer.shipped_lexicon()
    words = bench_chat.topic(lexicon, "I burnt the toast again this morning, and the pizza too")
    assert 1 <= len(words) <= bench_chat.TOPIC_WORDS
    assert set(words) <= bench_chat.topic_words(lexicon)
    assert bench_chat.topic(lexicon, "the and of it", limit=3) == []


def test_the_command_line(tmp_path, capsys):
    import argparse

    from bardbot.trainer.bard_topics import config_from_args
    from bardbot.trainer.cli import build_parser, main

    args = build_parser().parse_args(["bard-topics", "--from", "x.onnx", "--topic-from",
                                      "previous", "--max-words", "4", "--max-minutes", "5"],
                                     argparse.Namespace(command_line="the command"))
    cfg = config_from_args(args)
    assert (cfg.start_from, cfg.topic_from, cfg.max_words, cfg.max_minutes, cfg.command) == (
        "x.onnx", "previous", 4, 5.0, "the command")
    assert cfg.learning_rate == BardTopicsConfig.learning_rate and cfg.units == 512
    text = tmp_path / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    code = main(["bard-topics", "--from", str(tmp_path / "nope.onnx"), "--text", str(text),
                 "--out", str(tmp_path / "run")])
    assert code == 2 and "nope.json" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- trained and exported


@pytest.fixture(scope="module")
def chat_bard(tmp_path_factory):
    """A tiny one-layer bard exported, then fine-tuned with topic lines and exported as
    bard-chat."""
    from bardbot.export.bard import BardExport, export_bard
    from bardbot.trainer import bard_topics
    from bardbot.trainer.bard import run
    from bardbot.trainer.config import BardConfig

    root = tmp_path_factory.mktemp("chat")
    text = root / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    # Bounded by steps (max_minutes only guards): the same weights on every run.
    shape = dict(units=12, layers=1, embed=6, batch_size=4, seq=20, eval_every=10, patience=3,
                 sample_length=20, command="(tiny test)", text=str(text), dropout=0.0,
                 max_minutes=5.0)
    run(BardConfig(out=root / "run", max_steps=100, **shape))
    quiet = dict(log=lambda *_: None)
    plain, _ = export_bard(BardExport(root / "run", root / "models", text=str(text)), **quiet)
    meta = bard_topics.run(BardTopicsConfig(
        out=root / "topics", start_from=str(plain), max_steps=60, no_topic=0.0, **shape))
    chat, _ = export_bard(BardExport(root / "topics", root / "models", text=str(text),
                                     name="bard-chat"), **quiet)
    return plain, chat, meta


def test_fine_tuning_starts_from_the_exported_weights(chat_bard):
    plain, _, meta = chat_bard
    from bardbot.trainer import bard_topics
    from bardbot.trainer.bard import Trainer

    gen = ShakespeareGenerator.load(plain)
    cfg = BardTopicsConfig(out=None, units=12, embed=6, dropout=0.0)  # type: ignore[arg-type]
    trainer = Trainer(cfg, gen.encoding.size)
    bard_topics.start_weights(trainer, str(plain), gen.encoding.size)
    ids = gen.encoding.encode("JULIET:\nO Romeo, Romeo")
    logits, *_ = trainer.model.predict_on_batch([ids[None].astype(np.int32),
                                                 *trainer.zero_states(1)])
    keras_probs = np.exp(logits[0] - logits[0].max(-1, keepdims=True))
    keras_probs /= keras_probs.sum(-1, keepdims=True)
    assert np.abs(keras_probs - gen.next_char_probs(ids)).max() < 1e-5
    assert meta["topics"]["from"] == "own" and meta["topics"]["started_from"] == str(plain)
    assert np.isfinite([meta["metrics"]["heldout_loss"], meta["metrics"]["heldout_loss_before"]]
                       ).all()


def test_the_chat_bard_writes_the_plain_bards_replies(chat_bard):
    plain, chat_path, _ = chat_bard
    bard, chat = ShakespeareGenerator.load(plain), ShakespeareGenerator.load(chat_path)
    assert chat_path.name == "bard-chat.onnx"
    assert bench_chat.reads_topics(chat) and not bench_chat.reads_topics(bard)
    assert json.loads(chat_path.with_suffix(".json").read_text())["topics"]["mark"] == "$"
    message = "Hear the plague in the window light"
    prompt = bench_chat.chat_prompt(chat, message, "ROMEO")
    assert prompt.startswith("First Citizen:\nHear the plague") and "\n\nROMEO:\n$" in prompt
    assert prompt.endswith("\n")
    assert bench_chat.chat_prompt(bard, message, "ROMEO").endswith("ROMEO:\n")
    before = bard.answer(message, "ROMEO", seed=3)
    reply = bench_chat.answer(chat, message, "ROMEO", seed=3)
    assert reply == bench_chat.answer(ShakespeareGenerator.load(chat_path), message, "ROMEO",
                                     seed=3)
    assert before == ShakespeareGenerator.load(plain).answer(message, "ROMEO", seed=3)
    with pytest.raises(ModelError, match="not a chat bard"):
        bench_chat.answer(bard, message, "ROMEO", seed=3)



def test_fine_tuning_on_speech_windows(chat_bard, tmp_path):
    from bardbot.trainer import bard_topics

    plain, _, _ = chat_bard
    text = tmp_path / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    meta = bard_topics.run(BardTopicsConfig(
        out=tmp_path / "windows", start_from=str(plain), text=str(text), examples="windows",
        seq=30, lead=5, units=12, embed=6, batch_size=4, eval_every=5, max_steps=10,
        max_minutes=5.0, sample_length=10, dropout=0.0, command="(tiny test)"))
    assert meta["topics"]["examples"] == "windows"
    assert (meta["metrics"]["steps"], meta["metrics"]["stopped"]) == (10, "10 steps")
    assert meta["metrics"]["evals"][-1]["epoch"] > 0

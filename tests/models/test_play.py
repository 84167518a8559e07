"""Play-form prompts, the joining rule and word-boundary trimming (models/play.py)."""

import pytest
from bardbot.models import play


@pytest.mark.parametrize(("prompt", "model", "shown", "sep"), [
    ("Shall I compare thee", "Shall I compare thee ", "Shall I compare thee", " "),
    ("to be, or not to be:", "to be, or not to be: ", "to be, or not to be:", " "),
    ("what say you?", "what say you? ", "what say you?", " "),
    ("ends in a space ", "ends in a space ", "ends in a space ", ""),
    ("a line\n", "a line\n", "a line\n", ""),
    ("to b-", "to b", "to b", ""),  # a trailing hyphen: continue the word on purpose
    ("nay--", "nay-- ", "nay--", " "),  # a dash is text
    ("well -", "well - ", "well -", " "),  # a lone hyphen after a space is not mid-word
    ("", "", "", ""),
])
def test_continuation_prompt(prompt, model, shown, sep):
    joined = play.continuation_prompt(prompt)
    assert (joined.model_prompt, joined.shown_prompt, joined.separator) == (model, shown, sep)


@pytest.mark.parametrize(("text", "length", "expected"), [
    ("and thou art more lovely", 12, "and thou art"),  # text[12] is a space
    ("and thou art more lovely", 15, "and thou art"),  # "mo" of "more" dropped
    ("and thou art\nmore", 14, "and thou art"),
    ("abcdefghij", 5, "abcde"),  # one word longer than the length: cut hard
    ("short  ", 10, "short"),
    ("two words", 9, "two words"),
])
def test_trim_ends_at_a_word_boundary_within_the_length(text, length, expected):
    out = play.trim(text, length)
    assert out == expected and len(out) <= length


def test_play_prompt_puts_the_message_in_a_speakers_mouth():
    prompt = play.play_prompt("  Good morrow!\n\n  How now?  ", "ROMEO")
    assert prompt == "First Citizen:\nGood morrow!\nHow now?\n\nROMEO:\n"


@pytest.mark.parametrize(("generated", "expected"), [
    ("Good morrow, cousin.\nWhat news?\n\nJULIET:\nNothing.", "Good morrow, cousin.\nWhat news?"),
    ("Good morrow.\nJULIET:\nNothing.", "Good morrow."),  # the next speaker without a blank
    ("\nI will not hear thee speak of it again and again", "I will not hear thee speak of it"),
])
def test_speech_is_the_bards_lines_up_to_the_next_speaker(generated, expected):
    assert play.speech(generated, 35) == expected


def test_speakers_rotate_or_stay_fixed_or_are_off():
    rotating = play.Speakers("rotate")
    names = [rotating.next() for _ in range(len(play.ROTATION) + 1)]
    assert names[:-1] == list(play.ROTATION) and names[-1] == play.ROTATION[0]
    assert play.Speakers("KING RICHARD III").next() == "KING RICHARD III"
    assert play.Speakers("ROTATE").enabled and not play.Speakers("off").enabled


def test_a_speaker_is_a_name_or_off_or_rotate():
    with pytest.raises(ValueError, match="a speaker's name"):
        play.Speakers("<@123>")


def test_the_speaker_comes_from_the_flag_or_the_environment():
    from bardbot.config import ConfigError, load_config

    assert load_config([], {}).play_speaker == "rotate"
    assert load_config([], {"BARDBOT_PLAY_SPEAKER": "JULIET"}).play_speaker == "JULIET"
    assert load_config(["--play-speaker", "Off"], {"BARDBOT_PLAY_SPEAKER": "JULIET"}
                       ).play_speaker == "off"
    with pytest.raises(ConfigError, match="--play-speaker / BARDBOT_PLAY_SPEAKER"):
        load_config([], {"BARDBOT_PLAY_SPEAKER": "JULIET: hi"})

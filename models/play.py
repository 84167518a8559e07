"""Replies in play form, and where a generated text may start and end.

tinyshakespeare is a script: `NAME:` on a line, the speech, a blank line. A chat message goes
in as one speaker's speech and the model answers as another:

    "First Citizen:\\n<the message>\\n\\nROMEO:\\n"  ->  ROMEO's speech, up to its blank line

The joining rule (`continuation_prompt`): a reply never glues onto the prompt's last word. A
prompt that ends in a letter, digit or punctuation gets a space before the model continues; one
that ends in whitespace gets nothing more. To continue mid-word on purpose, end the prompt with
a single hyphen ("to b-" -> the model reads "to b" and may write "e, or not"); the hyphen
is dropped. A double hyphen ("--", a dash in the plays) is text, not this marker.

The ending rule (`trim`): generate one character more than asked, then cut at the last word or
line boundary within the length asked, so a reply never ends in half a word (a single word
longer than the whole length is cut hard). A chat reply also ends at its first sentence or line
end past `END_SHARE` of its length (`reply_end_after`), so a long speech ends at a full stop or
a verse line's end.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass

# Speakers the bard answers as when rotating; all are frequent speakers in tinyshakespeare.
ROTATION = ("ROMEO", "JULIET", "GLOUCESTER", "KING RICHARD III", "MENENIUS", "PETRUCHIO",
            "ISABELLA", "DUKE VINCENTIO", "QUEEN MARGARET", "CORIOLANUS")
USER_SPEAKER = "First Citizen"
REPLY_ENDS = ".!?\n"  # a sentence's end, or a verse line's
# A chat reply may end at one of REPLY_ENDS once it has this share of its length (measured:
# docs/results.md, "where a chat reply ends").
END_SHARE = 0.5
_NAME = re.compile(r"^[A-Za-z][A-Za-z .'-]{0,39}$")


@dataclass(frozen=True)
class Continuation:
    model_prompt: str  # what the model reads
    shown_prompt: str  # what the reply shows before the generated text
    separator: str  # put between shown_prompt and the generated text ("" or " ")


def continuation_prompt(prompt: str) -> Continuation:
    """Apply the joining rule (module doc) to a prompt to continue."""
    if prompt.endswith("-") and not prompt.endswith("--") and prompt[:-1][-1:].isalpha():
        return Continuation(prompt[:-1], prompt[:-1], "")
    if not prompt or prompt[-1].isspace():
        return Continuation(prompt, prompt, "")
    return Continuation(prompt + " ", prompt, " ")


def generated_length(length: int) -> int:
    """How many chars to generate for a text of at most `length`: one more, for `trim`."""
    return length + 1


def reply_end_after(length: int) -> int:
    """How many chars a reply of at most `length` writes before a sentence or line end may end
    it: a long speech stops there instead of being cut at a word, and costs less."""
    return int(length * END_SHARE)


def trim(text: str, length: int) -> str:
    """At most `length` chars of `text` (generated with at least one char more), ending at a
    word or line boundary, without trailing whitespace."""
    if len(text) <= length:
        return text.rstrip()
    head = text[:length]
    if text[length].isspace():
        return head.rstrip()
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return (head[:cut] if cut > 0 else head).rstrip()


def play_prompt(message: str, speaker: str, user_speaker: str = USER_SPEAKER) -> str:
    """The message as `user_speaker`'s speech, then `speaker`'s name: the model answers."""
    lines = [line.strip() for line in message.strip().splitlines()]
    speech = "\n".join(line for line in lines if line)
    return f"{user_speaker}:\n{speech}\n\n{speaker}:\n"


def speech(text: str, length: int) -> str:
    """The speech the model wrote after `play_prompt`: up to the blank line that ends it (or
    the next `NAME:` line), then trimmed to `length` at a word or line boundary."""
    text = text.lstrip("\n")
    end = text.find("\n\n")
    if end >= 0:
        text = text[:end]
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], 1):
        if line.endswith(":") and _NAME.match(line[:-1]):
            text = "\n".join(lines[:i])
            break
    # A speech that ended on its own is complete; otherwise cut at a boundary.
    return text.rstrip() if len(text) <= length else trim(text, length)


class Speakers:
    """Who the bard speaks as: one fixed name, or the next one of ROTATION on each reply.

    `spec`: "off" (continue the message instead, no play form), "rotate", or a speaker's name
    (letters, spaces, . ' -; at most 40 chars). Built once from the bot's `Config`.
    """

    def __init__(self, spec: str = "rotate") -> None:
        spec = spec.strip()
        if spec.lower() not in ("off", "rotate") and not _NAME.match(spec):
            # A long value is not repeated: it could be a token set in the wrong variable.
            got = repr(spec) if len(spec) <= 40 else f"a {len(spec)}-character value (not shown)"
            raise ValueError(f"give off, rotate or a speaker's name (letters, spaces, "
                             f". ' -; at most 40), got {got}")
        self.spec = spec.lower() if spec.lower() in ("off", "rotate") else spec
        self._cycle = itertools.cycle(ROTATION)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.spec != "off"

    def next(self) -> str:
        if self.spec != "rotate":
            return self.spec
        with self._lock:
            return next(self._cycle)

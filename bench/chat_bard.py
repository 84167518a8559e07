"""The chat bard (trainer/bard_topics.py), measured and not shipped: how it answers a message.

A chat bard reads a topic line under the speaker's name, "ROMEO:\\n$banish exile\\n", of the
message's words mapped into the plays' vocabulary, then writes with a gentler steering than the
plain bard's, as its topic line is meant to carry the subject (none trained so far does:
docs/results.md, issue 16, second step). Used by bench_relevance.py --chat-model,
bench_topics.py and tests/export/test_bard_topics.py; the bot never loads a chat bard.
"""

from __future__ import annotations

import numpy as np
from bardbot.models import ModelError, ShakespeareGenerator, play, steer

TOPIC_MARK = "$"  # trainer/bard_topics.py writes it into the model's "topics" settings
TOPIC_WORDS = 3
TOPIC_BOOST = float(np.exp(6.0))
TOPIC_OPENING_RATE = 0.2


def reads_topics(gen: ShakespeareGenerator) -> bool:
    """Whether the model was trained with a topic line under each speaker's name."""
    return isinstance(gen.info.get("topics"), dict)


def topic_words(lexicon: steer.Lexicon) -> frozenset[str]:
    """The words a chat bard's topic lines were made of (trainer/bard_topics.py)."""
    return frozenset(lexicon.words)


def topic(lexicon: steer.Lexicon, message: str, limit: int | None = None) -> list[str]:
    """The topic words for a reply to `message`: the message's rarest words that the plays
    use, then their neighbours, at most `limit` (default TOPIC_WORDS, the training lines' most)."""
    limit = TOPIC_WORDS if limit is None else limit
    words = topic_words(lexicon)
    return [w for w in lexicon.targets(message) if w in words][:limit]


def chat_prompt(gen: ShakespeareGenerator, message: str, speaker: str) -> str:
    """What the model reads before `speaker`'s reply to `message`: the play form, and for a
    chat bard the topic line."""
    prompt = play.play_prompt(message, speaker)
    if not reads_topics(gen):
        return prompt
    words = topic(steer.shipped_lexicon(), message)
    return f"{prompt}{gen.info['topics'].get('mark', TOPIC_MARK)}{' '.join(words)}\n"


def answer(chat: ShakespeareGenerator, message: str, speaker: str, length: int = 200,
           temperature: float = 0.5, seed: int | None = None) -> str:
    """The chat bard's reply: `ShakespeareGenerator.answer` with the topic line in the prompt
    and the chat bard's opening rate and steering (none when TOPIC_BOOST is 1)."""
    if not (chat.writes_plays and reads_topics(chat)):
        raise ModelError(f"{chat.name}: not a chat bard (no topic lines, or no play form)")
    lexicon = steer.shipped_lexicon()
    rng = np.random.default_rng(seed)
    saved = steer.OPENING_RATE, steer.BOOST
    try:
        steer.OPENING_RATE, steer.BOOST = TOPIC_OPENING_RATE, TOPIC_BOOST
        opening = steer.opening(message, lexicon, rng)
        steering = None
        if TOPIC_BOOST > 1:
            steering = steer.build(chat.encoding, lexicon.targets(message), lexicon)
            steering = steering.after(chat.encoding.encode(opening))
    finally:
        steer.OPENING_RATE, steer.BOOST = saved
    prompt = chat_prompt(chat, message, speaker) + opening
    # The whole draw comes from `seed`: the opening's two uniforms, then the text's.
    more = max(0, play.generated_length(length) - len(opening))
    text = chat.generate(prompt, more, temperature, seed=int(rng.integers(2**63)),
                         steering=steering, stop_at_blank_line=True)
    return play.speech(opening + text, length)

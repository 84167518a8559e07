"""Real samples for parity checks and accuracy: the IMDB test set and the Gutenberg plays.

The exporter reads them straight from the archives in the data folder (never the network).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from bardbot.trainer.data import (
    GUTENBERG_ZIP,
    IMDB_TARBALL,
    LABELS,
    REFERENCE_PLAYS,
    data_search_dirs,
    read_reviews,
)
from bardbot.trainer.runs import UserError

IMDB_ARCHIVE, GUTENBERG_ARCHIVE = IMDB_TARBALL, GUTENBERG_ZIP  # the files the trainer reads
PLAYS = tuple(REFERENCE_PLAYS)  # caesar, hamlet, macbeth: the trainer's corpus, in its order
FLAGS = {IMDB_ARCHIVE: "--imdb", GUTENBERG_ARCHIVE: "--text"}


def data_dirs() -> list[Path]:
    """The trainer's search order ($BARDBOT_DATA, ./data, ../shared/data), so both find the
    same files."""
    return data_search_dirs()


def find(name: str, given: str | Path | None = None, search: bool = True) -> Path | None:
    """`given` if set (it must exist), else (if `search`) the first data folder holding `name`."""
    if given is not None:
        path = Path(given)
        if not path.exists():
            raise UserError(f"{FLAGS.get(name, name)} {path}: not found; give an existing "
                            f"{name} (or leave the flag out to search the data folders)")
        return path
    if not search:
        return None
    return next((d / name for d in data_dirs() if (d / name).exists()), None)


def imdb_test(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """Official test reviews (label 1 = positive) from the tarball or an extracted aclImdb/,
    read as the trainer reads them. With `limit`, the first limit/2 reviews of each class by
    file id: a fixed, balanced subset."""
    per_class = None if limit is None else max(1, limit // 2)
    found: dict[int, list[tuple[int, str]]] = {0: [], 1: []}
    for match, raw in read_reviews(path, {"test"}):
        _, label, review_id, _ = match.groups()
        if label != "unsup":
            found[LABELS[label]].append((int(review_id), raw.decode("utf-8", errors="replace")))
    if not found[0] or not found[1]:
        raise UserError(f"{path}: no aclImdb test/pos and test/neg reviews in it")
    texts, labels = [], []
    for label in (1, 0):
        reviews = sorted(found[label])[:per_class]
        texts += [text for _, text in reviews]
        labels += [label] * len(reviews)
    return texts, labels


def plays_texts(path: Path) -> list[str]:
    """The three Gutenberg plays, lowercased, as the trainer reads them (NLTK uses latin-1);
    a plain text file is one text."""
    hint = f"give NLTK's {GUTENBERG_ARCHIVE} or a UTF-8 .txt file"
    if path.is_dir():
        raise UserError(f"--text {path} is a folder; {hint}")
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                names = {Path(n).name: n for n in zf.namelist()}
                missing = [p for p in PLAYS if p not in names]
                if missing:
                    raise UserError(f"--text {path} lacks {', '.join(missing)}; {hint}")
                return [zf.read(names[p]).decode("latin-1").lower() for p in PLAYS]
        return [path.read_text(encoding="utf-8", errors="replace").lower()]
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise UserError(f"--text {path}: unreadable ({exc}); {hint}") from None

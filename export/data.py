"""Real samples for parity checks and accuracy: the IMDB test set and the Gutenberg plays.

The exporter reads them straight from the archives in the data folder (never the network).
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path

from export.errors import ExportError

REPO_ROOT = Path(__file__).resolve().parents[1]
IMDB_ARCHIVE = "aclImdb_v1.tar.gz"
GUTENBERG_ARCHIVE = "gutenberg.zip"
PLAYS = ("shakespeare-caesar.txt", "shakespeare-hamlet.txt", "shakespeare-macbeth.txt")


def data_dirs() -> list[Path]:
    """Where data is looked for: $BARDBOT_DATA, ./data in the repo, ../shared/data beside it."""
    env = os.environ.get("BARDBOT_DATA")
    dirs = [Path(env)] if env else []
    return [*dirs, REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"]


def find(name: str, given: str | Path | None = None, search: bool = True) -> Path | None:
    """`given` if set (it must exist), else (if `search`) the first data folder holding `name`."""
    if given is not None:
        path = Path(given)
        if not path.exists():
            raise ExportError(f"{path}: not found")
        return path
    if not search:
        return None
    return next((d / name for d in data_dirs() if (d / name).exists()), None)


def imdb_test(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """Official test reviews (label 1 = positive) from the tarball or an extracted aclImdb/.

    With `limit`, the first limit/2 reviews of each class by file id: a fixed, balanced subset.
    """
    per_class = None if limit is None else max(1, limit // 2)
    found: dict[int, list[tuple[int, str]]] = {0: [], 1: []}

    def add(name: str, read) -> None:
        parts = name.split("/")
        if len(parts) < 3 or parts[-3] != "test" or parts[-2] not in ("pos", "neg"):
            return
        if not parts[-1].endswith(".txt"):
            return
        label = 1 if parts[-2] == "pos" else 0
        found[label].append((int(parts[-1].split("_")[0]), read().decode("utf-8")))

    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for sub in ("test/pos", "test/neg"):
            for file in sorted((root / sub).glob("*.txt")):
                add(f"x/{sub}/{file.name}", file.read_bytes)
    else:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile() and "/test/" in member.name:
                    add(member.name, tar.extractfile(member).read)
    if not found[0] or not found[1]:
        raise ExportError(f"{path}: no aclImdb test/pos and test/neg reviews in it")
    texts, labels = [], []
    for label in (1, 0):
        reviews = sorted(found[label])[:per_class]
        texts += [text for _, text in reviews]
        labels += [label] * len(reviews)
    return texts, labels


def plays_texts(path: Path) -> list[str]:
    """The three Gutenberg plays, lowercased, as the trainer reads them (NLTK uses latin-1);
    a plain text file is one text."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = {Path(n).name: n for n in zf.namelist()}
            missing = [p for p in PLAYS if p not in names]
            if missing:
                raise ExportError(f"{path}: lacks {', '.join(missing)}")
            return [zf.read(names[p]).decode("latin-1").lower() for p in PLAYS]
    return [path.read_text(encoding="utf-8", errors="replace").lower()]

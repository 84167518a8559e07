"""The two data sets: aclImdb reviews (folder, tarball or download) and Gutenberg Shakespeare.

Data is searched in this order: the explicit flag, then $BARDBOT_DATA, then ./data, then
../shared/data (beside the checkout) as a fallback location.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.trainer.fit import REPO_ROOT
from bardbot.trainer.runs import UserError
from tqdm import tqdm

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# The Stanford tarball (84,125,825 bytes) as published; also accepted: the byte-identical-review
# repack kept in shared/data (gzip -9 -n, without the *.feat files; see its README).
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SHA256_REPACK = "91ab3079f70de8a9697b762bba75c97e4c82d1f1b49e151618e666091fb6a7fc"
IMDB_CHECKSUMS = (IMDB_SHA256, IMDB_SHA256_REPACK)
IMDB_TARBALL = "aclImdb_v1.tar.gz"
GUTENBERG_ZIP = "gutenberg.zip"

# sha256 of the three plays as NLTK ships them; when all match, the reference's corpus
# statistics (375,542 chars, 50 symbols) must hold exactly.
REFERENCE_PLAYS = {
    "shakespeare-caesar.txt": "7c46bd32fc84d9596bcad55b61ec3c1a390239acb190b286422855aafc2774b3",
    "shakespeare-hamlet.txt": "1eceab7027ad7e0cc25c6b6aadcb2e6bb070395cb2085f775ac732d63d5db240",
    "shakespeare-macbeth.txt": "d4a204352cfe5924cbae76f764225d120e9f7617d39cb8c949dedd3f306353ac",
}
REFERENCE_CHARS, REFERENCE_SYMBOLS = 375_542, 50

REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
LABELS = {"pos": 1, "neg": 0, "unsup": -1}


def data_search_dirs() -> list[Path]:
    dirs = []
    if env := os.environ.get("BARDBOT_DATA"):
        dirs.append(Path(env))
    dirs += [Path.cwd() / "data", Path.cwd().parent / "shared" / "data",
             REPO_ROOT.parent / "shared" / "data"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


# ---------------------------------------------------------------------------- download


def download_file(url: str, dest: Path, sha256: str | tuple[str, ...],
                  chunk: int = 1 << 20) -> Path:
    """Stream `url` to `dest` with a progress bar; keep it only if its sha256 is accepted."""
    accepted = (sha256,) if isinstance(sha256, str) else tuple(sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}") as bar:
                while block := response.read(chunk):
                    f.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"could not download {url} ({exc}); check the network or pass "
                        f"--imdb with a local copy") from None
    if digest.hexdigest() not in accepted:
        part.unlink(missing_ok=True)
        raise UserError(f"checksum mismatch for {url}: got sha256 {digest.hexdigest()[:16]}..., "
                        f"expected {accepted[0][:16]}...; the partial file was removed, retry "
                        f"or use a verified copy with --imdb")
    os.replace(part, dest)
    return dest


# ---------------------------------------------------------------------------- aclImdb


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 positive, 0 negative, -1 unlabelled (train/unsup)
    rating: int  # from the file name ID_RATING.txt; 0 for unsup
    id: int


@dataclass
class Imdb:
    train: list[Review]
    test: list[Review]
    unsup: list[Review]
    source: str


def _classify(source: Path) -> tuple[str, Path]:
    if source.is_file():  # _iter_tar says so if it is not a readable tarball
        return "tar", source
    for root in (source, source / "aclImdb"):
        if (root / "train").is_dir() or (root / "test").is_dir():
            return "dir", root
    if (source / IMDB_TARBALL).is_file():
        return "tar", source / IMDB_TARBALL
    raise UserError(f"no aclImdb data in {source}; give the aclImdb folder, its parent or "
                    f"{IMDB_TARBALL} (or add --download)")


def locate_imdb(path: str | None, download: bool = False, url: str | None = None,
                sha256: str | tuple[str, ...] = IMDB_CHECKSUMS) -> tuple[str, Path]:
    """Find the data set: ("dir", aclImdb folder) or ("tar", tarball path)."""
    if path is not None:
        source = Path(path).expanduser()
        if source.exists():
            return _classify(source)
        if download and source.name.endswith(".tar.gz"):
            return "tar", download_file(url or IMDB_URL, source, sha256)
        if download:
            raise UserError(f"--imdb {path} does not exist; with --download give the file to "
                            f"create (a path ending in .tar.gz) or leave --imdb out")
        raise UserError(f"--imdb {path} does not exist; give the aclImdb folder or "
                        f"{IMDB_TARBALL}, or add --download to fetch it")
    for d in data_search_dirs():
        if (d / "aclImdb" / "train").is_dir() or (d / IMDB_TARBALL).is_file():
            return _classify(d)
    if download:
        folder = Path(os.environ.get("BARDBOT_DATA") or Path.cwd() / "data")
        return "tar", download_file(url or IMDB_URL, folder / IMDB_TARBALL, sha256)
    searched = ", ".join(str(d) for d in data_search_dirs())
    raise UserError(f"aclImdb not found (searched {searched}); pass --imdb PATH, set "
                    f"BARDBOT_DATA, or add --download")


def read_reviews(path: Path, splits: set[str]) -> Iterator[tuple[re.Match, bytes]]:
    """(REVIEW_PATH's match: split, label, id, rating; raw bytes) of each review of `splits` in
    an aclImdb folder, its parent or the tarball: the trainer and the exporter read it here."""
    kind, source = _classify(path)
    reader = _iter_dir(source, splits) if kind == "dir" else _iter_tar(source, splits)
    for name, raw in reader:
        if match := REVIEW_PATH.search(name):
            yield match, raw


def _iter_dir(root: Path, splits: set[str]) -> Iterator[tuple[str, bytes]]:
    for split in sorted(splits):
        for folder in sorted((root / split).glob("*")):
            if folder.is_dir() and folder.name in LABELS:
                for f in folder.glob("*.txt"):
                    yield f"{split}/{folder.name}/{f.name}", f.read_bytes()


def _iter_tar(path: Path, splits: set[str]) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                match = REVIEW_PATH.search(member.name) if member.isfile() else None
                if match and match.group(1) in splits:
                    yield member.name, tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise UserError(f"{path} is not a readable aclImdb .tar.gz ({exc}); re-download it "
                        f"or give the extracted folder") from None


def load_imdb(path: str | None = None, *, download: bool = False, url: str | None = None,
              sha256: str | tuple[str, ...] = IMDB_CHECKSUMS, unsup: bool = True,
              max_per_split: int | None = None, seed: int = 0) -> Imdb:
    """Read every review once; `train/unsup` is kept apart and never treated as a class."""
    _, source = locate_imdb(path, download, url, sha256)
    reader = read_reviews(source, {"train", "test"})
    out: dict[str, list[Review]] = {"train": [], "test": [], "unsup": []}
    total = 100_000 if unsup else 50_000
    for match, raw in tqdm(reader, total=total, desc=f"read {source.name}", unit=" reviews",
                           mininterval=1.0):
        split, label, rid, rating = match.groups()
        if label == "unsup":
            if not unsup or split != "train":
                continue
            split = "unsup"
        out[split].append(Review(raw.decode("utf-8", errors="replace"), LABELS[label],
                                 int(rating), int(rid)))
    for split in out:
        out[split].sort(key=lambda r: (-r.label, r.id))
    if not out["train"]:
        raise UserError(f"no labelled reviews in {source} (expected aclImdb/train/pos and "
                        f"train/neg *.txt files); check the path")
    if len({r.label for r in out["train"]}) < 2:
        raise UserError(f"{source}: train needs both pos and neg reviews")
    if max_per_split is not None:
        rng = np.random.default_rng(seed)
        for split, reviews in out.items():
            if len(reviews) > max_per_split:
                keep = np.sort(rng.permutation(len(reviews))[:max_per_split])
                out[split] = [reviews[i] for i in keep]
    return Imdb(out["train"], out["test"], out["unsup"], str(source))


# ---------------------------------------------------------------------------- Gutenberg


def _stage_zip(zip_path: Path, cache_dir: Path) -> Path:
    """NLTK reads corpora from <nltk_data>/corpora/; put (a copy of) the zip in such a folder."""
    root = cache_dir / "nltk_data"
    target = root / "corpora" / GUTENBERG_ZIP
    target.parent.mkdir(parents=True, exist_ok=True)
    src = zip_path.stat()
    if not target.exists() or target.stat().st_size != src.st_size or (
            target.stat().st_mtime < src.st_mtime):
        shutil.copyfile(zip_path, target)
    return root


def _nltk_root(path: str | None, cache_dir: Path) -> Path | None:
    """The nltk_data folder to read Gutenberg from; None = NLTK's own search path."""
    if path is not None:
        source = Path(path).expanduser()
        if source.is_file():
            if source.suffix != ".zip":
                raise UserError(f"--gutenberg {path} is not a .zip; give gutenberg.zip or an "
                                f"nltk_data folder")
            return _stage_zip(source, cache_dir)
        if (source / "corpora" / "gutenberg").exists() or (
                source / "corpora" / GUTENBERG_ZIP).is_file():
            return source
        if (source / GUTENBERG_ZIP).is_file():
            return _stage_zip(source / GUTENBERG_ZIP, cache_dir)
        raise UserError(f"--gutenberg {path}: no gutenberg.zip there; give the zip file or an "
                        f"nltk_data folder containing corpora/gutenberg.zip")
    for d in data_search_dirs():
        if (d / GUTENBERG_ZIP).is_file():
            return _stage_zip(d / GUTENBERG_ZIP, cache_dir)
    return None


def gutenberg_reader(path: str | None, cache_dir: Path):
    """`nltk.corpus.gutenberg` read from `path`, the data dirs, NLTK_DATA, or nltk.download."""
    import nltk
    from nltk.corpus.reader import PlaintextCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    root = _nltk_root(path, Path(cache_dir))
    if root is not None:
        root = str(Path(root).resolve())
        # nltk's path sandbox trusts $NLTK_DATA; nltk.data.path is where it looks.
        paths = os.environ.get("NLTK_DATA", "")
        if root not in paths.split(os.pathsep):
            os.environ["NLTK_DATA"] = os.pathsep.join(p for p in (root, paths) if p)
        if root not in nltk.data.path:
            nltk.data.path.insert(0, root)
    else:
        try:
            nltk.data.find("corpora/gutenberg")
        except LookupError:
            if not nltk.download("gutenberg", quiet=True, raise_on_error=False):
                raise UserError("Gutenberg corpus not found and nltk.download failed; pass "
                                "--gutenberg path/to/gutenberg.zip or set NLTK_DATA") from None
    return LazyCorpusLoader("gutenberg", PlaintextCorpusReader, r"(?!\.).*\.txt",
                            encoding="latin1")


def load_plays(fileids: tuple[str, ...], path: str | None, cache_dir: Path
               ) -> list[tuple[str, str]]:
    """Raw text of each play, in order, as `nltk.corpus.gutenberg.raw` gives it."""
    reader = gutenberg_reader(path, cache_dir)
    try:
        available = set(reader.fileids())
    except (LookupError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read the Gutenberg corpus ({str(exc).strip().splitlines()[0]}); "
                        f"pass --gutenberg with an intact copy of NLTK's gutenberg.zip") from None
    missing = [f for f in fileids if f not in available]
    if missing:
        raise UserError(f"Gutenberg corpus has no {', '.join(missing)}; use NLTK's gutenberg.zip")
    return [(f, reader.raw(f)) for f in fileids]


def split_heldout(seq, heldout: float):
    """(training part, held-out part) of a text or id array: the held-out `heldout` fraction
    is its end. Trainers, exporters and the bard's word list all split text this way."""
    cut = round(len(seq) * (1 - heldout))
    return seq[:cut], seq[cut:]


def is_reference_corpus(plays: list[tuple[str, str]]) -> bool:
    got = {name: hashlib.sha256(text.encode("latin-1")).hexdigest() for name, text in plays}
    return got == REFERENCE_PLAYS


def load_text_file(path: str) -> list[tuple[str, str]]:
    source = Path(path).expanduser()
    if not source.is_file():
        raise UserError(f"--text {path} does not exist; give a UTF-8 text file")
    try:
        return [(source.name, source.read_text(encoding="utf-8"))]
    except UnicodeDecodeError:
        raise UserError(f"--text {path} is not UTF-8 text") from None

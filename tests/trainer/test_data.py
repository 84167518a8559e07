import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest
from bardbot.trainer.config import UserError
from bardbot.trainer.data import (
    download_file,
    is_reference_corpus,
    load_imdb,
    load_plays,
    locate_imdb,
)

from .conftest import PLAYS


def test_folder_and_tarball_give_the_same_reviews(imdb_dir, imdb_tarball):
    a = load_imdb(str(imdb_dir))
    b = load_imdb(str(imdb_tarball))
    assert len(a.train) == 24 and len(a.test) == 12 and len(a.unsup) == 6
    assert [(r.label, r.id, r.rating, r.text) for r in a.train] == [
        (r.label, r.id, r.rating, r.text) for r in b.train]
    # labels from the folder, ratings from ID_RATING.txt, unsup kept apart (never a class)
    assert {r.label for r in a.train} == {0, 1} and {r.label for r in a.unsup} == {-1}
    assert all(7 <= r.rating <= 10 for r in a.train if r.label == 1)
    assert all(1 <= r.rating <= 4 for r in a.train if r.label == 0)
    assert all(r.rating == 0 for r in a.unsup)


def test_parent_folder_and_unsup_switch(imdb_dir):
    data = load_imdb(str(imdb_dir.parent), unsup=False, max_per_split=10, seed=3)
    assert data.unsup == [] and len(data.train) == 10 and len(data.test) == 10


def test_search_order_uses_env_before_fallbacks(imdb_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BARDBOT_DATA", str(imdb_dir.parent))
    kind, root = locate_imdb(None)
    assert kind == "dir" and root == imdb_dir


def test_missing_and_corrupt_data_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_imdb(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no aclImdb data"):
        load_imdb(str(tmp_path / "empty"))
    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(UserError, match=r"\.tar\.gz"):
        load_imdb(str(bad))
    (tmp_path / "hollow" / "aclImdb" / "train" / "pos").mkdir(parents=True)
    with pytest.raises(UserError, match="no labelled reviews"):
        load_imdb(str(tmp_path / "hollow"))


@pytest.fixture
def server(imdb_tarball):
    """A local HTTP server on 127.0.0.1 (ephemeral port) serving the tiny tarball."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(imdb_tarball.parent))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{imdb_tarball.name}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_checks_sha256_and_loads(server, imdb_tarball, tmp_path, monkeypatch):
    good = hashlib.sha256(imdb_tarball.read_bytes()).hexdigest()
    dest = download_file(server, tmp_path / "dl" / "x.tar.gz", good)
    assert dest.read_bytes() == imdb_tarball.read_bytes()
    # the default search finds nothing (no ./data, no ../shared/data), so --download
    # fetches into $BARDBOT_DATA
    monkeypatch.chdir(tmp_path / "dl")
    monkeypatch.setattr("bardbot.trainer.data.REPO_ROOT", tmp_path / "dl")
    monkeypatch.setenv("BARDBOT_DATA", str(tmp_path / "fresh"))
    data = load_imdb(None, download=True, url=server, sha256=good)
    assert len(data.train) == 24
    assert (tmp_path / "fresh" / "aclImdb_v1.tar.gz").is_file()


def test_download_with_bad_checksum_removes_partial_file(server, tmp_path):
    dest = tmp_path / "dl" / "aclImdb_v1.tar.gz"
    with pytest.raises(UserError, match="checksum mismatch"):
        download_file(server, dest, "0" * 64)
    assert list((tmp_path / "dl").iterdir()) == []


def test_download_unreachable_is_user_error(tmp_path):
    with pytest.raises(UserError, match="could not download"):
        download_file("http://127.0.0.1:9/none.tar.gz", tmp_path / "x.tar.gz", "0" * 64)
    assert not (tmp_path / "x.tar.gz.part").exists()


def test_gutenberg_from_zip_via_nltk(gutenberg_zip, tmp_path, isolated_nltk):
    plays = load_plays(tuple(PLAYS), str(gutenberg_zip), tmp_path / "cache")
    assert [n for n, _ in plays] == list(PLAYS)
    assert [t for _, t in plays] == list(PLAYS.values())
    assert not is_reference_corpus(plays)  # the 375,542-char check applies to the real plays only
    with pytest.raises(UserError, match="has no"):
        load_plays(("shakespeare-lear.txt",), str(gutenberg_zip), tmp_path / "cache")


def test_gutenberg_bad_paths(tmp_path, isolated_nltk):
    other = tmp_path / "plays.txt"
    other.write_text("x")
    with pytest.raises(UserError, match=r"not a \.zip"):
        load_plays(tuple(PLAYS), str(other), tmp_path)
    with pytest.raises(UserError, match=r"no gutenberg\.zip"):
        load_plays(tuple(PLAYS), str(tmp_path), tmp_path)
    assert Path(tmp_path).is_dir()


def test_cli_download_with_wrong_checksum_fails_cleanly(server, tmp_path, capsys):
    from bardbot.trainer.cli import main

    dest = tmp_path / "data" / "aclImdb_v1.tar.gz"
    code = main(["sentiment", "--imdb", str(dest), "--download", "--url", server,
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "checksum mismatch" in err[-1] and err[-1].startswith("error: ")
    assert list(dest.parent.iterdir()) == []  # neither the tarball nor a .part file
    assert not (tmp_path / "run" / "meta.json").exists()

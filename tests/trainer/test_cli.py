"""The CLI end to end on fixture data: 1-epoch fits, the run-folder contract, user errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bardbot.models.text import CharEncoding, WordEncoding
from bardbot.trainer.cli import main

REPO = Path(__file__).resolve().parents[2]


def _meta(out: Path) -> dict:
    return json.loads((out / "meta.json").read_text(encoding="utf-8"))


def test_sentiment_fit_writes_the_contract(imdb_tarball, w2v_text, tmp_path):
    out = tmp_path / "run"
    code = main(["sentiment", "--imdb", str(imdb_tarball), "--vectors", "word2vec-file",
                 "--vectors-file", str(w2v_text), "--maxlen", "12", "--epochs", "1",
                 "--batch-size", "8", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--quiet"])
    assert code == 0
    meta = _meta(out)
    assert meta["format"] == "bardbot.train.sentiment/1" and meta["kind"] == "sentiment"
    enc = WordEncoding.from_dict(meta["encoding"])
    assert enc.maxlen == 12 and enc.oov == "drop" and "zzzunknown" not in enc.words
    assert meta["vectors"]["source"] == "word2vec-file" and meta["vectors"]["dim"] == 8
    assert 0 < meta["vectors"]["oov_ratio"] < 1
    assert meta["params"]["trainable"] == 4 * (50 * (8 + 50) + 50) + 50 * 12 + 1
    m = meta["metrics"]
    assert 0 <= m["val_accuracy"] <= 1 and 0 <= m["test_accuracy"] <= 1
    assert len(m["epoch_seconds"]) == 1 and len(m["history"]["loss"]) == 1
    assert meta["seed"] == 42 and "sentiment" in meta["command"] and meta["peak_rss_mb"] > 0
    assert "keras" in meta["versions"] and meta["wall_seconds"] > 0
    assert (out / "training_curves.png").is_file() and (out / "lengths.png").is_file()

    import keras

    model = keras.models.load_model(out / "model.keras")
    ids = enc.encode_batch(["great wonderful film", "awful boring"])[0]
    assert model.predict_on_batch(ids).shape == (2, 1)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0][0], 0)


def test_sentiment_word2vec_train_and_unk_policy(imdb_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["sentiment", "--imdb", str(imdb_dir), "--w2v-min-count", "1", "--w2v-epochs",
                 "1", "--workers", "1", "--maxlen", "10", "--epochs", "1", "--oov", "unk",
                 "--max-vocab", "6", "--no-test", "--out", str(out), "--cache-dir",
                 str(tmp_path / "c"), "--quiet"]) == 0
    meta = _meta(out)
    assert meta["vectors"]["dim"] == 300 and meta["vectors"]["vocab_size"] == 8
    assert meta["encoding"]["oov"] == "unk" and meta["metrics"]["test_accuracy"] is None


def test_shakespeare_fit_writes_the_contract(gutenberg_zip, tmp_path, isolated_nltk):
    out = tmp_path / "run"
    assert main(["shakespeare", "--gutenberg", str(gutenberg_zip), "--epochs", "1",
                 "--sample-length", "10", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--quiet"]) == 0
    meta = _meta(out)
    assert meta["format"] == "bardbot.train.shakespeare/1" and meta["objective"] == "last"
    assert meta["window"] == 40 and meta["step"] == 3
    enc = CharEncoding.from_dict(meta["encoding"])
    m = meta["metrics"]
    assert m["heldout_loss_windowed"] > 0 and m["heldout_loss_stateful"] > 0
    assert len(m["epoch_seconds"]) == 1
    assert meta["params"]["total"] == 4 * (128 * (enc.size + 128) + 128) + 129 * enc.size
    assert all(len(meta["samples"][t]) == 10 for t in ("0.2", "0.5", "1.0"))
    assert not meta["data"]["reference"]

    import keras

    model = keras.models.load_model(out / "model.keras")
    assert model.inputs[0].shape == (None, 40, enc.size)


def test_shakespeare_every_step_objective_is_seed_reproducible(short_text, tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["shakespeare", "--text", str(short_text), "--objective", "every",
                     "--window", "10", "--epochs", "1", "--sample-length", "5", "--out",
                     str(out), "--quiet"]) == 0
        runs.append(_meta(out))
    assert runs[0]["objective"] == "every"
    assert runs[0]["metrics"]["history"]["loss"] == runs[1]["metrics"]["history"]["loss"]
    assert runs[0]["samples"] == runs[1]["samples"]


def test_init_from_rejects_a_different_character_set(short_text, tmp_path):
    first = tmp_path / "first"
    assert main(["shakespeare", "--text", str(short_text), "--window", "10", "--epochs", "1",
                 "--sample-length", "2", "--out", str(first), "--quiet"]) == 0
    other = tmp_path / "other.txt"
    other.write_text("xyz 0123456789 " * 20, encoding="utf-8")
    code = main(["shakespeare", "--text", str(other), "--window", "10", "--init-from",
                 str(first), "--out", str(tmp_path / "second"), "--quiet"])
    assert code == 2
    assert not (tmp_path / "second" / "meta.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["sentiment", "--imdb", "/nonexistent/aclImdb"], "does not exist"),
    (["sentiment", "--maxlen", "0"], "--maxlen must be a positive"),
    (["sentiment", "--vectors", "word2vec-file"], "needs --vectors-file"),
    (["shakespeare", "--text", "/nonexistent.txt"], "does not exist"),
    (["lengths", "--maxlen", "-5"], "--maxlen must be positive"),
    (["shakespeare", "--temperatures", "0.5", "nan"], "--temperatures must be finite"),
    (["shakespeare", "--step", "0"], "--window and --step must be positive"),
    (["shakespeare", "--learning-rate", "0"], "--learning-rate must be a positive"),
    # Flags of another vector source used to be ignored silently (minutes of the wrong run).
    (["sentiment", "--vectors-file", "v.bin"], "need --vectors word2vec-file"),
    (["sentiment", "--text-format"], "need --vectors word2vec-file"),
    (["sentiment", "--glove-dir", "g"], "--glove-dir needs --vectors glove"),
    (["sentiment", "--vectors", "glove", "--glove-dir", "/nonexistent"], "is not a folder"),
    (["sentiment", "--limit", "1000"], "--limit N (N > 0) applies to"),
    (["lengths", "--workers", "0"], "must be positive"),
    (["message", "--token-hidden", "-1"], "--token-hidden must be 0 or more"),
    # Checked before the reviews are read and tokenised, not after.
    (["sentiment", "--vectors", "word2vec-file", "--vectors-file", "/nonexistent.bin"],
     "--vectors-file /nonexistent.bin does not exist"),
    (["sentiment", "--imdb", "/nonexistent/aclImdb", "--download"], "path ending in .tar.gz"),
    (["sentiment", "--url", "http://127.0.0.1:1/a.tar.gz"], "--url only takes effect with"),
])
def test_user_errors_are_one_line(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_path / "o" / "meta.json").exists()


def test_a_failed_run_removes_the_empty_out_folders_it_created(tmp_path):
    out = tmp_path / "runs" / "first"
    assert main(["sentiment", "--imdb", str(tmp_path / "missing"), "--out", str(out),
                 "--cache-dir", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "runs").exists()
    (tmp_path / "kept").mkdir()  # a folder that was there before the run stays
    assert main(["sentiment", "--imdb", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "kept"), "--cache-dir", str(tmp_path / "c")]) == 2
    assert (tmp_path / "kept").is_dir()


def test_bad_inputs_from_a_shell(imdb_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    bad_vectors = tmp_path / "v.txt"
    bad_vectors.write_text("hello world\n")
    cases = [
        (["shakespeare", "--text", str(empty)], "corpus is empty"),
        (["sentiment", "--imdb", str(imdb_dir), "--vectors", "word2vec-file",
          "--vectors-file", str(bad_vectors)], "not a text word2vec file"),
        (["sentiment", "--oov", "maybe"], "invalid choice"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "bardbot.trainer", *args, "--out",
                               str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c")],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert message in last and "Traceback" not in proc.stderr


def test_a_failed_rerun_keeps_the_finished_run_and_init_from_may_reuse_it(short_text, tmp_path):
    run = tmp_path / "run"
    args = ["shakespeare", "--window", "10", "--epochs", "1", "--sample-length", "2", "--out",
            str(run), "--quiet"]
    assert main([*args, "--text", str(short_text)]) == 0
    first = _meta(run)
    # A typo in a rerun into the same folder must not unmark the finished run.
    assert main([*args, "--text", str(tmp_path / "typo.txt")]) == 2
    assert _meta(run) == first
    # Continue training in place: --init-from reads the meta.json that --out will replace.
    assert main([*args, "--text", str(short_text), "--init-from", str(run)]) == 0
    second = _meta(run)
    assert second["training"]["init_from"] == str(run)
    assert second["metrics"]["history"]["loss"] != first["metrics"]["history"]["loss"]


def test_every_option_has_help_and_help_renders_cleanly():
    from bardbot.trainer.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
        text = sub.format_help()
        assert "%%" not in text, name


def test_each_subcommand_s_defaults_are_its_config_s_defaults(monkeypatch):
    """The flags' defaults are read from the config dataclasses, not written a second time."""
    import argparse
    import importlib

    from bardbot.trainer.cli import SUBCOMMANDS, build_parser
    from bardbot.trainer.config import (
        BardConfig,
        LengthsConfig,
        MessageConfig,
        SentimentConfig,
        ShakespeareConfig,
    )

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)  # verbose 2: a log file

    def config(name):
        args = build_parser().parse_args([name], argparse.Namespace(command_line="CMD"))
        return importlib.import_module(SUBCOMMANDS[name][0]).config_from_args(args)

    for name, cls in [("sentiment", SentimentConfig), ("message", MessageConfig),
                      ("shakespeare", ShakespeareConfig), ("bard", BardConfig)]:
        assert config(name) == cls(out=Path(f"runs/{name}"), verbose=2, command="CMD"), name
    corpus = SentimentConfig(out=Path("runs/lengths"), epochs=1, batch_size=1, maxlen=400,
                             verbose=2, command="CMD")
    assert config("lengths") == LengthsConfig(corpus)


def test_a_subcommand_loads_only_its_own_trainer():
    code = ("import sys; from bardbot.trainer.cli import build_parser; build_parser(only='bard'); "
            "print(sorted(m for m in sys.modules if m.startswith('bardbot.trainer.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    loaded = proc.stdout.strip()
    assert "'bardbot.trainer.bard'" in loaded, proc.stderr
    assert "message" not in loaded and "sentiment" not in loaded and "vectors" not in loaded


def test_help_explains_the_commands():
    proc = subprocess.run([sys.executable, "-m", "bardbot.trainer", "--help"], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0
    for word in ("sentiment", "shakespeare", "lengths", "BARDBOT_DATA", "meta.json",
                 "python -m bardbot.export"):
        assert word in proc.stdout


def test_lengths_command_counts_tokens_with_vectors(imdb_dir, w2v_text, tmp_path, capsys):
    out = tmp_path / "len"
    assert main(["lengths", "--imdb", str(imdb_dir), "--vectors", "word2vec-file",
                 "--vectors-file", str(w2v_text), "--maxlen", "10", "5", "--out", str(out),
                 "--cache-dir", str(tmp_path / "c")]) == 0
    stats = json.loads((out / "lengths.json").read_text())["stats"]
    assert [s["maxlen"] for s in stats] == [10, 5]
    for s in stats:
        assert s["padded"] + s["equal"] + s["truncated"] == s["reviews"] == 24
    assert stats[0]["mean_kept"] >= stats[1]["mean_kept"]
    assert "truncated" in capsys.readouterr().out and (out / "lengths.png").is_file()
    raw = tmp_path / "raw"
    assert main(["lengths", "--imdb", str(imdb_dir), "--raw", "--maxlen", "10", "--out",
                 str(raw), "--cache-dir", str(tmp_path / "c")]) == 0
    raw_stats = json.loads((raw / "lengths.json").read_text())["stats"][0]
    # every fixture review ends in an unknown word plus "the end": raw counts are longer
    assert raw_stats["mean_length"] > stats[0]["mean_length"]


def test_meta_json_is_strict_json_when_the_heldout_text_is_shorter_than_a_window(short_text,
                                                                                 tmp_path):
    out = tmp_path / "run"
    assert main(["shakespeare", "--text", str(short_text), "--window", "10", "--max-chars", "60",
                 "--epochs", "1", "--sample-length", "2", "--out", str(out), "--quiet"]) == 0

    def reject(constant):
        raise ValueError(f"meta.json holds {constant}, which strict JSON readers reject")

    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"), parse_constant=reject)
    assert meta["metrics"]["heldout_loss_windowed"] is None  # 6 held-out chars < one window
    assert meta["metrics"]["heldout_loss_stateful"] > 0


def test_prompt_and_gutenberg_zip_problems_stop_before_training(short_text, tmp_path, capsys,
                                                              isolated_nltk):
    """A prompt without a corpus character used to crash in sampling, after all the epochs,
    before the model was saved; a damaged zip ended in a BadZipFile traceback."""
    bad_zip = tmp_path / "gutenberg.zip"
    bad_zip.write_bytes(b"PK\x03\x04 not a zip")
    cases = [
        (["--text", str(short_text), "--window", "10", "--prompt", "\U0001f642"],
         "has no character of the corpus"),
        (["--text", str(short_text), "--window", "10", "--prompt", ""],
         "has no character of the corpus"),
        (["--gutenberg", str(bad_zip)], "cannot read the Gutenberg corpus"),
    ]
    for args, message in cases:
        out = tmp_path / "run"
        assert main(["shakespeare", *args, "--epochs", "1", "--out", str(out), "--cache-dir",
                     str(tmp_path / "c"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not (out / "model.keras").exists()


def test_init_from_problems_are_one_line_errors(short_text, tmp_path, capsys):
    """A foreign or unreadable run, or another window, used to end in a traceback."""
    first = tmp_path / "first"
    assert main(["shakespeare", "--text", str(short_text), "--window", "10", "--epochs", "1",
                 "--sample-length", "2", "--out", str(first), "--quiet"]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.keras").write_bytes((first / "model.keras").read_bytes())
    (foreign / "meta.json").write_text(json.dumps({"format": "bardbot.train.sentiment/1",
                                                   "encoding": {"words": []}}))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.keras").write_bytes(b"")
    (broken / "meta.json").write_text("{oops")
    cases = [
        (["--init-from", str(foreign)], "is not a shakespeare run"),
        (["--init-from", str(broken)], "is unreadable"),
        (["--init-from", str(tmp_path / "missing")], "has no meta.json and model.keras"),
        (["--init-from", str(first), "--window", "12"], "--window 12 differs"),
    ]
    for args, message in cases:
        window = [] if "--window" in args else ["--window", "10"]
        assert main(["shakespeare", "--text", str(short_text), *window, *args, "--epochs", "1",
                     "--out", str(tmp_path / "second"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_recorded_command_reruns_as_typed(short_text, tmp_path):
    """Arguments with spaces used to be joined unquoted: the recorded command did not rerun."""
    import shlex

    args = ["shakespeare", "--text", str(short_text), "--window", "10", "--epochs", "1",
            "--sample-length", "2", "--prompt", "shall i, compare", "--out", str(tmp_path / "r"),
            "--quiet"]
    assert main(args) == 0
    command = _meta(tmp_path / "r")["command"]
    assert shlex.split(command) == ["python", "-m", "bardbot.trainer", *args]


@pytest.mark.parametrize("command", [["shakespeare", "--text", "t.txt"], ["lengths", "--raw"]])
def test_an_out_folder_that_cannot_be_made_is_a_one_line_error(command, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main([*command, "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot create the folder" in err and len(err.splitlines()) == 1, err


def test_a_cache_folder_that_cannot_be_made_is_a_one_line_error(short_text, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["shakespeare", "--text", str(short_text), "--out", str(tmp_path / "run"),
                 "--cache-dir", str(blocker / "cache")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--cache-dir" in err and "cannot create" in err and len(err.splitlines()) == 1, err

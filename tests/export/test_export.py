import json
from pathlib import Path

import bardbot.export.onnx_io as onnx_io
import numpy as np
import onnx
import pytest
from bardbot.export.__main__ import main
from bardbot.export.data import PLAYS
from bardbot.export.sentiment import SentimentExport, export_sentiment
from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare
from bardbot.models import SentimentClassifier, ShakespeareGenerator
from bardbot.trainer.runs import UserError

from tests.export.tiny import (
    CORPUS,
    WINDOW,
    build_sentiment_run,
    build_shakespeare_run,
    tiny_message_run,
)

FLOAT16 = onnx.TensorProto.FLOAT16


def quiet(*_):
    pass


def graph(path):
    return onnx.load(str(path)).graph


def write_plays_zip(path) -> list[str]:
    """A gutenberg.zip with the three play names and short, distinct texts (returned)."""
    import zipfile

    plays = [CORPUS * 2, CORPUS[::-1] * 3, CORPUS.upper()]
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in zip(PLAYS, plays, strict=True):
            zf.writestr(f"gutenberg/{name}", text.encode("latin-1"))
    return plays


@pytest.mark.parametrize(
    ("name", "inputs", "outputs"),
    [
        ("sentiment.onnx", {"token_ids"}, {"prob"}),
        # The generation loop's inputs are optional (they have defaults); new_ids is its output.
        ("shakespeare.onnx", {"char_ids", "h", "c"}, {"probs", "h_out", "c_out", "new_ids"}),
    ],
)
def test_one_lstm_op_named_io_dynamic_batch(tiny, name, inputs, outputs):
    g = graph(tiny.models / name)
    assert [n.op_type for n in g.node].count("LSTM") == 1
    defaults = {t.name for t in g.initializer}
    required = {i.name for i in g.input if i.name not in defaults}
    assert required == inputs and {o.name for o in g.output} == outputs
    assert {i.name for i in g.input} - required <= {"uniforms", "temperature", "steer_gain",
                                                    "steer_next", "steer_start", "steer_floor",
                                                    "stop_id", "end_chars", "end_after"}
    for value in g.input:
        if value.name in required:
            assert not value.type.tensor_type.shape.dim[0].HasField("dim_value")


def test_sentiment_parity_with_keras(tiny):
    import keras

    model = keras.models.load_model(tiny.sentiment / "model.keras")
    clf = SentimentClassifier.load(tiny.models / "sentiment.onnx")
    texts = ["the film was good .", "I loved it", "bad bad awful dull", "", "great " * 40]
    ids, _ = clf.encoding.encode_batch(texts)
    expected = model.predict(ids, verbose=0).reshape(-1)
    assert np.abs(clf.scores(ids) - expected).max() <= 1e-5
    assert [r.score for r in clf.predict(texts)] == pytest.approx(expected.tolist(), abs=1e-5)


def test_step_model_reproduces_the_windowed_model_from_zero_state(tiny):
    import keras

    model = keras.models.load_model(tiny.shakespeare / "model.keras")
    gen = ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")
    windows = np.random.default_rng(1).integers(0, gen.encoding.size, (8, WINDOW))
    expected = model.predict(gen.encoding.one_hot(windows), verbose=0)
    for window, probs in zip(windows, expected, strict=True):
        step_probs = gen.next_char_probs(window)
        assert np.abs(step_probs[-1] - probs).max() <= 1e-5
    meta = json.loads((tiny.models / "shakespeare.json").read_text())
    assert max(meta["metrics"]["export"]["parity"].values()) <= 1e-5
    assert meta["mode"] == "stateful" and meta["hidden"] == 16 and meta["window"] == WINDOW


def test_every_step_objective_exports_and_matches_at_every_position(tmp_path):
    import keras

    run = tmp_path / "every"
    build_shakespeare_run(run, objective="every", seed=3)
    export_shakespeare(ShakespeareExport(run, tmp_path / "out", search_data=False), log=quiet)
    gen = ShakespeareGenerator.load(tmp_path / "out" / "shakespeare.onnx")
    ids = gen.encoding.encode("to be, or not to be: that")
    expected = keras.models.load_model(run / "model.keras").predict(
        gen.encoding.one_hot(ids)[None], verbose=0)[0]
    probs = gen.next_char_probs(ids)
    assert np.abs(probs - expected).max() <= 1e-5


def test_float16_embedding_is_stored_as_float16_and_smaller(tiny, tmp_path):
    out = tmp_path / "fp16"
    export_sentiment(SentimentExport(tiny.sentiment, out, embedding_dtype="float16",
                                     search_data=False), log=quiet)
    stored = {i.name: i.data_type for i in graph(out / "sentiment.onnx").initializer}
    assert FLOAT16 in stored.values()
    assert FLOAT16 not in {i.data_type for i in graph(tiny.models / "sentiment.onnx").initializer}
    meta = json.loads((out / "sentiment.json").read_text())
    assert meta["embedding"]["dtype"] == "float16"
    assert meta["metrics"]["export"]["parity_max_abs_diff"] <= 1e-5


def write_fake_imdb(root, n=6):
    for label, words in (("pos", "good great loved"), ("neg", "bad awful dull")):
        folder = root / "aclImdb" / "test" / label
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(f"the film was {words}")


def test_auto_dtype_measures_accuracy_on_the_test_set(tiny, tmp_path):
    write_fake_imdb(tmp_path / "data")
    export_sentiment(SentimentExport(tiny.sentiment, tmp_path / "out", imdb=tmp_path / "data",
                                     search_data=False), log=quiet)
    metrics = json.loads((tmp_path / "out" / "sentiment.json").read_text())["metrics"]["export"]
    assert metrics["test_reviews"] == 12
    assert "fp16_accuracy_cost_points" in metrics
    assert metrics["parity_samples"].endswith("(IMDB test reviews)")


def test_max_words_cuts_the_vocabulary(tiny, tmp_path):
    export_sentiment(SentimentExport(tiny.sentiment, tmp_path, embedding_dtype="float32",
                                     max_words=3, search_data=False), log=quiet)
    clf = SentimentClassifier.load(tmp_path / "sentiment.onnx")
    assert clf.encoding.words == ("the", "film", "was")
    assert clf.predict(["the good film"])[0].unknown == ("good",)


def test_parity_failure_stops_the_export(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_io, "PARITY_TOL", -1.0)
    with pytest.raises(UserError, match="parity failed"):
        export_sentiment(SentimentExport(tiny.sentiment, tmp_path, embedding_dtype="float32",
                                         search_data=False), log=quiet)
    assert not (tmp_path / "sentiment.onnx").exists()


def test_cli_user_errors_are_one_line(tiny, tmp_path, capsys):
    assert main(["sentiment", str(tmp_path / "nope")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    build_sentiment_run(unfinished)
    (unfinished / "meta.json").unlink()
    assert main(["sentiment", str(unfinished)]) == 1
    assert "unfinished" in capsys.readouterr().err
    assert main(["sentiment", str(tiny.shakespeare), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is this a sentiment run" in err and err.count("\n") == 1


def test_cli_exports_a_run(tiny, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 3)
    assert main(["shakespeare", str(tiny.shakespeare), "--out", str(tmp_path),
                 "--mode", "windowed", "--text", str(corpus)]) == 0
    meta = json.loads((tmp_path / "shakespeare.json").read_text())
    assert meta["mode"] == "windowed"
    assert meta["export_command"].startswith("python -m bardbot.export")
    assert "corpus.txt" in meta["metrics"]["export"]["parity_samples"]
    assert ShakespeareGenerator.load(tmp_path / "shakespeare.onnx").mode == "windowed"


def test_runtime_scores_the_trainers_heldout_split(tiny, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny.shakespeare, run)
    meta = json.loads((run / "meta.json").read_text())
    meta["data"] = {"texts": list(PLAYS), "heldout_fraction": 0.25}
    (run / "meta.json").write_text(json.dumps(meta))
    plays = write_plays_zip(tmp_path / "gutenberg.zip")
    export_shakespeare(ShakespeareExport(run, tmp_path / "out", text=tmp_path / "gutenberg.zip",
                                         search_data=False), log=quiet)
    gen = ShakespeareGenerator.load(tmp_path / "out" / "shakespeare.onnx")
    held = [text.lower()[round(len(text) * 0.75):] for text in plays]
    expected = sum(gen.loss(h) * (len(h) - 1) for h in held) / sum(len(h) - 1 for h in held)
    got = gen.info["metrics"]["export"]["heldout_loss_onnx_stateful"]
    assert got == pytest.approx(expected, abs=1e-5)


def test_cli_all_exports_both_runs_with_the_shipping_defaults(tiny, tmp_path, monkeypatch, capsys):
    """`python -m bardbot.export all`: auto float16 decision on the (fake) test set, real-text
    parity."""
    import io
    import tarfile
    import zipfile

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "aclImdb_v1.tar.gz", "w:gz") as tar:
        for label, text in (("pos", "the film was great ."), ("neg", "the film was awful .")):
            for i in range(4):
                payload = text.encode()
                info = tarfile.TarInfo(f"aclImdb/test/{label}/{i}_{7 if label == 'pos' else 2}.txt")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    with zipfile.ZipFile(data_dir / "gutenberg.zip", "w") as zf:
        for name in PLAYS:
            zf.writestr(f"gutenberg/{name}", CORPUS * 2)
    monkeypatch.setattr("bardbot.export.data.data_dirs", lambda: [data_dir])
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "sentiment").symlink_to(tiny.sentiment)
    (runs / "shakespeare").symlink_to(tiny.shakespeare)
    (runs / "message").symlink_to(tiny_message_run())
    out = tmp_path / "out"
    assert main(["all", "--runs", str(runs), "--out", str(out)]) == 0
    assert "all shipped files" in capsys.readouterr().out
    assert json.loads((out / "sentiment-message.json").read_text())["name"] == "message"
    sentiment = json.loads((out / "sentiment.json").read_text())["metrics"]["export"]
    assert sentiment["test_reviews"] == 8 and "fp16_accuracy_cost_points" in sentiment
    shakespeare = json.loads((out / "shakespeare.json").read_text())["metrics"]["export"]
    assert "gutenberg.zip" in shakespeare["parity_samples"]
    SentimentClassifier.load(out / "sentiment.onnx")
    ShakespeareGenerator.load(out / "shakespeare.onnx")


def test_cli_bad_data_files_and_flags_are_one_line_errors(tiny, tmp_path, capsys):
    """Corrupt or wrong data files used to end in a tarfile/zipfile traceback."""
    truncated = tmp_path / "aclImdb_v1.tar.gz"
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = b"the film was great ." * 200
        info = tarfile.TarInfo("aclImdb/test/pos/0_7.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    truncated.write_bytes(buffer.getvalue()[:60])
    not_gzip = tmp_path / "notes.txt"
    not_gzip.write_text("hello")
    bad_zip = tmp_path / "gutenberg.zip"
    bad_zip.write_bytes(b"PK\x03\x04 not really a zip")
    out = ["--out", str(tmp_path / "out")]
    cases = [
        (["sentiment", str(tiny.sentiment), "--imdb", str(truncated)], "not a readable"),
        (["sentiment", str(tiny.sentiment), "--imdb", str(not_gzip)], "not a readable"),
        (["sentiment", str(tiny.sentiment), "--imdb", str(tmp_path / "nope.tar.gz")],
         "--imdb"),
        (["sentiment", str(tiny.sentiment), "--max-words", "0"], "--max-words must be"),
        (["sentiment", str(tiny.sentiment), "--eval-limit", "1"], "--eval-limit must be"),
        (["shakespeare", str(tiny.shakespeare), "--text", str(bad_zip)], "unreadable"),
        (["shakespeare", str(tiny.shakespeare), "--text", str(tmp_path)], "is a folder"),
    ]
    for args, message in cases:
        assert main([*args, *out]) == 1, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("error: "), err
    assert not (tmp_path / "out" / "sentiment.json").exists()
    assert not (tmp_path / "out" / "shakespeare.json").exists()


def test_cli_usage_errors_are_one_line_and_every_option_has_help(capsys):
    from bardbot.export.__main__ import parser

    with pytest.raises(SystemExit) as exit_info:
        main(["sentiment", "run", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--bogus" in err
    subparsers = next(a for a in parser()._actions if a.dest == "kind").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_cli_defaults_are_the_export_configs_defaults():
    import argparse
    import importlib

    from bardbot.export.__main__ import parser

    for name, config in [("sentiment", "SentimentExport"), ("message", "MessageExport"),
                         ("shakespeare", "ShakespeareExport"), ("bard", "BardExport")]:
        module = importlib.import_module(f"bardbot.export.{name}")
        args = parser().parse_args([name, "run"], argparse.Namespace(command_line="CMD"))
        assert module.config_from_args(args) == getattr(module, config)(Path("run"),
                                                                         command="CMD"), name


def test_seal_loads_no_exporter_and_no_training_stack():
    """`seal` works in a runtime-only install: the model exporters are loaded only when asked."""
    import subprocess
    import sys

    code = ("import sys; from bardbot.export.__main__ import parser; parser(only='seal'); "
            "print([m for m in ('tqdm', 'bardbot.export.sentiment', 'bardbot.export.message')"
            " if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_exported_json_is_strict_json_even_if_the_run_recorded_nan(tiny, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny.shakespeare, run)
    meta = json.loads((run / "meta.json").read_text())
    meta["metrics"]["heldout_loss_windowed"] = float("nan")  # older trainers wrote NaN
    (run / "meta.json").write_text(json.dumps(meta))
    export_shakespeare(ShakespeareExport(run, tmp_path / "out", search_data=False), log=quiet)

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    written = json.loads((tmp_path / "out" / "shakespeare.json").read_text(),
                         parse_constant=reject)
    assert written["metrics"]["training"]["heldout_loss_windowed"] is None


def test_heldout_check_cuts_the_plays_like_a_max_chars_run(tiny, tmp_path):
    """A run trained with --max-chars used to be scored on the held-out end of the full plays."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny.shakespeare, run)
    meta = json.loads((run / "meta.json").read_text())
    meta["data"] = {"texts": list(PLAYS), "heldout_fraction": 0.25, "max_chars": 100}
    (run / "meta.json").write_text(json.dumps(meta))
    plays = write_plays_zip(tmp_path / "gutenberg.zip")
    export_shakespeare(ShakespeareExport(run, tmp_path / "out", text=tmp_path / "gutenberg.zip",
                                         search_data=False), log=quiet)
    gen = ShakespeareGenerator.load(tmp_path / "out" / "shakespeare.onnx")
    cut = [text.lower()[:100] for text in plays]
    held = [text[round(len(text) * 0.75):] for text in cut]
    expected = sum(gen.loss(h) * (len(h) - 1) for h in held) / sum(len(h) - 1 for h in held)
    got = gen.info["metrics"]["export"]["heldout_loss_onnx_stateful"]
    assert got == pytest.approx(expected, abs=1e-5)


def test_cli_records_its_own_arguments_quoted(tiny, tmp_path, monkeypatch):
    """The export command came from sys.argv (pytest's, under main([...])) joined unquoted."""
    import shlex

    monkeypatch.setattr("bardbot.export.data.data_dirs", lambda: [])  # no real data in tests

    out = tmp_path / "out dir"
    args = ["sentiment", str(tiny.sentiment), "--embedding-dtype", "float32", "--out", str(out)]
    assert main(args) == 0
    meta = json.loads((out / "sentiment.json").read_text())
    assert shlex.split(meta["export_command"]) == ["python", "-m", "bardbot.export", *args]


def test_cli_out_folder_that_cannot_be_made_fails_before_converting(tiny, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["shakespeare", str(tiny.shakespeare), "--out", str(blocker / "models")]) == 1
    err = capsys.readouterr().err
    assert "cannot create the folder" in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("error", "message", "code"),
    [(KeyboardInterrupt(), "interrupted", 130),
     (ModuleNotFoundError("no tf", name="tensorflow"), "needs the train extra", 1)],
)
def test_cli_interrupt_and_missing_extra_are_one_line(tiny, monkeypatch, capsys, error, message,
                                                      code):
    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr("bardbot.export.sentiment.export_sentiment", fail)
    assert main(["sentiment", str(tiny.sentiment)]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_a_pair_that_fails_the_runtime_check_is_not_left_behind(tiny, tmp_path, monkeypatch):
    """The .onnx/.json pair used to stay in --out (valid sha256, so loadable) after this error."""
    monkeypatch.setattr(SentimentClassifier, "scores", lambda self, ids: np.zeros(len(ids)) + 2)
    with pytest.raises(UserError, match="runtime output differs"):
        export_sentiment(SentimentExport(tiny.sentiment, tmp_path, embedding_dtype="float32",
                                         search_data=False), log=quiet)
    assert not (tmp_path / "sentiment.onnx").exists()
    assert not (tmp_path / "sentiment.json").exists()


def test_a_pair_that_fails_the_runtime_check_leaves_the_one_there_intact(tiny, tmp_path,
                                                                           monkeypatch):
    shipped = {name: (tiny.models / name).read_bytes()
               for name in ("sentiment.onnx", "sentiment.json")}
    for name, data in shipped.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setattr(SentimentClassifier, "scores", lambda self, ids: np.zeros(len(ids)) + 2)
    with pytest.raises(UserError, match="runtime output differs"):
        export_sentiment(SentimentExport(tiny.sentiment, tmp_path, embedding_dtype="float32",
                                         search_data=False), log=quiet)
    assert {name: (tmp_path / name).read_bytes() for name in shipped} == shipped
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(shipped)


@pytest.mark.parametrize("diff", [2e-5, float("nan")])
def test_check_parity_stops_on_a_difference_over_the_tolerance_or_nan(diff):
    logged = []
    diffs = onnx_io.check_parity("m", {"ok": np.float32(2**-20)}, logged.append)
    assert diffs == {"ok": 2**-20} and type(diffs["ok"]) is float  # plain floats for the JSON
    with pytest.raises(UserError, match="m parity failed: bad max abs diff"):
        onnx_io.check_parity("m", {"ok": 0.0, "bad": diff}, logged.append)
    assert logged[-2:] == ["parity ok: max abs diff 0.00e+00",
                           f"parity bad: max abs diff {diff:.2e}"]

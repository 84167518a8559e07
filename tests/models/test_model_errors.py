import json
import shutil

import pytest
from bardbot.models import ModelError, SentimentClassifier, ShakespeareGenerator
from bardbot.models.metadata import sha256_hex


@pytest.fixture
def copy(tiny, tmp_path):
    for name in ("sentiment", "shakespeare"):
        for ext in (".onnx", ".json"):
            shutil.copy(tiny.models / f"{name}{ext}", tmp_path / f"{name}{ext}")
    return tmp_path


def edit_json(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_missing_file_names_it_and_the_rebuild_command(tmp_path):
    with pytest.raises(ModelError, match=r"sentiment\.onnx: model file not found.*bardbot.export"):
        SentimentClassifier.load(tmp_path / "sentiment.onnx")


def test_missing_json(copy):
    (copy / "shakespeare.json").unlink()
    with pytest.raises(ModelError, match=r"shakespeare\.json: model file not found"):
        ShakespeareGenerator.load(copy / "shakespeare.onnx")


def test_sha256_mismatch(copy):
    data = bytearray((copy / "sentiment.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "sentiment.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sentiment\.onnx: sha256 does not match.*bardbot.export"):
        SentimentClassifier.load(copy / "sentiment.onnx")


def test_old_or_foreign_json_format(copy):
    edit_json(copy / "sentiment.json", format="bardbot.model.sentiment/0")
    with pytest.raises(ModelError, match=r"sentiment\.json: metadata format.*"
                                         r"python -m bardbot.export"):
        SentimentClassifier.load(copy / "sentiment.onnx")
    (copy / "shakespeare.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"shakespeare\.json: unreadable"):
        ShakespeareGenerator.load(copy / "shakespeare.onnx")


def test_onnx_with_unexpected_inputs(copy):
    # The generator's graph under the sentiment name, with a JSON that vouches for its bytes.
    shutil.copy(copy / "shakespeare.onnx", copy / "sentiment.onnx")
    edit_json(copy / "sentiment.json", sha256=sha256_hex((copy / "sentiment.onnx").read_bytes()))
    with pytest.raises(ModelError, match=r"sentiment\.onnx: unexpected model inputs"):
        SentimentClassifier.load(copy / "sentiment.onnx")


def test_json_declaring_other_inputs(copy):
    edit_json(copy / "shakespeare.json", inputs={"x": {"dtype": "float32"}})
    with pytest.raises(ModelError, match=r"shakespeare\.json: declares inputs"):
        ShakespeareGenerator.load(copy / "shakespeare.onnx")


def test_load_accepts_the_json_path_too(copy):
    clf = SentimentClassifier.load(copy / "sentiment.json")
    assert clf.predict(["good"])[0].tokens == ("good",)


@pytest.mark.parametrize(
    "changes",
    [{"inputs": None}, {"outputs": ["probs"]}, {"encoding": "chars"}, {"inputs": {"h": "f32"}}],
)
def test_malformed_json_sections_are_model_errors(copy, changes):
    # These used to escape as AttributeError from inside the loader.
    edit_json(copy / "shakespeare.json", **changes)
    with pytest.raises(ModelError, match=r"shakespeare\.json: metadata section .*bardbot.export"):
        ShakespeareGenerator.load(copy / "shakespeare.onnx")


def test_json_hidden_size_must_match_the_graph(copy):
    # Used to load, then fail inside onnxruntime on the first generate().
    hidden = json.loads((copy / "shakespeare.json").read_text())["hidden"]
    edit_json(copy / "shakespeare.json", hidden=hidden * 2)
    with pytest.raises(ModelError, match=r"shakespeare\.onnx: LSTM state of .*"
                                         r"python -m bardbot.export"):
        ShakespeareGenerator.load(copy / "shakespeare.onnx")


def test_load_accepts_the_models_folder(copy):
    assert SentimentClassifier.load(copy).predict(["good"])[0].tokens == ("good",)
    assert len(ShakespeareGenerator.load(copy).generate("to be", length=3, seed=0)) == 3
    (copy / "empty").mkdir()
    with pytest.raises(ModelError, match=r"empty.sentiment\.onnx: model file not found"):
        SentimentClassifier.load(copy / "empty")

import json
import shutil

import numpy as np
import pytest
from bardbot.models import ModelError, SentimentClassifier, ShakespeareGenerator
from bardbot.models.metadata import (
    META_HASH,
    create_session,
    meta_sha256,
    read_model,
    self_test,
    sha256_hex,
)


@pytest.fixture
def copy(tiny, tmp_path):
    for name in ("sentiment", "shakespeare"):
        for ext in (".onnx", ".json"):
            shutil.copy(tiny.models / f"{name}{ext}", tmp_path / f"{name}{ext}")
    return tmp_path


def edit_json(path, *, seal: bool = True, **changes):
    """Change a model JSON; sealed again (a consistent but wrong file) unless seal=False."""
    meta = json.loads(path.read_text())
    meta.update(changes)
    if seal:
        meta[META_HASH] = meta_sha256(meta)
    path.write_text(json.dumps(meta))


def test_a_missing_named_file_is_no_such_file_and_a_missing_shipped_one_says_rebuild(
    tmp_path, monkeypatch
):
    with pytest.raises(ModelError, match=r"sentiment\.onnx: no such file$"):
        SentimentClassifier.load(tmp_path / "sentiment.onnx")
    monkeypatch.setattr("bardbot.models.metadata.MODELS_DIR", tmp_path)
    with pytest.raises(ModelError, match=r"sentiment-message\.onnx: model file not found.*"
                                         r"bardbot.export message"):
        SentimentClassifier.load()
    with pytest.raises(ModelError, match=r"/sentiment\.onnx: model file not found.*"
                                         r"bardbot.export sentiment"):
        SentimentClassifier.load("reference")
    with pytest.raises(ModelError, match=r"sentiment-fast\.onnx: model file not found.*"
                                         r"bardbot.export fast RUN_DIR.*"
                                         r"bardbot.trainer message --core words"):
        SentimentClassifier.load("fast")


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


def tamperings(copy):
    sentiment = json.loads((copy / "sentiment.json").read_text())
    chars = json.loads((copy / "shakespeare.json").read_text())["encoding"]
    words = sentiment["encoding"]["words"]
    return [
        ("sentiment", {"encoding": {**sentiment["encoding"], "words": words[1:] + words[:1]}}),
        ("shakespeare", {"encoding": {**chars, "chars": chars["chars"][::-1]}}),
        ("sentiment", {"threshold": float("nan")}),
        ("sentiment", {"threshold": 5.0}),
    ]


@pytest.mark.parametrize("case", range(4), ids=["shuffled vocabulary", "reversed chars",
                                                "threshold NaN", "threshold 5"])
def test_an_edited_json_fails_its_meta_sha256(copy, case):
    # The sha256 covered the .onnx only: each of these loaded silently and answered nonsense.
    kind, changes = tamperings(copy)[case]
    edit_json(copy / f"{kind}.json", seal=False, **changes)
    loader = SentimentClassifier if kind == "sentiment" else ShakespeareGenerator
    with pytest.raises(ModelError, match=rf"{kind}\.json: meta_sha256 does not match .*"
                                         r"python -m bardbot.export"):
        loader.load(copy / f"{kind}.onnx")


def test_a_json_without_meta_sha256_says_how_to_rebuild_or_seal_it(copy):
    meta = json.loads((copy / "sentiment.json").read_text())
    del meta[META_HASH]
    (copy / "sentiment.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"sentiment\.json: no meta_sha256 .*"
                                         r"python -m bardbot.export sentiment RUN_DIR.*"
                                         r"python -m bardbot.export seal .*sentiment\.json"):
        SentimentClassifier.load(copy / "sentiment.onnx")


@pytest.mark.parametrize("threshold", [float("nan"), 5.0, 0.0, 1.0])
def test_threshold_must_be_between_0_and_1(copy, threshold):
    edit_json(copy / "sentiment.json", threshold=threshold)
    with pytest.raises(ModelError, match=r"sentiment\.json: bad encoding or threshold"):
        SentimentClassifier.load(copy / "sentiment.onnx")


def test_a_vocabulary_larger_than_the_embedding_fails_at_load(copy):
    # Used to load, then fail at predict time on the first text using the extra words.
    encoding = json.loads((copy / "sentiment.json").read_text())["encoding"]
    edit_json(copy / "sentiment.json",
              encoding={**encoding, "words": encoding["words"] + ["extra", "words"]})
    with pytest.raises(ModelError, match=r"sentiment\.onnx: self-test failed"):
        SentimentClassifier.load(copy / "sentiment.onnx")


def poison_weights(onnx_path):
    """Every float32 weight of the graph set to NaN, the JSON updated to vouch for it."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(onnx_path.read_bytes())
    for init in proto.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            nan = np.full(numpy_helper.to_array(init).shape, np.nan, dtype=np.float32)
            init.CopyFrom(numpy_helper.from_array(nan, init.name))
    data = proto.SerializeToString()
    onnx_path.write_bytes(data)
    edit_json(onnx_path.with_suffix(".json"), sha256=sha256_hex(data))


def test_nan_weights_fail_the_sentiment_self_test(copy):
    # Used to load and answer "error: cannot convert float NaN to integer".
    poison_weights(copy / "sentiment.onnx")
    with pytest.raises(ModelError, match=r"sentiment\.onnx: self-test gave non-finite prob"):
        SentimentClassifier.load(copy / "sentiment.onnx")


def test_nan_weights_fail_the_generic_self_test_for_the_generator(copy):
    # The hook the generator's loader calls: finite probabilities for a few known chars.
    poison_weights(copy / "shakespeare.onnx")
    model = read_model(copy / "shakespeare.onnx", "shakespeare")
    session = create_session(model, "shakespeare")
    zeros = np.zeros((1, model.meta["hidden"]), dtype=np.float32)
    feeds = {"char_ids": np.array([[0, 1]], dtype=np.int64), "h": zeros, "c": zeros}
    with pytest.raises(ModelError, match=r"shakespeare\.onnx: self-test gave non-finite probs"):
        self_test(model, "shakespeare", session, feeds, "probs")


def test_a_model_path_never_falls_back_to_another_file(copy, monkeypatch):
    from bardbot.assembly import load_models
    from bardbot.config import load_config

    monkeypatch.setenv("BARDBOT_SENTIMENT_MODEL", str(copy / "sentiment.v2"))
    with pytest.raises(ModelError, match=r"sentiment\.v2: not a sentiment model.*"
                                         r"BARDBOT_SENTIMENT_MODEL"):
        load_models(load_config([]))


def test_seal_is_rerunnable_and_leaves_the_onnx_alone(copy, capsys):
    from bardbot.export.__main__ import main

    onnx_before = (copy / "sentiment.onnx").read_bytes()
    sealed_before = (copy / "sentiment.json").read_bytes()
    meta = json.loads(sealed_before)
    del meta[META_HASH]
    (copy / "sentiment.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    assert main(["seal", str(copy / "sentiment.json")]) == 0
    assert (copy / "sentiment.json").read_bytes() == sealed_before
    assert main(["seal", str(copy / "sentiment.json")]) == 0
    assert (copy / "sentiment.json").read_bytes() == sealed_before
    assert (copy / "sentiment.onnx").read_bytes() == onnx_before
    SentimentClassifier.load(copy / "sentiment.onnx")
    # A JSON that does not vouch for its .onnx is not sealed.
    (copy / "sentiment.onnx").write_bytes(onnx_before + b"x")
    assert main(["seal", str(copy / "sentiment.json")]) == 1
    assert "re-export" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was a RecursionError traceback
        ('{"a": ' * 100 + "1" + "}" * 100, "nested more than 32 levels deep"),
        ("[1, 2, 3]", "not a JSON object"),
        ('"format"', "not a JSON object"),
        ('{"format": ' + "9" * 5000 + "}", "unreadable model metadata"),  # past int's digit limit
    ],
)
def test_metadata_too_deep_or_of_the_wrong_shape_is_a_model_error_naming_the_file(
    copy, text, message
):
    (copy / "shakespeare.json").write_text(text)
    with pytest.raises(ModelError, match=message) as info:
        ShakespeareGenerator.load(copy / "shakespeare.onnx")
    assert str(info.value).startswith(f"{copy / 'shakespeare.json'}: ")


def test_metadata_too_large_is_refused_before_it_is_read(copy, monkeypatch):
    monkeypatch.setattr("bardbot.models.metadata.MAX_META_BYTES", 1000)
    with pytest.raises(ModelError, match=r"sentiment\.json: model metadata larger than"):
        read_model(copy / "sentiment.onnx", "sentiment")

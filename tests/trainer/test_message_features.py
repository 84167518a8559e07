"""The message model's lexicon columns (AFINN, emoji ranking) and its Word2Vec block dropout."""

import json

import numpy as np
import onnx
import pytest
from bardbot.trainer.cli import main
from bardbot.trainer.message import block_dropout_layer, build_model
from bardbot.trainer.message_data import (
    _package_file,
    afinn_lexicon,
    emoji_ranking,
    emoji_word_valence,
    negation_matrix,
    valence_columns,
)
from bardbot.trainer.runs import UserError
from onnx import numpy_helper

from tests.trainer.conftest import write_glove, write_imdb

RANKING_CSV = """\
Emoji,Unicode codepoint,Occurrences,Position,Negative,Neutral,Positive,Unicode name,Unicode block
😀,0x1f600,97,0.5,7,10,80,GRINNING FACE,Emoticons
😡,0x1f621,47,0.5,40,5,2,POUTING FACE,Emoticons
❤,0x2764,7,0.7,0,0,7,HEAVY BLACK HEART,Dingbats
"""


def test_emoji_ranking_reads_smoothed_scores(tmp_path):
    path = tmp_path / "ranking.csv"
    path.write_text(RANKING_CSV, encoding="utf-8")
    assert emoji_ranking(path) == [("😀", 97, 0.73), ("😡", 47, -0.76), ("❤", 7, 0.7)]


def test_emoji_name_words_get_their_emoji_s_valence():
    ranking = [("😀", 100, 0.5), ("😡", 100, -0.8), ("😢", 300, -0.2)]  # grinning/enraged/crying
    valence = emoji_word_valence(ranking, prior=100, max_names=2)
    # Shrunk by the prior (n / (n + 100)), then scaled so the largest is ±1.
    assert valence["enraged"] == pytest.approx(-1.0)
    assert valence["grinning"] == pytest.approx((0.5 * 100 / 200) / (0.8 * 100 / 200))
    assert valence["crying"] == pytest.approx((-0.2 * 300 / 400) / 0.4)
    assert "face" not in valence  # in 3 names > max_names: says nothing by itself
    assert emoji_word_valence([]) == {}


def test_fillers_of_emoji_names_get_no_valence():
    valence = emoji_word_valence([("😂", 50, 0.4)])  # face with tears of joy
    assert set(valence) == {"face", "tears", "joy"} and valence["joy"] == 1.0


def test_afinn_keeps_single_words_scaled_to_unit_range():
    lexicon = afinn_lexicon()
    assert len(lexicon) > 3000 and all(" " not in w for w in lexicon)
    assert lexicon["good"] > 0 > lexicon["bad"]
    assert max(map(abs, lexicon.values())) == 1.0


def test_a_missing_lexicon_package_is_a_user_error():
    with pytest.raises(UserError, match="'afinn' feature needs the no_such_pkg_x package"):
        _package_file("no_such_pkg_x", "data/x.txt", "afinn")


def test_negation_flips_every_valence_column_and_nothing_else():
    info = {"features": ["word2vec", "glove", "lexicon", "afinn", "emoji"], "dim": 7}
    assert valence_columns(info) == [4, 5, 6]
    assert valence_columns({"features": ["word2vec", "glove", "lexicon"], "dim": 5}) == [4]
    assert valence_columns({"features": ["glove"], "dim": 3}) == []
    matrix = np.arange(21, dtype=np.float32).reshape(3, 7) + 1
    both = negation_matrix(matrix, valence_columns(info))
    assert both.shape == (6, 8)
    np.testing.assert_array_equal(both[:3, :7], matrix)
    np.testing.assert_array_equal(both[5, :4], matrix[2, :4])
    np.testing.assert_array_equal(both[5, 4:7], -matrix[2, 4:7])
    np.testing.assert_array_equal(both[:, 7], [0, 0, 0, 1, 1, 1])
    assert not both[3:5, :7].any()  # negated padding and UNK stay zero


def test_block_dropout_zeroes_whole_word2vec_blocks_in_training_only():
    layer = block_dropout_layer()(3, 0.5, seed=0)
    x = np.ones((64, 10, 5), np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # inference: as it is
    y = np.asarray(layer(x, training=True))
    block, rest = y[..., :3], y[..., 3:]
    np.testing.assert_array_equal(rest, 1.0)
    assert set(np.unique(block)) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert (block == block[..., :1]).all()  # a token's block goes as a whole
    assert 0.4 < (block[..., 0] == 0).mean() < 0.6


def test_block_dropout_keeps_the_mask_and_inference_scores():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(12, 6)).astype(np.float32)
    plain = build_model(12, 6, matrix, units=3)
    dropped = build_model(12, 6, matrix, units=3, block=4, block_dropout=0.5, seed=1)
    assert "w2v_dropout" in [layer.name for layer in dropped.layers]
    dropped.set_weights(plain.get_weights())  # the dropout layer has no weights
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]], np.int32)  # padded: masked steps
    np.testing.assert_allclose(dropped.predict_on_batch(ids), plain.predict_on_batch(ids),
                               atol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (["--w2v-dropout", "1.0"], "--w2v-dropout must be in [0, 1)"),
    (["--w2v-dropout", "-0.1"], "--w2v-dropout must be in [0, 1)"),
    (["--features", "word2vec,vibes"], "lexicon, afinn, emoji"),
])
def test_bad_feature_flags_are_one_line_errors(args, message, tmp_path, capsys):
    assert main(["message", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_run_with_lexicon_columns_exports_and_negates_them(tmp_path):
    from bardbot.export.message import MessageExport, export_message
    from bardbot.models import SentimentClassifier

    root, run = tmp_path, tmp_path / "run"
    assert main(["message", "--imdb", str(write_imdb(root / "data", n_train=24)),
                 "--glove-dir", str(write_glove(root)), "--out", str(run),
                 "--cache-dir", str(root / "cache"), "--epochs", "1", "--w2v-dim", "8",
                 "--min-count", "1", "--units", "4", "--workers", "1", "--quiet",
                 "--features", "word2vec,glove,lexicon,afinn,emoji",
                 "--w2v-dropout", "0.5"]) == 0
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    vectors = meta["vectors"]
    assert "ODbL" in vectors["afinn"]["source"] and "CC BY-SA" in vectors["emoji"]["source"]
    assert meta["training"]["w2v_dropout"] == 0.5
    onnx_path, _ = export_message(MessageExport(run, root / "models", search_data=False),
                                  log=lambda *_: None)  # checks parity with Keras itself
    consts = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    flips = np.flatnonzero(consts["negation_multiply"][1] == -1.0)
    assert flips.tolist() == valence_columns(vectors) and len(flips) == 3
    scores = SentimentClassifier.load(onnx_path).score_texts(["great 😀", "awful 😡"])
    assert np.isfinite(scores).all()


def test_a_missing_lexicon_stops_the_run_before_the_reviews_are_read(imdb_dir, tmp_path,
                                                                     capsys, monkeypatch):
    import bardbot.trainer.message_data as message_data

    def missing(package, relative, feature):
        raise UserError(f"the '{feature}' feature needs the {package} package")

    def never(*args, **kwargs):
        raise AssertionError("the reviews were read")

    monkeypatch.setattr(message_data, "_package_file", missing)
    monkeypatch.setattr("bardbot.trainer.message.load_imdb", never)
    assert main(["message", "--imdb", str(imdb_dir), "--features", "glove,afinn",
                 "--out", str(tmp_path / "o")]) == 2
    assert "'afinn' feature needs the afinn package" in capsys.readouterr().err

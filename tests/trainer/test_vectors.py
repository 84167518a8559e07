import numpy as np
import pytest
from bardbot.models.text import tokenize
from bardbot.trainer.config import UserError
from bardbot.trainer.vectors import (
    TokenCorpus,
    build_vocabulary,
    embedding_matrix,
    load_glove,
    load_word2vec_file,
    no_vector_ratio,
    tokenize_corpus,
    train_word2vec,
)

from .conftest import VOCAB

TEXTS = ["The movie was great.", "the plot was dull<br />and boring", "great great film"]


def test_token_corpus_matches_models_text_and_caches(tmp_path):
    corpus = tokenize_corpus(TEXTS, lowercase=False, cache_dir=tmp_path)
    assert [corpus.tokens(i) for i in range(3)] == [tokenize(t) for t in TEXTS]
    assert list(corpus) == [tokenize(t) for t in TEXTS]
    cached = list(tmp_path.glob("tokens-*.npz"))
    assert len(cached) == 1
    again = TokenCorpus.load(cached[0])
    assert list(again) == list(corpus) and again.lengths().tolist() == [5, 6, 3]
    lower = tokenize_corpus(TEXTS, lowercase=True, cache_dir=tmp_path)
    assert lower.tokens(0)[0] == "the" and len(list(tmp_path.glob("tokens-*.npz"))) == 2


def test_word2vec_text_and_binary_files_with_limit(w2v_text, tmp_path):
    kv = load_word2vec_file(str(w2v_text))
    assert len(kv) == len(VOCAB) and kv.vector_size == 8
    binary = tmp_path / "tiny.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    kv_bin = load_word2vec_file(str(binary), limit=3)
    assert len(kv_bin) == 3 and kv_bin.index_to_key == kv.index_to_key[:3]
    np.testing.assert_allclose(kv_bin[VOCAB[0]], kv[VOCAB[0]], atol=1e-6)


def test_wrong_vector_files_are_user_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a word2vec file\n")
    with pytest.raises(UserError, match="word2vec file"):
        load_word2vec_file(str(bad))
    with pytest.raises(UserError, match="does not exist"):
        load_word2vec_file(str(tmp_path / "missing.bin"))


def test_glove_loader_reads_the_package_layout(glove_dir, tmp_path):
    kv = load_glove(str(glove_dir))
    assert kv.vector_size == 50 and "great" in kv.key_to_index
    emb = np.load(glove_dir / "glove_6B_50d_emb.npy")
    np.testing.assert_array_equal(kv["great"], emb[VOCAB.index("great")])
    assert len(load_glove(str(glove_dir), limit=4)) == 4
    with pytest.raises(UserError, match=r"glove_6B_50d_emb\.npy"):
        load_glove(str(tmp_path))
    # An explicit --glove-dir is the user's folder: "reinstall the package" is not the fix.
    with pytest.raises(UserError, match="give the folder that holds them"):
        load_glove(str(tmp_path))


def test_vocabulary_is_frequency_ordered_vectors_only_and_capped(w2v_text):
    kv = load_word2vec_file(str(w2v_text))
    corpus = tokenize_corpus(["great film film zzz", "film great dull", "test-only worst"], False)
    words = build_vocabulary(corpus, range(2), kv)
    assert words == ("film", "great", "dull")  # zzz has no vector; row 2 is not counted
    assert build_vocabulary(corpus, range(2), kv, max_vocab=2) == ("film", "great")
    assert no_vector_ratio(corpus, range(2), kv) == pytest.approx(1 / 7)


def test_embedding_matrix_rows(w2v_text):
    kv = load_word2vec_file(str(w2v_text))
    drop = embedding_matrix(("great", "dull"), kv, "drop")
    assert drop.shape == (4, 8) and drop.dtype == np.float32
    assert not drop[:2].any()
    np.testing.assert_array_equal(drop[2], kv["great"])
    unk = embedding_matrix(("great", "dull"), kv, "unk")
    np.testing.assert_allclose(unk[1], (kv["great"] + kv["dull"]) / 2, rtol=1e-6)
    assert not unk[0].any()


def test_word2vec_training_is_seeded_and_cached(tmp_path):
    corpus = tokenize_corpus(TEXTS * 20, lowercase=True)
    a = train_word2vec(corpus, dim=6, min_count=1, epochs=2, workers=1, seed=3,
                       cache_dir=tmp_path, corpus_key="k")
    b = train_word2vec(corpus, dim=6, min_count=1, epochs=2, workers=1, seed=3)
    assert a.vector_size == 6 and "great" in a.key_to_index
    np.testing.assert_array_equal(a["great"], b["great"])
    assert len(list(tmp_path.glob("word2vec-*.kv"))) == 1
    cached = train_word2vec(corpus, dim=6, min_count=1, epochs=2, workers=1, seed=3,
                            cache_dir=tmp_path, corpus_key="k")
    np.testing.assert_array_equal(cached["great"], a["great"])

"""The bard's word list for chat steering (export/bard_words.py), on a tiny text and GloVe."""

import json

import numpy as np
from bardbot.export import bard_words
from bardbot.models.steer import Lexicon

TEXT = ("ROMEO:\nGive me bread and wine, and bread again; the feast is bread.\n\n"
        "JULIET:\nThe feast, the feast! A loaf of bread, a loaf.\n\n") * 3 + "x" * 40


def glove():
    from gensim.models import KeyedVectors

    vectors = {"pizza": [1, 0.1, 0], "bread": [1, 0.2, 0], "breads": [1, 0.1, 0.05],
               "feast": [0.8, 0.5, 0], "loaf": [0.9, 0, 0.3], "wine": [0, 1, 0],
               "the": [0.3, 0.3, 0.3], "again": [0, 0, 1], "car": [0, -1, 0]}
    kv = KeyedVectors(3)
    kv.add_vectors(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    return kv


def test_neighbours_are_plays_words_near_in_meaning_not_forms_of_the_word(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(bard_words, "MIN_COUNT", 4)
    data = bard_words.build_word_list(TEXT, glove())
    assert data["words"][0] == "bread" and "the" not in data["words"]  # a stopword
    assert data["words"] == ["bread", "feast", "loaf"]  # "wine": 3 times, fewer than 4
    lx_path = tmp_path / "bard-words.json"
    lx_path.write_text(json.dumps(data), encoding="utf-8")
    lx = Lexicon.load(lx_path)
    assert lx.neighbours["pizza"][0] == "bread"
    assert "bread" not in lx.neighbours.get("breads", ())  # same stem: a mention, not kin
    assert "car" not in lx.neighbours  # nothing near enough
    assert lx.count("bread") == 12 and lx.count("wine") == 3 and lx.known("feast")

"""`python -m bardbot.export evaluate`: VADER measured beside the models, on the same sets."""

from bardbot.export.evaluate import VaderScorer, evaluate_classifier, read_snippets


def test_vader_is_measured_like_a_model(tmp_path):
    snippets = tmp_path / "snippets.tsv"
    snippets.write_text("a\t1.5\tgreat fun, I loved it\nb\t-2\tan awful mess\n"
                        "c\t0.2\ta film\n", encoding="utf-8")
    assert read_snippets(snippets) == (["great fun, I loved it", "an awful mess"], [1, 0])
    vader = VaderScorer()
    scores = vader.score_texts(["great fun", "an awful mess", "a table"])
    assert scores[0] > 0.5 > scores[1] and scores[2] == 0.5  # no valence: not positive
    out = evaluate_classifier(vader, None, snippets, log=lambda *_: None)
    assert out["movie_snippets"]["accuracy"] == 1.0 and out["movie_snippets"]["texts"] == 2
    assert 0.5 < out["suite"]["overall"] <= 1.0 and "emoji alone" in out["suite"]["capabilities"]

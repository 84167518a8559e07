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


def test_evaluate_says_which_sets_it_could_not_find(tmp_path, monkeypatch, capsys):
    from bardbot.export import data, evaluate

    (tmp_path / "nyt_snippets.tsv").write_text("a\t2\ta fine plan\n", encoding="utf-8")
    monkeypatch.setattr(data, "data_dirs", lambda: [tmp_path])
    results = evaluate.main(["vader"], limit=None, imdb=None)
    printed = capsys.readouterr().out
    assert ("not measured, not found (--imdb, $BARDBOT_DATA, ./data, ../shared/data): "
            "aclImdb_v1.tar.gz, movie_snippets.tsv, amazon_snippets.tsv") in printed
    assert results["vader"]["nyt_snippets"]["texts"] == 1 and "suite" in results["vader"]

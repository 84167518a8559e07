import numpy as np
import pytest
from bardbot.models.sampling import reweight, sample_index
from bardbot.models.text import PAD_ID, UNK_ID, CharEncoding, WordEncoding, clean_text, tokenize


def test_tokenize_matches_treebank_and_strips_markup():
    assert tokenize("I didn't like it.<br /><br />Bad!") == [
        "I", "did", "n't", "like", "it.", "Bad", "!",
    ]
    assert tokenize("GOOD Film", lowercase=True) == ["good", "film"]
    assert "<br" not in " ".join(tokenize("a<br />b"))


def test_clean_text_drops_nul_zero_width_and_bidi_marks():
    assert clean_text("go\u200bod\x00 \u202efilm") == "good film"


def test_word_encoding_drops_unknown_before_cutting_and_pads_after():
    enc = WordEncoding(words=("good", "film"), maxlen=3)
    e = enc.encode("good zzz film zzz good film")
    assert e.ids.tolist() == [2, 3, 2]
    assert e.unknown == ["zzz", "zzz"] and e.truncated and e.length == 3
    short = enc.encode("film")
    assert short.ids.tolist() == [3, PAD_ID, PAD_ID]


def test_word_encoding_unk_policy_and_roundtrip():
    enc = WordEncoding(words=("good",), maxlen=4, lowercase=True, oov="unk")
    assert enc.encode("GOOD movie").ids.tolist() == [2, UNK_ID, 0, 0]
    assert WordEncoding.from_dict(enc.to_dict()) == enc
    with pytest.raises(ValueError, match="maxlen"):
        WordEncoding(words=(), maxlen=0)


def test_char_encoding_maps_unseen_characters_by_rule():
    enc = CharEncoding.from_corpus("abc de\n'-.")
    assert enc.normalize("Café — “a”\tb🙂") == "cae - 'a' b"
    assert enc.decode(enc.encode("ABC")) == "abc"
    assert CharEncoding.from_dict(enc.to_dict()) == enc


def test_sampling_greedy_seeded_and_normalised():
    probs = np.array([0.1, 0.6, 0.3])
    assert sample_index(probs, 0.0, np.random.default_rng(0)) == 1
    assert sample_index(probs, 1e-9, np.random.default_rng(0)) == 1
    assert abs(reweight(probs, 0.5).sum() - 1) < 1e-12
    draws = [sample_index(probs, 1.0, np.random.default_rng(s)) for s in range(5)]
    assert draws == [sample_index(probs, 1.0, np.random.default_rng(s)) for s in range(5)]
    with pytest.raises(ValueError):
        reweight(probs, float("nan"))


def test_tiny_positive_temperature_is_greedy_not_nan():
    probs = np.array([0.2, 0.5, 0.3])
    for temperature in (1e-300, 5e-324):
        p = reweight(probs, temperature)
        assert np.isfinite(p).all() and p.argmax() == 1 and abs(p.sum() - 1) < 1e-12
        assert sample_index(probs, temperature, np.random.default_rng(0)) == 1


@pytest.mark.parametrize(("text", "tokens"), [
    ("GREAT movie!!!", ["great", "movie", "!"]),
    ("😀🎉", ["grinning", "face", "party", "popper"]),
    ("fine :) but :( and <3", ["fine", "slightly", "smiling", "face", "but", "frowning",
                               "face", "and", "red", "heart"]),
    ("great:) xDrive", ["great", "slightly", "smiling", "face", "xdrive"]),
    ("<@123> <@!4> <@&5> <#6> @sam @everyone https://a.b/c www.d.e ok",
     ["ok"]),
    ("<:pepe_happy:123> soooo gooood", ["pepe", "happy", "soo", "good"]),
    ("worst. day. ever.", ["worst", ".", "day", ".", "ever", "."]),
])
def test_message_normalisation(text, tokens):
    assert tokenize(text, normalization="message") == tokens


def test_message_encoding_shortens_doubled_letters_of_unknown_words_only():
    enc = WordEncoding(("so", "good", "too"), 5, lowercase=True, normalization="message")
    assert enc.encode("sooo goood too").ids.tolist()[:3] == [2, 3, 4]


def test_negation_scope_runs_to_punctuation_or_contrast():
    from bardbot.models.text import negation_scope

    tokens = tokenize("not bad at all, but i do n't like it", normalization="message")
    marked = [t for t, m in zip(tokens, negation_scope(tokens), strict=True) if m]
    assert marked == ["bad", "at", "all", "like", "it"]


@pytest.mark.parametrize("oov", ["drop", "unk"])
@pytest.mark.parametrize("negation", [False, True])
def test_token_ids_in_one_pass_are_known_ids_then_marked_ids(oov, negation):
    from bardbot.export.suite import build_cases

    words = ("not", "bad", "good", "at", "all", "but", "like", "it", "movie", "love", "hate")
    enc = WordEncoding(words, 8, lowercase=True, oov=oov, normalization="message",
                       negation=negation, spelling=True)
    for text in ["not bad at all, but i do n't like it", "nooo goood", "", *(
            case.text for case in build_cases())]:
        tokens = enc.tokenize(text)
        known = enc.known_ids(tokens)
        unknown = [token for token, i in zip(tokens, known, strict=True) if i is None]
        assert enc.token_ids(tokens) == (enc.marked_ids(tokens, known), unknown), text


def test_reference_encoding_is_unchanged_by_the_message_options():
    enc = WordEncoding(("GOOD", "film"), 4)
    assert enc.to_dict()["version"] == 1 and "negation" not in enc.to_dict()
    assert WordEncoding.from_dict(enc.to_dict()) == enc
    assert enc.encode("GOOD film 😀").ids.tolist() == [2, 3, 0, 0]

import itertools
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import bardbot.models.shakespeare as shakespeare_module
import numpy as np
import onnxruntime as ort
import pytest
from bardbot.models import ModelError, SentimentClassifier, SentimentResult, ShakespeareGenerator
from bardbot.models.metadata import META_HASH, meta_sha256
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.export.tiny import MAXLEN, WINDOW

# The fixtures are module-scoped and stateless, so reusing them across examples is fine.
SHARED_FIXTURE = [HealthCheck.function_scoped_fixture]
NASTY = [
    "",
    "zzz qqq xxx",  # only unknown words
    "good film " * 10_000,  # 100k characters
    "I loved it 😀🎬🔥",
    "go\u200bod fi\u200dlm",  # zero-width space / joiner
    "\u202eI loved it\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # RTL
    "good\x00film\x00",
    "\ud800 lone surrogate",
    "\n\t\r  ",
]


@pytest.fixture(scope="module")
def clf(tiny):
    return SentimentClassifier.load(tiny.models / "sentiment.onnx")


@pytest.fixture(scope="module")
def gen(tiny):
    return ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")


def check_result(r: SentimentResult, clf: SentimentClassifier) -> None:
    assert 0.0 <= r.score <= 1.0
    assert r.label == ("positive" if r.score > clf.threshold else "negative")
    assert r.confidence == max(r.score, 1 - r.score)
    assert r.uncertain == (abs(r.score - 0.5) <= clf.uncertain_margin)
    assert set(r.unknown) <= set(r.tokens)
    assert 0.0 <= r.unknown_ratio <= 1.0
    assert r.unknown_ratio == (len(r.unknown) / len(r.tokens) if r.tokens else 0.0)


def test_import_models_never_loads_tensorflow_and_onnxruntime_only_lazily(tiny):
    code = (
        "import sys, bardbot.models, bardbot.models.text\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "from bardbot.models import SentimentClassifier, ShakespeareGenerator, ModelError\n"
        "SentimentClassifier.load(sys.argv[1]).predict(['good'])\n"
        "ShakespeareGenerator.load(sys.argv[2]).generate('to be', 5)\n"
        "assert not any(m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx', 'gensim')\n"
        "               for m in sys.modules), 'heavy import'\n"
        "assert 'discord' not in sys.modules, 'bardbot.models pulled in discord.py'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tiny.models / "sentiment.onnx"),
                    str(tiny.models / "shakespeare.onnx")], check=True)


def test_predict_one_result_per_text_in_order_in_one_session_run(clf, monkeypatch):
    texts = ["I loved it", "dull", "the film was awful .", "great great great"]
    single = [clf.predict([t])[0] for t in texts]
    calls = []
    real = clf._session

    class Counting:
        def run(self, *args, **kwargs):
            calls.append(args[1]["token_ids"].shape)
            return real.run(*args, **kwargs)

    monkeypatch.setattr(clf, "_session", Counting())
    batch = clf.predict(texts)
    assert calls == [(4, MAXLEN)]
    assert [r.tokens for r in batch] == [r.tokens for r in single]
    np.testing.assert_allclose([r.score for r in batch], [r.score for r in single], atol=1e-6)
    assert clf.predict([]) == []


def test_result_fields(clf):
    r = clf.predict(["I loved it , zzz"])[0]
    check_result(r, clf)
    assert r.tokens == ("I", "loved", "it", ",", "zzz")
    assert r.unknown == ("I", ",", "zzz")  # the vocabulary is case-sensitive and tiny
    assert r.unknown_ratio == pytest.approx(3 / 5)
    assert not r.truncated
    assert clf.predict(["good " * (MAXLEN + 1)])[0].truncated


def test_predict_rejects_a_bare_string(clf):
    with pytest.raises(TypeError, match="list"):
        clf.predict("I loved it")


@pytest.mark.parametrize("text", NASTY)
def test_predict_nasty_text_gives_a_valid_result(clf, text):
    check_result(clf.predict([text])[0], clf)


@settings(max_examples=60, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(st.lists(st.text(), max_size=5))
def test_predict_never_raises_on_any_unicode(clf, texts):
    results = clf.predict(texts)
    assert len(results) == len(texts)
    for r in results:
        check_result(r, clf)


def test_generate_returns_exactly_length_known_chars(gen):
    for length in (0, 1, 37):
        out = gen.generate("To be, or not", length=length, temperature=0.7, seed=3)
        assert len(out) == length and set(out) <= set(gen.encoding.chars)


def test_generate_is_seeded_and_greedy_ignores_the_seed(gen):
    assert gen.generate("to be", 40, 1.0, seed=5) == gen.generate("to be", 40, 1.0, seed=5)
    assert gen.generate("to be", 40, 0, seed=1) == gen.generate("to be", 40, -1, seed=2)


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -float("inf")])
def test_generate_rejects_non_finite_temperature(gen, temperature):
    with pytest.raises(ValueError, match="temperature"):
        gen.generate("to be", 10, temperature)


@pytest.mark.parametrize("length", [-1, 2001, 10**9])
def test_generate_bounds_length(gen, length):
    assert gen.max_length == 2000
    with pytest.raises(ValueError, match="length"):
        gen.generate("to be", length)


def test_generate_max_length(gen):
    assert len(gen.generate("to be", gen.max_length, 0.5, seed=0)) == gen.max_length


@pytest.mark.parametrize("prompt", NASTY)
def test_generate_nasty_prompts(gen, prompt):
    out = gen.generate(prompt, 20, 0.5, seed=1)
    assert len(out) == 20 and set(out) <= set(gen.encoding.chars)


@settings(max_examples=40, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(
    prompt=st.text(max_size=200),
    length=st.integers(0, 60),
    temperature=st.floats(-2, 5, allow_nan=False),
    seed=st.none() | st.integers(0, 2**32),
)
def test_generate_property(gen, prompt, length, temperature, seed):
    out = gen.generate(prompt, length, temperature, seed)
    assert len(out) == length and set(out) <= set(gen.encoding.chars)
    assert set(gen.normalize(prompt)) <= set(gen.encoding.chars)


def _greedy_windowed(tiny, gen, prompt: str, length: int) -> str:
    """The reference loop on the windowed ONNX model: argmax of the last WINDOW chars."""
    sess = ort.InferenceSession(str(tiny.windowed))
    ids = list(gen.encoding.encode(prompt))
    for _ in range(length):
        window = gen.encoding.one_hot(np.array(ids[-WINDOW:]))[None]
        ids.append(int(np.argmax(sess.run(["probs"], {"window": window})[0][0])))
    return gen.encoding.decode(ids[-length:])


def test_step_generation_matches_the_windowed_reference_within_one_window(tiny, gen):
    prompt = "to be, or "  # exactly one 10-char window
    assert len(gen.normalize(prompt)) == WINDOW
    assert _greedy_windowed(tiny, gen, prompt, 1) == gen.generate(prompt, 1, 0)


def test_windowed_mode_matches_the_reference_loop(tiny, gen, tmp_path):
    for name in ("shakespeare.onnx", "shakespeare.json"):
        shutil.copy(tiny.models / name, tmp_path / name)
    meta = json.loads((tmp_path / "shakespeare.json").read_text())
    meta["mode"] = "windowed"
    meta[META_HASH] = meta_sha256(meta)  # a deliberate edit: sealed again
    (tmp_path / "shakespeare.json").write_text(json.dumps(meta))
    windowed = ShakespeareGenerator.load(tmp_path / "shakespeare.onnx")
    prompt = "whether 'tis nobler in the mind"
    assert windowed.generate(prompt, 25, 0) == _greedy_windowed(tiny, gen, prompt, 25)


def test_loss_is_mean_nats_per_char_and_chunking_does_not_change_it(gen, monkeypatch):
    text = "To be, or not to be: that is the question."
    ids = gen.encoding.encode(text)
    h, c = gen._zero_state()
    nll = []
    for current, target in itertools.pairwise(ids):
        probs, h, c = gen._run([current], h, c)
        nll.append(-np.log(probs[-1][target]))
    expected = float(np.mean(nll))
    assert gen.loss(text) == pytest.approx(expected, rel=1e-5)
    monkeypatch.setattr(shakespeare_module, "CHUNK", 4)
    assert gen.loss(text) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="2 characters"):
        gen.loss("x🙂")


def test_next_char_probs_are_the_step_models_from_zero_state(gen):
    ids = gen.encoding.encode("To be, or not to be")
    probs = gen.next_char_probs(ids)
    assert probs.shape == (len(ids), gen.encoding.size)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # The loss is the mean -log P of each next char: the same numbers, read another way.
    nll = -np.log(probs[np.arange(len(ids) - 1), ids[1:]].astype(np.float64))
    assert gen.loss(gen.encoding.decode(ids)) == pytest.approx(nll.mean(), rel=1e-5)


@pytest.mark.parametrize("ids", [[], [-1], "ab", [0.5]])
def test_next_char_probs_rejects_what_is_not_char_ids(gen, ids):
    with pytest.raises(ValueError, match="char ids"):
        gen.next_char_probs(ids)
    with pytest.raises(ValueError, match="char ids"):
        gen.next_char_probs([gen.encoding.size])


@pytest.mark.parametrize("text", [None, 3, b"to be"])
def test_loss_rejects_non_text_like_generate_does(gen, text):
    with pytest.raises(TypeError, match="must be str"):
        gen.loss(text)


def test_objects_are_safe_to_share_across_threads(clf, gen):
    texts = [["I loved it", "dull"], ["the film was bad"], NASTY[3:6]]
    prompts = ["to be", "whether", "the question"]
    expected_p = [[r.score for r in clf.predict(t)] for t in texts] * 4
    expected_g = [gen.generate(p, 30, 0.8, seed=i) for i, p in enumerate(prompts)] * 4
    with ThreadPoolExecutor(6) as pool:
        got_p = list(pool.map(lambda t: [r.score for r in clf.predict(t)], texts * 4))
        got_g = list(pool.map(lambda a: gen.generate(a[1], 30, 0.8, seed=a[0] % 3),
                              enumerate(prompts * 4)))
    assert got_p == expected_p and got_g == expected_g


def test_info_for_an_about_page(clf, gen):
    for info in (clf.info, gen.info):
        assert len(info["sha256"]) == 64 and info["training_command"]
        assert "words" not in info["encoding"] and "chars" not in info["encoding"]
        assert "metrics" in info
    assert clf.info["maxlen"] == MAXLEN and clf.info["vocab_size"] == clf.encoding.vocab_size
    assert gen.info["n_chars"] == gen.encoding.size


def test_bound_stepper_matches_plain_session_runs(gen):
    """generate() steps through IO bindings; the same loop with plain runs gives the same text."""
    from bardbot.models.sampling import sample_index

    prompt, rng = "whether 'tis nobler", np.random.default_rng(11)
    probs, h, c = gen._run(gen.encoding.encode(prompt), *gen._zero_state())
    out = []
    for _ in range(80):
        out.append(sample_index(probs[-1], 0.9, rng))
        probs, h, c = gen._run([out[-1]], h, c)
    assert gen.generate(prompt, 80, 0.9, seed=11) == gen.encoding.decode(out)


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_a_bad_seed_is_a_value_error_that_says_seed(gen, seed):
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        gen.generate("to be", length=3, seed=seed)


def test_invalid_probabilities_name_the_file_and_the_rebuild_command(gen, monkeypatch):
    def nan_run(ids, h, c):
        return np.full((len(ids), gen.encoding.size), np.nan, dtype=np.float32), h, c

    monkeypatch.setattr(gen, "_run", nan_run)
    with pytest.raises(ModelError, match=r"shakespeare\.onnx: returned invalid .*python -m"):
        gen.loss("to be or not")

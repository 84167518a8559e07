"""The one-run generator (ONNX Loop) against the step-by-step reference loop, the argument
checks, and models chosen by name."""

import numpy as np
import pytest
from bardbot.models import ShakespeareGenerator
from bardbot.models import shakespeare as shakespeare_module
from bardbot.models.metadata import MODELS_DIR, SHIPPED, resolve_path
from bardbot.models.sampling import sample_index


@pytest.fixture(scope="module")
def gen(tiny):
    return ShakespeareGenerator.load(tiny.models / "shakespeare.onnx")


def test_the_export_adds_the_loop(gen):
    assert gen.has_loop and gen.info["generation"]["output"] == "new_ids"
    assert gen.info["metrics"]["export"]["loop_equals_step_loop"] == {
        "0.0": True, "0.5": True, "1.0": True, "steered, stopping at a blank line": True,
        "stopping at an end char": True}


@pytest.mark.parametrize("temperature", [0.0, -1.0, 0.05, 0.2, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("prompt", ["", "to be, or not", "zz🎬", "x" * 5000])
def test_one_run_equals_the_step_loop(gen, prompt, temperature):
    for seed in range(3):
        assert (gen.generate(prompt, 60, temperature, seed=seed)
                == gen.generate_steps(prompt, 60, temperature, seed=seed))


def test_one_run_equals_sampling_each_step_by_hand(gen):
    """The reference distribution: softmax(log p / T) drawn with the seeded generator."""
    prompt, rng = "whether 'tis nobler", np.random.default_rng(4)
    probs, h, c = gen._run(gen.encoding.encode(prompt), *gen._zero_state())
    out = []
    for _ in range(100):
        out.append(sample_index(probs[-1], 0.7, rng))
        probs, h, c = gen._run([out[-1]], h, c)
    assert gen.generate(prompt, 100, 0.7, seed=4) == gen.encoding.decode(out)


def test_seeded_and_greedy(gen):
    assert gen.generate("to be", 80, 1.0, seed=9) == gen.generate("to be", 80, 1.0, seed=9)
    assert gen.generate("to be", 80, 1.0, seed=9) != gen.generate("to be", 80, 1.0, seed=10)
    assert gen.generate("to be", 50, 0, seed=1) == gen.generate("to be", 50, -2, seed=2)
    assert gen.generate("to be", 0, 0.5, seed=1) == ""


@pytest.mark.parametrize("length", [0, 3])
@pytest.mark.parametrize("seed", [True, False, "7", -1, 1.0])
def test_bad_seeds_are_refused_even_for_no_chars(gen, seed, length):
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        gen.generate("to be", length, 0.5, seed=seed)


@pytest.mark.parametrize("temperature", ["0.5", True, None, b"1"])
def test_a_temperature_must_be_a_number(gen, temperature):
    with pytest.raises(TypeError, match="temperature must be a number"):
        gen.generate("to be", 5, temperature)


def test_numpy_numbers_are_fine(gen):
    assert len(gen.generate("to be", np.int64(5), np.float32(0.5), seed=np.uint8(3))) == 5


def test_a_model_without_the_loop_generates_the_same(gen, tiny, tmp_path, monkeypatch):
    """Models exported before the loop existed still work, step by step, with the same text."""
    monkeypatch.setattr(gen, "has_loop", False)
    stepwise = gen.generate("to be", 40, 0.8, seed=5)
    monkeypatch.undo()
    assert stepwise == gen.generate("to be", 40, 0.8, seed=5)


def test_models_by_name():
    assert resolve_path("reference", "shakespeare") == MODELS_DIR / "shakespeare.onnx"
    assert resolve_path("bard", "shakespeare") == MODELS_DIR / "bard.onnx"
    assert set(SHIPPED["shakespeare"]) == {"reference", "bard"}


@pytest.mark.skipif(not (MODELS_DIR / "shakespeare.onnx").is_file(), reason="not exported")
def test_the_reference_loads_by_name_and_answers_as_before():
    ref = ShakespeareGenerator.load("reference")
    assert ref.name == "reference" and ref.has_loop and ref.encoding.lowercase
    # The reference's step graph is unchanged: its held-out loss was 1.5631 (3 plays).
    line = "the king is dead, my lord, and the queen hath sent for you.\nwhat says the king?"
    # Pinned from the file as shipped before the loop was added (commit b209e3f): same loss,
    # same text for the same seed (the sample in models/README.md).
    assert ref.loss(line) == pytest.approx(1.1296524847028284, abs=1e-9)
    prompt = "To be, or not to be, that is the question:"
    text = ref.generate(prompt, 200, 0.5, seed=7)
    assert text.startswith(" the tappt of my spunded\n\n   ham. the selues, and made him.")
    assert text == ref.generate_steps(prompt, 200, 0.5, seed=7)


@pytest.mark.skipif(not (MODELS_DIR / "bard.onnx").is_file(), reason="bard not exported")
def test_the_bard_loads_by_name_and_by_default():
    bard = ShakespeareGenerator.load("bard")
    assert bard.name == "bard" and bard.has_loop and not bard.encoding.lowercase
    assert ShakespeareGenerator.load().name == "bard"
    text = bard.generate("ROMEO:\n", 200, 0.5, seed=1)
    assert len(text) == 200 and text == bard.generate_steps("ROMEO:\n", 200, 0.5, seed=1)


def test_the_chunk_size_is_what_long_prompts_are_read_in():
    assert shakespeare_module.CHUNK == 4096

"""The bard end to end on a tiny corpus: train (seconds), export, serve; and its pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bardbot.models import ShakespeareGenerator

SCRIPT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "All:\nSpeak, speak.\n\nROMEO:\nBut soft, what light through yonder window breaks?\n\n"
          "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n")
# Bounded by steps, not seconds: the same weights on every run, however busy the machine (a
# time budget gave each run other weights; max_minutes is only a guard here).
TINY = dict(units=12, layers=2, embed=6, batch_size=4, seq=20, max_minutes=5.0, eval_every=10,
            patience=3, sample_length=20, prompt="ROMEO:\n", command="(tiny test)")


@pytest.fixture(scope="module")
def bard(tmp_path_factory):
    """A finished tiny bard run and its export."""
    from bardbot.export.bard import BardExport, export_bard
    from bardbot.trainer.bard import run
    from bardbot.trainer.config import BardConfig

    root = tmp_path_factory.mktemp("bard")
    text = root / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    meta = run(BardConfig(out=root / "run", text=str(text), max_steps=150, **TINY))
    paths = export_bard(BardExport(root / "run", root / "models", text=str(text)),
                        log=lambda *_: None)
    return root, meta, paths


def test_training_records_the_curve_and_keeps_the_best(bard):
    root, meta, _ = bard
    evals = meta["metrics"]["evals"]
    assert evals and meta["metrics"]["heldout_loss"] == min(e["heldout_loss"] for e in evals)
    assert json.loads((root / "run" / "curve.json").read_text()) == evals
    assert meta["encoding"]["lowercase"] is False and meta["layers"] == 2
    assert meta["metrics"]["stopped"] in ("150 steps", "no better held-out loss in 3 evaluations")
    assert meta["metrics"]["steps"] <= 150 and meta["training"]["max_steps"] == 150
    assert set(meta["samples"]) >= {"0.2", "0.5", "1.0"}


def test_export_is_a_step_model_with_the_loop_and_keeps_case(bard):
    _, meta, (onnx_path, json_path) = bard
    assert (onnx_path.name, json_path.name) == ("bard.onnx", "bard.json")
    gen = ShakespeareGenerator.load(onnx_path)
    assert gen.has_loop and gen.hidden == 2 * 12 and not gen.encoding.lowercase
    assert gen.normalize("ROMEO") == "ROMEO"
    info = json.loads(json_path.read_text())
    export = info["metrics"]["export"]
    assert max(export["parity"].values()) <= 1e-5
    assert export["loop_equals_step_loop"] == {"0.0": True, "0.5": True, "1.0": True,
                                               "steered, stopping at a blank line": True,
                                               "stopping at an end char": True}
    assert info["weights"] in ("float16", "float32")
    # The runtime's held-out loss over the whole held-out text, like the trainer's (which
    # cuts it into streams): close, not equal.
    assert abs(export["heldout_loss_onnx_stateful"] - meta["metrics"]["heldout_loss"]) < 0.2


def test_exported_bard_equals_keras_step_by_step(bard):
    import keras

    root, _, (onnx_path, _) = bard
    model = keras.models.load_model(root / "run" / "model.keras", compile=False)
    gen = ShakespeareGenerator.load(onnx_path)
    ids = gen.encoding.encode("JULIET:\nO Romeo, Romeo")
    states = [np.zeros((1, 12), np.float32)] * 4
    logits, *_ = model.predict_on_batch([ids[None].astype(np.int32), *states])
    expected = np.exp(logits[0] - logits[0].max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    probs = gen.next_char_probs(ids)
    tol = 1e-5 if gen.info["weights"] == "float32" else 2e-2
    assert np.abs(probs - expected).max() <= tol


@pytest.mark.parametrize("temperature", [0.0, 0.3, 1.0])
def test_exported_bard_one_run_equals_step_loop(bard, temperature):
    gen = ShakespeareGenerator.load(bard[2][0])
    for seed, prompt in enumerate(["", "ROMEO:\n", SCRIPT[:90]]):
        assert (gen.generate(prompt, 80, temperature, seed=seed)
                == gen.generate_steps(prompt, 80, temperature, seed=seed))


def test_float16_weights_are_half_the_size_and_close():
    import onnx
    from bardbot.export.bard import build_step_function, to_float16
    from bardbot.export.onnx_io import convert, session
    from bardbot.trainer.bard import build_model

    model = build_model(20, 64, 1, 32)
    proto = convert(build_step_function(model))
    half = to_float16(proto)
    onnx.checker.check_model(half)
    assert len(half.SerializeToString()) < 0.6 * len(proto.SerializeToString())
    feed = {"char_ids": np.arange(20)[None], "h": np.zeros((1, 64), np.float32),
            "c": np.zeros((1, 64), np.float32)}
    full, halved = (session(p).run(["probs"], feed)[0] for p in (proto, half))
    assert np.abs(full - halved).max() < 1e-3


def test_a_step_bounded_run_trains_the_same_weights_every_time(tmp_path):
    import keras
    from bardbot.trainer.bard import run
    from bardbot.trainer.config import BardConfig

    text = tmp_path / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    weights = []
    for name in ("a", "b"):
        meta = run(BardConfig(out=tmp_path / name, text=str(text), max_steps=20, **TINY))
        assert (meta["metrics"]["steps"], meta["metrics"]["stopped"]) == (20, "20 steps")
        model = keras.models.load_model(tmp_path / name / "model.keras", compile=False)
        weights.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_a_loop_that_differs_fails_the_check_and_says_where_and_why(bard, tmp_path):
    """A loop whose Dense bias is not the step model's: the check names the first differing
    char and finds it no near tie."""
    import onnx
    from bardbot.export.generator import check_loop
    from bardbot.export.seal import dump_json, sealed
    from bardbot.models.metadata import sha256_hex
    from bardbot.trainer.runs import UserError
    from onnx import numpy_helper

    _, _, (onnx_path, json_path) = bard
    model = onnx.load(onnx_path)
    loops = [branch.g.node[0] for node in model.graph.node if node.op_type == "If"
             for branch in node.attribute]
    for body in (next(a.g for a in loop.attribute if a.name == "body") for loop in loops):
        add = next(node for node in body.node if node.op_type == "Add")
        bias = next(i for i in model.graph.initializer if i.name == add.input[1])
        add.input[1] = "test/other_bias"
    shifted = numpy_helper.to_array(bias) + np.linspace(-1, 1, bias.dims[0], dtype=np.float32)
    model.graph.initializer.append(numpy_helper.from_array(shifted, "test/other_bias"))
    data = model.SerializeToString()
    (tmp_path / "bard.onnx").write_bytes(data)
    meta = json.loads(json_path.read_text())
    (tmp_path / "bard.json").write_bytes(dump_json(sealed({**meta, "sha256": sha256_hex(data)})))
    gen = ShakespeareGenerator.load(tmp_path / "bard.onnx")
    with pytest.raises(UserError, match=r"differs from the step loop \(prompt 'ROMEO:\\n', "
                       r"T=0.0, seed 0: char \d+ is .+ in one run, .+ step by step; the draw "
                       r"lies .+ from the boundary between them \(not a near tie"):
        check_loop(gen, log=lambda *_: None)


def test_the_gap_to_a_draw_boundary():
    from bardbot.export.loop_diff import NEAR_TIE, boundary_gap

    probs = np.array([0.5, 0.3, 0.2], np.float32)  # T=1: cdf 0.5, 0.8, 1
    assert boundary_gap(probs, 1.0, 0.5 + 1e-9, 1, 0) <= NEAR_TIE
    assert boundary_gap(probs, 1.0, 0.65, 1, 0) == pytest.approx(0.15, abs=1e-6)
    assert boundary_gap(probs, 1.0, 0.5, 2, 0) == pytest.approx(0.3, abs=1e-6)  # not neighbours
    # A char of no weight between them: they share the boundary.
    assert boundary_gap(np.array([0.5, 0.0, 0.5]), 1.0, 0.5, 0, 2) <= NEAR_TIE
    assert boundary_gap(np.array([0.4, 0.4 + 1e-8, 0.2]), 0.0, 0.0, 0, 1) <= NEAR_TIE  # greedy
    assert boundary_gap(np.array([0.3, 0.5, 0.2]), 0.0, 0.0, 0, 1) == pytest.approx(0.4)

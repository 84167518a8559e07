"""The bard end to end on a tiny corpus: train (seconds), export, serve; and its pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bardbot.models import ShakespeareGenerator

SCRIPT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "All:\nSpeak, speak.\n\nROMEO:\nBut soft, what light through yonder window breaks?\n\n"
          "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n")


@pytest.fixture(scope="module")
def bard(tmp_path_factory):
    """A finished tiny bard run and its export."""
    from bardbot.export.bard import BardExport, export_bard
    from bardbot.trainer.bard import run
    from bardbot.trainer.config import BardConfig

    root = tmp_path_factory.mktemp("bard")
    text = root / "tiny.txt"
    text.write_text(SCRIPT * 30, encoding="utf-8")
    cfg = BardConfig(out=root / "run", text=str(text), units=12, layers=2, embed=6,
                     batch_size=4, seq=20, max_minutes=0.1, eval_every=10, patience=3,
                     sample_length=20, prompt="ROMEO:\n", command="(tiny test)")
    meta = run(cfg)
    paths = export_bard(BardExport(root / "run", root / "models", text=str(text)),
                        log=lambda *_: None)
    return root, meta, paths


def test_training_records_the_curve_and_keeps_the_best(bard):
    root, meta, _ = bard
    evals = meta["metrics"]["evals"]
    assert evals and meta["metrics"]["heldout_loss"] == min(e["heldout_loss"] for e in evals)
    assert json.loads((root / "run" / "curve.json").read_text()) == evals
    assert meta["encoding"]["lowercase"] is False and meta["layers"] == 2
    assert meta["metrics"]["stopped"]
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

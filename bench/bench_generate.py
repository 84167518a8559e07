"""200 new characters: the reference loop vs windowed onnxruntime vs the step model.

Reference loop, as in the notebook: for each new char, one-hot the last 40 chars and call Keras
`predict` on the window. Windowed ORT: the same loop on the ONNX windowed model (converted here
from the run with the exporter's code). Step model: `ShakespeareGenerator.generate`, which reads
the prompt once and then feeds one char + (h, c) per step. All three sample with
`models.sampling` at the same temperature, in this one process.

    python bench/bench_generate.py [--run runs/ship/shakespeare] [--model models/shakespeare.onnx]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from bardbot.models import ShakespeareGenerator
from bardbot.models.sampling import sample_index
from bardbot.trainer.runs import quiet_tensorflow
from timing import machine, measure, table

ROOT = Path(__file__).resolve().parents[1]  # default run folders live under it

PROMPT = "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=ROOT / "runs/ship/shakespeare")
    p.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--keras-repeats", type=int, default=2)
    args = p.parse_args()
    if not (args.run / "model.keras").is_file():
        sys.exit(f"{args.run}: no trained run (model.keras); pass --run or train one with "
                 f"`python -m bardbot.trainer shakespeare --out {args.run}`")
    quiet_tensorflow()
    import keras
    import onnxruntime as ort
    from bardbot.export.onnx_io import convert
    from bardbot.export.shakespeare import WINDOW_INPUT, WINDOW_OUTPUT, build_window_function

    gen = ShakespeareGenerator.load(args.model)
    enc, window = gen.encoding, gen.window
    model = keras.models.load_model(args.run / "model.keras", compile=False)
    every = len(model.outputs[0].shape) == 3
    proto = convert(build_window_function(model, window, enc.size, every))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    windowed = ort.InferenceSession(proto.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])

    def loop(predict):
        rng = np.random.default_rng(0)
        ids = list(enc.encode(PROMPT))
        for _ in range(args.length):
            x = enc.one_hot(np.array(ids[-window:]))[None]
            ids.append(sample_index(predict(x), args.temperature, rng))
        return enc.decode(ids[-args.length:])

    def keras_predict(x):
        probs = model.predict(x, verbose=0)[0]
        return probs[-1] if every else probs

    def ort_predict(x):
        return windowed.run([WINDOW_OUTPUT], {WINDOW_INPUT: x})[0][0]

    print(machine())
    print(f"model: {gen.info['file']} (mode {gen.mode}); reference: {args.run}/model.keras")
    print(f"{args.length} new chars after a {len(PROMPT)}-char prompt, T={args.temperature}")
    reference = f"keras predict per {window}-char window (reference)"
    rows = [
        (reference,
         measure(lambda: loop(keras_predict), args.keras_repeats, warmup=1)),
        ("onnxruntime windowed model per window", measure(lambda: loop(ort_predict), 10)),
        ("onnxruntime step model (generate)", measure(
            lambda: gen.generate(PROMPT, args.length, args.temperature, seed=0), args.repeats)),
    ]
    print(table(rows, reference))
    print("\nsample (step model):", repr(gen.generate(PROMPT, 120, args.temperature, seed=0)))


if __name__ == "__main__":
    main()

"""200 new characters: the step loop (Python per char) vs one onnxruntime run (ONNX Loop).

For each model (the reference, and the bard when shipped): `generate_steps` feeds one char +
(h, c) per step and samples in Python (models.sampling), which is how `generate` worked before
the loop; `generate` reads the prompt and draws every char in one session run. The two are
timed interleaved (A, B, A, B, ...) in this one process, so machine load hits both alike; wall
time p50/p90 and the CPU time of this thread are reported (onnxruntime runs on the calling
thread with one intra-op thread). With --run, the reference notebook's loop (Keras `predict` per
40-char window) is timed too.

    python bench/bench_generate.py [--run runs/ship/shakespeare] [--length 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bardbot.models import ShakespeareGenerator
from bardbot.models.metadata import MODELS_DIR
from bardbot.models.sampling import sample_index
from bardbot.trainer.runs import quiet_tensorflow
from timing import machine, table

ROOT = Path(__file__).resolve().parents[1]  # default run folders live under it

PROMPTS = {
    "reference": "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind "
                 "to suffer",
    "bard": "ROMEO:\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the "
            "mind to suffer",
}


def interleaved(fns: list, repeats: int, warmup: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Wall and thread-CPU milliseconds of each fn, called in turn `repeats` times."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    wall = np.empty((len(fns), repeats))
    cpu = np.empty((len(fns), repeats))
    for i in range(repeats):
        for j, fn in enumerate(fns):
            w, c = time.perf_counter(), time.thread_time()
            fn()
            cpu[j, i] = (time.thread_time() - c) * 1e3
            wall[j, i] = (time.perf_counter() - w) * 1e3
    return list(zip(wall, cpu, strict=True))


def keras_rows(run: Path, gen: ShakespeareGenerator, args) -> list:
    quiet_tensorflow()
    import keras

    enc, window = gen.encoding, gen.window
    model = keras.models.load_model(run / "model.keras", compile=False)
    every = len(model.outputs[0].shape) == 3

    def loop():
        rng = np.random.default_rng(0)
        ids = list(enc.encode(PROMPTS["reference"]))
        for _ in range(args.length):
            probs = model.predict(enc.one_hot(np.array(ids[-window:]))[None], verbose=0)[0]
            ids.append(sample_index(probs[-1] if every else probs, args.temperature, rng))

    (wall, cpu), = interleaved([loop], args.keras_repeats, warmup=1)
    return [(f"reference: keras predict per {window}-char window", wall, cpu)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=None,
                   help="a reference training run (model.keras) to time the notebook loop too")
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--keras-repeats", type=int, default=2)
    args = p.parse_args()

    print(machine())
    print(f"{args.length} new chars, T={args.temperature}, one onnxruntime thread")
    rows = []
    names = ["reference"] + (["bard"] if (MODELS_DIR / "bard.onnx").is_file() else [])
    samples = {}
    for name in names:
        gen = ShakespeareGenerator.load(name)
        prompt = PROMPTS[name]
        assert gen.generate(prompt, args.length, args.temperature, seed=0) == \
            gen.generate_steps(prompt, args.length, args.temperature, seed=0)
        (sw, sc), (lw, lc) = interleaved([
            lambda g=gen, pr=prompt: g.generate_steps(pr, args.length, args.temperature, seed=0),
            lambda g=gen, pr=prompt: g.generate(pr, args.length, args.temperature, seed=0),
        ], args.repeats)
        rows += [(f"{name}: step loop (Python per char)", sw, sc),
                 (f"{name}: one run (ONNX Loop)", lw, lc)]
        samples[name] = gen.generate(prompt, 120, args.temperature, seed=0)
    if args.run is not None:
        rows = keras_rows(args.run, ShakespeareGenerator.load("reference"), args) + rows
    base = rows[0][0]
    print("\nwall time")
    print(table([(n, w) for n, w, _ in rows], base))
    print("\nCPU time of the calling thread")
    print(table([(n, c) for n, _, c in rows], base))
    for name in names:
        i = [r[0] for r in rows].index(f"{name}: step loop (Python per char)")
        ratio = np.median(rows[i][1]) / np.median(rows[i + 1][1])
        print(f"\n{name}: one run vs step loop, p50 wall: {ratio:.1f}x")
    for name, text in samples.items():
        print(f"\nsample ({name}): {text!r}")


if __name__ == "__main__":
    main()

"""Session-run time of message-model sizes, with random weights (not a test).

    .venv/bin/python bench/bench_message_sizes.py                  # the sizes below
    .venv/bin/python bench/bench_message_sizes.py --sizes bi64,uni32

Each size is built by `trainer.message.build_model`, exported by the exporter's own graph
builder (`export.message_graph`), and run in one onnxruntime session set up as the runtime's; the
shipped model runs in the same process, alternating, so the ratios hold on a busy machine.
Run time does not depend on the weights, so this picks the size to train before training it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from bardbot.export.message import keras_weights, quantize_rows
from bardbot.export.message_graph import message_graph
from bardbot.models import SentimentClassifier
from bardbot.trainer.message import build_model
from timing import machine

SIZES = {"bi64": (64, True), "bi32": (32, True), "uni64": (64, False), "uni48": (48, False),
         "uni32": (32, False)}
CALIBRATION = {"scale": 1.0, "bias": 0.0, "log_length": 0.0}


def random_session(units: int, bidirectional: bool, rows: int, dim: int):
    """A session of the exported graph of a random-weight model of this size."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(2 * rows, dim + 1)).astype(np.float32)
    model = build_model(2 * rows, dim + 1, embedding, units, bidirectional)
    q, scale = quantize_rows(embedding[:rows, :dim])
    proto = message_graph(keras_weights(model, q, scale, CALIBRATION, dim - 1, True))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(SIZES), help=f"comma list of {', '.join(SIZES)}")
    p.add_argument("--tokens", type=int, default=6, help="tokens of the message")
    p.add_argument("--rounds", type=int, default=3000)
    args = p.parse_args()
    shipped = SentimentClassifier.load("message")
    rows = shipped.encoding.vocab_size
    dim = 151  # the shipped rows: Word2Vec 100 + GloVe 50 + valence (+ the negation flag)
    runs = {"shipped": shipped._session}
    for name in args.sizes.split(","):
        runs[name] = random_session(*SIZES[name], rows, dim)
    ids = np.arange(2, 2 + args.tokens, dtype=np.int32)[None, :]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(args.rounds):
        order = list(runs.items())
        for name, sess in order if i % 2 else reversed(order):
            start = time.perf_counter()
            sess.run(["prob"], {"token_ids": ids})
            times[name].append((time.perf_counter() - start) * 1e6)
    base = statistics.median(times["shipped"])
    print(f"{machine()}; one message of {args.tokens} tokens, session run only")
    for name, t in times.items():
        p50 = statistics.median(t)
        print(f"{name:<8} p50 {p50:7.1f} µs   {p50 / base:5.2f}x shipped")


if __name__ == "__main__":
    main()

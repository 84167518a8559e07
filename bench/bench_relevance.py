"""Do the bard's chat replies follow the message? Scored without the model under test.

For each reply, its own message and 9 other messages of the same half (drawn with a fixed seed,
the same for every variant) are ranked by similarity to the reply; top-1 is the share of
replies whose own message ranks first, ties split (a reply sharing no content word with any
candidate scores 1/10), so chance is exactly 0.10. Two similarities, both over content words
(lowercase, stopwords out, Porter stems), IDF from the plays' speeches and the messages:
- GloVe: cosine of the IDF-weighted sums of GloVe 6B 50-d vectors (the `glove` extra);
- TF-IDF: cosine of stem counts times IDF.
"Own words": the same after removing every word of the reply whose stem the message contains
(mentions out: what is left is the bard's own association). Also: repetition (a reply with a
content word 3+ times), fluency (the bard's nats/char on the reply after its prompt), distinct
replies to 100 messages at one seed and speaker, and cost (p50/p90 ms of a chat reply vs 200
plain chars of the same model, interleaved in this run).

Messages: bench/chat_messages.txt ("## dev" for choosing settings, "## test" held out). Plays:
200 held-out speeches of tinyshakespeare (the bard's held-out last 10 %) and the speech that
follows each: Shakespeare's own replies, the yardstick.

    python bench/bench_relevance.py [--split test|dev] [--text tinyshakespeare.txt]
    python bench/bench_relevance.py --split dev --ablation   # the steering settings compared
    python bench/bench_relevance.py --split dev --chat-model models/bard-chat.onnx --ablation
        # a chat bard (trainer/bard_topics.py) under its settings compared

With --chat-model the chat replies come from that chat bard (its topic line, then its gentler
steering), and a second fluency column gives the chat bard's own nats/char on its replies after
its own prompt (topic line included); the first stays the shipped plain bard's, after the plain
prompt, comparable with the rows before.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import time
from collections import Counter
from pathlib import Path

import chat_bard
import numpy as np
from bardbot.models import ShakespeareGenerator, play, steer
from bardbot.trainer.bard import find_text
from nltk.stem.porter import PorterStemmer
from timing import machine

MESSAGES = Path(__file__).with_name("chat_messages.txt")
CANDIDATES = 10
LENGTH, TEMPERATURE = 200, 0.5  # the bot's default chat settings
HELDOUT = 0.1  # the bard's held-out fraction (trainer/bard.py)
SPEECHES = 200
FIXED_SPEAKER = "ROMEO"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# English function words, plus the plays' archaic ones, so neither side scores on them.
_FUNCTION_WORDS = """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each few for from further get got had hadn't has hasn't have haven't having he
he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in
into is isn't it it's its itself just let's like me more most much must mustn't my myself no nor
not now of off on once one only or other ought our ours ourselves out over own same shall shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through to too
under until up upon us very was wasn't we we'd we'll we're we've were weren't what what's when
when's where where's which while who who's whom why why's will with won't would wouldn't yes yet
you you'd you'll you're you've your yours yourself yourselves o oh ay ah well let make made
thou thee thy thine ye hath doth dost art hast shalt wilt wouldst couldst canst tis 'tis 'twas
nay yea sir lord good come go say said tell know see take give even still ever never also
"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())


class Words:
    """Content words -> stems, IDF and GloVe vectors."""

    def __init__(self, documents: list[str]) -> None:
        self._stemmer = PorterStemmer()
        self._stems: dict[str, str] = {}
        df = Counter(s for doc in documents for s in set(self.stems(doc)))
        self.idf = {s: math.log((len(documents) + 1) / (n + 1)) + 1 for s, n in df.items()}
        self._default_idf = math.log(len(documents) + 1) + 1
        self.glove = load_glove_table()

    def content(self, text: str) -> list[str]:
        words = (w.strip("'") for w in _WORD.findall(text.lower()))
        return [w for w in words if len(w) > 1 and w not in STOPWORDS]

    def stem(self, word: str) -> str:
        if word not in self._stems:
            self._stems[word] = self._stemmer.stem(word)
        return self._stems[word]

    def stems(self, text: str) -> list[str]:
        return [self.stem(w) for w in self.content(text)]

    def weight(self, stem: str) -> float:
        return self.idf.get(stem, self._default_idf)

    def tfidf(self, words: list[str]) -> dict[str, float]:
        counts = Counter(self.stem(w) for w in words)
        return {s: n * self.weight(s) for s, n in counts.items()}

    def vector(self, words: list[str]) -> np.ndarray:
        out = np.zeros(50)
        for w in words:
            if w in self.glove:
                out += self.weight(self.stem(w)) * self.glove[w]
        return out


def load_glove_table() -> dict[str, np.ndarray]:
    from bardbot.trainer.vectors import load_glove

    kv = load_glove()
    return {w: kv.vectors[i] for w, i in kv.key_to_index.items()}


def cosine_dicts(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


def top1(scores: list[float]) -> float:
    """1 when the own candidate (index 0) scores highest, 1/k when tied with k-1 others."""
    rounded = np.round(scores, 9)
    best = rounded.max()
    return 1.0 / int((rounded == best).sum()) if rounded[0] == best else 0.0


def candidate_sets(n: int) -> list[list[int]]:
    """For item i: i, then 9 other items, drawn with seed i (the same for every variant)."""
    sets = []
    for i in range(n):
        others = np.random.default_rng(i).choice(n - 1, CANDIDATES - 1, replace=False)
        sets.append([i] + [int(j) + (j >= i) for j in others])
    return sets


def relevance(words: Words, messages: list[str], replies: list[str], own_words: bool = False
              ) -> tuple[float, float]:
    """Top-1 (GloVe, TF-IDF) of each reply among its candidate messages."""
    glove, tfidf = [], []
    for i, ids in enumerate(candidate_sets(len(messages))):
        reply = words.content(replies[i])
        if own_words:
            mentioned = {words.stem(w) for w in words.content(messages[i])}
            reply = [w for w in reply if words.stem(w) not in mentioned]
        vec, bag = words.vector(reply), words.tfidf(reply)
        cands = [words.content(messages[j]) for j in ids]
        glove.append(top1([cosine(vec, words.vector(c)) for c in cands]))
        tfidf.append(top1([cosine_dicts(bag, words.tfidf(c)) for c in cands]))
    return float(np.mean(glove)), float(np.mean(tfidf))


def repetition(words: Words, replies: list[str]) -> float:
    """Share of replies in which one content word (stem) occurs 3 or more times."""
    return float(np.mean([max(Counter(words.stems(r)).values(), default=0) >= 3
                          for r in replies]))


def read_messages(split: str) -> list[str]:
    halves: dict[str, list[str]] = {}
    current = None
    for line in MESSAGES.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = halves.setdefault(line[3:].strip(), [])
        elif line.strip() and not line.startswith("#") and current is not None:
            current.append(line.strip())
    return halves[split]


def play_speeches(text: str) -> list[tuple[str, str]]:
    """(speaker, speech) in order: blocks of `NAME:` + lines, separated by blank lines."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        if len(lines) >= 2 and lines[0].endswith(":"):
            out.append((lines[0][:-1], "\n".join(lines[1:])))
    return out


def heldout_pairs(text: str, n: int = SPEECHES) -> list[tuple[str, str]]:
    """n (speech, next speech) pairs spread evenly over the held-out text."""
    held = play_speeches(text[round(len(text) * (1 - HELDOUT)):])[1:]  # the first may be cut
    pairs = [(a[1], b[1]) for a, b in itertools.pairwise(held)]
    picks = np.linspace(0, len(pairs) - 1, n).round().astype(int)
    return [pairs[i] for i in picks]


# ------------------------------------------------------------------------------ replies


def today_reply(gen: ShakespeareGenerator, message: str, speaker: str, seed: int) -> str:
    """The chat reply as the bot made it before steering: 201 chars, then cut to the speech."""
    text = gen.generate(play.play_prompt(message, speaker), LENGTH + 1, TEMPERATURE, seed=seed)
    return play.speech(text, LENGTH)


def continuation_reply(gen: ShakespeareGenerator, message: str, seed: int) -> str:
    """BARDBOT_PLAY_SPEAKER=off: the message continued."""
    joined = play.continuation_prompt(message)
    return play.trim(gen.generate(joined.model_prompt, LENGTH + 1, TEMPERATURE, seed=seed),
                     LENGTH).strip("\n")


def answer(gen: ShakespeareGenerator, message: str, speaker: str, seed: int) -> str:
    """The shipped chat reply (steered; it ends with its speech, or at a full stop or line end
    past half its length)."""
    return gen.answer(message, speaker, LENGTH, TEMPERATURE, seed=seed)


def chat_answer(chat: ShakespeareGenerator, message: str, speaker: str, seed: int) -> str:
    """A chat bard's reply (bench/chat_bard.py: topic line, gentler steering)."""
    return chat_bard.answer(chat, message, speaker, LENGTH, TEMPERATURE, seed=seed)


# Steering settings compared by --ablation (models/steer.py names; each row changes the shipped
# settings as given; BOOST 1 turns the word steering off, PENALTY 1 the repetition penalty).
ABLATION = [
    {"BOOST": 1.0, "PENALTY": 1.0, "OPENING_RATE": 0.0},
    {"BOOST": 1.0, "PENALTY": 1.0, "OPENING_RATE": 1.0},
    {"BOOST": math.exp(8), "OPENING_RATE": 0.0, "MESSAGE_WORDS": 3, "NEIGHBOURS": 2},
    {"BOOST": math.exp(8), "OPENING_RATE": 0.3, "MESSAGE_WORDS": 3, "NEIGHBOURS": 2},
    {"BOOST": math.exp(10), "OPENING_RATE": 0.0, "MESSAGE_WORDS": 3, "NEIGHBOURS": 2},
    {"BOOST": math.exp(10), "OPENING_RATE": 0.2, "MESSAGE_WORDS": 3, "NEIGHBOURS": 2},
    {"BOOST": math.exp(10), "OPENING_RATE": 0.2, "MESSAGE_WORDS": 3, "NEIGHBOURS": 3},
    {"BOOST": math.exp(10), "OPENING_RATE": 0.2, "NEIGHBOURS": 0},
    {"BOOST": math.exp(10), "OPENING_RATE": 0.2, "CAP": 1},
    {"PENALTY": 1.0},
    {},  # shipped
    {"BOOST": math.exp(12), "OPENING_RATE": 0.0},
]


# The chat bard's settings compared by --chat-model ... --ablation (bench/chat_bard.py names).
TOPIC_ABLATION = [
    {"TOPIC_WORDS": 0, "TOPIC_BOOST": 1.0, "TOPIC_OPENING_RATE": 0.0},
    {"TOPIC_BOOST": 1.0, "TOPIC_OPENING_RATE": 0.0},
    {"TOPIC_BOOST": 1.0},
    {"TOPIC_BOOST": math.exp(4)},
    {"TOPIC_BOOST": math.exp(6)},
    {"TOPIC_BOOST": math.exp(8)},
    {"TOPIC_BOOST": math.exp(6), "TOPIC_WORDS": 2},
    {"TOPIC_BOOST": math.exp(6), "TOPIC_WORDS": 5},
    {"TOPIC_BOOST": math.exp(6), "TOPIC_OPENING_RATE": 0.0},
]


def with_settings(settings: dict, fn, module=steer):
    """fn() with the module's settings (models/steer.py's by default) changed as given, then
    restored."""
    saved = {k: getattr(module, k) for k in settings}
    try:
        for k, v in settings.items():
            setattr(module, k, v)
        return fn()
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def describe(settings: dict) -> str:
    if not settings:
        return "**shipped**"
    return ", ".join(f"{k} e^{math.log(v):.0f}" if k.endswith("BOOST") and v > 1
                     else f"{k} {v}" for k, v in settings.items())


def speaker_of(i: int) -> str:
    return play.ROTATION[i % len(play.ROTATION)]


def fluency(gen: ShakespeareGenerator, messages: list[str], replies: list[str]
            ) -> tuple[float, float]:
    """The bard's nats/char on each reply, read after the prompt it answered: the mean over
    replies, and pooled (all replies' nats / all their chars)."""
    pairs = [(gen.loss(r, context=play.play_prompt(m, speaker_of(i))), len(r))
             for i, (m, r) in enumerate(zip(messages, replies, strict=True)) if r]
    nats = np.array([n for n, _ in pairs])
    chars = np.array([c for _, c in pairs])
    return float(nats.mean()), float((nats * chars).sum() / chars.sum())


def distinct(replies: list[str]) -> tuple[int, float]:
    counts = Counter(replies)
    return len(counts), counts.most_common(1)[0][1] / len(replies)


def cost(gen: ShakespeareGenerator, messages: list[str], reply, rounds: int = 3
         ) -> tuple[np.ndarray, np.ndarray]:
    """Wall ms of a chat reply and of 200 plain chars ("ROMEO:\\n"), interleaved."""
    chat, plain = [], []
    for r in range(rounds):
        for i, message in enumerate(messages):
            t0 = time.perf_counter()
            reply(gen, message, speaker_of(i), seed=r * 1000 + i)
            t1 = time.perf_counter()
            gen.generate("ROMEO:\n", LENGTH, TEMPERATURE, seed=r * 1000 + i)
            t2 = time.perf_counter()
            chat.append((t1 - t0) * 1e3)
            plain.append((t2 - t1) * 1e3)
    return np.array(chat), np.array(plain)


def own_fluency(chat: ShakespeareGenerator, messages: list[str], replies: list[str]
                ) -> tuple[float, float]:
    """A chat bard's own nats/char on each reply after its own prompt (topic line included):
    the mean over replies, and pooled."""
    pairs = [(chat.loss(r, context=chat_bard.chat_prompt(chat, m, speaker_of(i))), len(r))
             for i, (m, r) in enumerate(zip(messages, replies, strict=True)) if r]
    nats = np.array([n for n, _ in pairs])
    chars = np.array([c for _, c in pairs])
    return float(nats.mean()), float((nats * chars).sum() / chars.sum())


HEADER = ("\n| replies ({split} messages) | top-1 GloVe | top-1 TF-IDF | own words GloVe "
          "| own words TF-IDF | 3+ repeats | bard's nats/char (mean / pooled) "
          "| chat bard's own nats/char | mean chars |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def row(name: str, words: Words, messages: list[str], replies: list[str],
        bard: ShakespeareGenerator | None, chat: ShakespeareGenerator | None = None) -> str:
    """One table row: relevance, own words, repetition, fluency (the plain bard's when
    `bard`, a chat bard's own when `chat`), length."""
    g, t = relevance(words, messages, replies)
    og, ot = relevance(words, messages, replies, own_words=True)
    nats = "{:.3f} / {:.3f}".format(*fluency(bard, messages, replies)) if bard else ""
    own = "{:.3f} / {:.3f}".format(*own_fluency(chat, messages, replies)) if chat else ""
    chars = np.mean([len(r) for r in replies])
    return (f"| {name} | {g:.3f} | {t:.3f} | {og:.3f} | {ot:.3f} | "
            f"{repetition(words, replies):.1%} | {nats} | {own} | {chars:.0f} |")


def topic_ablation(words: Words, messages: list[str], bard: ShakespeareGenerator,
                   chats: dict[str, ShakespeareGenerator], split: str) -> None:
    """The shipped steered reply, then each chat bard under each of TOPIC_ABLATION."""
    print(HEADER.format(split=split).replace("| replies", "| model, settings"))
    replies = [answer(bard, m, speaker_of(i), i) for i, m in enumerate(messages)]
    print(row("shipped bard, steered", words, messages, replies, bard))
    for path, chat in chats.items():
        for settings in TOPIC_ABLATION:
            replies = with_settings(settings, lambda c=chat: [
                chat_answer(c, m, speaker_of(i), i) for i, m in enumerate(messages)], chat_bard)
            print(row(f"{path}: {describe(settings)}", words, messages, replies, bard, chat),
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("test", "dev"), default="test",
                    help="which half of the messages (dev: for choosing settings)")
    ap.add_argument("--text", help="tinyshakespeare.txt (default: the data folder)")
    ap.add_argument("--cost-rounds", type=int, default=3, metavar="N")
    ap.add_argument("--ablation", action="store_true",
                    help="only the shipped replies under the steering settings in ABLATION "
                         "(with --chat-model: each chat bard under TOPIC_ABLATION)")
    ap.add_argument("--chat-model", action="append", default=[], metavar="MODEL",
                    help="a chat bard (name or .onnx) writing the chat replies; repeat to "
                         "compare several with --ablation")
    args = ap.parse_args()

    text = find_text(args.text).read_text(encoding="utf-8")
    messages = read_messages(args.split)
    pairs = heldout_pairs(text)
    words = Words([s for _, s in play_speeches(text)] + read_messages("dev")
                  + read_messages("test"))
    bard = ShakespeareGenerator.load("bard")
    reference = ShakespeareGenerator.load("reference")
    print(f"{machine()}; {len(messages)} {args.split} messages, {len(pairs)} held-out speeches")
    chats = {path: ShakespeareGenerator.load(path) for path in args.chat_model}
    if args.ablation and chats:
        topic_ablation(words, messages, bard, chats, args.split)
        return
    if args.ablation:
        print(HEADER.format(split=args.split).replace("| replies", "| steering settings"))
        for settings in ABLATION:
            replies = with_settings(settings, lambda: [
                answer(bard, m, speaker_of(i), i) for i, m in enumerate(messages)])
            print(row(describe(settings), words, messages, replies, bard))
        return

    seeds = range(len(messages))
    variants = {
        "chat reply before (play form, 201 chars cut to the speech)":
            [today_reply(bard, m, speaker_of(i), i) for i, m in zip(seeds, messages, strict=True)],
        "BARDBOT_PLAY_SPEAKER=off (continuation)":
            [continuation_reply(bard, m, i) for i, m in zip(seeds, messages, strict=True)],
        "the reference generator (continuation)":
            [continuation_reply(reference, m, i) for i, m in zip(seeds, messages, strict=True)],
    }
    before = variants["chat reply before (play form, 201 chars cut to the speech)"]
    variants["a reply before, paired with another message"] = before[1:] + before[:1]
    has_answer = hasattr(bard, "answer")
    if has_answer:
        variants["**shipped chat reply** (steered, ends with its speech or a sentence or line)"] = [
            answer(bard, m, speaker_of(i), i) for i, m in zip(seeds, messages, strict=True)]
    last_chat = None
    for path, chat in chats.items():
        last_chat = chat
        variants[f"chat bard {path} (topic line, steering)"] = [
            chat_answer(chat, m, speaker_of(i), i) for i, m in zip(seeds, messages, strict=True)]

    print(HEADER.format(split=args.split))
    for name, replies in variants.items():
        chat = next((c for p, c in chats.items() if f"chat bard {p} " in name), None)
        print(row(name, words, messages, replies, bard if "generator" not in name else None,
                  chat))
    speeches, following = [p[0] for p in pairs], [p[1] for p in pairs]
    g, t = relevance(words, speeches, following)
    og, ot = relevance(words, speeches, following, own_words=True)
    print(f"| Shakespeare's next speech ({len(pairs)} held-out speeches) | {g:.3f} | {t:.3f} | "
          f"{og:.3f} | {ot:.3f} | {repetition(words, following):.1%} | | "
          f"{np.mean([len(r) for r in following]):.0f} |")

    hundred = (read_messages("dev") + read_messages("test"))[:100]
    print(f"\ndistinct replies to 100 messages (seed 0, speaker {FIXED_SPEAKER}; commonest share):")
    paths = [("before", today_reply, bard)] + (
        [("shipped", answer, bard)] if has_answer else []) + (
        [("chat bard", lambda _, *a, **k: chat_answer(last_chat, *a, **k), bard)]
        if last_chat is not None else [])
    for name, reply, gen in paths:
        n, share = distinct([reply(gen, m, FIXED_SPEAKER, 0) for m in hundred])
        print(f"  {name}: {n} distinct, commonest {share:.0%}")

    print(f"\ncost, ms ({len(messages)} messages x {args.cost_rounds} rounds, interleaved with 200 "
          "plain chars):")
    for name, reply, gen in paths:
        chat, plain = cost(gen, messages, reply, args.cost_rounds)
        (c50, c90), (p50, p90) = np.percentile(chat, [50, 90]), np.percentile(plain, [50, 90])
        print(f"  {name}: chat p50 {c50:.1f} p90 {c90:.1f} | plain p50 {p50:.1f} p90 {p90:.1f} "
              f"| p50 {c50 / p50:.2f}x, p90 {c90 / p90:.2f}x")


if __name__ == "__main__":
    main()

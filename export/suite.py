"""A behavioural test suite for message sentiment, in the style of CheckList (Ribeiro et al.,
ACL 2020): sentences built from templates, one expected label each, scored per capability.

It is a measurement only: no sentence or template here is ever used for training (the models
train on aclImdb reviews alone). Cases are drawn with a fixed seed, so every run and every
model sees the same sentences.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SUBJECTS = ("the movie", "this game", "my day", "the food", "this song", "your idea",
            "the service", "today", "the new update", "this place", "the show", "that party")
POSITIVE = ("good", "great", "amazing", "awesome", "wonderful", "fantastic", "excellent",
            "lovely", "fun", "perfect", "brilliant", "enjoyable")
NEGATIVE = ("bad", "terrible", "awful", "horrible", "boring", "disappointing", "dull",
            "annoying", "stupid", "mediocre", "lame", "a disaster")
# Negated, these read as praise: "not bad", "not boring" (unlike "not terrible", which is faint).
NEGATABLE_NEGATIVE = ("bad", "boring", "disappointing", "dull", "a waste of time", "annoying")
INTENSIFIERS = ("very", "really", "so", "extremely", "incredibly", "super", "absolutely")
DIMINISHERS = ("somewhat", "a bit", "slightly", "kind of", "fairly", "a little")
EMOJI = {"😀": 1, "😍": 1, "👍": 1, "❤️": 1, "🥰": 1, "🎉": 1, "😊": 1, "🙌": 1, "😁": 1,
         "😡": 0, "👎": 0, "💔": 0, "😞": 0, "🤮": 0, "😠": 0, "😒": 0, "🙁": 0, "😩": 0}
EMOTICONS = {":)": 1, ":D": 1, "<3": 1, ":-)": 1, ";)": 1, "^_^": 1,
             ":(": 0, ":'(": 0, ":-(": 0, "</3": 0, ":/": 0, "-_-": 0}
NEUTRAL = ("just got home", "watching it now", "the movie", "my weekend", "this game",
           "the update came out", "dinner tonight", "here we go")
NOISE = ("@sam", "<@123456789012345678>", "https://example.com/x?y=1", "<#987654321098765432>",
         "(via www.example.org)", "cc @everyone")
NAMES = ("Alex", "Maria", "John", "Priya", "Chen", "Fatima")
TYPOS = {"good": "goood", "great": "graet", "amazing": "amazng", "awesome": "awsome",
         "terrible": "terible", "awful": "awfull", "horrible": "horible", "boring": "borring",
         "wonderful": "wonderfull", "disappointing": "dissapointing", "excellent": "excelent",
         "fantastic": "fantastik"}
PER_CAPABILITY = 60
# Issue 17: short texts outside movies. Chat slang, events told with an emoji, product reviews,
# news headlines and sarcasm (marked by "/s", "yeah right", 🙄, "... not": all negative).
SLANG = {"slaps": 1, "is fire": 1, "is lit": 1, "is goated": 1, "hits different": 1,
         "is a vibe": 1, "is bussin": 1, "is a banger": 1, "is mid": 0, "is trash": 0,
         "is cringe": 0, "sucks": 0, "is a flop": 0, "is garbage": 0, "is a letdown": 0,
         "is a snooze": 0}
EVENTS = {"got the job": 1, "passed my exam": 1, "finally friday": 1, "we won the final": 1,
          "my sister had her baby": 1, "missed the bus again": 0, "stuck in traffic": 0,
          "my flight got cancelled": 0, "lost my wallet": 0, "failed the test": 0}
EVENT_EMOJI = {1: ("🎉", "😁", "🙌", "🥳"), 0: ("😩", "😡", "😞", "😭")}
PRODUCTS = ("the charger", "this blender", "the headphones", "my new phone", "this app",
            "the keyboard")
PRODUCT_PHRASES = {"works perfectly": 1, "would buy again": 1, "is worth every penny": 1,
                   "exceeded my expectations": 1, "is easy to set up": 1,
                   "stopped working after a week": 0, "broke on the first day": 0,
                   "is a waste of money": 0, "arrived damaged": 0, "is cheaply made": 0,
                   "does not work as advertised": 0}
ORGS = ("the company", "the city council", "the startup", "the airline", "the hospital",
        "the school")
HEADLINES = {"{o} reports record profits": 1, "{o} wins national award": 1,
             "{o} creates 500 new jobs": 1, "{o} praised for quick recovery effort": 1,
             "{o} shares soar after strong results": 1, "{o} announces mass layoffs": 0,
             "{o} hit by massive data breach": 0, "{o} sued over fraud claims": 0,
             "{o} posts heavy losses": 0, "{o} blamed for deadly failure": 0}
SARCASM = ("oh great, {s} is broken again", "yeah right, {s} is {a} /s", "wow, {s} is just {a} 🙄",
           "{s} is {a}... not", "sure, {s} is {a}, if you like wasting your time",
           "love how {s} crashed again /s")


@dataclass(frozen=True)
class Case:
    capability: str
    text: str
    label: int  # 1 positive, 0 negative
    base: str | None = None  # invariance: the text without the change (same label expected)


def _draw(rng: random.Random, items: list, n: int = PER_CAPABILITY) -> list:
    return rng.sample(items, min(n, len(items)))


def _phrases(adjectives: Sequence[str]) -> list[str]:
    return [f"{s} is {a}" for s, a in itertools.product(SUBJECTS, adjectives)]


def build_cases(seed: int = 0) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []

    def add(capability: str, texts: list[tuple[str, int]]) -> None:
        cases.extend(Case(capability, t, y) for t, y in _draw(rng, texts))

    negated_pos = [(t.format(s=s, a=a), 0) for s, a, t in itertools.product(
        SUBJECTS, POSITIVE, ("{s} is not {a}", "{s} was not {a} at all", "{s} isn't {a}",
                             "i don't think {s} is {a}", "not {a}", "{s} wasn't very {a}"))]
    negated_neg = [(t.format(s=s, a=a), 1) for s, a, t in itertools.product(
        SUBJECTS, NEGATABLE_NEGATIVE, ("{s} is not {a}", "{s} was not {a} at all",
                                       "{s} isn't {a}", "not {a} at all", "{s} was never {a}"))]
    add("negation of positive", negated_pos)
    add("negation of negative", negated_neg)
    add("intensifiers", [(f"{s} is {i} {a}", y) for s, i, (a, y) in itertools.product(
        SUBJECTS, INTENSIFIERS, [(a, 1) for a in POSITIVE] + [(a, 0) for a in NEGATIVE[:-1]])])
    add("diminishers", [(f"{s} is {d} {a}", y) for s, d, (a, y) in itertools.product(
        SUBJECTS, DIMINISHERS, [(a, 1) for a in POSITIVE] + [(a, 0) for a in NEGATIVE[:-1]])])
    add("emoji alone", [(e * n, y) for (e, y), n in itertools.product(EMOJI.items(), (1, 2, 3))])
    add("emoticons alone", [(e, y) for e, y in EMOTICONS.items()]
        + [(f"{e} {e}", y) for e, y in EMOTICONS.items()])
    add("emoji and emoticons with words", [
        (f"{n} {e}", y) for n, (e, y) in itertools.product(
            NEUTRAL, list(EMOJI.items()) + list(EMOTICONS.items()))])
    shout = _draw(rng, [(p, 1) for p in _phrases(POSITIVE)] + [(p, 0) for p in _phrases(NEGATIVE)],
                  PER_CAPABILITY // 2)
    for text, y in shout:
        cases.append(Case("shouting vs lowercase", text.upper() + "!!!", y, base=text))
        cases.append(Case("shouting vs lowercase", text, y, base=text))
    add("elongation and typos", [
        (f"{s} is {w}", y) for s, (w, y) in itertools.product(SUBJECTS, [
            ("soooo " + a, 1) for a in POSITIVE[:6]] + [("sooo " + a, 0) for a in NEGATIVE[:6]]
            + [(a[:-1] + a[-1] * 4, 1) for a in POSITIVE[:6]]
            + [(a[:-1] + a[-1] * 4, 0) for a in NEGATIVE[:6]]
            + [(typo, 1 if word in POSITIVE else 0) for word, typo in TYPOS.items()])])
    bases = [(p, 1) for p in _phrases(POSITIVE)] + [(p, 0) for p in _phrases(NEGATIVE)]
    for text, y in _draw(rng, bases, PER_CAPABILITY):
        change = rng.choice(("noise", "name"))
        if change == "noise":
            noise = rng.choice(NOISE)
            changed = f"{noise} {text}" if rng.random() < 0.5 else f"{text} {noise}"
        else:
            changed = f"{text}, {rng.choice(NAMES)}"
        cases.append(Case("invariance: mention, URL, channel, name", changed, y, base=text))
    cases.extend(_outside_movies(random.Random(seed + 17)))
    return cases


def _outside_movies(rng: random.Random) -> list[Case]:
    """The issue 17 capabilities (their own random stream: the cases above stay the same)."""
    cases: list[Case] = []

    def add(capability: str, texts: list[tuple[str, int]]) -> None:
        cases.extend(Case(capability, t, y) for t, y in _draw(rng, texts))

    add("slang", [(f"{s} {p}", y) for s, (p, y) in itertools.product(SUBJECTS, SLANG.items())])
    add("emoji in context", [(f"{event} {emoji}", y) for event, y in EVENTS.items()
                             for emoji in EVENT_EMOJI[y]])
    add("product reviews", [(f"{p} {phrase}", y) for p, (phrase, y) in itertools.product(
        PRODUCTS, PRODUCT_PHRASES.items())])
    add("news headlines", [(h.format(o=o), y) for o, (h, y) in itertools.product(
        ORGS, HEADLINES.items())])
    add("sarcasm markers", [(t.format(s=s, a=a), 0) for s, a, t in itertools.product(
        SUBJECTS, POSITIVE, SARCASM)])
    return cases


def run_suite(scores: Callable[[list[str]], Sequence[float]], cases: list[Case] | None = None,
              threshold: float = 0.5, examples: int = 3) -> dict:
    """Accuracy per capability (an invariance case passes when its label is right AND equals
    its base text's label), overall, and a few failures of each capability."""
    cases = build_cases() if cases is None else cases
    texts = [c.text for c in cases]
    bases = sorted({c.base for c in cases if c.base is not None})
    all_scores = list(scores(texts + bases))
    predicted = {t: s > threshold for t, s in zip(texts + bases, all_scores, strict=True)}
    report: dict[str, dict] = {}
    for case in cases:
        row = report.setdefault(case.capability, {"cases": 0, "passed": 0, "failures": []})
        ok = predicted[case.text] == bool(case.label)
        if case.base is not None:
            ok = ok and predicted[case.base] == predicted[case.text]
        row["cases"] += 1
        row["passed"] += ok
        if not ok and len(row["failures"]) < examples:
            row["failures"].append(case.text)
    for row in report.values():
        row["accuracy"] = round(row["passed"] / row["cases"], 4)
    total = sum(r["cases"] for r in report.values())
    negation = [row for name, row in report.items() if name.startswith("negation")]
    negation_cases = sum(r["cases"] for r in negation)
    return {
        "capabilities": report,
        "overall": round(sum(r["passed"] for r in report.values()) / total, 4),
        "negation": (round(sum(r["passed"] for r in negation) / negation_cases, 4)
                     if negation_cases else None),
        "cases": total,
    }


def format_report(name: str, result: dict) -> str:
    lines = [f"behavioural suite, {name}: overall {result['overall']:.3f}, negation "
             f"{result['negation'] or 0:.3f} ({result['cases']} cases)"]
    for capability, row in result["capabilities"].items():
        failing = "; ".join(row["failures"])
        lines.append(f"  {capability:<42} {row['accuracy']:.3f} ({row['passed']}/{row['cases']})"
                     + (f"  e.g. {failing}" if failing else ""))
    return "\n".join(lines)

"""Unknown chat tokens looked up again (message models): elongations undone ("terriblee"),
light typos corrected ("graet"), each in bounded work whatever the token.

Issue 15: the first versions enumerated every combination of doubled letters and built a set of
54·n typo candidates, so one 6,000-letter token took minutes or gigabytes. Now a token that no
word could come from is not tried at all, and candidates are streamed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

DOUBLE_LETTER = re.compile(r"([^\W\d_])\1")
MAX_DOUBLES = 8  # a token with more doubled letters is not undoubled (no word has that many)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def unelongated(index: dict[str, int], token: str, longest: int) -> int | None:
    """"terriblee" (from "terribleeee"), "soo": a known word with some doubled letters made
    single, fewest first. Up to three doubles of at most MAX_DOUBLES are made single (92
    spellings at most); a token longer than `longest` (the longest word) plus three cannot
    become a word."""
    if len(token) > longest + 3:
        return None
    doubles = [m.start() for m in DOUBLE_LETTER.finditer(token)]
    if len(doubles) > MAX_DOUBLES:
        return None
    for count in range(1, min(len(doubles), 3) + 1):
        for dropped in itertools.combinations(doubles, count):
            found = index.get(_without(token, dropped))
            if found is not None:
                return found
    return None


def corrected(index: dict[str, int], token: str, longest: int) -> int | None:
    """A light typo ("graet", "amazng"): the most frequent known word (lowest id) one deletion,
    transposition, replacement or insertion away; words of 5+ letters only, and none longer
    than the longest word plus one (no candidate of theirs can be known)."""
    if not 5 <= len(token) <= longest + 1 or not token.isalpha() or not token.isascii():
        return None
    best: int | None = None
    for candidate in _one_edit(token):
        found = index.get(candidate)
        if found is not None and (best is None or found < best):
            best = found
    return best


def _without(token: str, positions: Sequence[int]) -> str:
    """`token` without the characters at `positions` (ascending)."""
    parts, start = [], 0
    for position in positions:
        parts.append(token[start:position])
        start = position + 1
    parts.append(token[start:])
    return "".join(parts)


def _one_edit(token: str) -> Iterator[str]:
    """Every spelling one deletion, transposition, replacement or insertion from `token`."""
    for i in range(len(token) + 1):
        head, tail = token[:i], token[i:]
        if tail:
            yield head + tail[1:]
            if len(tail) > 1:
                yield head + tail[1] + tail[0] + tail[2:]
            for letter in _LETTERS:
                yield head + letter + tail[1:]
        for letter in _LETTERS:
            yield head + letter + tail

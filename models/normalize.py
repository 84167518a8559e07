"""Text cleaning: `clean_text` (every model) and the `message` normalisation of chat text.

A chat message says things the movie reviews never spelled out: mentions and links (noise),
emoji and emoticons (sentiment), elongations and repeated marks. `normalize_message` turns them
into words the vectors know, so training and serving read them alike (models/text.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata

# aclImdb reviews keep the site's HTML line breaks; they are markup, not words.
_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """Unicode-normalise (NFKC), turn `<br />` into spaces, and drop control/format characters.

    Dropping category C characters removes NUL bytes, zero-width joiners and bidi marks, which
    would otherwise glue to neighbouring words and turn known words into unknown ones.
    Whitespace is kept.
    """
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text)
    if "<" in text:
        text = _BREAK_TAG.sub(" ", text)
    if text.isprintable():  # no category C character at all: skip the per-character filter
        return text
    return "".join(
        ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )


# Chat markup that says nothing about sentiment; dropped so that an added mention, channel or
# link never changes a message's label. Custom emoji keep their name (<:pepe_happy:123>).
_DISCORD_NOISE = re.compile(
    r"<(?:@[!&]?|#)\d+>|https?://\S+|www\.\S+|@(?:everyone|here)\b|(?<!\w)@\w+"
)
_CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")
# Emoticons as the emoji package names the emoji they stand for, so both share one vector.
EMOTICONS = {
    ":)": "slightly smiling face", ":-)": "slightly smiling face", "(:": "slightly smiling face",
    "=)": "slightly smiling face", ":]": "slightly smiling face", ":D": "grinning face",
    ":-D": "grinning face", "=D": "grinning face", "xD": "grinning squinting face",
    "XD": "grinning squinting face", ";)": "winking face", ";-)": "winking face",
    ":(": "frowning face", ":-(": "frowning face", "):": "frowning face", "=(": "frowning face",
    ":[": "frowning face", ":'(": "crying face", ":,(": "crying face", "D:": "anguished face",
    ":/": "confused face", ":-/": "confused face", ":|": "neutral face", ":-|": "neutral face",
    ":P": "face with tongue", ":p": "face with tongue", ":-P": "face with tongue",
    ":O": "face with open mouth", ":o": "face with open mouth", "<3": "red heart",
    "</3": "broken heart", "^^": "smiling face with smiling eyes",
    "^_^": "smiling face with smiling eyes", "-_-": "expressionless face",
}
_EMOTICON = re.compile(
    # A symbol-first emoticon may touch a word ("great:)"); "xD" or "D:" may not ("xDrive").
    r"(?<![:;=<^/-])("
    + "|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True))
    + r")(?![\w)(/|\]\[])"
)
# One character of every emoticon that has a non-letter (":", "^", "<", ...), or all of it.
_EMOTICON_NEEDLES = re.compile("|".join(sorted(
    {re.escape(next((c for c in e if not c.isalnum()), e)) for e in EMOTICONS})))
_SENTENCE_END = re.compile(r"(?<=\w)\.(?=\s|$)")  # "worst. day." -> "worst . day ."
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")  # 3+ of one letter: "soooo" -> "soo"
_TRIPLED = re.compile(r"(.)\1\1")  # any character 3 times: 4x cheaper to look for than the above
_REPEATED_MARK = re.compile(r"([!?])[!?]+")  # "!!!" -> "!", "?!?" -> "?"


def _as_words(name: str) -> str:
    """An emoji's or emoticon's name as separate words: "pepe_happy" -> " pepe happy "."""
    return " " + name.replace("_", " ") + " "


def _emoticon_words(match: re.Match) -> str:
    emoticon = match.group(1)
    start = match.start(1)
    if emoticon[0].isalpha() and start and match.string[start - 1].isalnum():
        return emoticon  # "xD" inside a word
    return _as_words(EMOTICONS[emoticon])


def _package_emoji_words(text: str) -> str:
    import emoji

    return emoji.replace_emoji(text, replace=lambda _, data: _as_words(data["en"].strip(":")))


@functools.cache
def _emoji_tables() -> tuple[dict, dict[str, str], re.Pattern] | None:
    """The emoji package's search tree, each emoji's words, and a pattern that finds where the
    package's tokenizer does anything: a character that starts an emoji, or a variation
    selector (dropped wherever it is not part of an emoji). None when the installed package
    has no such tree (it is not public API): then the package's own, slower, walk is used."""
    from emoji import EMOJI_DATA

    try:
        from emoji.tokenizer import get_search_tree
    except ImportError:
        return None

    words = {emoji: _as_words(data["en"].strip(":")) for emoji, data in EMOJI_DATA.items()}
    tree = get_search_tree()
    starts = re.compile("[" + _character_ranges([*tree, "\ufe0e", "\ufe0f"]) + "]")
    return tree, words, starts


def _character_ranges(characters: list[str]) -> str:
    """A character class's body as ranges ("a-cx"): `re` tests a class of characters outside
    the Basic Multilingual Plane one item at a time, so 150 ranges beat 1,449 characters 10x."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, characters)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(first)) + ("-" + re.escape(chr(last)) if last > first else "")
                   for first, last in ranges)


def emoji_words(text: str) -> str:
    """`emoji.replace_emoji(text, replace=<the emoji's name as words>)`, character for
    character, in ~4 µs a message instead of ~18: the package's tokenizer builds an object per
    character; this walks the same search tree from the few places where an emoji can start.
    Text with a zero-width joiner goes to the package itself (its rules for joined sequences);
    `clean_text` drops joiners, so a chat message never has one here."""
    tables = _emoji_tables()
    if "\u200d" in text or tables is None:
        return _package_emoji_words(text)
    tree, words, starts = tables
    pieces: list[str] = []
    done, end = 0, len(text)
    found = starts.search(text)
    while found is not None:
        i = found.start()
        pieces.append(text[done:i])
        node, j = tree.get(text[i]), i + 1
        if node is not None:
            # The package's walk: as far as the tree goes, with no way back; an emoji only if
            # the walk ends on one.
            while j < end and text[j] in node:
                node = node[text[j]]
                j += 1
            if "data" in node:
                pieces.append(words[text[i:j]])
                done = j
                found = starts.search(text, j)
                continue
            pieces.append(text[i])
        done = i + 1  # a lone variation selector is dropped
        found = starts.search(text, done)
    pieces.append(text[done:])
    return "".join(pieces)


def normalize_message(text: str, max_chars: int | None = None) -> str:
    """What a chat message says, in words the vectors know (the `message` normalisation).

    Drops mentions, channel links, URLs and @names; spells emoji (emoji package names) and
    emoticons as words; shortens elongations and repeated ! and ?; lowercases last. Only the
    first `max_chars` characters after NFKC (which can make a text 18 times longer) are read.
    """
    text = clean_text(text)[:max_chars]
    # Each step runs only when a character it needs is in the text (a chat message often has
    # none of them): the same result, a few microseconds a step less.
    if "<" in text:
        text = _CUSTOM_EMOJI.sub(lambda m: _as_words(m.group(1)), text)
    if "@" in text or "<" in text or "http" in text or "www." in text:  # 4x a regex's speed
        text = _DISCORD_NOISE.sub(" ", text)
    if _EMOTICON_NEEDLES.search(text):
        text = _EMOTICON.sub(_emoticon_words, text)
    if not text.isascii():  # every emoji is outside ASCII (keycaps: "#" + U+FE0F U+20E3)
        text = emoji_words(text)
    if _TRIPLED.search(text):
        text = _ELONGATED.sub(r"\1\1", text)
    if "!" in text or "?" in text:
        text = _REPEATED_MARK.sub(r"\1", text)
    if "." in text:
        text = _SENTENCE_END.sub(" .", text)
    return text.lower()

"""Texts the bot accepts (up to 6,000 characters) built to make text normalisation blow up:
measured by bench_text_bounds.py and bounded by tests/models/test_text_bounds.py."""

from __future__ import annotations


def _non_words(length: int, letters: int, suffix: str = "") -> str:
    """Distinct made-up words: nothing in a vocabulary, each a fresh spelling candidate."""
    return " ".join(
        "".join(chr(97 + (i * 7 + j * j + i // 26) % 26) for j in range(letters)) + suffix
        for i in range(length // (letters + len(suffix) + 1)))


def adversarial_texts(length: int = 6000) -> dict[str, str]:
    return {
        "doubled letters": "aabb" * (length // 4),
        "repeated bigram": "ab" * (length // 2),
        "repeated word": "bookkeeper" * (length // 10),
        "emoticon run": "xD" * (length // 2),
        "ligatures (NFKC x2)": "\ufb01" * length,
        "NFKC x18": "\ufdfa" * length,
        "full-width": "\uff21\uff41" * (length // 2),
        "emoji run": "😀" * length,
        "flags and joiners": "🇫🇷👨‍👩‍👧" * (length // 10),
        "mixed scripts": "gооd Ｇｏｏｄ хорошо 好 غ" * (length // 25),
        "many doubled words": " ".join(["aabbccddeeffgghhiijj"] * (length // 21)),
        "many near words": " ".join(f"bbookkeeppeerr{i % 10}" for i in range(length // 16)),
        "many typos": _non_words(length, 9),
        "23-letter non-words": _non_words(length, 23),
        "5-letter non-words": _non_words(length, 5, "q"),
        "combining marks": "a\u0301" * (length // 2),
        "punctuation": "!?.,;:" * (length // 6),
    }

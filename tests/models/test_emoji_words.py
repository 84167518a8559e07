"""`emoji_words` gives the emoji package's `replace_emoji` output, character for character."""

import emoji
from bardbot.export.suite import build_cases
from bardbot.models.normalize import _as_words, emoji_words
from hypothesis import given, settings
from hypothesis import strategies as st


def package(text: str) -> str:
    return emoji.replace_emoji(text, replace=lambda _, data: _as_words(data["en"].strip(":")))


def test_every_emoji_alone_in_text_and_cut_short_is_replaced_as_the_package_does():
    for code in emoji.EMOJI_DATA:
        for text in (code, f"so {code}good", code + code, code + "\ufe0f!", f"é{code[:-1]}x",
                     code[:-1], code[1:] + " ok", "1" + code + "\ufe0e"):
            assert emoji_words(text) == package(text), ascii(text)


# Every character of every emoji (skin tones, keycaps, tags, joiners, variation selectors,
# regional indicators), a few whole emoji, and ordinary text around them.
CHARACTERS = sorted(set("".join(emoji.EMOJI_DATA)))
PIECES = [*CHARACTERS[:: max(1, len(CHARACTERS) // 300)], "\u200d", "\ufe0f", "\ufe0e", "\u20e3",
          "\U0001f3fb", "\U0001f3ff", "\U000e0067", "\U000e007f", "\U0001f1fa", "\U0001f1f8",
          "👍", "🏴", "👨", "👩\u200d💻", "❤️", "#", "*", "1", "©", "™", "a", " ", "é", "’", ":("]


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
@settings(max_examples=1500, deadline=None)
def test_generated_text_gets_the_packages_replacement(text):
    assert emoji_words(text) == package(text)


def test_the_suite_gets_the_packages_replacement():
    for case in build_cases():
        assert emoji_words(case.text) == package(case.text), case.text


def test_without_the_packages_search_tree_the_package_replaces(monkeypatch):
    """The tree is not public API: a package without it still reads emoji, only slower."""
    import builtins

    from bardbot.models import normalize

    real_import = builtins.__import__

    def no_tree(name, *args, **kwargs):
        if name == "emoji.tokenizer":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    normalize._emoji_tables.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_tree)
    try:
        assert normalize._emoji_tables() is None
        assert emoji_words("so 👍good ❤️!") == package("so 👍good ❤️!")
    finally:
        monkeypatch.undo()
        normalize._emoji_tables.cache_clear()
    assert normalize._emoji_tables() is not None

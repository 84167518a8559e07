"""The Treebank tokenizer on `re` gives nltk's tokens, token for token."""

from bardbot.export.suite import build_cases
from bardbot.models.text import clean_text, normalize_message
from bardbot.models.treebank import tokenize
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.tokenize import TreebankWordTokenizer

NLTK = TreebankWordTokenizer()
# Every character a pattern looks at, the words the contractions split, and Unicode digits,
# spaces and letters, where `re` and nltk's `regex` engine could disagree.
PIECES = [
    *"\"'`:,.;@#$%&?![](){}<>-_ \n\t",
    "can", "not", "cannot", "d'ye", "gim", "me", "gon", "na", "got", "ta", "lem", "more'n",
    "wan", "'t", "is", "was", "CanNot", "GON", "NA", "'TIS", "ı", "ſ",
    "n't", "'s", "'ll", "'RE", "''", "``", "...", "--", "1,000",
    "a", "B", "é", "٣", "\u2003", "\u2028", "\u00a0", "😀", "x", "Ω",
]


@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
@settings(max_examples=3000, deadline=None)
def test_generated_text_gets_nltks_tokens(text):
    assert tokenize(text) == NLTK.tokenize(text)


def test_the_suite_normalised_both_ways_gets_nltks_tokens():
    for case in build_cases():
        for text in (case.text, normalize_message(case.text), clean_text(case.text).lower()):
            assert tokenize(text) == NLTK.tokenize(text), text

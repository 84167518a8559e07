"""Why a text got its score: occlusion over its words as written.

Each whitespace-separated word of the text is left out in turn; its contribution is how many
points of P(positive) the text loses without it (+12: it pushed the text 12 points towards
positive). Every variant is an id row scored in the same batched session run as the text.
"""

from __future__ import annotations

import itertools

from bardbot.models.text import WordEncoding


def occlusion_rows(encoding: WordEncoding, text: str, max_words: int,
                   deadline: float | None = None) -> tuple[list[str], list[int], list[list[int]]]:
    """The text's written words, for each the index of its row (-1: leaving it out changes no
    id, so it contributed nothing), and the id rows: the whole text first, then the text
    without each word that changes the ids (at most `max_words` of them, in text order).

    Words are read one by one and joined, so a row is exactly the text's ids with that word's
    tokens taken out (negation scopes recomputed)."""
    words = text.split()
    tokens_of = [encoding.tokenize(word) for word in words]
    known_of = [encoding.known_ids(tokens, deadline) for tokens in tokens_of]
    tokens = list(itertools.chain.from_iterable(tokens_of))
    known = list(itertools.chain.from_iterable(known_of))
    whole = encoding.marked_ids(tokens, known)[: encoding.maxlen]
    rows, row_of = [whole], []
    start = 0
    for word_tokens in tokens_of:
        end = start + len(word_tokens)
        row = None
        if len(rows) <= max_words and word_tokens:
            row = encoding.marked_ids(tokens[:start] + tokens[end:],
                                      known[:start] + known[end:])[: encoding.maxlen]
        if row is None or row == whole:
            row_of.append(-1)
        else:
            row_of.append(len(rows))
            rows.append(row)
        start = end
    return words, row_of, rows

"""Why a text got its score: occlusion over its words as written.

Each whitespace-separated word of the text is left out in turn; its contribution is how many
points of P(positive) the text loses without it (+12: it pushed the text 12 points towards
positive). Every variant is an id row scored in the same batched session run as the text.
"""

from __future__ import annotations

from collections.abc import Callable

from bardbot.models.text import NEGATION_CUES, NEGATION_END, WordEncoding


def occlusion_rows(encoding: WordEncoding, text: str, max_words: int,
                   deadline: float | None = None, read_as: Callable[[str], str] = str
                   ) -> tuple[list[str], list[int], list[list[int]]]:
    """The text's written words, for each the index of its row (-1: leaving it out changes no
    id, so it contributed nothing), and the id rows: the whole text first, then the text
    without each word that changes the ids (of the first `max_words` words that can).

    Words are read one by one and joined, so a row is exactly the text's ids with that word's
    tokens taken out (negation scopes recomputed). Only the words up to the model's `maxlen`
    ids (and at most twice as many tokens) are read: the rest of a long text counts 0.0, so
    explaining costs at most `max_words` rows of that size. The model reads each word as
    `read_as(word)` (the text without its ranked emoji: models/emoji_ranking.py)."""
    words = text.split()
    tokens_of: list[list[str]] = []
    tokens: list[str] = []
    known: list[int | None] = []
    known_count = 0
    for word in words:
        if known_count >= encoding.maxlen or len(tokens) >= 2 * encoding.maxlen:
            break
        word_tokens = encoding.tokenize(read_as(word), encoding.max_chars)
        word_known = encoding.known_ids(word_tokens, deadline)
        tokens_of.append(word_tokens)
        tokens += word_tokens
        known += word_known
        known_count += len(word_known) - word_known.count(None)
    whole = encoding.marked_ids(tokens, known)[: encoding.maxlen]
    rows, row_of = [whole], []
    start, tried = 0, 0
    for word_tokens in tokens_of:
        end = start + len(word_tokens)
        row = None
        if tried < max_words and _can_change_ids(encoding, word_tokens, known[start:end]):
            tried += 1
            row = encoding.marked_ids(tokens[:start] + tokens[end:],
                                      known[:start] + known[end:])[: encoding.maxlen]
        if row is None or row == whole:
            row_of.append(-1)
        else:
            row_of.append(len(rows))
            rows.append(row)
        start = end
    row_of += [-1] * (len(words) - len(tokens_of))
    return words, row_of, rows


def _can_change_ids(encoding: WordEncoding, tokens: list[str], known: list[int | None]) -> bool:
    """Whether leaving these tokens out can change the text's ids: a known (or, with the unk
    policy, any) token, or a token that opens or closes a negation scope."""
    if encoding.oov == "unk" and tokens:
        return True
    return any(token_id is not None for token_id in known) or (
        encoding.negation and any(t in NEGATION_CUES or t in NEGATION_END for t in tokens))

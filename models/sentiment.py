"""IMDB sentiment classifier on onnxruntime: text in, `SentimentResult` out.

Text goes through `models.text.WordEncoding`, the same code the trainer used; the embedding
lookup is inside the ONNX graph, so the runtime feeds token ids only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from bardbot.models.emoji_ranking import EmojiRanking, combine, shipped_ranking
from bardbot.models.errors import ModelError
from bardbot.models.explain import occlusion_rows
from bardbot.models.metadata import (
    create_session,
    model_name,
    public_info,
    read_model,
    rebuild_hint,
    require_io,
    self_test,
)
from bardbot.models.text import PAD_ID, EncodedText, WordEncoding

KIND = "sentiment"
INPUT = "token_ids"
OUTPUT = "prob"
_OUTPUTS = [OUTPUT]


class SentimentResult(NamedTuple):  # not a frozen dataclass: ~1 µs a result less
    label: str  # "positive" | "negative"
    score: float  # P(positive) in [0, 1]
    confidence: float  # max(score, 1 - score)
    uncertain: bool  # score within the classifier's uncertain_margin of 0.5
    tokens: tuple[str, ...]  # every token of the text (ranked emoji last: models/emoji_ranking)
    unknown: tuple[str, ...]  # tokens not in the vocabulary
    unknown_ratio: float  # len(unknown) / len(tokens), 0.0 for an empty text
    truncated: bool  # known tokens beyond maxlen were cut


class SentimentClassifier:
    """Load once, share freely: `predict` keeps no state between calls."""

    uncertain_margin = 0.1
    # Texts per session run; one run for any batch up to this size. Larger batches are split
    # so that memory stays bounded (each text costs maxlen x embedding dim floats in the graph).
    max_batch = 256
    # Seconds one text may take to read (the reading is linear, so ordinary text of any length
    # takes milliseconds); past it that text fails with `TextError`, never the worker.
    text_budget_s = 1.0
    # A session run's fixed cost in token steps of one text: a batch of texts of mixed lengths
    # runs in a few buckets of similar lengths, not padded to its longest text. `load` measures
    # it (`measured_run_cost`): the message model's ~31 µs a run against ~2 µs a step gives
    # 15-17; the fast model's ~13 µs against ~0.02 µs, hundreds (one run for any chat batch).
    run_cost_in_steps = 12
    explained_words = 64  # words of one text that `explain` leaves out in turn (the first ones)

    def __init__(self, session, encoding: WordEncoding, threshold: float, info: dict,
                 emoji_ranking: EmojiRanking | None = None) -> None:
        self._session = session
        self.encoding = encoding
        self.threshold = threshold
        self.info = info
        # The message models read an emoji as its name; the Emoji Sentiment Ranking reads the
        # emoji it knows better (models/emoji_ranking.py).
        self.emoji_ranking = emoji_ranking

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1) -> SentimentClassifier:
        """Load `path` (.onnx, with its .json beside it); default: the shipped model."""
        model = read_model(path, KIND)
        require_io(model, KIND, {INPUT: "int32"}, {OUTPUT})
        try:
            encoding = WordEncoding.from_dict(model.meta["encoding"])
            threshold = float(model.meta["threshold"])
            if not 0.0 < threshold < 1.0:  # NaN too
                raise ValueError(f"threshold {threshold} is not between 0 and 1")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{model.json_path}: bad encoding or threshold ({exc}); {rebuild_hint(KIND)}"
            ) from exc
        session = create_session(model, KIND, threads)
        shape = session.get_inputs()[0].shape
        variable_length = len(shape) == 2 and not isinstance(shape[1], int)
        if len(shape) != 2 or not (variable_length or shape[1] == encoding.maxlen):
            raise ModelError(
                f"{model.onnx_path}: input shape {shape} does not fit maxlen {encoding.maxlen} "
                f"from {model.json_path.name}; {rebuild_hint(KIND)}"
            )
        # Padding alone (fixed-length models; the others never get an empty row), then the
        # highest id the encoding can produce: a vocabulary larger than the embedding fails
        # here, not on the first text that uses its last words.
        probe = np.zeros((2, 1 if variable_length else encoding.maxlen), dtype=np.int32)
        probe[:, 0] = (2, encoding.id_count - 1) if variable_length else (0, encoding.id_count - 1)
        self_test(model, KIND, session, {INPUT: probe}, OUTPUT)
        info = public_info(model)
        info.update(vocab_size=encoding.vocab_size, maxlen=encoding.maxlen,
                    variable_length=variable_length)
        info["name"] = model_name(model.onnx_path, KIND)
        ranking = shipped_ranking() if encoding.normalization == "message" else None
        classifier = cls(session, encoding, threshold, info, ranking)
        if variable_length:
            classifier.run_cost_in_steps = measured_run_cost(session)
        return classifier

    @property
    def variable_length(self) -> bool:
        """True for models that run each text's own steps (ids padded to the longest text)."""
        return bool(self.info.get("variable_length"))

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """P(positive) for an (n, width) int32 id matrix, one session run per `max_batch`."""
        if not len(ids):  # onnxruntime aborts the process on an empty batch
            return np.zeros(0, dtype=np.float32)
        if len(ids) <= self.max_batch:
            return self._session.run(_OUTPUTS, {INPUT: ids})[0].reshape(-1)
        parts = [self.scores(ids[i : i + self.max_batch])
                 for i in range(0, len(ids), self.max_batch)]
        return np.concatenate(parts)

    def _split(self, text: str) -> tuple[str, float | None]:
        """What the model reads of `text`, and its ranked emoji's evidence (None: none)."""
        return (text, None) if self.emoji_ranking is None else self.emoji_ranking.split(text)

    def _tokens(self, text: str, tokens: Sequence[str]) -> Sequence[str]:
        """A result's tokens: those the model read, then the ranked emoji (in text order)."""
        found = self.emoji_ranking.ranked_in(text) if self.emoji_ranking is not None else ()
        return (*tokens, *found) if found else tokens

    def _score(self, texts: list[str]) -> tuple[np.ndarray, list[EncodedText]]:
        read, evidence = zip(*map(self._split, texts), strict=True) if texts else ((), ())
        ids, encoded = self.encoding.encode_batch(read, pad_to_longest=self.variable_length,
                                                  budget_s=self.text_budget_s)
        scores = self._run(ids, [e.length for e in encoded])
        for i, text_evidence in enumerate(evidence):
            if text_evidence is not None:
                scores[i] = combine(scores[i], text_evidence)
        return scores, encoded

    def _run(self, ids: np.ndarray, lengths: list[int]) -> np.ndarray:
        """P(positive) (float64, clipped) of each row of `ids` holding `lengths` ids."""
        if not self.variable_length:
            return np.clip(self.scores(ids).astype(np.float64), 0.0, 1.0)
        if len(lengths) == 1:  # one text: one run, none of the bucketing below
            return np.array([self._score_one(ids[0, : lengths[0]])])
        # A text with no known word has nothing to judge: exactly uncertain, no model run.
        scores = np.full(len(lengths), 0.5)
        for rows, width in length_buckets(lengths, self.run_cost_in_steps):
            scores[rows] = self.scores(ids[rows, :width])
        return np.minimum(np.maximum(scores, 0.0, out=scores), 1.0, out=scores)

    def _score_one(self, ids: Sequence[int]) -> float:
        """P(positive) (clipped) of one text's ids on a variable-length model: a run of just
        its ids, with no array of scores around it (a chat message)."""
        if not len(ids):  # a text with no known word has nothing to judge: exactly uncertain
            return 0.5
        score = float(self._session.run(_OUTPUTS, {INPUT: np.array([ids], dtype=np.int32)})[0][0])
        return min(max(score, 0.0), 1.0)

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) per text, as `predict` computes it, without the per-text details."""
        return self._score(list(texts))[0]

    def explain(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Per text, (word as written, contribution in points of P(positive)) for each of its
        whitespace-separated words, in text order: what the text's score loses without that
        word (occlusion, models/explain.py). Words past the first `explained_words` that
        change the text's ids, or past the part the model reads (maxlen ids), get 0.0. One
        batched session run for all texts and words (one per length bucket)."""
        return [pairs for _, pairs in self._explained(_checked_texts(texts, "explain"), False)]

    def predict_explained(self, texts: Sequence[str]
                          ) -> list[tuple[SentimentResult, list[tuple[str, float]]]]:
        """`predict` and `explain` of each text in one batched session run (what `/sentiment`
        shows): the same results and words as the two calls give apart."""
        return self._explained(_checked_texts(texts, "predict_explained"), True)

    def _explained(self, texts: list[str], with_results: bool) -> list:
        plans, rows, first_rows, result_rows, reads = [], [], [], [], []
        read_as = (lambda word: self._split(word)[0]) if self.emoji_ranking is not None else str
        splits = [self._split(text) for text in texts]
        for text, (read_text, _) in zip(texts, splits, strict=True):
            deadline = time.perf_counter() + self.text_budget_s
            plan = occlusion_rows(self.encoding, text, self.explained_words, deadline, read_as)
            plans.append(plan)
            first_rows.append(len(rows))
            rows += plan[2]
            if with_results:
                read = self.encoding.read(read_text, time.perf_counter() + self.text_budget_s)
                ids = read[0]
                reads.append(read)
                # The text read whole has the same ids as its words read one by one, nearly
                # always: then it is not scored twice.
                result_rows.append(first_rows[-1] if ids == plan[2][0] else len(rows))
                if ids != plan[2][0]:
                    rows.append(ids)
        width = max([1] + [len(row) for row in rows]) if self.variable_length else \
            self.encoding.maxlen
        ids = np.full((len(rows), width), PAD_ID, dtype=np.int32)
        for matrix_row, row in zip(ids, rows, strict=True):
            matrix_row[: len(row)] = row
        scores = self._run(ids, [len(row) for row in rows])
        explained = []
        for (words, row_of, _), first, (_, evidence) in zip(plans, first_rows, splits,
                                                             strict=True):
            variants = [None if i < 0 else float(scores[first + i]) for i in row_of]
            whole, variants = self._with_emoji(words, evidence, float(scores[first]), variants)
            explained.append([(word, 0.0 if v is None else 100.0 * (whole - v))
                              for word, v in zip(words, variants, strict=True)])
        if not with_results:
            return [(None, pairs) for pairs in explained]
        return [(self._result(combine(float(scores[row]), evidence),
                              self._tokens(text, tokens), unknown, truncated), pairs)
                for text, (_, evidence), (_, tokens, unknown, truncated), row, pairs
                in zip(texts, splits, reads, result_rows, explained, strict=True)]

    def _with_emoji(self, words: list[str], evidence: float | None, whole: float,
                    variants: list[float | None]) -> tuple[float, list[float | None]]:
        """The text's score and each variant's (the text without one word; None: the same
        ids) with the evidence of the ranked emoji left in them (`evidence`: the whole
        text's). A word of ranked emoji changes the evidence, not the ids."""
        if evidence is None:
            return whole, variants
        without = self.emoji_ranking.evidence_without_each(words)
        changed = [v is not None or e != evidence for v, e in zip(variants, without, strict=True)]
        return combine(whole, evidence), [
            combine(whole if v is None else v, e) if c else None
            for v, e, c in zip(variants, without, changed, strict=True)]

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        """One result per text, in order. `TextError` when a text takes longer than
        `text_budget_s` to read (run the others without it)."""
        texts = _checked_texts(texts, "predict")
        if len(texts) == 1 and self.variable_length:  # a chat message: no batch to build
            return [self._predict_one(texts[0])]
        scores, encoded = self._score(texts)
        return [self._result(score, self._tokens(text, enc.tokens), enc.unknown, enc.truncated)
                for text, enc, score in zip(texts, encoded, scores.tolist(), strict=True)]

    def _predict_one(self, text: str) -> SentimentResult:
        budget = self.text_budget_s
        read, evidence = self._split(text)
        ids, tokens, unknown, truncated = self.encoding.read(
            read, None if budget is None else time.perf_counter() + budget)
        return self._result(combine(self._score_one(ids), evidence), self._tokens(text, tokens),
                            unknown, truncated)

    def _result(self, score: float, tokens: Sequence[str], unknown: Sequence[str],
                truncated: bool) -> SentimentResult:
        return SentimentResult(
            label="positive" if score > self.threshold else "negative",
            score=score,
            confidence=max(score, 1.0 - score),
            uncertain=abs(score - 0.5) <= self.uncertain_margin,
            tokens=tuple(tokens),
            unknown=tuple(unknown),
            unknown_ratio=len(unknown) / len(tokens) if tokens else 0.0,
            truncated=truncated,
        )


def _checked_texts(texts: Sequence[str], method: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{method} takes a list of texts; wrap a single text in a list")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}")
    return texts


def measured_run_cost(session, width: int = 16) -> int:
    """A session run's fixed cost in token steps of one text, on this machine: the time of a
    run of one id against the time each further id adds in a `width` x `width` run (the best
    of five runs each after one unmeasured, ~4 ms for the message model)."""
    def best_time(rows: int, steps: int) -> float:
        ids = np.full((rows, steps), 2, dtype=np.int32)  # id 2: the vocabulary's first word
        times = []
        for _ in range(6):  # a shape's first run allocates
            start = time.perf_counter()
            session.run(_OUTPUTS, {INPUT: ids})
            times.append(time.perf_counter() - start)
        return min(times[1:])

    fixed = best_time(1, 1)
    per_step = max(best_time(width, width) - fixed, 1e-9) / (width * width - 1)
    return max(1, round(fixed / per_step))


def length_buckets(lengths: Sequence[int], run_cost_in_steps: int
                   ) -> list[tuple[list[int] | slice, int]]:
    """Rows grouped by length (empty texts left out) and each group's width: shortest first,
    a new group whenever padding the group to the next length would cost more than a run."""
    order = sorted((i for i, n in enumerate(lengths) if n), key=lengths.__getitem__)
    if len(order) == len(lengths) == 1:
        return [(slice(None), lengths[0])]
    buckets: list[tuple[list[int] | slice, int]] = []
    rows: list[int] = []
    for i in order:
        if rows and len(rows) * (lengths[i] - lengths[rows[-1]]) > run_cost_in_steps:
            buckets.append((rows, lengths[rows[-1]]))
            rows = []
        rows.append(i)
    if rows:
        buckets.append((rows, lengths[rows[-1]]))
    return buckets

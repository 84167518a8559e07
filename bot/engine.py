"""Model inference off the event loop, shared by the Cog and console mode.

The models are synchronous (onnxruntime), so every call runs in a small thread pool:
- sentiment requests are queued and run as micro-batches: while the sentiment workers are busy,
  new requests pile up and leave together in one `predict(list)` call (one session run), so a
  burst of N requests costs a few calls instead of N; when a batched call fails, its texts are
  run one by one, so one bad text fails only its own request;
- generations run one per worker thread, in their own pool, so a long generation never delays a
  sentiment batch.
Both queues are bounded: past the cap a request fails at once with `Busy` (the user gets a clear
"busy, try again" reply) instead of waiting minutes behind everybody else.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol


class Classifier(Protocol):
    info: dict

    def predict(self, texts: list[str]) -> list[Any]: ...


class Generator(Protocol):
    info: dict
    max_length: int

    def generate(
        self, prompt: str, length: int = ..., temperature: float = ..., seed: int | None = ...
    ) -> str: ...

    def normalize(self, text: str) -> str: ...


class Busy(Exception):
    """Too much work is queued; the request was refused without running."""


@dataclass(frozen=True)
class EngineLimits:
    sentiment_workers: int = 1  # threads running sentiment batches
    generate_workers: int = 1  # threads running generations (apart from sentiment's)
    max_batch: int = 64  # texts per sentiment session run
    max_queued_texts: int = 2048  # sentiment requests waiting or running
    max_generations: int = 256  # generations waiting or running (each a few ms to ~0.1 s)


class Engine:
    """Owns the models and the worker threads; all methods are called from the event loop."""

    def __init__(
        self, classifier: Classifier, generator: Generator, limits: EngineLimits = EngineLimits()
    ):
        self.classifier = classifier
        self.generator = generator
        self.limits = limits
        self._sentiment_pool = ThreadPoolExecutor(
            max(1, limits.sentiment_workers), thread_name_prefix="bardbot-sentiment"
        )
        self._free_workers = max(1, limits.sentiment_workers)
        self._batches: set[asyncio.Task] = set()
        self._closed = False
        self._generate_pool = ThreadPoolExecutor(
            max(1, limits.generate_workers), thread_name_prefix="bardbot-generate"
        )
        self._queue: list[tuple[str, asyncio.Future]] = []
        self._in_batch = 0
        self._generations = 0
        # Recent wall times (ms) of the model calls, for /bardbot about.
        self.sentiment_ms: deque[float] = deque(maxlen=256)
        self.generate_ms: deque[float] = deque(maxlen=256)
        self.started = time.time()

    async def classify(self, text: str) -> Any:
        """The SentimentResult of one text, computed in a batch with concurrent requests."""
        if len(self._queue) + self._in_batch >= self.limits.max_queued_texts:
            raise Busy("too many sentiment requests are queued")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((text, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        """Start batches on free sentiment workers. A lone request starts at once; requests
        arriving while every worker is busy wait and leave together, split over the workers."""
        while self._queue and self._free_workers:
            size = min(self.limits.max_batch, -(-len(self._queue) // self._free_workers))
            batch = [(t, f) for t, f in self._queue[:size] if not f.done()]  # skip cancelled
            del self._queue[:size]
            if not batch:
                continue
            self._free_workers -= 1
            self._in_batch += len(batch)
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        try:
            await self._predict(batch)
        finally:
            self._free_workers += 1
            self._in_batch -= len(batch)
            if not self._closed:
                self._dispatch()

    async def _predict(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        """Settle every future of `batch` with its text's result. When the batched run fails,
        each text is run alone, so only a text that fails by itself gets the error."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(
                self._sentiment_pool, self.classifier.predict, [text for text, _ in batch]
            )
        except Exception as e:
            if len(batch) > 1:
                for item in batch:
                    if not item[1].done():
                        await self._predict([item])
                return
            if not batch[0][1].done():
                batch[0][1].set_exception(e)
            return
        self.sentiment_ms.append((time.perf_counter() - started) * 1000)
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def generate(
        self, prompt: str, *, length: int, temperature: float, seed: int | None = None
    ) -> str:
        """`length` new characters after `prompt`, generated in a worker thread."""
        return await self._generation(partial(
            self.generator.generate, prompt, length=length, temperature=temperature, seed=seed))

    async def answer(
        self, message: str, speaker: str, *, length: int, temperature: float,
        seed: int | None = None,
    ) -> str:
        """`speaker`'s speech answering `message` (at most `length` chars), in a worker thread;
        needs a generator with `answer` (the bard)."""
        return await self._generation(partial(
            self.generator.answer, message, speaker, length=length, temperature=temperature,
            seed=seed))

    async def _generation(self, call: Callable[[], str]) -> str:
        if self._generations >= self.limits.max_generations:
            raise Busy("too many generations are queued")
        self._generations += 1
        started = time.perf_counter()
        try:
            text = await asyncio.get_running_loop().run_in_executor(self._generate_pool, call)
        finally:
            self._generations -= 1
        self.generate_ms.append((time.perf_counter() - started) * 1000)
        return text

    @staticmethod
    def median(values: deque[float]) -> float | None:
        return statistics.median(values) if values else None

    def close(self) -> None:
        """Stop the worker threads (running calls finish; queued requests are dropped)."""
        self._closed = True
        for _, fut in self._queue:
            fut.cancel()
        self._queue.clear()
        self._sentiment_pool.shutdown(wait=False, cancel_futures=True)
        self._generate_pool.shutdown(wait=False, cancel_futures=True)

"""Model inference off the event loop, shared by the Cog and console mode.

The models are synchronous (onnxruntime), so every call runs in a small thread pool:
- sentiment requests are queued and run as micro-batches: while the sentiment workers are busy,
  new requests pile up and leave together in one `predict(list)` call (one session run), so a
  burst of N requests costs a few calls instead of N; when a batched call fails, its texts are
  run one by one, so one bad text fails only its own request;
- generations run one per worker thread, in their own pool, so a long generation never delays a
  sentiment batch.
- background texts (channel mood samples) are batched on a thread of their own, so a request
  never waits behind them; a batch of them starts only while no request waits for a worker, and
  once `background_batch` texts have gathered or the oldest has waited `background_wait` (a
  text in a batch of 16 costs about half the CPU time of one alone).
All queues are bounded: past the cap a request fails at once with `Busy` (the user gets a clear
"busy, try again" reply) instead of waiting minutes behind everybody else; a background text is
dropped and counted.
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
from typing import TYPE_CHECKING, Protocol

from bardbot import metrics
from bardbot.limits import Busy

if TYPE_CHECKING:  # the runtime models load only when the bot assembles them
    from bardbot.models.sentiment import SentimentResult


class Classifier(Protocol):
    info: dict

    def predict(self, texts: list[str]) -> list[SentimentResult]: ...

    def predict_explained(self, texts: list[str]
                          ) -> list[tuple[SentimentResult, list[tuple[str, float]]]]: ...


class Generator(Protocol):
    info: dict
    max_length: int
    # Whether the model knows `NAME:` lines and can `answer` as a speaker (models/play.py): the
    # case-kept bard does, the lowercase reference does not.
    writes_plays: bool

    def generate(
        self, prompt: str, length: int = ..., temperature: float = ..., seed: int | None = ...
    ) -> str: ...

    def answer(
        self, message: str, speaker: str, length: int = ..., temperature: float = ...,
        seed: int | None = ...,
    ) -> str: ...

    def normalize(self, text: str) -> str: ...


@dataclass(frozen=True)
class EngineLimits:
    sentiment_workers: int = 1  # threads running sentiment batches
    generate_workers: int = 1  # threads running generations (apart from sentiment's)
    max_batch: int = 64  # texts per sentiment session run
    max_queued_texts: int = 2048  # sentiment requests waiting or running
    max_generations: int = 256  # generations waiting or running (each a few ms to ~0.1 s)
    background_batch: int = 16  # background texts per session run
    background_wait: float = 0.25  # seconds a background text may wait for others to join it
    max_background: int = 512  # background texts waiting; more are dropped


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
        self._queue: list[tuple[str, asyncio.Future, float]] = []  # text, result, queued at
        self._explained: set[asyncio.Future] = set()  # queued requests that want the words too
        self._background_pool = ThreadPoolExecutor(1, thread_name_prefix="bardbot-background")
        self._background: list[tuple[str, asyncio.Future]] = []
        self._background_running = False
        self._background_since = 0.0  # when the oldest waiting background text arrived
        self._background_timer: asyncio.TimerHandle | None = None
        self.background_dropped = 0  # background texts refused because too many waited
        self._in_batch = 0
        self._generations = 0
        # Recent wall times (ms) of the model calls, for /bardbot about.
        self.sentiment_ms: deque[float] = deque(maxlen=256)
        self.generate_ms: deque[float] = deque(maxlen=256)
        self.started = time.time()

    async def classify(self, text: str) -> SentimentResult:
        """The SentimentResult of one text, computed in a batch with concurrent requests."""
        return await self._enqueue(text, explained=False)

    async def classify_explained(self, text: str
                                 ) -> tuple[SentimentResult, list[tuple[str, float]]]:
        """The SentimentResult of `text` and (word, points of P(positive) it adds) for each
        of its words, from the same model run, batched like `classify` (a batch holding one
        of these runs `predict_explained` for all its texts)."""
        return await self._enqueue(text, explained=True)

    async def _enqueue(self, text: str, explained: bool):
        if len(self._queue) + self._in_batch >= self.limits.max_queued_texts:
            metrics.count_busy("sentiment")
            raise Busy("too many sentiment requests are queued")
        future = asyncio.get_running_loop().create_future()
        if explained:
            self._explained.add(future)
        self._queue.append((text, future, time.perf_counter()))
        self._dispatch()
        try:
            return await future
        finally:
            self._explained.discard(future)

    def background_full(self) -> bool:
        """Whether a background text would be refused now (then counted as dropped)."""
        if len(self._background) < self.limits.max_background:
            return False
        self.background_dropped += 1
        return True

    async def classify_background(self, text: str) -> SentimentResult:
        """Like `classify`, for work nobody waits on (Busy, and counted as dropped, when
        `max_background` texts already wait)."""
        if self.background_full():
            raise Busy("too many background texts are queued")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._background:
            self._background_since = loop.time()
        self._background.append((text, future))
        self._dispatch_background()
        return await future

    def _dispatch_background(self) -> None:
        """Start a background batch unless one runs, a request waits for a worker, or too few
        texts have gathered for too short a time (then look again when they have waited)."""
        loop = asyncio.get_running_loop()
        while self._background and not self._background_running and not self._queue:
            size = self.limits.background_batch
            due = self._background_since + self.limits.background_wait
            if len(self._background) < size and loop.time() < due:
                if self._background_timer is None:
                    self._background_timer = loop.call_at(due, self._background_due)
                return
            batch = [(t, f) for t, f in self._background[:size] if not f.done()]
            del self._background[:size]
            self._background_since = loop.time()
            if not batch:
                continue
            self._background_running = True
            task = asyncio.get_running_loop().create_task(self._run_background(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _background_due(self) -> None:
        self._background_timer = None
        if not self._closed:
            self._dispatch_background()

    async def _run_background(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        try:
            await self._predict(batch, self._background_pool)
        finally:
            self._background_running = False
            if not self._closed:
                self._dispatch_background()

    def _dispatch(self) -> None:
        """Start batches on free sentiment workers. A lone request starts at once; requests
        arriving while every worker is busy wait and leave together, split over the workers."""
        while self._queue and self._free_workers:
            size = min(self.limits.max_batch, -(-len(self._queue) // self._free_workers))
            batch = [(t, f) for t, f, _ in self._queue[:size] if not f.done()]  # skip cancelled
            metrics.observe_waits("sentiment", [q for _, _, q in self._queue[:size]])
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
                self._dispatch_background()

    async def _predict(
        self, batch: list[tuple[str, asyncio.Future]], pool: ThreadPoolExecutor | None = None
    ) -> None:
        """Settle every future of `batch` with its text's result. When the batched run fails,
        each text is run alone, so only a text that fails by itself gets the error."""
        loop = asyncio.get_running_loop()
        pool = pool or self._sentiment_pool
        started = time.perf_counter()
        explain = any(fut in self._explained for _, fut in batch)
        call = self.classifier.predict_explained if explain else self.classifier.predict
        try:
            results = await loop.run_in_executor(pool, call, [text for text, _ in batch])
        except Exception as e:
            if len(batch) > 1:
                for item in batch:
                    if not item[1].done():
                        await self._predict([item], pool)
                return
            if not batch[0][1].done():
                batch[0][1].set_exception(e)
            return
        if pool is self._sentiment_pool:  # what /bardbot about shows: requests' batches
            self.sentiment_ms.append((time.perf_counter() - started) * 1000)
            metrics.observe_batch(len(batch), time.perf_counter() - started)
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result[0] if explain and fut not in self._explained else result)

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
        needs a generator that `writes_plays`."""
        return await self._generation(partial(
            self.generator.answer, message, speaker, length=length, temperature=temperature,
            seed=seed))

    async def _generation(self, call: Callable[[], str]) -> str:
        if self._generations >= self.limits.max_generations:
            metrics.count_busy("generation")
            raise Busy("too many generations are queued")
        self._generations += 1
        started = time.perf_counter()
        try:
            call = metrics.timed_generation(call)
            text = await asyncio.get_running_loop().run_in_executor(self._generate_pool, call)
        finally:
            self._generations -= 1
        self.generate_ms.append((time.perf_counter() - started) * 1000)
        return text

    def queue_depths(self) -> tuple[int, int]:
        """Sentiment texts and generations waiting or running (read by the metrics)."""
        return len(self._queue) + self._in_batch, self._generations

    @staticmethod
    def median(values: deque[float]) -> float | None:
        return statistics.median(values) if values else None

    def close(self) -> None:
        """Stop the worker threads (running calls finish; queued requests are dropped)."""
        self._closed = True
        for _, fut in [(t, f) for t, f, _ in self._queue] + self._background:
            fut.cancel()
        self._queue.clear()
        self._background.clear()
        if self._background_timer is not None:
            self._background_timer.cancel()
        self._sentiment_pool.shutdown(wait=False, cancel_futures=True)
        self._background_pool.shutdown(wait=False, cancel_futures=True)
        self._generate_pool.shutdown(wait=False, cancel_futures=True)

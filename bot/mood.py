"""Channel mood: how a server's channels felt over time, kept as counts per channel and hour.

A server opts in (`/bardbot-set mood:True`, and the bot needs Discord's Message Content intent).
Every message there is then judged by the sentiment model, at a lower priority than commands
(`Engine.classify_background`: under overload samples are dropped and counted). What is kept
is three numbers per channel and hour: messages judged, how many were called positive, and the
sum of their P(positive). No text, no message id, no user id.

The counts gather in memory and are added to the settings database every FLUSH_SECONDS, in one
transaction per batch, by adding (never overwriting): shard processes on several machines add
up. A crash loses at most the last FLUSH_SECONDS of counts (and the samples still being judged).
Each batch carries an id the database remembers for a day, so a batch retried after a lost
answer is counted once. `/bardbot mood` waits for the samples in flight and writes the counts
first, so its chart includes every message received before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bardbot.engine import Busy, Engine
from bardbot.limits import UserError
from bardbot.settings import MoodRow, SettingsError, SettingsStore

log = logging.getLogger(__name__)

FLUSH_SECONDS = 10.0  # how often counts are written: a crash loses at most this much
PRUNE_SECONDS = 3600.0  # how often counts older than a server's mood_days are deleted
GATE_SECONDS = 30.0  # a server's mood on/off is asked of the database again after this
CLOSE_TRIES = 3  # writes of the last counts tried at close
SETTLE_SECONDS = 2.0  # how long /bardbot mood waits for samples still being judged
MAX_TEXT = 2000  # characters of a message judged (Discord's limit without Nitro)
DAYS_RANGE = (1, 90)
DEFAULT_DAYS = 7
HOURLY_UP_TO = 7  # days shown hour by hour; longer periods day by day


def hour_of(timestamp: float) -> int:
    """Hours since the Unix epoch (UTC)."""
    return int(timestamp // 3600)


class MoodRecorder:
    """Judges sampled messages, counts them per (server, channel, hour), writes the counts."""

    def __init__(
        self,
        store: SettingsStore,
        engine: Engine,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.counted = 0  # samples judged and counted since start
        self.failed = 0  # samples the model could not judge
        self._counts: dict[tuple[int, int, int], list] = {}  # -> [messages, positive, p_sum]
        self._unsent: tuple[str, dict] | None = None  # a batch whose write did not succeed
        self._samples: set[asyncio.Task] = set()
        self._gate: dict[int, tuple[bool, float]] = {}  # guild -> (mood on, until)
        self._lookups: dict[int, asyncio.Future] = {}  # guild -> its settings being read
        self._flush_lock = asyncio.Lock()
        self._loop_task: asyncio.Task | None = None

    @property
    def dropped(self) -> int:
        """Samples dropped because the sentiment engine had too much to do."""
        return self.engine.background_dropped

    # -- sampling ---------------------------------------------------------------------------

    def sample(self, guild_id: int, channel_id: int, text: str) -> None:
        """Count `text` in this channel's current hour, if the server's mood is on. Returns at
        once; the judging happens in a task (the text is held only until it is judged)."""
        if self.engine.background_full():  # dropped (and counted) before any work
            return
        task = asyncio.get_running_loop().create_task(
            self._sample(guild_id, channel_id, hour_of(self.clock()), text[:MAX_TEXT])
        )
        self._samples.add(task)
        task.add_done_callback(self._samples.discard)

    async def _sample(self, guild_id: int, channel_id: int, hour: int, text: str) -> None:
        if not await self.enabled(guild_id):
            return
        try:
            result = await self.engine.classify_background(text)
        except Busy:
            return  # counted by the engine
        except Exception as e:  # a text the model refuses: not counted, nothing else spoiled
            self.failed += 1
            log.debug("mood sample not judged: %s: %s", type(e).__name__, e)
            return
        if not self._gate.get(guild_id, (False, 0.0))[0]:
            return  # mood was turned off while it was being judged
        self.start_writer()
        counts = self._counts.setdefault((guild_id, channel_id, hour), [0, 0, 0.0])
        counts[0] += 1
        counts[1] += result.label == "positive"
        counts[2] += float(result.score)
        self.counted += 1

    async def enabled(self, guild_id: int) -> bool:
        """Whether the server's mood is on, asked of the database at most every GATE_SECONDS
        (once for all the messages that arrive while it answers)."""
        known = self._gate.get(guild_id)
        if known is not None and known[1] > self.clock():
            return known[0]
        lookup = self._lookups.get(guild_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(guild_id))
            self._lookups[guild_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(guild_id, None))
        return await asyncio.shield(lookup)  # one message given up on cancels no other's

    async def _look_up(self, guild_id: int) -> bool:
        known = self._gate.get(guild_id)
        now = self.clock()
        try:
            on = (await self.store.get(guild_id)).mood_enabled
        except SettingsError as e:
            log.debug("mood: settings unavailable for guild=%s: %s", guild_id, e)
            on = known[0] if known else False
        self._gate[guild_id] = (on, now + GATE_SECONDS)
        return on

    def set_enabled(self, guild_id: int, on: bool) -> None:
        """What /bardbot-set just stored; turning mood off also drops the counts not written."""
        self._gate[guild_id] = (on, self.clock() + GATE_SECONDS)
        if on:
            return
        for key in [k for k in self._counts if k[0] == guild_id]:
            del self._counts[key]
        if self._unsent is not None:
            batch_id, counts = self._unsent
            self._unsent = (batch_id, {k: v for k, v in counts.items() if k[0] != guild_id})

    async def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait (at most `timeout`) for the samples received so far to be judged."""
        if self._samples:
            await asyncio.wait(set(self._samples), timeout=timeout)

    # -- writing ----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the counts gathered so far (SettingsError if the database fails: they are
        kept, and written by the next flush)."""
        async with self._flush_lock:
            if self._unsent is not None:  # first the batch that may or may not have landed
                await self.store.add_mood(*self._unsent)
                self._unsent = None
            if self._counts:
                counts = {k: (v[0], v[1], v[2]) for k, v in self._counts.items()}
                self._counts.clear()
                self._unsent = (uuid.uuid4().hex, counts)
                await self.store.add_mood(*self._unsent)
                self._unsent = None

    def start_writer(self) -> None:
        """Write the counts every `flush_seconds` and prune old ones every hour, until close;
        started when the cog loads with the Message Content intent, or by the first count."""
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        next_prune = 0.0
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
                if self.clock() >= next_prune:
                    deleted = await self.store.prune_mood(hour_of(self.clock()))
                    next_prune = self.clock() + PRUNE_SECONDS
                    if deleted:
                        log.info("mood: deleted %d channel-hours past retention", deleted)
            except SettingsError as e:
                log.warning("mood: counts not written yet (kept for the next try): %s", e)
            except Exception:  # the loop must survive anything
                log.exception("mood: writing counts failed")

    async def close(self) -> None:
        """Stop the writer and write what is left (if the database answers)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self.settle()  # the samples already received, if they are judged soon
        for task in list(self._samples):
            task.cancel()
        for attempt in range(CLOSE_TRIES):
            try:
                await self.flush()
                return
            except SettingsError as e:
                if attempt == CLOSE_TRIES - 1:
                    log.warning("mood: the last counts were not written: %s", e)
            except RuntimeError as e:  # the store was closed first
                log.warning("mood: the last counts were not written: %s", e)
                return


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoodSeries:
    """Counts in equal bins (an hour or a day) from `start_hour`, oldest first."""

    start_hour: int
    bin_hours: int
    messages: list[int]
    positive: list[int]
    p_sum: list[float]

    @property
    def total(self) -> int:
        return sum(self.messages)

    @property
    def share_positive(self) -> float | None:
        return sum(self.positive) / self.total if self.total else None

    def means(self) -> list[float | None]:
        """Mean P(positive) per bin (None where nobody wrote)."""
        return [s / n if n else None for s, n in zip(self.p_sum, self.messages, strict=True)]


def check_days(days: int) -> int:
    lo, hi = DAYS_RANGE
    if isinstance(days, bool) or not isinstance(days, int) or not lo <= days <= hi:
        raise UserError(f"days must be a whole number from {lo} to {hi} (got {days!r}).")
    return days


def bin_rows(rows: Iterable[MoodRow], end_hour: int, days: int) -> tuple[MoodSeries, MoodSeries]:
    """The `days` up to and including `end_hour`, and the same length of time before them."""
    bin_hours = 1 if days <= HOURLY_UP_TO else 24
    span = days * 24
    # Daily bins end at a UTC midnight: the last (current) day is partial.
    end = end_hour + 1 if bin_hours == 1 else (end_hour // 24 + 1) * 24
    start = end - span
    n = span // bin_hours
    current = MoodSeries(start, bin_hours, [0] * n, [0] * n, [0.0] * n)
    previous = MoodSeries(start - span, bin_hours, [0] * n, [0] * n, [0.0] * n)
    for row in rows:
        series = current if row.hour >= start else previous
        i = (row.hour - series.start_hour) // bin_hours
        if 0 <= i < n:
            series.messages[i] += row.messages
            series.positive[i] += row.positive
            series.p_sum[i] += row.p_sum
    return current, previous


def summary(current: MoodSeries, previous: MoodSeries, where: str, days: int) -> str:
    """One line: messages judged, share positive, the change against the period before."""
    period = "the last day" if days == 1 else f"the last {days} days"
    if not current.total:
        return f"No messages judged in {where} in {period}."
    line = (f"{where}, {period}: {current.total:,} message{'s' * (current.total != 1)} judged,"
            f" {current.share_positive:.0%} positive")
    if previous.total:
        change = round((current.share_positive - previous.share_positive) * 100)
        line += f" ({change:+d} points on the {days} day{'s' * (days != 1)} before)"
    else:
        line += f" (nothing counted in the {days} day{'s' * (days != 1)} before)"
    return line + "."

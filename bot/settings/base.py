"""What every settings backend (`sqlite.py`, `postgres.py`, importing this module, never the
package) shares: the settings model, its checks, the abstract store and its errors.

Both backends hold the same two tables: one row per guild in `guilds`, one row per allowed
channel in `guild_channels`. A NULL column means "not set here": reads fall back to the store's
`defaults`, so a host that changes its defaults changes them for every server that never chose
otherwise. A write updates only the columns it was given, in one transaction, so two admins
changing two settings at once from two processes never overwrite each other.

Nothing is cached: every read asks the database, so a change made through any process is used by
every other on its next message (bench/bench_settings.py measures what that costs).

A stored value that is not valid (written by hand, by an older bardbot, ...) never locks a server
out: that one field reads as its default, is logged once, and `/bardbot-set` overwrites it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from bardbot import metrics
from bardbot.limits import check_length, check_temperature

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL bigint are signed 64-bit; snowflakes fit

# Settings kept as a column of `guilds` (allowed_channels lives in `guild_channels`).
COLUMNS = (
    "temperature", "length", "chat_enabled", "show_sentiment", "mood_enabled", "mood_days"
)
# What every backend's current schema must have (more columns are fine).
TABLES = {
    "guilds": frozenset({"guild_id", *COLUMNS}),
    "guild_channels": frozenset({"guild_id", "channel_id"}),
    "mood_hours": frozenset({"guild_id", "channel_id", "hour", "messages", "positive", "p_sum"}),
    "mood_batches": frozenset({"batch_id", "added"}),
}
MAX_MOOD_DAYS = 365


def schema_gap(
    columns_of: Mapping[str, set[str]], tables: Mapping[str, frozenset[str]] = TABLES
) -> str | None:
    """What `tables` (the current schema) needs that a database lacks ("the table X" or "X
    columns a, b"), given each table's present columns; None when nothing is missing."""
    for table, columns in tables.items():
        present = columns_of.get(table, set())
        missing = sorted(columns - present)
        if missing:
            return f"the table {table}" if not present else f"{table} columns {', '.join(missing)}"
    return None


class SettingsError(Exception):
    """The settings database cannot be used (corrupt, unreachable, newer schema, ...).

    The message names the database (never its password) and what to do."""


class SettingsUnavailable(SettingsError):
    """The database cannot be reached right now (down, network, too slow); it may come back.
    Raised by a write, it means the write was not made."""


class SettingsOutcomeUnknown(SettingsUnavailable):
    """A write was sent, but the database did not confirm it in time: it may have been made."""


def newer_schema(location: object, version: int, latest: int, elsewhere: str) -> SettingsError:
    """The error for a database of a schema newer than this code (it is left untouched)."""
    return SettingsError(
        f"the settings database {location} has schema version {version}, newer than this bardbot"
        f" understands ({latest}); upgrade bardbot, or use another {elsewhere}"
    )


def _checker_bool(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be on (True) or off (False) (got {value!r})")
        return value

    return check


def check_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValueError(f"{what} must be a Discord id (a positive integer), got {value!r}")
    return value


def _is_id(value: Any) -> bool:
    try:
        check_id(value, "id")
    except ValueError:
        return False
    return True


def _check_channels(value: Any) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"allowed_channels must be a collection of channel ids (got {value!r})")
    return frozenset(check_id(c, "channel id") for c in value)


def _check_mood_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MOOD_DAYS:
        raise ValueError(f"mood_days must be a whole number of days from 1 to {MAX_MOOD_DAYS}"
                         f" (got {value!r})")
    return value


_CHECKS = {
    "temperature": check_temperature,
    "length": check_length,
    "chat_enabled": _checker_bool("chat_enabled"),
    "allowed_channels": _check_channels,
    "show_sentiment": _checker_bool("show_sentiment"),
    "mood_enabled": _checker_bool("mood_enabled"),
    "mood_days": _check_mood_days,
}


@dataclass(frozen=True)
class GuildSettings:
    temperature: float = 0.5  # within TEMPERATURE_RANGE
    length: int = 200  # characters generated, 1..MAX_LENGTH
    chat_enabled: bool = True  # reply to mentions in this server
    allowed_channels: frozenset[int] = frozenset()  # empty = every channel
    show_sentiment: bool = False  # add the message's sentiment to chat replies
    mood_enabled: bool = False  # count this server's channel mood (bardbot.mood)
    mood_days: int = 30  # keep mood counts this many days, 1..MAX_MOOD_DAYS

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _CHECKS[f.name](getattr(self, f.name)))

    def allows_channel(self, channel_id: int) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels


_KNOWN = ", ".join(f.name for f in fields(GuildSettings))


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = [name for name in changes if name not in _CHECKS]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; known settings: {_KNOWN}")
    return {name: _CHECKS[name](value) for name, value in changes.items()}


def _stored_bool(name: str) -> Callable[[Any], bool]:
    # SQLite has no boolean type: 0 and 1 are the only integers that mean one.
    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"{name} must be on or off (got {value!r})")

    return check


_STORED_CHECKS = {**_CHECKS, "chat_enabled": _stored_bool("chat_enabled"),
                  "show_sentiment": _stored_bool("show_sentiment"),
                  "mood_enabled": _stored_bool("mood_enabled")}


@dataclass(frozen=True)
class StoredRow:
    """One guild as the database holds it, before validation: None = not set."""

    values: Mapping[str, Any]  # COLUMNS -> raw value or None
    channels: Sequence[Any]


class MoodRow(NamedTuple):
    """One channel's mood counts in one hour (hours since the Unix epoch, UTC)."""

    channel_id: int
    hour: int
    messages: int  # messages judged
    positive: int  # of which called positive
    p_sum: float  # the sum of their P(positive)


# (guild id, channel id, hour) -> (messages, positive, sum of P(positive)): counts to add.
MoodCounts = Mapping[tuple[int, int, int], tuple[int, int, float]]


class SettingsStore(ABC):
    """Async per-guild settings. Create with `await bardbot.settings.open_store(path_or_url,
    defaults)`; the backend (SqliteSettingsStore, PostgresSettingsStore) follows from the target."""

    def __init__(self, location: str, defaults: GuildSettings):
        self._location = location
        self._defaults = defaults
        self._reported: set[tuple[int, str]] = set()  # (guild, field) of bad values logged

    @property
    def location(self) -> str:
        """Where the settings live, safe to show (a URL without its password)."""
        return self._location

    @property
    def defaults(self) -> GuildSettings:
        return self._defaults

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> SettingsStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @metrics.settings_call("get", SettingsUnavailable)
    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings; `defaults` for a guild that never set anything."""
        check_id(guild_id, "guild id")
        return self._decode(guild_id, await self._fetch(guild_id))

    @metrics.settings_call("update", SettingsUnavailable)
    async def update(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Change only the given settings; ValueError (a user-facing message) for a bad value."""
        check_id(guild_id, "guild id")
        changes = validate(changes)
        columns = {k: v for k, v in changes.items() if k in COLUMNS}
        channels = changes.get("allowed_channels")
        return self._decode(guild_id, await self._write(guild_id, columns, channels))

    @metrics.settings_call("allow_channel", SettingsUnavailable)
    async def allow_channel(self, guild_id: int, channel_id: int) -> GuildSettings:
        """Add a channel to the guild's allowed channels (an empty set allows every channel)."""
        check_id(guild_id, "guild id")
        check_id(channel_id, "channel id")
        return self._decode(guild_id, await self._set_channel(guild_id, channel_id, True))

    @metrics.settings_call("disallow_channel", SettingsUnavailable)
    async def disallow_channel(self, guild_id: int, channel_id: int) -> GuildSettings:
        """Remove a channel from the allowed ones; removing the last allows every channel again."""
        check_id(guild_id, "guild id")
        check_id(channel_id, "channel id")
        return self._decode(guild_id, await self._set_channel(guild_id, channel_id, False))

    async def export_rows(self) -> dict[int, StoredRow]:
        """Every guild's stored row, valid values only (for copying to another store)."""
        rows = await self._fetch_all()
        for guild_id in [gid for gid in rows if not _is_id(gid)]:
            log.warning("settings database %s: skipping a row with an invalid server id %r",
                        self._location, guild_id)
            del rows[guild_id]
        return {gid: self._valid_row(gid, row) for gid, row in rows.items()}

    async def import_rows(
        self, rows: Mapping[int, StoredRow], *, overwrite: bool = False
    ) -> list[int]:
        """Store these guilds' rows exactly as `rows` (NULLs included), each in one transaction,
        skipping a guild this store already has unless `overwrite`; other guilds are untouched.
        Returns the guilds written."""
        for guild_id in rows:
            check_id(guild_id, "guild id")
        return [gid for gid, row in rows.items() if await self._replace(gid, row, overwrite)]

    # -- channel mood (bardbot.mood): counts per channel and hour, nothing else ---------------

    async def add_mood(self, batch_id: str, counts: MoodCounts) -> None:
        """Add `counts` to the stored ones in one transaction, once: a batch id already applied
        (a retry after a lost answer) adds nothing. Counts of a server whose mood is off (it
        was just turned off, maybe through another process) are dropped."""
        if counts:
            await self._add_mood(batch_id, sorted(counts.items()))

    async def mood_rows(
        self, guild_id: int, since_hour: int, channel_ids: Iterable[int]
    ) -> list[MoodRow]:
        """The stored counts of these channels from `since_hour` on."""
        check_id(guild_id, "guild id")
        return await self._mood_rows(guild_id, since_hour, sorted(set(channel_ids)))

    async def forget_mood(self, guild_id: int) -> int:
        """Delete the server's whole mood history; the number of channel-hours deleted."""
        check_id(guild_id, "guild id")
        return await self._forget_mood(guild_id)

    @abstractmethod
    async def _add_mood(
        self, batch_id: str, counts: list[tuple[tuple[int, int, int], tuple[int, int, float]]]
    ) -> None: ...

    @abstractmethod
    async def _mood_rows(
        self, guild_id: int, since_hour: int, channel_ids: list[int]
    ) -> list[MoodRow]: ...

    @abstractmethod
    async def _forget_mood(self, guild_id: int) -> int: ...

    @abstractmethod
    async def prune_mood(self, now_hour: int) -> int:
        """Delete counts older than each server's mood_days, and any of a server whose mood is
        off; the number of channel-hours deleted."""

    # -- what a backend provides ------------------------------------------------------------

    @abstractmethod
    async def _fetch(self, guild_id: int) -> StoredRow | None:
        """The guild's row and channels; None when it has neither."""

    @abstractmethod
    async def _fetch_all(self) -> dict[int, StoredRow]: ...

    @abstractmethod
    async def _write(
        self, guild_id: int, columns: dict[str, Any], channels: frozenset[int] | None
    ) -> StoredRow | None:
        """Set `columns` (and replace the channels unless None) in one transaction; the result."""

    @abstractmethod
    async def _set_channel(
        self, guild_id: int, channel_id: int, allowed: bool
    ) -> StoredRow | None: ...

    @abstractmethod
    async def _replace(self, guild_id: int, row: StoredRow, overwrite: bool) -> bool:
        """Make the guild's row and channels exactly `row`, unless it has a row or channels and
        not `overwrite`; whether it did (the check and the write are one transaction)."""

    # -- reading stored values ----------------------------------------------------------------

    def _valid_row(self, guild_id: int, row: StoredRow) -> StoredRow:
        """`row` with every invalid value replaced by None (i.e. the default), each logged once."""
        values = {}
        for name in COLUMNS:
            value = row.values.get(name)
            values[name] = None if value is None else self._checked(guild_id, name, value)
        channels = [self._checked(guild_id, "allowed_channels", c) for c in row.channels]
        channels = [c for c in channels if c]
        return StoredRow(values, channels)

    def _decode(self, guild_id: int, row: StoredRow | None) -> GuildSettings:
        if row is None:
            return self._defaults
        row = self._valid_row(guild_id, row)
        chosen = {k: v for k, v in row.values.items() if v is not None}
        return GuildSettings(
            **{**vars(self._defaults), **chosen, "allowed_channels": frozenset(row.channels)}
        )

    def _checked(self, guild_id: int, name: str, value: Any) -> Any:
        """`value` checked as stored setting `name` (one channel id for allowed_channels);
        None, logged once per server and setting, when it is not valid."""
        try:
            if name == "allowed_channels":
                return check_id(value, "channel id")
            return _STORED_CHECKS[name](value)
        except ValueError as e:
            if (guild_id, name) not in self._reported:
                self._reported.add((guild_id, name))
                log.warning(
                    "settings database %s: server %s has an invalid stored %s (%s), ignored (the"
                    " default applies) until an admin sets it again with /bardbot-set",
                    self._location, guild_id, name, e,
                )
            return None

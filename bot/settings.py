"""Per-server (guild) settings, persisted in SQLite.

One row per guild in `guilds` plus one row per allowed channel in `guild_channels`. A NULL
column means "not set here": reads fall back to the store's `defaults`, so a host that changes
its defaults changes them for every server that never chose otherwise.

Safe with several processes on one file (e.g. one per shard): WAL journal, a busy timeout, and
every write is a BEGIN IMMEDIATE transaction that updates only the columns it was given, so
concurrent updates of different settings never overwrite each other. Nothing is cached: a
write by one store is seen by the next read of every other store.

    async with await SettingsStore.open("data/settings.db") as store:
        s = await store.update(guild_id, temperature=0.8)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import numbers
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

# Longest continuation a server may choose: fits Discord's 2,000 chars together with the prompt.
MAX_LENGTH = 1500
TEMPERATURE_RANGE = (0.1, 2.0)
BUSY_TIMEOUT_MS = 5000
_MAX_ID = 2**63 - 1  # SQLite INTEGER is signed 64-bit; Discord snowflakes fit in 63 bits

# Schema migrations: MIGRATIONS[i] takes a file from version i to version i + 1 (PRAGMA
# user_version). Append only; never edit a released step. All pending steps run in one
# transaction, so a file is always at exactly one known version.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1
        "CREATE TABLE guilds ("
        " guild_id INTEGER PRIMARY KEY,"
        " temperature REAL,"
        " length INTEGER,"
        " chat_enabled INTEGER)",
        "CREATE TABLE guild_channels ("
        " guild_id INTEGER NOT NULL,"
        " channel_id INTEGER NOT NULL,"
        " PRIMARY KEY (guild_id, channel_id)) WITHOUT ROWID",
    ),
    (  # v2
        "ALTER TABLE guilds ADD COLUMN show_sentiment INTEGER",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# Settings kept as a column of `guilds` (allowed_channels lives in its own table).
_COLUMNS = ("temperature", "length", "chat_enabled", "show_sentiment")


class SettingsError(Exception):
    """The settings database cannot be used (corrupt, unreadable, newer schema, ...).

    The message names the file and what to do; the file itself is left untouched."""


def _check_temperature(value: Any) -> float:
    lo, hi = TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"temperature must be a number between {lo} and {hi} (got {value!r})")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"temperature must be between {lo} and {hi} (got {value!r})")
    return float(value)


def _check_length(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"length must be a whole number between 1 and {MAX_LENGTH} (got {value!r})"
        )
    if not 1 <= value <= MAX_LENGTH:
        raise ValueError(f"length must be between 1 and {MAX_LENGTH} (got {value!r})")
    return int(value)


def _checker_bool(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be on (True) or off (False) (got {value!r})")
        return value

    return check


def _check_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise ValueError(f"{what} must be a Discord id (a positive integer), got {value!r}")
    return value


def _check_channels(value: Any) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"allowed_channels must be a collection of channel ids (got {value!r})")
    return frozenset(_check_id(c, "channel id") for c in value)


_CHECKS = {
    "temperature": _check_temperature,
    "length": _check_length,
    "chat_enabled": _checker_bool("chat_enabled"),
    "allowed_channels": _check_channels,
    "show_sentiment": _checker_bool("show_sentiment"),
}


@dataclass(frozen=True)
class GuildSettings:
    temperature: float = 0.5  # within TEMPERATURE_RANGE
    length: int = 200  # characters generated, 1..MAX_LENGTH
    chat_enabled: bool = True  # reply to mentions in this server
    allowed_channels: frozenset[int] = frozenset()  # empty = every channel
    show_sentiment: bool = False  # add the message's sentiment to chat replies

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _CHECKS[f.name](getattr(self, f.name)))

    def allows_channel(self, channel_id: int) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels


_KNOWN = ", ".join(f.name for f in fields(GuildSettings))


def _validate(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = [name for name in changes if name not in _CHECKS]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; known settings: {_KNOWN}")
    return {name: _CHECKS[name](value) for name, value in changes.items()}


class SettingsStore:
    """Async per-guild settings on one SQLite file. Create with `await SettingsStore.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: Path, defaults: GuildSettings):
        self._db: aiosqlite.Connection | None = db
        self._path = path
        self._defaults = defaults
        # One connection runs one transaction at a time; concurrent callers in this process queue
        # here (FIFO), other processes and stores wait on SQLite's lock (busy_timeout).
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def defaults(self) -> GuildSettings:
        return self._defaults

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], defaults: GuildSettings = GuildSettings()
    ) -> SettingsStore:
        """Open (creating if needed) and migrate the database; SettingsError if it is unusable."""
        if defaults.allowed_channels:
            raise ValueError(
                "defaults.allowed_channels must be empty: channel ids belong to one server"
            )
        path = Path(path)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as e:
            raise SettingsError(
                f"cannot create the folder for the settings database {path}: {e}; "
                "choose a writable settings path"
            ) from e
        try:
            db = await aiosqlite.connect(path, isolation_level=None)  # we BEGIN/COMMIT ourselves
        except sqlite3.Error as e:
            raise SettingsError(
                f"cannot open the settings database {path}: {e}; check the path and its permissions"
            ) from e
        try:
            await _prepare(db, path)
        except BaseException:
            await db.close()
            raise
        return cls(db, path, defaults)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            async with self._lock:  # let a running transaction finish first
                await db.close()

    async def __aenter__(self) -> SettingsStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings; `defaults` for a guild that never set anything."""
        _check_id(guild_id, "guild id")
        async with self._transaction("BEGIN") as db:  # one snapshot for both tables
            return await self._read(db, guild_id)

    async def update(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Change only the given settings; ValueError (a user-facing message) for a bad value."""
        _check_id(guild_id, "guild id")
        changes = _validate(changes)
        columns = {k: v for k, v in changes.items() if k in _COLUMNS}
        async with self._transaction("BEGIN IMMEDIATE") as db:
            if columns:
                # Column names come from _COLUMNS, never from the caller.
                sets = ", ".join(f"{name} = excluded.{name}" for name in columns)
                await db.execute(
                    f"INSERT INTO guilds (guild_id, {', '.join(columns)})"
                    f" VALUES (?{', ?' * len(columns)})"
                    f" ON CONFLICT (guild_id) DO UPDATE SET {sets}",
                    (guild_id, *columns.values()),
                )
            if "allowed_channels" in changes:
                await db.execute("DELETE FROM guild_channels WHERE guild_id = ?", (guild_id,))
                await db.executemany(
                    "INSERT INTO guild_channels (guild_id, channel_id) VALUES (?, ?)",
                    [(guild_id, c) for c in sorted(changes["allowed_channels"])],
                )
            return await self._read(db, guild_id)

    async def allow_channel(self, guild_id: int, channel_id: int) -> GuildSettings:
        """Add a channel to the guild's allowed channels (an empty set allows every channel)."""
        _check_id(guild_id, "guild id")
        _check_id(channel_id, "channel id")
        async with self._transaction("BEGIN IMMEDIATE") as db:
            await db.execute(
                "INSERT OR IGNORE INTO guild_channels (guild_id, channel_id) VALUES (?, ?)",
                (guild_id, channel_id),
            )
            return await self._read(db, guild_id)

    async def disallow_channel(self, guild_id: int, channel_id: int) -> GuildSettings:
        """Remove a channel from the allowed ones; removing the last allows every channel again."""
        _check_id(guild_id, "guild id")
        _check_id(channel_id, "channel id")
        async with self._transaction("BEGIN IMMEDIATE") as db:
            await db.execute(
                "DELETE FROM guild_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            return await self._read(db, guild_id)

    @asynccontextmanager
    async def _transaction(self, begin: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._db
            if db is None:
                raise RuntimeError("the settings store is closed")
            try:
                await db.execute(begin)
                yield db
                await db.execute("COMMIT")
            except BaseException as e:
                await _rollback(db)
                if isinstance(e, sqlite3.Error):
                    raise _runtime_error(self._path, e) from e
                raise

    async def _read(self, db: aiosqlite.Connection, guild_id: int) -> GuildSettings:
        async with db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM guilds WHERE guild_id = ?", (guild_id,)
        ) as cur:
            row = await cur.fetchone()
        async with db.execute(
            "SELECT channel_id FROM guild_channels WHERE guild_id = ?", (guild_id,)
        ) as cur:
            channels = frozenset(c for (c,) in await cur.fetchall())
        values: dict[str, Any] = {"allowed_channels": channels}
        for name, value in zip(_COLUMNS, row or (), strict=False):
            if value is not None:
                values[name] = bool(value) if name in ("chat_enabled", "show_sentiment") else value
        if row is None and not channels:
            return self._defaults
        try:
            return GuildSettings(**{**vars(self._defaults), **values})
        except ValueError as e:
            raise SettingsError(
                f"the settings database {self._path} holds an invalid value for server {guild_id}"
                f" ({e}); set it again with /bardbot set, or fix the file"
            ) from e


async def _rollback(db: aiosqlite.Connection) -> None:
    # Unconditional: after a cancellation the statements already queued on aiosqlite's thread
    # (BEGIN included) still run, and they run before this, so `in_transaction` can't be trusted.
    with contextlib.suppress(sqlite3.Error):  # "no transaction is active"
        await db.execute("ROLLBACK")


def _runtime_error(path: Path, e: sqlite3.Error) -> SettingsError:
    if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
        return SettingsError(
            f"the settings database {path} stayed locked by another process for more than "
            f"{BUSY_TIMEOUT_MS / 1000:g} s; try again"
        )
    return SettingsError(f"the settings database {path} failed: {e}")


async def _prepare(db: aiosqlite.Connection, path: Path) -> None:
    """Check the file, switch to WAL, migrate. Nothing is written before the file is checked."""
    await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    untouched = (
        "it was left untouched: move it aside to start with default settings, or restore a backup"
    )
    try:
        # One read transaction, so user_version and the table count agree even while another
        # process is creating the schema.
        await db.execute("BEGIN")
        try:
            # quick_check reads every page: catches random bytes, non-SQLite and damaged files.
            async with db.execute("PRAGMA quick_check") as cur:
                problems = [r[0] for r in await cur.fetchall() if r[0] != "ok"]
            if problems:
                raise sqlite3.DatabaseError(problems[0].splitlines()[-1])
            async with db.execute("PRAGMA user_version") as cur:
                (version,) = await cur.fetchone()
            async with db.execute("SELECT count(*) FROM sqlite_master") as cur:
                (n_objects,) = await cur.fetchone()
        finally:
            await _rollback(db)
    except sqlite3.OperationalError as e:  # locked, unreadable, ... (a DatabaseError subclass)
        raise SettingsError(
            f"cannot read the settings database {path} ({e}); check the file and its permissions"
        ) from e
    except sqlite3.DatabaseError as e:
        raise SettingsError(
            f"the settings database {path} is corrupt or not a SQLite database ({e}); {untouched}"
        ) from e
    if version > SCHEMA_VERSION:
        raise SettingsError(_too_new(path, version))
    if version == 0 and n_objects:
        raise SettingsError(
            f"{path} is a SQLite database but not a bardbot settings database; {untouched}"
        )
    try:
        mode = await _enable_wal(db)
        if mode != "wal" and str(path) != ":memory:":
            log.warning("settings database %s: WAL unavailable (journal mode %s)", path, mode)
        if version < SCHEMA_VERSION:
            await _migrate(db, path)
    except sqlite3.Error as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise _runtime_error(path, e) from e
        raise SettingsError(
            f"cannot write the settings database {path} ({e}); check the file's permissions"
        ) from e


async def _enable_wal(db: aiosqlite.Connection) -> str:
    # Two connections switching the same new file to WAL at once would deadlock, so SQLite fails
    # one of them with "locked" straight away instead of calling the busy handler: retry that.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            async with db.execute("PRAGMA journal_mode = WAL") as cur:
                (mode,) = await cur.fetchone()
            return mode
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)


def _too_new(path: Path, version: int) -> str:
    return (
        f"the settings database {path} has schema version {version}, newer than this bardbot"
        f" understands ({SCHEMA_VERSION}); upgrade bardbot, or use another settings path"
    )


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    version = target = None
    try:
        await db.execute("BEGIN IMMEDIATE")
        # Re-read under the write lock: another process may have migrated since we looked.
        async with db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        if version > SCHEMA_VERSION:
            raise SettingsError(_too_new(path, version))
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                await db.execute(statement)
        if version < SCHEMA_VERSION:
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await db.execute("COMMIT")
    except BaseException as e:
        await _rollback(db)
        if isinstance(e, sqlite3.Error) and target is not None:
            raise SettingsError(
                f"migrating the settings database {path} from schema version {version} to"
                f" {target} failed ({e}); the migration was rolled back and the file is unchanged"
            ) from e
        raise
    if version < SCHEMA_VERSION:
        log.info("settings database %s migrated to schema %d", path, SCHEMA_VERSION)

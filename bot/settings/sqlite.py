"""The SQLite settings backend: one file, shared by the processes of one machine.

WAL journal, a busy timeout, and every write is a BEGIN IMMEDIATE transaction, so several
processes (e.g. one per shard) can use one file. Opened `read_only` (a copy's source), a file is
read as it is, whatever its schema version: never migrated, switched to WAL nor written. The
tables, their migrations and the checks at open: `sqlite_schema.py`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from bardbot.settings import base
from bardbot.settings import sqlite_schema as schema
from bardbot.settings.base import COLUMNS, GuildSettings, MoodRow, SettingsError, StoredRow


class SqliteSettingsStore(base.SettingsStore):
    def __init__(self, db: aiosqlite.Connection, path: Path, defaults: GuildSettings):
        super().__init__(str(path), defaults)
        self._db: aiosqlite.Connection | None = db
        self._path = path
        self._read_statement = _READ
        # One connection runs one transaction at a time; concurrent callers in this process queue
        # here (FIFO), other processes and stores wait on SQLite's lock (busy_timeout).
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    async def connect(
        cls, path: Path, defaults: GuildSettings, *, read_only: bool = False
    ) -> SqliteSettingsStore:
        if read_only:
            return await cls._connect_read_only(path, defaults)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as e:
            raise SettingsError(
                f"cannot create the folder for the settings database {path}: {e}; "
                "choose a writable settings path"
            ) from e
        return await cls._open(path, defaults)

    @classmethod
    async def _connect_read_only(cls, path: Path, defaults: GuildSettings) -> SqliteSettingsStore:
        try:
            return await cls._open(path, defaults, read_only=True)
        except SettingsError as e:
            # Reading a WAL file needs a shared-memory file beside it, which a read-only folder
            # refuses; with no -wal file there, the file itself holds everything, and SQLite's
            # "immutable" reads it as it is.
            if not isinstance(e.__cause__, sqlite3.OperationalError) or (
                path.with_name(f"{path.name}-wal").exists()
            ):
                raise
        return await cls._open(path, defaults, read_only=True, immutable=True)

    @classmethod
    async def _open(
        cls, path: Path, defaults: GuildSettings, *, read_only: bool = False,
        immutable: bool = False,
    ) -> SqliteSettingsStore:
        try:
            db = await schema.connect(path, read_only=read_only, immutable=immutable)
        except sqlite3.Error as e:
            raise SettingsError(f"cannot open the settings database {path}: {e}; check the path"
                                " and its permissions") from e
        store = cls(db, path, defaults)
        try:
            if read_only:
                store._read_statement = _read_statement(await schema.check_readable(db, path))
            else:
                await schema.prepare(db, path)
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            async with self._lock:  # let a running transaction finish first
                await db.close()

    async def _fetch(self, guild_id: int) -> StoredRow | None:
        # One statement, so one snapshot of both tables without BEGIN/COMMIT: a chat message's
        # lookup is one trip to aiosqlite's thread instead of six.
        async with self._lock:
            if self._db is None:
                raise RuntimeError("the settings store is closed")
            try:
                return await _read(self._db, guild_id, self._read_statement)
            except sqlite3.Error as e:
                raise schema.runtime_error(self._path, e) from e

    async def _fetch_all(self) -> dict[int, StoredRow]:
        async with self._transaction("BEGIN") as db:
            async with db.execute(
                "SELECT guild_id FROM guilds UNION SELECT guild_id FROM guild_channels"
            ) as cur:
                ids = [gid for (gid,) in await cur.fetchall()]
            return {gid: await _read(db, gid, self._read_statement)  # type: ignore[misc]
                    for gid in ids}

    async def _write(
        self, guild_id: int, columns: dict[str, Any], channels: frozenset[int] | None
    ) -> StoredRow | None:
        async with self._transaction("BEGIN IMMEDIATE") as db:
            if columns:
                # Column names come from COLUMNS, never from the caller.
                sets = ", ".join(f"{name} = excluded.{name}" for name in columns)
                await db.execute(
                    f"INSERT INTO guilds (guild_id, {', '.join(columns)})"
                    f" VALUES (?{', ?' * len(columns)})"
                    f" ON CONFLICT (guild_id) DO UPDATE SET {sets}",
                    (guild_id, *columns.values()),
                )
            if channels is not None:
                await _replace_channels(db, guild_id, channels)
            return await _read(db, guild_id)

    async def _set_channel(self, guild_id: int, channel_id: int, allowed: bool) -> StoredRow | None:
        statement = (
            "INSERT OR IGNORE INTO guild_channels (guild_id, channel_id) VALUES (?, ?)"
            if allowed
            else "DELETE FROM guild_channels WHERE guild_id = ? AND channel_id = ?"
        )
        async with self._transaction("BEGIN IMMEDIATE") as db:
            await db.execute(statement, (guild_id, channel_id))
            return await _read(db, guild_id)

    async def _replace(self, guild_id: int, row: StoredRow, overwrite: bool) -> bool:
        async with self._transaction("BEGIN IMMEDIATE") as db:
            if not overwrite and await _read(db, guild_id) is not None:
                return False
            await db.execute(
                f"INSERT OR REPLACE INTO guilds (guild_id, {', '.join(COLUMNS)})"
                f" VALUES (?{', ?' * len(COLUMNS)})",
                (guild_id, *(row.values.get(name) for name in COLUMNS)),
            )
            await _replace_channels(db, guild_id, row.channels)
            return True

    async def _add_mood(self, batch_id: str, counts: list) -> None:
        enabled = int(self.defaults.mood_enabled)
        async with self._transaction("BEGIN IMMEDIATE") as db:
            cursor = await db.execute(
                "INSERT INTO mood_batches VALUES (?, ?) ON CONFLICT DO NOTHING",
                (batch_id, int(time.time())),
            )
            if cursor.rowcount == 0:
                return  # added before
            await db.executemany(
                _ADD_MOOD,
                [(g, c, h, n, pos, p_sum, g, enabled) for (g, c, h), (n, pos, p_sum) in counts],
            )

    async def _mood_rows(self, guild_id: int, since_hour: int, channel_ids: list[int]) -> list:
        async with self._transaction("BEGIN") as db:
            rows = await db.execute_fetchall(
                "SELECT channel_id, hour, messages, positive, p_sum FROM mood_hours"
                " WHERE guild_id = ? AND hour >= ?"
                " AND channel_id IN (SELECT value FROM json_each(?)) ORDER BY hour",
                (guild_id, since_hour, json.dumps(channel_ids)),
            )
        return [MoodRow(*row) for row in rows]

    async def _forget_mood(self, guild_id: int) -> int:
        async with self._transaction("BEGIN IMMEDIATE") as db:
            cursor = await db.execute("DELETE FROM mood_hours WHERE guild_id = ?", (guild_id,))
            return cursor.rowcount

    async def prune_mood(self, now_hour: int) -> int:
        async with self._transaction("BEGIN IMMEDIATE") as db:
            cursor = await db.execute(
                _PRUNE_MOOD, (now_hour, self.defaults.mood_days, int(self.defaults.mood_enabled))
            )
            await db.execute(
                "DELETE FROM mood_batches WHERE added < ?", (int(time.time()) - 86400,)
            )
            return cursor.rowcount

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
                await schema.rollback(db)
                if isinstance(e, sqlite3.Error):
                    raise schema.runtime_error(self._path, e) from e
                raise


# Adds one channel-hour's counts, if the server's mood is on (at the moment of writing).
_ADD_MOOD = (
    "INSERT INTO mood_hours (guild_id, channel_id, hour, messages, positive, p_sum)"
    " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM guilds"
    "  WHERE guild_id = ? AND coalesce(mood_enabled, ?))"
    " ON CONFLICT (guild_id, channel_id, hour) DO UPDATE SET"
    " messages = messages + excluded.messages,"
    " positive = positive + excluded.positive,"
    " p_sum = p_sum + excluded.p_sum"
)

# Older than the server's mood_days (or the default), or of a server whose mood is off.
_PRUNE_MOOD = (
    "DELETE FROM mood_hours WHERE NOT EXISTS"
    " (SELECT 1 FROM guilds g WHERE g.guild_id = mood_hours.guild_id"
    "  AND mood_hours.hour >= ?1 - 24 * coalesce(g.mood_days, ?2)"
    "  AND coalesce(g.mood_enabled, ?3))"
)


def _read_statement(present: set[str]) -> str:
    """The guild's row (NULLs if none) once per allowed channel (or once with a NULL channel);
    a column not `present` (a file of an older schema) reads as NULL."""
    values = ", ".join(f"g.{name}" if name in present else "NULL" for name in COLUMNS)
    return (
        f"SELECT {values}, g.guild_id IS NOT NULL, c.channel_id"
        " FROM (SELECT ? AS id) AS one"
        " LEFT JOIN guilds g ON g.guild_id = one.id"
        " LEFT JOIN guild_channels c ON c.guild_id = one.id"
    )


_READ = _read_statement(set(COLUMNS))


async def _read(db: aiosqlite.Connection, guild_id: int, statement: str = _READ
                ) -> StoredRow | None:
    rows = list(await db.execute_fetchall(statement, (guild_id,)))
    *values, stored, _ = rows[0]
    channels = [row[-1] for row in rows if row[-1] is not None]
    if not stored and not channels:
        return None
    return StoredRow(dict(zip(COLUMNS, values, strict=True)), channels)


async def _replace_channels(db: aiosqlite.Connection, guild_id: int, channels) -> None:
    await db.execute("DELETE FROM guild_channels WHERE guild_id = ?", (guild_id,))
    await db.executemany(
        "INSERT INTO guild_channels (guild_id, channel_id) VALUES (?, ?)",
        [(guild_id, c) for c in sorted(channels)],
    )

"""The SQLite settings backend: one file, shared by the processes of one machine.

WAL journal, a busy timeout, and every write is a BEGIN IMMEDIATE transaction, so several
processes (e.g. one per shard) can use one file. Opened `read_only` (a copy's source), a file is
read as it is, whatever its schema version: never migrated, switched to WAL nor written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite
from bardbot.settings.base import (
    COLUMNS,
    TABLES,
    GuildSettings,
    MoodRow,
    SettingsError,
    SettingsStore,
    StoredRow,
    schema_gap,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000

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
    (  # v3: channel mood, counts per channel and hour only (bardbot.mood)
        "ALTER TABLE guilds ADD COLUMN mood_enabled INTEGER",
        "ALTER TABLE guilds ADD COLUMN mood_days INTEGER",
        "CREATE TABLE mood_hours ("
        " guild_id INTEGER NOT NULL,"
        " channel_id INTEGER NOT NULL,"
        " hour INTEGER NOT NULL,"
        " messages INTEGER NOT NULL,"
        " positive INTEGER NOT NULL,"
        " p_sum REAL NOT NULL,"
        " PRIMARY KEY (guild_id, channel_id, hour)) WITHOUT ROWID",
        # Batches already added, so that a retried batch is not counted twice.
        "CREATE TABLE mood_batches (batch_id TEXT PRIMARY KEY, added INTEGER NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_UNTOUCHED = (
    "it was left untouched: move it aside to start with default settings, or restore a backup"
)


class SqliteSettingsStore(SettingsStore):
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
        try:
            db = await _connect(path)
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

    @classmethod
    async def _connect_read_only(cls, path: Path, defaults: GuildSettings) -> SqliteSettingsStore:
        try:
            return await cls._open_read_only(path, defaults, immutable=False)
        except SettingsError as e:
            # Reading a WAL file needs a shared-memory file beside it, which a read-only folder
            # refuses; with no -wal file there, the file itself holds everything, and SQLite's
            # "immutable" reads it as it is.
            if not isinstance(e.__cause__, sqlite3.OperationalError) or (
                path.with_name(f"{path.name}-wal").exists()
            ):
                raise
        return await cls._open_read_only(path, defaults, immutable=True)

    @classmethod
    async def _open_read_only(
        cls, path: Path, defaults: GuildSettings, *, immutable: bool
    ) -> SqliteSettingsStore:
        try:
            db = await _connect(path, read_only=True, immutable=immutable)
        except sqlite3.Error as e:
            raise SettingsError(f"cannot open the settings database {path}: {e}; check the path"
                                " and its permissions") from e
        try:
            statement = await _check_readable(db, path)
        except BaseException:
            await db.close()
            raise
        store = cls(db, path, defaults)
        store._read_statement = statement
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
                raise _runtime_error(self._path, e) from e

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

    async def _prune_mood(self, now_hour: int) -> int:
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
                await _rollback(db)
                if isinstance(e, sqlite3.Error):
                    raise _runtime_error(self._path, e) from e
                raise


async def _connect(path: Path, *, read_only: bool = False, immutable: bool = False
                   ) -> aiosqlite.Connection:
    if read_only:
        mode = "immutable=1" if immutable else "mode=ro"
        uri = f"file:{quote(str(path.absolute()))}?{mode}"
        connection = aiosqlite.connect(uri, uri=True, isolation_level=None)
    else:
        connection = aiosqlite.connect(path, isolation_level=None)  # we BEGIN/COMMIT ourselves
    # aiosqlite runs each connection on its own thread, which would keep the interpreter alive
    # after the host's event loop is gone if nobody closed the store: make it a daemon. A write
    # cut short at exit is rolled back by SQLite's journal.
    connection._thread.daemon = True
    return await connection


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


async def _inspect(db: aiosqlite.Connection, path: Path) -> tuple[int, dict[str, set[str]]]:
    """The file's schema version and the columns of its tables, once it is known to be an
    undamaged SQLite database that is empty or bardbot's, of a version this code understands."""
    await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        # One read transaction, so user_version and the schema agree even while another
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
            columns_of = await _columns_of(db)
        finally:
            await _rollback(db)
    except sqlite3.OperationalError as e:  # locked, unreadable, ... (a DatabaseError subclass)
        if "readonly" in str(e):  # WAL needs to create files beside it, even to read
            raise _not_writable(path, e) from e
        raise SettingsError(
            f"cannot read the settings database {path} ({e}); check the file and its permissions"
        ) from e
    except sqlite3.DatabaseError as e:
        raise SettingsError(
            f"the settings database {path} is corrupt or not a SQLite database ({e}); {_UNTOUCHED}"
        ) from e
    if version > SCHEMA_VERSION:
        raise SettingsError(_too_new(path, version))
    if version == 0 and n_objects:
        raise SettingsError(
            f"{path} is a SQLite database but not a bardbot settings database; {_UNTOUCHED}"
        )
    return version, columns_of


async def _prepare(db: aiosqlite.Connection, path: Path) -> None:
    """Check the file, switch to WAL, migrate, check it is writable. Nothing is written before
    the file is checked."""
    version, columns_of = await _inspect(db, path)
    if version == SCHEMA_VERSION:
        _require(path, version, columns_of)
    try:
        mode = await _enable_wal(db)
        if mode != "wal" and str(path) != ":memory:":
            log.warning("settings database %s: WAL unavailable (journal mode %s)", path, mode)
        await _migrate_and_probe(db, path)
    except sqlite3.Error as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise _runtime_error(path, e) from e
        raise _not_writable(path, e) from e


# What a file of any schema version has; a column added later reads as NULL (not set).
_KEYS = {"guilds": frozenset({"guild_id"}), "guild_channels": frozenset({"guild_id", "channel_id"})}


async def _check_readable(db: aiosqlite.Connection, path: Path) -> str:
    """Check a file to read as it is (any schema version); the statement that reads a guild."""
    version, columns_of = await _inspect(db, path)
    if version == 0:
        raise SettingsError(f"{path} holds no bardbot settings (an empty database)")
    _require(path, version, columns_of, _KEYS)
    return _read_statement(columns_of["guilds"])


def _not_writable(path: Path, e: sqlite3.Error) -> SettingsError:
    return SettingsError(
        f"cannot write the settings database {path} ({e}); make the file and its folder"
        " writable by this user, or choose another settings path"
    )


async def _columns_of(db: aiosqlite.Connection) -> dict[str, set[str]]:
    columns_of = {}
    for table in TABLES:
        async with db.execute(f"PRAGMA table_info({table})") as cur:
            columns_of[table] = {row[1] for row in await cur.fetchall()}
    return columns_of


def _require(path: Path, claimed: int, columns_of: dict[str, set[str]], tables=TABLES) -> None:
    """SettingsError unless every table and column of `tables` (the current schema) is there."""
    what = schema_gap(columns_of, tables)
    if what:
        raise SettingsError(
            f"the settings database {path} (schema version {claimed}) lacks {what}; {_UNTOUCHED}"
        )


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


async def _migrate_and_probe(db: aiosqlite.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION in one write transaction; with nothing to migrate, the
    same transaction still proves the file writable (SQLite silently opens a file it may not
    write read-only, and only the first write would fail)."""
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
        _require(path, version, await _columns_of(db))
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # the write probe, too
        await db.execute("COMMIT" if version < SCHEMA_VERSION else "ROLLBACK")
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

"""Opening a SQLite settings file: connect, check it, switch it to WAL, migrate it.

MIGRATIONS is append-only; all pending steps run in one write transaction with the version
update (PRAGMA user_version), so a file is always at exactly one known version, and a newer file
is refused. Nothing is written before the file is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote

import aiosqlite
from bardbot.settings.base import TABLES, SettingsError, newer_schema, schema_gap

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000

# MIGRATIONS[i] takes a file from version i to version i + 1 (PRAGMA user_version). Append
# only; never edit a released step.
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


async def connect(path: Path, *, read_only: bool = False, immutable: bool = False
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


async def rollback(db: aiosqlite.Connection) -> None:
    # Unconditional: after a cancellation the statements already queued on aiosqlite's thread
    # (BEGIN included) still run, and they run before this, so `in_transaction` can't be trusted.
    with contextlib.suppress(sqlite3.Error):  # "no transaction is active"
        await db.execute("ROLLBACK")


def runtime_error(path: Path, e: sqlite3.Error) -> SettingsError:
    if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
        return SettingsError(
            f"the settings database {path} stayed locked by another process for more than "
            f"{BUSY_TIMEOUT_MS / 1000:g} s; try again"
        )
    return SettingsError(f"the settings database {path} failed: {e}")


async def prepare(db: aiosqlite.Connection, path: Path) -> None:
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
            raise runtime_error(path, e) from e
        raise _not_writable(path, e) from e


# What a file of any schema version has; a column added later reads as NULL (not set).
_KEYS = {"guilds": frozenset({"guild_id"}), "guild_channels": frozenset({"guild_id", "channel_id"})}


async def check_readable(db: aiosqlite.Connection, path: Path) -> set[str]:
    """Check a file to read as it is (any schema version); the columns its `guilds` has."""
    version, columns_of = await _inspect(db, path)
    if version == 0:
        raise SettingsError(f"{path} holds no bardbot settings (an empty database)")
    _require(path, version, columns_of, _KEYS)
    return columns_of["guilds"]


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
            await rollback(db)
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
        raise newer_schema(path, version, SCHEMA_VERSION, "settings path")
    if version == 0 and n_objects:
        raise SettingsError(
            f"{path} is a SQLite database but not a bardbot settings database; {_UNTOUCHED}"
        )
    return version, columns_of


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
            raise newer_schema(path, version, SCHEMA_VERSION, "settings path")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                await db.execute(statement)
        _require(path, version, await _columns_of(db))
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # the write probe, too
        await db.execute("COMMIT" if version < SCHEMA_VERSION else "ROLLBACK")
    except BaseException as e:
        await rollback(db)
        if isinstance(e, sqlite3.Error) and target is not None:
            raise SettingsError(
                f"migrating the settings database {path} from schema version {version} to"
                f" {target} failed ({e}); the migration was rolled back and the file is unchanged"
            ) from e
        raise
    if version < SCHEMA_VERSION:
        log.info("settings database %s migrated to schema %d", path, SCHEMA_VERSION)


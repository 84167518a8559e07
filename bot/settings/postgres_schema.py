"""The bardbot schema in PostgreSQL: its append-only migrations, and the checks made when a
store opens.

The tables live in their own PostgreSQL schema, `bardbot`, with its version in
`bardbot.schema_version`. MIGRATIONS[i] takes the database from version i to i + 1; pending
steps run in one transaction with the version update, under an advisory lock, so processes
starting at once migrate once. A newer database is refused.
"""

from __future__ import annotations

import logging

import asyncpg
from bardbot.database_url import PostgresUrl
from bardbot.settings.base import SettingsError, newer_schema, schema_gap

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x62617264626F74  # pg_advisory_xact_lock key: "bardbot" in ASCII

# Append only; never edit a released step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1
        "CREATE SCHEMA IF NOT EXISTS bardbot",
        "CREATE TABLE bardbot.schema_version (version integer NOT NULL)",
        "INSERT INTO bardbot.schema_version VALUES (0)",
        "CREATE TABLE bardbot.guilds ("
        " guild_id bigint PRIMARY KEY,"
        " temperature double precision,"
        " length integer,"
        " chat_enabled boolean,"
        " show_sentiment boolean)",
        "CREATE TABLE bardbot.guild_channels ("
        " guild_id bigint NOT NULL,"
        " channel_id bigint NOT NULL,"
        " PRIMARY KEY (guild_id, channel_id))",
    ),
    (  # v2: channel mood, counts per channel and hour only (bardbot.mood)
        "ALTER TABLE bardbot.guilds ADD COLUMN mood_enabled boolean, ADD COLUMN mood_days integer",
        "CREATE TABLE bardbot.mood_hours ("
        " guild_id bigint NOT NULL,"
        " channel_id bigint NOT NULL,"
        " hour integer NOT NULL,"
        " messages bigint NOT NULL,"
        " positive bigint NOT NULL,"
        " p_sum double precision NOT NULL,"
        " PRIMARY KEY (guild_id, channel_id, hour))",
        # Batches already added, so that a batch retried after a lost answer counts once.
        "CREATE TABLE bardbot.mood_batches ("
        " batch_id text PRIMARY KEY,"
        " added timestamptz NOT NULL DEFAULT now())",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# Takes the guild's row lock (creating the row).
_LOCK_GUILD = (
    "INSERT INTO bardbot.guilds (guild_id) VALUES ($1)"
    " ON CONFLICT (guild_id) DO UPDATE SET guild_id = excluded.guild_id"
)


def reason(url: PostgresUrl, e: BaseException) -> str:
    """The error in words, never with a secret (a driver may quote the URL it was given)."""
    return url.scrub(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


async def _schema_version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('bardbot.schema_version')") is None:
        return 0
    return await conn.fetchval("SELECT max(version) FROM bardbot.schema_version") or 0


async def prepare(conn: asyncpg.Connection, url: PostgresUrl) -> None:
    """Migrate if needed, then check the tables and that we may write to them."""
    version = await _schema_version(conn)
    if version > SCHEMA_VERSION:
        raise newer_schema(url, version, SCHEMA_VERSION, "database")
    if version < SCHEMA_VERSION:
        await _migrate(conn, url)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await _check_schema(conn, url)
        try:  # rolled back below: proves the user may write (not a read-only replica or role)
            await conn.execute(_LOCK_GUILD, 1)
            await conn.execute(
                "INSERT INTO bardbot.guild_channels VALUES (1, 1) ON CONFLICT DO NOTHING"
            )
        except asyncpg.PostgresError as e:
            raise SettingsError(
                f"cannot write to the settings database {url} ({reason(url, e)}); grant this"
                " user INSERT, UPDATE and DELETE on the bardbot schema's tables, or use a"
                " primary server"
            ) from None
    finally:
        await transaction.rollback()


async def check_readable(conn: asyncpg.Connection, url: PostgresUrl) -> None:
    """A database to read as it is (a copy's source): at the current schema, nothing written."""
    version = await _schema_version(conn)
    if version > SCHEMA_VERSION:
        raise newer_schema(url, version, SCHEMA_VERSION, "database")
    if version < SCHEMA_VERSION:
        raise SettingsError(f"the settings database {url} holds no bardbot settings")
    await _check_schema(conn, url)


async def _check_schema(conn: asyncpg.Connection, url: PostgresUrl) -> None:
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'bardbot'"
    )
    columns_of: dict[str, set[str]] = {}
    for r in rows:
        columns_of.setdefault(r["table_name"], set()).add(r["column_name"])
    what = schema_gap(columns_of)
    if what:
        raise SettingsError(
            f"the settings database {url} (schema version {SCHEMA_VERSION}) lacks"
            f" bardbot.{what}; restore it from a backup, or drop the bardbot schema"
            " to start with default settings"
        )


async def _migrate(conn: asyncpg.Connection, url: PostgresUrl) -> None:
    version = target = None
    # Locked before the transaction begins, so that it sees whatever the process that held the
    # lock committed (catalog lookups inside an older transaction may not).
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        async with conn.transaction():
            version = await _schema_version(conn)  # another process may have migrated meanwhile
            if version > SCHEMA_VERSION:
                raise newer_schema(url, version, SCHEMA_VERSION, "database")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target - 1]:
                    await conn.execute(statement)
            await conn.execute("UPDATE bardbot.schema_version SET version = $1", SCHEMA_VERSION)
    except asyncpg.PostgresError as e:
        if target is None:
            raise
        raise SettingsError(
            f"migrating the settings database {url} from schema version {version} to {target}"
            f" failed ({reason(url, e)}); the migration was rolled back"
        ) from None
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    if version < SCHEMA_VERSION:
        log.info("settings database %s migrated to schema %d", url, SCHEMA_VERSION)

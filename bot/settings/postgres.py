"""The PostgreSQL settings backend: one database shared by every shard process on every machine.

asyncpg with a small connection pool. Every read and nearly every write is one statement (one
snapshot of both tables; a read is one round trip, a write is wrapped in BEGIN and COMMIT, see
below). A settings change is an upsert of only the changed columns, which PostgreSQL applies
under the guild row's lock, so two admins changing two fields at once from two processes both
land; replacing the whole channel list takes that lock first, so it never interleaves with
another replacement.

Every call gives up after OPERATION_TIMEOUT (below Discord's 3 s) with SettingsUnavailable,
waiting for an earlier call included; a connection lost to a restart or a network cut is
replaced on the next call, so the store reconnects by itself. Every write is one transaction
whose COMMIT is sent only while its caller still waits: a write given up on before that is
rolled back (the server also ends a statement past statement_timeout), so "nothing was changed"
is true; one given up on after it raises SettingsOutcomeUnknown.

The tables, their migrations and the checks at open: `postgres_schema.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from bardbot.database_url import PostgresUrl
from bardbot.settings import base
from bardbot.settings import postgres_schema as schema
from bardbot.settings.base import COLUMNS, GuildSettings, MoodRow, SettingsError, StoredRow
from bardbot.settings.postgres_schema import reason

CONNECT_TIMEOUT = 5.0  # seconds, at start
OPERATION_TIMEOUT = 2.0  # seconds for one read or write, reconnecting included
POOL_SIZE = 4
# Sent at connection start: the server itself ends a statement that runs past our timeout, and a
# transaction whose client went away mid-way, so neither holds a guild's row lock for long.
SERVER_SETTINGS = {
    "application_name": "bardbot",
    "statement_timeout": str(int(OPERATION_TIMEOUT * 1000)),
    "idle_in_transaction_session_timeout": str(int(5 * OPERATION_TIMEOUT * 1000)),
}

# The server went away, restarted, refused us or a connection broke: worth a reconnect.
CONNECTION_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, cancelled
    asyncpg.TooManyConnectionsError,
    # What asyncpg raises when a server's "terminating connection" notice reached an idle
    # connection and the next query finds its protocol in the wrong state.
    asyncpg.InternalClientError,
)

_READ = (
    f"SELECT {', '.join(COLUMNS)}, g.guild_id IS NOT NULL AS stored,"
    " ARRAY(SELECT channel_id FROM bardbot.guild_channels WHERE guild_id = $1) AS channels"
    " FROM (VALUES (1)) AS one (x) LEFT JOIN bardbot.guilds g ON g.guild_id = $1"
)

_READ_ALL = (
    f"SELECT ids.guild_id, {', '.join(COLUMNS)},"
    " ARRAY(SELECT channel_id FROM bardbot.guild_channels c WHERE c.guild_id = ids.guild_id)"
    " AS channels"
    " FROM (SELECT guild_id FROM bardbot.guilds UNION SELECT guild_id FROM bardbot.guild_channels)"
    " AS ids LEFT JOIN bardbot.guilds g ON g.guild_id = ids.guild_id"
)

# Adds a batch of channel-hour counts in one statement, unless its batch id was added before;
# only for servers whose mood is on, read under a share lock, so that turning mood off (which
# updates that row) waits for a running add, and no add can follow it.
_ADD_MOOD = (
    "WITH batch AS (INSERT INTO bardbot.mood_batches (batch_id) VALUES ($1)"
    "  ON CONFLICT DO NOTHING RETURNING batch_id),"
    " counted AS (SELECT guild_id FROM bardbot.guilds"
    "  WHERE guild_id = ANY($2::bigint[]) AND coalesce(mood_enabled, $8) FOR SHARE)"
    " INSERT INTO bardbot.mood_hours AS m (guild_id, channel_id, hour, messages, positive, p_sum)"
    " SELECT u.* FROM unnest($2::bigint[], $3::bigint[], $4::integer[], $5::bigint[],"
    "  $6::bigint[], $7::double precision[]) AS u (g, c, h, n, pos, p_sum)"
    " WHERE EXISTS (SELECT 1 FROM batch) AND u.g IN (SELECT guild_id FROM counted)"
    " ON CONFLICT (guild_id, channel_id, hour) DO UPDATE SET"
    " messages = m.messages + excluded.messages,"
    " positive = m.positive + excluded.positive,"
    " p_sum = m.p_sum + excluded.p_sum"
)

# Older than the server's mood_days (or the default), or of a server whose mood is off.
_PRUNE_MOOD = (
    "DELETE FROM bardbot.mood_hours m WHERE NOT EXISTS"
    " (SELECT 1 FROM bardbot.guilds g WHERE g.guild_id = m.guild_id"
    "  AND m.hour >= $1 - 24 * coalesce(g.mood_days, $2) AND coalesce(g.mood_enabled, $3))"
)

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[T]]


class _Call:
    """What `_run` knows of one call: whether its COMMIT may have reached the server."""

    committing = False


class PostgresSettingsStore(base.SettingsStore):
    def __init__(self, pool: asyncpg.Pool, url: PostgresUrl, defaults: GuildSettings):
        super().__init__(url.redacted, defaults)
        self._pool: asyncpg.Pool | None = pool
        self._url = url
        self._calls: set[asyncio.Task] = set()  # running calls, some given up on by their caller
        self._abandoned: set[asyncio.Task] = set()  # those given up on, until they finish

    @classmethod
    async def connect(
        cls, url: PostgresUrl, defaults: GuildSettings, *, read_only: bool = False
    ) -> PostgresSettingsStore:
        """The store on `url`, migrated; `read_only`: as it is (never migrated nor written)."""
        server_settings = dict(SERVER_SETTINGS)
        if read_only:
            server_settings["default_transaction_read_only"] = "on"
        # min_size=0: connections are made on demand, so a server that goes away costs a failed
        # call (SettingsUnavailable), not a background task retrying and logging tracebacks.
        pool = asyncpg.create_pool(
            url.secret,
            min_size=0,
            max_size=POOL_SIZE,
            timeout=CONNECT_TIMEOUT,
            server_settings=server_settings,
        )
        try:
            await pool
            conn = await asyncio.wait_for(pool.acquire(), 2 * CONNECT_TIMEOUT)
        except Exception as e:
            pool.terminate()
            raise _connect_error(url, e) from None
        try:
            await (schema.check_readable(conn, url) if read_only else schema.prepare(conn, url))
        except BaseException as e:
            pool.terminate()
            if isinstance(e, asyncpg.PostgresError | OSError):
                raise SettingsError(
                    f"the settings database {url} failed while opening: {reason(url, e)}"
                ) from None
            raise
        await pool.release(conn)
        return cls(pool, url, defaults)

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        for task in self._calls:
            task.cancel()
        try:
            await asyncio.wait_for(pool.close(), OPERATION_TIMEOUT)
        except TimeoutError:  # a server gone silent: do not wait for it
            pool.terminate()

    async def _fetch(self, guild_id: int) -> StoredRow | None:
        return await self._run(lambda conn: _read(conn, guild_id))

    async def _fetch_all(self) -> dict[int, StoredRow]:
        async def work(conn: asyncpg.Connection) -> dict[int, StoredRow]:
            rows = await conn.fetch(_READ_ALL)
            return {r["guild_id"]: _stored_row(r) for r in rows}

        return await self._run(work)

    async def _write(
        self, guild_id: int, columns: dict[str, Any], channels: frozenset[int] | None
    ) -> StoredRow | None:
        if channels is None:  # the usual case: one statement
            return await self._run(lambda conn: _upsert(conn, guild_id, columns), write=True)

        async def work(conn: asyncpg.Connection) -> StoredRow | None:
            await _upsert(conn, guild_id, columns)  # takes the guild's row lock
            await _replace_channels(conn, guild_id, channels)
            return await _read(conn, guild_id)

        return await self._run(work, write=True)

    async def _set_channel(self, guild_id: int, channel_id: int, allowed: bool) -> StoredRow | None:
        change, others = (
            ("INSERT INTO bardbot.guild_channels VALUES ($1, $2) ON CONFLICT DO NOTHING",
             "|| $2::bigint")
            if allowed
            else ("DELETE FROM bardbot.guild_channels WHERE guild_id = $1 AND channel_id = $2",
                  "")
        )  # fmt: skip
        # One statement: the change, and the result computed from the snapshot it started with
        # (which cannot see its own change yet).
        statement = (
            f"WITH change AS ({change})"
            f" SELECT {', '.join(COLUMNS)}, g.guild_id IS NOT NULL AS stored,"
            " ARRAY(SELECT channel_id FROM bardbot.guild_channels"
            f"  WHERE guild_id = $1 AND channel_id <> $2) {others} AS channels"
            " FROM (VALUES (1)) AS one (x) LEFT JOIN bardbot.guilds g ON g.guild_id = $1"
        )

        async def work(conn: asyncpg.Connection) -> StoredRow | None:
            row = await conn.fetchrow(statement, guild_id, channel_id)
            return _stored_row(row) if row["stored"] or row["channels"] else None

        return await self._run(work, write=True)

    async def _replace(self, guild_id: int, row: StoredRow, overwrite: bool) -> bool:
        names = ", ".join(COLUMNS)
        values = ", ".join(f"${i}" for i in range(2, len(COLUMNS) + 2))
        sets = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS)
        on_conflict = f"DO UPDATE SET {sets}" if overwrite else "DO NOTHING"

        async def work(conn: asyncpg.Connection) -> bool:
            # Takes the guild's row lock; without `overwrite`, a guild already there is left be.
            created = await conn.fetchval(
                f"INSERT INTO bardbot.guilds (guild_id, {names}) VALUES ($1, {values})"
                f" ON CONFLICT (guild_id) {on_conflict} RETURNING guild_id",
                guild_id, *(row.values.get(name) for name in COLUMNS),
            )
            if created is None:
                return False
            if not overwrite and await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM bardbot.guild_channels WHERE guild_id = $1)",
                guild_id,
            ):  # the guild has allowed channels only: it is there too
                await conn.execute("DELETE FROM bardbot.guilds WHERE guild_id = $1", guild_id)
                return False
            await _replace_channels(conn, guild_id, row.channels)
            return True

        return await self._run(work, write=True)

    async def _add_mood(self, batch_id: str, counts: list) -> None:
        columns = list(zip(*((*key, *value) for key, value in counts), strict=True))

        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(_ADD_MOOD, batch_id, *columns, self.defaults.mood_enabled)

        await self._run(work, write=True)

    async def _mood_rows(self, guild_id: int, since_hour: int, channel_ids: list[int]) -> list:
        async def work(conn: asyncpg.Connection) -> list:
            return await conn.fetch(
                "SELECT channel_id, hour, messages, positive, p_sum FROM bardbot.mood_hours"
                " WHERE guild_id = $1 AND hour >= $2 AND channel_id = ANY($3::bigint[])"
                " ORDER BY hour",
                guild_id, since_hour, channel_ids,
            )

        return [MoodRow(*row) for row in await self._run(work)]

    async def _forget_mood(self, guild_id: int) -> int:
        async def work(conn: asyncpg.Connection) -> str:
            return await conn.execute(
                "DELETE FROM bardbot.mood_hours WHERE guild_id = $1", guild_id
            )

        return int((await self._run(work, write=True)).split()[-1])

    async def prune_mood(self, now_hour: int) -> int:
        async def work(conn: asyncpg.Connection) -> str:
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM bardbot.mood_batches WHERE added < now() - interval '1 day'"
                )
                return await conn.execute(
                    _PRUNE_MOOD, now_hour, self.defaults.mood_days, self.defaults.mood_enabled
                )

        return int((await self._run(work)).split()[-1])

    async def _run(self, work: Work[T], *, write: bool = False) -> T:
        """`work` on a pooled connection (in a transaction if `write`), within OPERATION_TIMEOUT
        whatever the network does, waiting for earlier calls included."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("the settings store is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPERATION_TIMEOUT
        # A call whose caller gave up may still be running at the server: let it settle first,
        # so that it can never land after (and undo) a later write.
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=deadline - loop.time())
            if self._abandoned:
                raise self._too_slow("; nothing was changed" if write else "")
        call = _Call()
        # A task, so that the caller is answered on time even if cancelling a query on a dead
        # connection would itself wait for the network.
        task = asyncio.ensure_future(self._with_reconnect(pool, work, call if write else None))
        self._calls.add(task)
        task.add_done_callback(self._forget)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            if call.committing:
                raise base.SettingsOutcomeUnknown(
                    f"the settings database {self.location} did not confirm a change within"
                    f" {OPERATION_TIMEOUT:g} s; it may or may not have been made"
                )
            raise self._too_slow("; nothing was changed" if write else "")
        try:
            return task.result()
        except CONNECTION_LOST as e:
            raise base.SettingsUnavailable(
                f"the settings database {self.location} is unreachable: {reason(self._url, e)}"
            ) from None
        except asyncpg.PostgresError as e:
            raise SettingsError(
                f"the settings database {self.location} failed: {reason(self._url, e)}"
            ) from None

    def _too_slow(self, consequence: str) -> base.SettingsUnavailable:
        return base.SettingsUnavailable(
            f"the settings database {self.location} did not answer within"
            f" {OPERATION_TIMEOUT:g} s{consequence}"
        )

    def _abandon(self, task: asyncio.Task) -> None:
        task.cancel()  # it finishes on its own (rolled back unless it was committing)
        if not task.done():
            self._abandoned.add(task)

    def _forget(self, task: asyncio.Task) -> None:
        self._calls.discard(task)
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved (by _run, or nobody): no "never retrieved" warning

    @staticmethod
    async def _with_reconnect(pool: asyncpg.Pool, work: Work[T], write: _Call | None) -> T:
        try:
            return await _attempt(pool, work, write)
        except CONNECTION_LOST:
            # After a server restart every pooled connection is dead, not just this one: drop
            # them all and try once more on a fresh one. Every write sets values (never adds to
            # them; a mood add carries a batch id that counts once), so running one twice is
            # harmless.
            await pool.expire_connections()
            return await _attempt(pool, work, write)


async def _attempt(pool: asyncpg.Pool, work: Work[T], write: _Call | None) -> T:
    async with pool.acquire() as conn:
        if write is None:
            return await work(conn)
        async with conn.transaction():
            result = await work(conn)
            write.committing = True  # leaving the block sends COMMIT
        return result


async def _upsert(conn: asyncpg.Connection, guild_id: int, columns: dict[str, Any]) -> StoredRow:
    """Set `columns` of the guild's row (creating it) in one statement; the row after."""
    # Column names come from COLUMNS, never from the caller.
    names = "".join(f", {name}" for name in columns)
    values = "".join(f", ${i}" for i in range(2, len(columns) + 2))
    sets = ", ".join(f"{name} = excluded.{name}" for name in columns)
    row = await conn.fetchrow(
        f"WITH g AS (INSERT INTO bardbot.guilds AS t (guild_id{names}) VALUES ($1{values})"
        f" ON CONFLICT (guild_id) DO UPDATE SET {sets or 'guild_id = excluded.guild_id'}"
        f" RETURNING t.*)"
        f" SELECT {', '.join(COLUMNS)},"
        " ARRAY(SELECT channel_id FROM bardbot.guild_channels WHERE guild_id = $1) AS channels"
        " FROM g",
        guild_id, *columns.values(),
    )
    return _stored_row(row)


async def _read(conn: asyncpg.Connection, guild_id: int) -> StoredRow | None:
    row = await conn.fetchrow(_READ, guild_id)
    if not row["stored"] and not row["channels"]:
        return None
    return _stored_row(row)


def _stored_row(row: asyncpg.Record) -> StoredRow:
    return StoredRow({name: row[name] for name in COLUMNS}, list(row["channels"]))


async def _replace_channels(conn: asyncpg.Connection, guild_id: int, channels) -> None:
    await conn.execute("DELETE FROM bardbot.guild_channels WHERE guild_id = $1", guild_id)
    await conn.execute(
        "INSERT INTO bardbot.guild_channels (guild_id, channel_id)"
        " SELECT $1, unnest($2::bigint[])",
        guild_id, sorted(channels),
    )


def _connect_error(url: PostgresUrl, e: Exception) -> SettingsError:
    if isinstance(e, asyncpg.InvalidAuthorizationSpecificationError):
        return SettingsError(
            f"the settings database {url} refused the login ({reason(url, e)}); check the user"
            " name and the password (in the URL, PGPASSWORD or ~/.pgpass)"
        )
    if isinstance(e, asyncpg.InvalidCatalogNameError):
        return SettingsError(f"the settings database {url} does not exist ({reason(url, e)});"
                             " create it first (createdb)")
    if isinstance(e, ValueError):  # the driver's own message may quote the URL: not shown
        return SettingsError(
            f"{url} is not a valid PostgreSQL URL; percent-encode characters such as @ : / ? #"
            " in the user name and the password (or give the password in PGPASSWORD or"
            " ~/.pgpass)"
        )
    return SettingsError(
        f"cannot connect to the settings database {url} ({reason(url, e)}); check that"
        " PostgreSQL is running and reachable from here"
    )

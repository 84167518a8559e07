"""Per-server settings store: persistence, isolation, concurrency, validation, migrations and
damaged databases. The behaviour tests run against both backends: SQLite (a file under
tmp_path) and PostgreSQL (a real throwaway server, see pg_cluster.py)."""

import asyncio
import logging
import math
import os
import random
import sqlite3
import sys
from pathlib import Path

import asyncpg
import pytest
from bardbot.limits import MAX_LENGTH
from bardbot.settings import (
    GuildSettings,
    PostgresUrl,
    SettingsError,
    open_store,
    parse_target,
    postgres_schema,
    sqlite_schema,
)
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

GUILD, OTHER = 111111111111111111, 222222222222222222
CHANNEL = 333333333333333333


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    """Where a store lives: a SQLite path (its folder does not exist yet) or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state" / "settings.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def store(target):
    async with await open_store(target) as s:
        yield s


async def raw_execute(target, statement: str, *args) -> None:
    """Run SQL on the database behind the store's back (another tool, a hand edit, ...).
    Statements use $1-style parameters; SQLite gets them as ?."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as con:
            con.execute(statement.replace("$1", "?").replace("$2", "?").replace("$3", "?"), args)
        con.close()
    else:
        conn = await asyncpg.connect(target, server_settings={"search_path": "bardbot"})
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()


async def set_raw_version(target, version: int) -> None:
    if isinstance(target, Path):
        await raw_execute(target, f"PRAGMA user_version = {version}")
    else:
        await raw_execute(target, "UPDATE bardbot.schema_version SET version = $1", version)


def backend(target):
    return sqlite_schema if isinstance(target, Path) else postgres_schema


async def test_defaults_for_unknown_guild(store, target):
    assert await store.get(GUILD) == GuildSettings()
    custom = GuildSettings(chat_enabled=False, temperature=1.0)
    async with await open_store(target, defaults=custom) as plugin:
        assert await plugin.get(GUILD) == custom


async def test_settings_survive_a_restart(target):
    async with await open_store(target) as store:
        await store.update(GUILD, temperature=0.8, length=400, show_sentiment=True)
        await store.update(GUILD, chat_enabled=False)
        await store.allow_channel(GUILD, CHANNEL)
    async with await open_store(target) as store:  # a new process, same database
        assert await store.get(GUILD) == GuildSettings(
            temperature=0.8,
            length=400,
            chat_enabled=False,
            allowed_channels=frozenset({CHANNEL}),
            show_sentiment=True,
        )


async def test_update_changes_only_given_fields_and_unset_fields_follow_defaults(target):
    async with await open_store(target) as store:
        result = await store.update(GUILD, length=50)
        assert result == GuildSettings(length=50)
        assert await store.update(GUILD, temperature=1) == GuildSettings(length=50, temperature=1.0)
        assert isinstance((await store.get(GUILD)).temperature, float)
        assert await store.update(GUILD) == GuildSettings(length=50, temperature=1.0)
    # A host with other defaults: what the server never chose follows the host's defaults.
    host = GuildSettings(chat_enabled=False, show_sentiment=True)
    async with await open_store(target, defaults=host) as store:
        got = await store.get(GUILD)
        assert (got.length, got.temperature, got.chat_enabled, got.show_sentiment) == (
            50, 1.0, False, True,
        )  # fmt: skip


async def test_guilds_are_isolated(store):
    await store.update(GUILD, temperature=1.5, chat_enabled=False)
    await store.allow_channel(GUILD, CHANNEL)
    assert await store.get(OTHER) == GuildSettings()
    await store.update(OTHER, length=10)
    assert await store.get(GUILD) == GuildSettings(
        temperature=1.5, chat_enabled=False, allowed_channels=frozenset({CHANNEL})
    )
    assert await store.get(OTHER) == GuildSettings(length=10)


async def test_channel_allow_and_disallow(store):
    assert (await store.get(GUILD)).allows_channel(CHANNEL)  # empty set: every channel
    s = await store.allow_channel(GUILD, CHANNEL)
    assert s.allowed_channels == {CHANNEL}
    assert s.allows_channel(CHANNEL) and not s.allows_channel(CHANNEL + 1)
    s = await store.allow_channel(GUILD, CHANNEL)  # idempotent
    s = await store.allow_channel(GUILD, CHANNEL + 1)
    assert s.allowed_channels == {CHANNEL, CHANNEL + 1}
    s = await store.disallow_channel(GUILD, CHANNEL)
    assert s.allowed_channels == {CHANNEL + 1} and not s.allows_channel(CHANNEL)
    s = await store.disallow_channel(GUILD, CHANNEL)  # not there: no error
    s = await store.disallow_channel(GUILD, CHANNEL + 1)
    assert s.allowed_channels == frozenset() and s.allows_channel(CHANNEL)
    s = await store.update(GUILD, allowed_channels=[5, 6])  # replace the whole set
    assert s.allowed_channels == {5, 6}
    assert (await store.update(GUILD, allowed_channels=())).allowed_channels == frozenset()


async def test_concurrent_updates_from_two_stores_lose_nothing(target):
    a = await open_store(target)
    b = await open_store(target)
    try:
        temps = [round(0.1 + i / 100, 2) for i in range(40)]
        lengths = list(range(1, 41))
        await asyncio.gather(
            *(a.update(GUILD, temperature=t) for t in temps),
            *(b.update(GUILD, length=n) for n in lengths),
            *(a.allow_channel(GUILD, 1000 + i) for i in range(20)),
            *(b.allow_channel(GUILD, 2000 + i) for i in range(20)),
            *(b.update(OTHER, show_sentiment=i % 2 == 0) for i in range(11)),
        )
        await a.update(GUILD, temperature=temps[-1])  # the pool may reorder concurrent calls
        await b.update(GUILD, length=lengths[-1])
        await b.update(OTHER, show_sentiment=True)
        expected = GuildSettings(
            temperature=temps[-1],
            length=lengths[-1],
            allowed_channels=frozenset(range(1000, 1020)) | frozenset(range(2000, 2020)),
        )
        assert await a.get(GUILD) == expected
        assert await b.get(GUILD) == expected
        assert await a.get(OTHER) == GuildSettings(show_sentiment=True)
    finally:
        await a.close()
        await b.close()


async def test_each_store_sees_the_others_writes(target):
    async with (
        await open_store(target) as a,
        await open_store(target) as b,
    ):
        await a.update(GUILD, temperature=0.3)
        assert (await b.get(GUILD)).temperature == 0.3
        await b.update(GUILD, temperature=0.4)
        assert (await a.get(GUILD)).temperature == 0.4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": 3.0}, "temperature must be between 0.1 and 2.0 (got 3.0)"),
        ({"temperature": 0.05}, "temperature must be between 0.1 and 2.0 (got 0.05)"),
        ({"temperature": math.nan}, "temperature must be between 0.1 and 2.0 (got nan)"),
        ({"temperature": math.inf}, "temperature must be between 0.1 and 2.0 (got inf)"),
        ({"temperature": True}, "temperature must be between 0.1 and 2.0 (got True)"),
        ({"temperature": "0.5"}, "temperature must be between 0.1 and 2.0 (got '0.5')"),
        ({"length": 0}, f"length must be a whole number between 1 and {MAX_LENGTH} (got 0)"),
        ({"length": MAX_LENGTH + 1},
         f"length must be a whole number between 1 and {MAX_LENGTH} (got 1501)"),
        ({"length": 2.5}, f"length must be a whole number between 1 and {MAX_LENGTH} (got 2.5)"),
        ({"length": True}, f"length must be a whole number between 1 and {MAX_LENGTH} (got True)"),
        ({"chat_enabled": 1}, "chat_enabled must be on (True) or off (False) (got 1)"),
        ({"show_sentiment": "yes"}, "show_sentiment must be on (True) or off (False) (got 'yes')"),
        ({"allowed_channels": [0]}, "channel id must be a Discord id"),
        ({"allowed_channels": "123"}, "allowed_channels must be a collection of channel ids"),
        ({"colour": "red"}, "unknown setting 'colour'; known settings: temperature, length,"),
        # One bad value rejects the whole update, including the good ones.
        ({"length": 10, "temperature": 9}, "temperature must be between 0.1 and 2.0 (got 9)"),
    ],
)
async def test_bad_values_are_rejected_with_a_clear_message(store, changes, message):
    await store.update(GUILD, length=77)
    with pytest.raises(ValueError) as err:
        await store.update(GUILD, **changes)
    assert message in str(err.value)
    assert await store.get(GUILD) == GuildSettings(length=77)


async def test_bad_ids_and_bad_defaults_are_rejected(store, tmp_path):
    for bad in (0, -1, 2**63, True, "1"):
        with pytest.raises(ValueError, match="must be a Discord id"):
            await store.get(bad)
        with pytest.raises(ValueError, match="must be a Discord id"):
            await store.allow_channel(GUILD, bad)
    with pytest.raises(ValueError, match=r"length must be a whole number .* \(got 0\)"):
        GuildSettings(length=0)
    with pytest.raises(ValueError, match=r"defaults\.allowed_channels must be empty"):
        await open_store(
            tmp_path / "x.db", defaults=GuildSettings(allowed_channels=frozenset({1}))
        )
    # The boundaries themselves are fine.
    s = await store.update(GUILD, temperature=0.1, length=MAX_LENGTH)
    assert (s.temperature, s.length) == (0.1, MAX_LENGTH)
    assert (await store.update(GUILD, temperature=2.0, length=1)).temperature == 2.0
    assert (await store.allow_channel(GUILD, 2**63 - 1)).allows_channel(2**63 - 1)


async def test_closed_store_refuses_work(target):
    store = await open_store(target)
    await store.close()
    await store.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await store.get(GUILD)


async def test_a_database_from_a_newer_version_is_refused(target):
    async with await open_store(target) as store:
        await store.update(GUILD, length=5)
    newer = backend(target).SCHEMA_VERSION + 1
    await set_raw_version(target, newer)
    with pytest.raises(SettingsError) as err:
        await open_store(target)
    message = str(err.value)
    assert f"schema version {newer}, newer than this bardbot" in message
    assert "upgrade bardbot" in message and str(parse_target(target)) in message


async def test_a_current_version_missing_a_table_is_refused_at_start(target):
    async with await open_store(target):
        pass
    await raw_execute(target, "DROP TABLE guild_channels")
    with pytest.raises(SettingsError, match=r"lacks (bardbot\.)?the table guild_channels"):
        await open_store(target)


async def test_several_stores_creating_the_same_new_database_at_once(target):
    # Racing to create the schema (and, for SQLite, to switch a new file to WAL: a rare
    # "locked" that bypasses the busy timeout): every opener succeeds, the migration runs once.
    stores = await asyncio.gather(*(open_store(target) for _ in range(6)))
    try:
        await stores[0].update(GUILD, length=9)
        assert [(await s.get(GUILD)).length for s in stores] == [9] * 6
    finally:
        for s in stores:
            await s.close()


async def test_a_cancelled_update_leaves_the_store_usable(store):
    """Cancelled at any point (e.g. a handler cancelled on shutdown): the write is all or nothing
    and the next call still works."""
    before = await store.update(GUILD, length=77)
    for ticks in range(12):
        task = asyncio.create_task(store.update(GUILD, length=100 + ticks, temperature=1.5))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        after = GuildSettings(length=100 + ticks, temperature=1.5)
        assert await store.get(GUILD) in (before, after)  # never half of the update
        assert await store.update(GUILD, length=77, temperature=0.5) == before


# -- a bad value in the database never locks a server out ------------------------------------


async def test_a_bad_stored_value_reads_as_its_default_is_logged_once_and_can_be_overwritten(
    target, caplog
):
    async with await open_store(target) as store:
        await store.update(GUILD, length=300, temperature=1.2)
        await store.update(OTHER, length=10)
        await raw_execute(target, "UPDATE guilds SET length = $1 WHERE guild_id = $2", 5000, GUILD)
        await raw_execute(target, "INSERT INTO guild_channels VALUES ($1, $2)", GUILD, -5)
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                got = await store.get(GUILD)
                assert got == GuildSettings(length=200, temperature=1.2)  # the rest still holds
        warnings = [r.getMessage() for r in caplog.records if "invalid stored" in r.getMessage()]
        assert len(warnings) == 2  # length and the channel, once each
        assert f"server {GUILD} has an invalid stored length" in warnings[0]
        assert "/bardbot-set" in warnings[0]
        assert await store.get(OTHER) == GuildSettings(length=10)
        # Writing a field never needs the bad one to be readable, and repairs it.
        assert (await store.update(GUILD, length=100)).length == 100
        assert (await store.update(GUILD, allowed_channels=[CHANNEL])).allowed_channels == {
            CHANNEL
        }


_SQLITE_VALUES = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
    | st.floats(allow_nan=False) | st.binary(max_size=4) | st.sampled_from([0, 1, 0.5, 200])
)  # fmt: skip


@hypothesis_settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    temperature=_SQLITE_VALUES, length=_SQLITE_VALUES, chat=_SQLITE_VALUES,
    show=_SQLITE_VALUES, mood=_SQLITE_VALUES, mood_days=_SQLITE_VALUES,
    channels=st.lists(_SQLITE_VALUES, max_size=3),
)  # fmt: skip
def test_any_stored_sqlite_row_reads_as_valid_settings(
    tmp_path, temperature, length, chat, show, mood, mood_days, channels
):
    path = tmp_path / "fuzz.db"

    async def read_back() -> GuildSettings:
        async with await open_store(path) as store:
            return await store.get(GUILD)

    if not path.exists():  # hypothesis reuses tmp_path for every example
        asyncio.run(read_back())  # creates the schema
    with sqlite3.connect(path) as con:
        con.execute("DELETE FROM guilds")
        con.execute("DELETE FROM guild_channels")
        con.execute("INSERT INTO guilds VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (GUILD, temperature, length, chat, show, mood, mood_days))
        con.executemany("INSERT OR IGNORE INTO guild_channels VALUES (?, ?)",
                        [(GUILD, c) for c in channels if c is not None])
    con.close()
    got = asyncio.run(read_back())
    assert GuildSettings(**vars(got)) == got  # every field valid
    stored_length = length if isinstance(length, int) and not isinstance(length, bool) else None
    if stored_length is not None and 1 <= stored_length <= MAX_LENGTH:
        assert got.length == stored_length  # good values are kept


@pytest.fixture(scope="module")
def pg_fuzz_url(pg_cluster):
    async def fresh():
        conn = await asyncpg.connect(pg_cluster.url())
        await conn.execute("DROP SCHEMA IF EXISTS bardbot CASCADE")
        await conn.close()
        async with await open_store(pg_cluster.url()):
            pass

    asyncio.run(fresh())
    return pg_cluster.url()


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    temperature=st.none() | st.floats(width=64),
    length=st.none() | st.integers(-(2**31), 2**31 - 1),
    chat=st.none() | st.booleans(),
    channels=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3, unique=True),
)
def test_any_stored_postgres_row_reads_as_valid_settings(
    pg_fuzz_url, temperature, length, chat, channels
):
    async def write_then_read() -> GuildSettings:
        conn = await asyncpg.connect(pg_fuzz_url)
        try:
            async with conn.transaction():
                await conn.execute("DELETE FROM bardbot.guilds")
                await conn.execute("DELETE FROM bardbot.guild_channels")
                await conn.execute(
                    "INSERT INTO bardbot.guilds VALUES ($1, $2, $3, $4, NULL)",
                    GUILD, temperature, length, chat,
                )
                await conn.executemany("INSERT INTO bardbot.guild_channels VALUES ($1, $2)",
                                       [(GUILD, c) for c in channels])
        finally:
            await conn.close()
        async with await open_store(pg_fuzz_url) as store:
            return await store.get(GUILD)

    got = asyncio.run(write_then_read())
    assert GuildSettings(**vars(got)) == got
    assert got.allowed_channels == {c for c in channels if c > 0}


# -- SQLite only ------------------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "settings.db"


def _user_version(path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("PRAGMA user_version").fetchone()[0]


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


async def test_sqlite_uses_wal_and_a_sqlite_prefix(tmp_path):
    path = tmp_path / "s.db"
    async with await open_store(f"sqlite:{path}") as store:
        assert store.path == path
        async with store._db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    assert _user_version(path) == sqlite_schema.SCHEMA_VERSION


def _make_v1_file(path, tables=(0, 1)):
    """A file exactly as the version-1 code left it (or with only some of its tables)."""
    with sqlite3.connect(path) as con:
        for i in tables:
            con.execute(sqlite_schema.MIGRATIONS[0][i])
        con.execute(
            "INSERT INTO guilds (guild_id, temperature, length, chat_enabled) VALUES (?, ?, ?, ?)",
            (GUILD, 1.2, 300, 0),
        )
        if 1 in tables:
            con.execute("INSERT INTO guild_channels VALUES (?, ?)", (GUILD, CHANNEL))
        con.execute("PRAGMA user_version = 1")
    con.close()


async def test_migrates_a_version_1_file(db_path):
    db_path.parent.mkdir()
    _make_v1_file(db_path)
    async with await open_store(db_path) as store:
        assert await store.get(GUILD) == GuildSettings(
            temperature=1.2,
            length=300,
            chat_enabled=False,
            allowed_channels=frozenset({CHANNEL}),
            show_sentiment=False,  # added in version 2: the default until set
        )
        assert (await store.update(GUILD, show_sentiment=True)).show_sentiment
    assert _user_version(db_path) == sqlite_schema.SCHEMA_VERSION == 3
    async with await open_store(db_path) as store:  # already current: nothing to do
        assert (await store.get(GUILD)).show_sentiment


async def test_a_version_1_file_missing_a_table_is_refused_and_left_as_it_was(db_path):
    db_path.parent.mkdir()
    _make_v1_file(db_path, tables=(0,))
    with pytest.raises(SettingsError) as err:
        await open_store(db_path)
    assert f"{db_path} (schema version 1) lacks the table guild_channels" in str(err.value)
    assert _user_version(db_path) == 1  # the migration to 2 was rolled back
    with sqlite3.connect(db_path) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(guilds)")]
    con.close()
    assert "show_sentiment" not in columns


async def test_a_failing_migration_is_rolled_back_whole(db_path, monkeypatch):
    db_path.parent.mkdir()
    _make_v1_file(db_path)
    broken = (*sqlite_schema.MIGRATIONS, ("ALTER TABLE guilds ADD COLUMN colour TEXT", "NOT SQL"))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", broken)
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", len(broken))
    last = len(broken)
    with pytest.raises(SettingsError, match=f"from schema version 1 to {last} failed") as err:
        await open_store(db_path)
    assert str(db_path) in str(err.value)
    assert _user_version(db_path) == 1  # no earlier step nor the first half of the last stayed
    with sqlite3.connect(db_path) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(guilds)")]
    con.close()
    assert columns == ["guild_id", "temperature", "length", "chat_enabled"]


async def test_a_newer_file_is_left_byte_for_byte(db_path):
    async with await open_store(db_path):
        pass
    with sqlite3.connect(db_path) as con:
        con.execute(f"PRAGMA user_version = {sqlite_schema.SCHEMA_VERSION + 1}")
    con.close()
    before = db_path.read_bytes()
    with pytest.raises(SettingsError, match="newer"):
        await open_store(db_path)
    assert db_path.read_bytes() == before


async def _settings_db_bytes(path) -> bytes:
    """A real settings database with a few thousand servers in it (several pages)."""
    async with await open_store(path):
        pass
    with sqlite3.connect(path) as con:
        con.executemany(
            "INSERT INTO guilds (guild_id, temperature, length) VALUES (?, ?, ?)",
            [(i, 0.7, 123) for i in range(1, 3001)],
        )
    con.close()
    data = path.read_bytes()
    path.unlink()
    return data


def _flip_bytes_past_header(data: bytes) -> bytes:
    damaged = bytearray(data)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 2048):
        damaged[i] ^= 0x5A
    return bytes(damaged)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda db: random.Random(0).randbytes(8192), id="random-bytes"),
        pytest.param(lambda db: b"guild,temperature\n1,0.5\n" * 50, id="not-sqlite"),
        pytest.param(lambda db: db[: len(db) // 2], id="truncated"),
        pytest.param(lambda db: db[:60], id="truncated-header"),
        pytest.param(_flip_bytes_past_header, id="damaged-pages"),
    ],
)
async def test_a_corrupt_file_is_reported_and_preserved(tmp_path, damage):
    path = tmp_path / "settings.db"
    data = damage(await _settings_db_bytes(tmp_path / "source.db"))
    path.write_bytes(data)
    files = _listing(tmp_path)
    with pytest.raises(SettingsError) as err:
        await open_store(path)
    message = str(err.value)
    assert str(path) in message and "move it aside" in message
    assert path.read_bytes() == data  # byte for byte
    assert _listing(tmp_path) == files  # and no -wal/-shm/-journal left beside it


async def test_a_foreign_sqlite_database_is_not_taken_over(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE guilds (name TEXT)")
    con.close()
    before = path.read_bytes()
    with pytest.raises(SettingsError, match="not a bardbot settings database"):
        await open_store(path)
    assert path.read_bytes() == before


async def test_an_unopenable_path_is_a_settings_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SettingsError, match="settings database"):
        await open_store(tmp_path / "file" / "settings.db")  # parent is a file
    with pytest.raises(SettingsError, match="check the path"):
        await open_store(tmp_path)  # a directory


async def test_several_stores_creating_new_files_at_once_repeatedly(tmp_path):
    for attempt in range(4):  # the WAL race is rare: try a few files
        path = tmp_path / f"{attempt}.db"
        stores = await asyncio.gather(*(open_store(path) for _ in range(6)))
        for s in stores:
            await s.close()
        assert _user_version(path) == sqlite_schema.SCHEMA_VERSION


async def test_a_writer_holding_the_lock_too_long_is_a_clear_error(db_path, monkeypatch):
    monkeypatch.setattr(sqlite_schema, "BUSY_TIMEOUT_MS", 50)
    async with await open_store(db_path) as store:
        await store.update(GUILD, length=42)
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process mid-write
            with pytest.raises(SettingsError, match="stayed locked by another process"):
                await store.update(GUILD, length=43)
            assert (await store.get(GUILD)).length == 42  # WAL: readers are not blocked
            other.execute("COMMIT")
        finally:
            other.close()
        assert (await store.update(GUILD, length=43)).length == 43


_OPEN_READ_ONLY = """
import asyncio, os, sys
import concurrent.futures.thread  # everything imported first: nobody may not read the stdlib
import bardbot.settings.sqlite
from bardbot.settings import SettingsError, SettingsStore, open_store
if os.geteuid() == 0:  # root may write anything: be nobody
    os.setgid(65534); os.setuid(65534)
try:
    asyncio.run(open_store(sys.argv[1]))
except SettingsError as e:
    print(e)
    sys.exit(3)
"""


@pytest.mark.parametrize("folder_mode", [0o755, 0o777], ids=["read-only-folder", "file-only"])
async def test_a_read_only_file_is_refused_at_start(folder_mode):
    """SQLite opens a file it may not write read-only without a word; every write would fail.
    (Root may write anything, so as root the store is opened as `nobody`.)"""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp())  # under /tmp: pytest's own folders are root's only
    try:
        path = folder / "settings.db"
        async with await open_store(path):
            pass
        folder.chmod(folder_mode)
        path.chmod(0o444)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _OPEN_READ_ONLY, str(path), stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
    finally:
        shutil.rmtree(folder)
    assert proc.returncode == 3
    assert f"cannot write the settings database {path}" in out.decode()
    assert "writable" in out.decode()


_HOST_EXITS_WITHOUT_CLOSING = """
import asyncio
from bardbot.models.sentiment import SentimentClassifier
from bardbot.models.shakespeare import ShakespeareGenerator
from tests.bot.harness import FakeClassifier, FakeGenerator, make_bot, start

SentimentClassifier.load = classmethod(lambda cls, path: FakeClassifier())
ShakespeareGenerator.load = classmethod(lambda cls, path: FakeGenerator())
HOST = None  # a host's module-level bot: it holds the cog, and the cog its store, to the end

async def main():
    global HOST
    HOST, _ = make_bot()
    await start(HOST)
    await HOST.load_extension("bardbot")
    await HOST.get_cog("Bard").store.update(1, length=5)
    # ... and returns without bot.close(): nothing closes the store

asyncio.run(main())
print("returned", flush=True)
"""


async def test_a_host_exiting_without_closing_the_store_is_not_kept_alive(target):
    repo = Path(__file__).resolve().parents[2]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOST_EXITS_WITHOUT_CLOSING, cwd=repo,
        env={**os.environ, "BARDBOT_DB": str(target)}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("the host process did not exit: the settings store kept it alive")
    assert (proc.returncode, out) == (0, b"returned\n")


# -- several processes ------------------------------------------------------------------------

_WRITER = """
import asyncio, sys
from bardbot.settings import SettingsStore, open_store

async def main():
    target, guild, field = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    offset, n = int(sys.argv[4]), int(sys.argv[5])
    async with await open_store(target) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        value = (lambda i: round(0.1 + i / n, 3)) if field == "temperature" else (lambda i: i)
        # Many at once, but not all 1,000 queued behind one server's row lock: each call has
        # 2 s, queueing included, and a burst that size from one process is not a bot's load.
        in_flight = asyncio.Semaphore(32)

        async def limited(call):
            async with in_flight:
                return await call

        await asyncio.gather(
            *(limited(store.update(guild, **{field: value(i)})) for i in range(1, n + 1)),
            *(limited(store.allow_channel(guild, offset + i)) for i in range(1, n + 1)),
        )
        await store.update(guild, **{field: value(n)})  # last, whatever the order above

asyncio.run(main())
"""


async def _start_writer(target, field: str, offset: int, n: int):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, str(target), str(GUILD), field, str(offset), str(n),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert await proc.stdout.readline() == b"ready\n"
    return proc


async def test_two_processes_updating_one_server_at_once_lose_nothing(target):
    """As with one process per shard: 2 processes x 500 concurrent updates of the same server,
    each changing its own field and adding its own channels."""
    n = 500
    async with await open_store(target) as store:
        a = await _start_writer(target, "temperature", 10_000, n)
        b = await _start_writer(target, "length", 20_000, n)
        for proc in (a, b):
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        assert [await a.wait(), await b.wait()] == [0, 0]
        assert await store.get(GUILD) == GuildSettings(
            temperature=1.1,
            length=n,
            allowed_channels=frozenset(range(10_001, 10_001 + n))
            | frozenset(range(20_001, 20_001 + n)),
        )


# -- PostgreSQL only --------------------------------------------------------------------------


def test_a_postgres_url_never_shows_its_password():
    url = parse_target("postgresql://bard:s3cret@db.example:5432/bard?sslmode=require")
    assert isinstance(url, PostgresUrl)
    assert str(url) == "postgresql://bard:***@db.example:5432/bard?sslmode=require"
    assert "s3cret" not in repr(url) and "s3cret" not in f"{url} {[url]}"
    query = parse_target("postgres://bard@db/bard?password=s3cret")
    assert "s3cret" not in str(query) and str(query).endswith("?password=***")
    assert str(parse_target("postgresql://bard@db/bard")) == "postgresql://bard@db/bard"
    assert parse_target("sqlite:/x/s.db") == Path("/x/s.db")
    assert parse_target("s.db") == Path("s.db")


def test_bardbot_db_and_db_flag_select_the_backend():
    from bardbot.config import load_config

    url = "postgresql://bard:s3cret@db.example/bard"
    for config in (load_config(["--db", url], {}), load_config([], {"BARDBOT_DB": url})):
        assert config.db_path == PostgresUrl(url)
        assert "s3cret" not in repr(config) and "bard:***@db.example" in repr(config)
    assert load_config(["--db", "sqlite:/x/s.db"], {}).db_path == Path("/x/s.db")
    assert load_config([], {"BARDBOT_DB": "~/s.db", "HOME": "/h"}).db_path == Path(
        "~/s.db"
    ).expanduser()


async def test_postgres_without_its_driver_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "bardbot.settings.postgres")
    with pytest.raises(SettingsError, match=r"pip install 'bardbot\[postgres\]'") as err:
        await open_store("postgresql://bard:s3cret@db.example/bard")
    assert "s3cret" not in str(err.value)


async def test_postgres_down_at_start_is_a_clear_error_without_the_password(pg_cluster, caplog):
    url = pg_cluster.url().replace(str(pg_cluster.port), "1")  # nothing listens on port 1
    with pytest.raises(SettingsError) as err:
        await open_store(url)
    message = str(err.value)
    assert message.startswith(f"cannot connect to the settings database {PostgresUrl(url)}")
    assert "bard:***@127.0.0.1:1/" in message
    assert pg_cluster.password not in message + caplog.text


async def test_postgres_wrong_password_is_a_clear_error(pg_cluster, caplog):
    wrong = "not-the-" + pg_cluster.password
    with pytest.raises(SettingsError, match="refused the login") as err:
        await open_store(pg_cluster.url(password=wrong))
    assert "password authentication failed" in str(err.value)
    assert wrong not in str(err.value) + caplog.text


async def test_postgres_read_only_user_is_refused_at_start(pg_url, pg_cluster):
    async with await open_store(pg_url):
        pass
    await raw_execute(pg_url, "DROP ROLE IF EXISTS reader")
    await raw_execute(pg_url, "CREATE ROLE reader LOGIN PASSWORD 'readerpw'")
    await raw_execute(pg_url, "GRANT USAGE ON SCHEMA bardbot TO reader")
    await raw_execute(pg_url, "GRANT SELECT ON ALL TABLES IN SCHEMA bardbot TO reader")
    reader = pg_url.replace(f"bard:{pg_cluster.password}", "reader:readerpw")
    with pytest.raises(SettingsError, match="cannot write to the settings database") as err:
        await open_store(reader)
    assert "reader:***@" in str(err.value) and "readerpw" not in str(err.value)


async def test_postgres_restarted_under_a_running_store(pg_url, pg_cluster, caplog):
    async with await open_store(pg_url) as store:
        await store.update(GUILD, length=123)
        pg_cluster.stop()
        try:
            loop = asyncio.get_running_loop()
            for _ in range(2):
                started = loop.time()
                with pytest.raises(SettingsError, match=r"unreachable|did not answer"):
                    await store.get(GUILD)
                assert loop.time() - started < 2.5  # never past Discord's 3 s
        finally:
            pg_cluster.start()
        assert (await store.get(GUILD)).length == 123  # reconnected by itself
        assert (await store.update(GUILD, length=124)).length == 124
    assert pg_cluster.password not in caplog.text


async def test_postgres_that_stops_answering_times_out_then_recovers(pg_url, pg_cluster):
    import signal

    async with await open_store(pg_url) as store:
        await store.update(GUILD, length=55)
        pids = pg_cluster.postgres_pids()
        for pid in pids:  # a network cut: connections stay open, nothing answers
            os.kill(pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(SettingsError, match="did not answer within 2 s"):
                await store.get(GUILD)
            assert loop.time() - started < 2.5
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert (await store.get(GUILD)).length == 55


def test_migrate_settings_copies_a_sqlite_file_into_postgres_idempotently(
    tmp_path, pg_url, capsys
):
    import bardbot.__main__ as entry

    source = tmp_path / "settings.db"

    async def prepare() -> None:
        async with await open_store(source) as sqlite_store:
            await sqlite_store.update(GUILD, temperature=1.3, show_sentiment=True)
            await sqlite_store.allow_channel(GUILD, CHANNEL)
            await sqlite_store.update(OTHER, length=1000, chat_enabled=False)
        await raw_execute(source, "UPDATE guilds SET length = $1 WHERE guild_id = $2", -1, GUILD)
        await raw_execute(source, "INSERT INTO guilds (guild_id, length) VALUES (-3, 5)")
        async with await open_store(pg_url) as pg:
            await pg.update(OTHER, temperature=0.2)  # already there: skipped, unless --overwrite

    async def copied() -> tuple[GuildSettings, GuildSettings]:
        async with await open_store(pg_url) as pg:
            return await pg.get(GUILD), await pg.get(OTHER)

    asyncio.run(prepare())
    migrate = ["migrate-settings", "--from", str(source), "--to", pg_url]
    assert entry.main(migrate) == 0
    out = capsys.readouterr().out
    assert "copied the settings of 1 servers" in out and "bard:***@" in out
    assert "skipped 1 servers that postgresql://bard:***@" in out and f": {OTHER}" in out
    first = GuildSettings(temperature=1.3, show_sentiment=True,
                          allowed_channels=frozenset({CHANNEL}))
    assert asyncio.run(copied()) == (first, GuildSettings(temperature=0.2))
    for _ in range(2):  # replacing: NULL there means the default; the second run changes nothing
        assert entry.main([*migrate, "--overwrite"]) == 0
        assert "copied the settings of 2 servers" in capsys.readouterr().out
        assert asyncio.run(copied()) == (first, GuildSettings(length=1000, chat_enabled=False))
    assert entry.main(["migrate-settings", "--from", str(tmp_path / "no.db"), "--to", pg_url]) == 1
    assert "there is no settings file at" in capsys.readouterr().err

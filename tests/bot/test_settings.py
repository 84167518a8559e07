"""Per-server settings store: persistence, isolation, concurrency, validation, migrations and
damaged files. Every test builds its own database under tmp_path."""

import asyncio
import math
import random
import sqlite3
import sys

import pytest
from bardbot import settings
from bardbot.settings import (
    MAX_LENGTH,
    SCHEMA_VERSION,
    GuildSettings,
    SettingsError,
    SettingsStore,
)

GUILD, OTHER = 111111111111111111, 222222222222222222
CHANNEL = 333333333333333333


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "settings.db"  # the folder does not exist yet


@pytest.fixture
async def store(db_path):
    async with await SettingsStore.open(db_path) as s:
        yield s


def _user_version(path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("PRAGMA user_version").fetchone()[0]


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


async def test_defaults_for_unknown_guild(store):
    assert await store.get(GUILD) == GuildSettings()
    custom = GuildSettings(chat_enabled=False, temperature=1.0)
    async with await SettingsStore.open(store.path, defaults=custom) as plugin:
        assert await plugin.get(GUILD) == custom


async def test_settings_survive_a_restart(db_path):
    async with await SettingsStore.open(db_path) as store:
        await store.update(GUILD, temperature=0.8, length=400, show_sentiment=True)
        await store.update(GUILD, chat_enabled=False)
        await store.allow_channel(GUILD, CHANNEL)
    assert db_path.parent.is_dir()
    async with await SettingsStore.open(db_path) as store:  # a new process, same file
        assert await store.get(GUILD) == GuildSettings(
            temperature=0.8,
            length=400,
            chat_enabled=False,
            allowed_channels=frozenset({CHANNEL}),
            show_sentiment=True,
        )
        async with store._db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    assert _user_version(db_path) == SCHEMA_VERSION


async def test_update_changes_only_given_fields_and_unset_fields_follow_defaults(db_path):
    async with await SettingsStore.open(db_path) as store:
        result = await store.update(GUILD, length=50)
        assert result == GuildSettings(length=50)
        assert await store.update(GUILD, temperature=1) == GuildSettings(length=50, temperature=1.0)
        assert isinstance((await store.get(GUILD)).temperature, float)
        assert await store.update(GUILD) == GuildSettings(length=50, temperature=1.0)
    # A host with other defaults: what the server never chose follows the host's defaults.
    host = GuildSettings(chat_enabled=False, show_sentiment=True)
    async with await SettingsStore.open(db_path, defaults=host) as store:
        got = await store.get(GUILD)
        assert (got.length, got.temperature, got.chat_enabled, got.show_sentiment) == (
            50,
            1.0,
            False,
            True,
        )


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


async def test_concurrent_updates_from_two_stores_lose_nothing(db_path):
    a = await SettingsStore.open(db_path)
    b = await SettingsStore.open(db_path)
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
        expected = GuildSettings(
            temperature=temps[-1],  # each store applies its own calls in order
            length=lengths[-1],
            allowed_channels=frozenset(range(1000, 1020)) | frozenset(range(2000, 2020)),
        )
        assert await a.get(GUILD) == expected
        assert await b.get(GUILD) == expected
        assert await a.get(OTHER) == GuildSettings(show_sentiment=True)
    finally:
        await a.close()
        await b.close()


async def test_each_store_sees_the_others_writes(db_path):
    async with (
        await SettingsStore.open(db_path) as a,
        await SettingsStore.open(db_path) as b,
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
        ({"temperature": True}, "temperature must be a number between 0.1 and 2.0 (got True)"),
        ({"temperature": "0.5"}, "temperature must be a number between 0.1 and 2.0 (got '0.5')"),
        ({"length": 0}, f"length must be between 1 and {MAX_LENGTH} (got 0)"),
        ({"length": MAX_LENGTH + 1}, f"length must be between 1 and {MAX_LENGTH} (got 1501)"),
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
    with pytest.raises(ValueError, match=r"length must be between 1 and 1500 \(got 0\)"):
        GuildSettings(length=0)
    with pytest.raises(ValueError, match=r"defaults\.allowed_channels must be empty"):
        await SettingsStore.open(
            tmp_path / "x.db", defaults=GuildSettings(allowed_channels=frozenset({1}))
        )
    # The boundaries themselves are fine.
    s = await store.update(GUILD, temperature=0.1, length=MAX_LENGTH)
    assert (s.temperature, s.length) == (0.1, MAX_LENGTH)
    assert (await store.update(GUILD, temperature=2.0, length=1)).temperature == 2.0


async def test_closed_store_refuses_work(db_path):
    store = await SettingsStore.open(db_path)
    await store.close()
    await store.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await store.get(GUILD)


def _make_v1_file(path):
    """A file exactly as the version-1 code left it."""
    with sqlite3.connect(path) as con:
        for statement in settings.MIGRATIONS[0]:
            con.execute(statement)
        con.execute(
            "INSERT INTO guilds (guild_id, temperature, length, chat_enabled) VALUES (?, ?, ?, ?)",
            (GUILD, 1.2, 300, 0),
        )
        con.execute("INSERT INTO guild_channels VALUES (?, ?)", (GUILD, CHANNEL))
        con.execute("PRAGMA user_version = 1")
    con.close()


async def test_migrates_a_version_1_file(db_path):
    db_path.parent.mkdir()
    _make_v1_file(db_path)
    async with await SettingsStore.open(db_path) as store:
        assert await store.get(GUILD) == GuildSettings(
            temperature=1.2,
            length=300,
            chat_enabled=False,
            allowed_channels=frozenset({CHANNEL}),
            show_sentiment=False,  # added in version 2: the default until set
        )
        assert (await store.update(GUILD, show_sentiment=True)).show_sentiment
    assert _user_version(db_path) == SCHEMA_VERSION == 2
    async with await SettingsStore.open(db_path) as store:  # already current: nothing to do
        assert (await store.get(GUILD)).show_sentiment


async def test_a_failing_migration_is_rolled_back_whole(db_path, monkeypatch):
    db_path.parent.mkdir()
    _make_v1_file(db_path)
    broken = (*settings.MIGRATIONS, ("ALTER TABLE guilds ADD COLUMN colour TEXT", "NOT SQL"))
    monkeypatch.setattr(settings, "MIGRATIONS", broken)
    monkeypatch.setattr(settings, "SCHEMA_VERSION", len(broken))
    with pytest.raises(SettingsError, match="from schema version 1 to 3 failed") as err:
        await SettingsStore.open(db_path)
    assert str(db_path) in str(err.value)
    assert _user_version(db_path) == 1  # neither step 2 nor the first half of step 3 stayed
    with sqlite3.connect(db_path) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(guilds)")]
    con.close()
    assert columns == ["guild_id", "temperature", "length", "chat_enabled"]


async def test_a_file_from_a_newer_version_is_refused(db_path):
    async with await SettingsStore.open(db_path) as store:
        await store.update(GUILD, length=5)
    with sqlite3.connect(db_path) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    before = db_path.read_bytes()
    with pytest.raises(SettingsError) as err:
        await SettingsStore.open(db_path)
    message = str(err.value)
    assert str(db_path) in message and "newer" in message and "upgrade bardbot" in message
    assert db_path.read_bytes() == before


async def _settings_db_bytes(path) -> bytes:
    """A real settings database with a few thousand servers in it (several pages)."""
    async with await SettingsStore.open(path):
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
        await SettingsStore.open(path)
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
        await SettingsStore.open(path)
    assert path.read_bytes() == before


async def test_an_unopenable_path_is_a_settings_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SettingsError, match="settings database"):
        await SettingsStore.open(tmp_path / "file" / "settings.db")  # parent is a file
    with pytest.raises(SettingsError, match="check the path"):
        await SettingsStore.open(tmp_path)  # a directory


async def test_several_stores_creating_the_same_new_file_at_once(tmp_path):
    # Racing to create the schema and switch a new file to WAL (a rare SQLite "locked" that
    # bypasses the busy timeout): every opener must succeed, and the migration runs once.
    for attempt in range(5):
        path = tmp_path / f"{attempt}.db"
        stores = await asyncio.gather(*(SettingsStore.open(path) for _ in range(6)))
        try:
            await stores[0].update(GUILD, length=9)
            assert [(await s.get(GUILD)).length for s in stores] == [9] * 6
        finally:
            for s in stores:
                await s.close()
        assert _user_version(path) == SCHEMA_VERSION


_WRITER = """
import asyncio, sys
from bardbot.settings import SettingsStore

async def main():
    async with await SettingsStore.open(sys.argv[1]) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(1, 51):
            await store.update(int(sys.argv[2]), length=i)
            await store.allow_channel(int(sys.argv[2]), 5000 + i)

asyncio.run(main())
"""


async def test_another_process_writing_at_the_same_time_loses_nothing(db_path):
    """As with one process per shard: separate processes share the file through SQLite's locks."""
    async with await SettingsStore.open(db_path) as store:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER, str(db_path), str(GUILD),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert await proc.stdout.readline() == b"ready\n"
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        for i in range(50):
            await store.update(GUILD, temperature=round(0.1 + i / 50, 2))
            await store.allow_channel(GUILD, 6000 + i)
        assert await proc.wait() == 0
        assert await store.get(GUILD) == GuildSettings(
            temperature=1.08,
            length=50,
            allowed_channels=frozenset(range(5001, 5051)) | frozenset(range(6000, 6050)),
        )


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


async def test_a_writer_holding_the_lock_too_long_is_a_clear_error(db_path, monkeypatch):
    monkeypatch.setattr(settings, "BUSY_TIMEOUT_MS", 50)
    async with await SettingsStore.open(db_path) as store:
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

"""`bardbot migrate-settings` never loses a change made in the target, never modifies its
source, and never prints a password (issue 15, N5-N7)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import bardbot.__main__ as entry
import pytest
from bardbot.database_url import parse_target
from bardbot.settings import GuildSettings, open_store, sqlite_schema

from tests.bot.test_settings import CHANNEL, GUILD, OTHER, _make_v1_file

OTHER_CHANNEL = CHANNEL + 1


async def _fill(target, guild: int, *channels: int, **values) -> None:
    async with await open_store(target) as store:
        await store.update(guild, **values)
        for channel in channels:
            await store.allow_channel(guild, channel)


async def _get(target, guild: int) -> GuildSettings:
    async with await open_store(target) as store:
        return await store.get(guild)


def _migrate(source, target, *flags: str) -> int:
    return entry.main(["migrate-settings", "--from", str(source), "--to", str(target), *flags])


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "target" / "settings.db"
    return request.getfixturevalue("pg_url")


def test_running_it_again_keeps_every_change_made_in_the_target(tmp_path, target, capsys):
    """N6: an admin's changes after the first copy were overwritten by the second."""
    source = tmp_path / "settings.db"
    asyncio.run(_fill(source, GUILD, CHANNEL, OTHER_CHANNEL, length=100))
    assert _migrate(source, target) == 0
    assert "copied the settings of 1 servers" in capsys.readouterr().out

    async def admin_changes() -> None:  # through the bot, after the move
        async with await open_store(target) as store:
            await store.update(GUILD, length=999, chat_enabled=False)
            await store.disallow_channel(GUILD, OTHER_CHANNEL)

    asyncio.run(admin_changes())
    asyncio.run(_fill(source, OTHER, length=7))  # a server added to the old file meanwhile
    assert _migrate(source, target) == 0
    out = capsys.readouterr().out
    assert "copied the settings of 1 servers" in out
    assert f"skipped 1 servers that {parse_target(str(target))} has already" in out
    assert out.rstrip().endswith(f": {GUILD}")
    changed = GuildSettings(length=999, chat_enabled=False, allowed_channels=frozenset({CHANNEL}))
    assert asyncio.run(_get(target, GUILD)) == changed
    assert asyncio.run(_get(target, OTHER)) == GuildSettings(length=7)
    assert _migrate(source, target, "--overwrite") == 0  # explicitly: the source wins
    assert "copied the settings of 2 servers" in capsys.readouterr().out
    assert asyncio.run(_get(target, GUILD)) == GuildSettings(
        length=100, allowed_channels=frozenset({CHANNEL, OTHER_CHANNEL}))


def test_a_server_with_only_allowed_channels_in_the_target_is_not_overwritten(tmp_path, target):
    source = tmp_path / "settings.db"
    asyncio.run(_fill(source, GUILD, CHANNEL, length=100))
    asyncio.run(_fill(target, GUILD, OTHER_CHANNEL))
    assert _migrate(source, target) == 0
    assert asyncio.run(_get(target, GUILD)) == GuildSettings(
        allowed_channels=frozenset({OTHER_CHANNEL}))


def test_no_password_is_printed_copying_from_postgres(tmp_path, pg_url, pg_cluster, capsys):
    """N5: `copied ... from postgresql://bard:PW@...` was printed."""
    asyncio.run(_fill(pg_url, GUILD, CHANNEL, temperature=1.5))
    target = tmp_path / "copy.db"
    assert _migrate(pg_url, target) == 0
    out, err = capsys.readouterr()
    assert "from postgresql://bard:***@127.0.0.1" in out and f"to {target}" in out
    assert pg_cluster.password not in out + err
    assert asyncio.run(_get(target, GUILD)) == GuildSettings(
        temperature=1.5, allowed_channels=frozenset({CHANNEL}))
    wrong = pg_url.replace(pg_cluster.password, "Wr0ng#pass/word")  # unencoded, too
    assert _migrate(tmp_path / "copy.db", wrong) == 1
    out, err = capsys.readouterr()
    assert "Wr0ng" not in out + err and "pass/word" not in out + err


def test_a_url_that_is_not_a_database_is_refused_without_its_password(tmp_path, capsys):
    assert _migrate("mysql://bard:SECRET@db/bard", tmp_path / "copy.db") == 2
    assert _migrate(tmp_path / "s.db", "postgresql+asyncpg://bard:SECRET@db/bard") == 2
    err = capsys.readouterr().err
    assert "--from: mysql://… is not a database" in err and "--to: postgresql+asyncpg://…" in err
    assert "SECRET" not in err and list(tmp_path.iterdir()) == []


def test_an_empty_postgres_source_is_refused_and_left_empty(tmp_path, pg_url, capsys):
    import asyncpg

    assert _migrate(pg_url, tmp_path / "copy.db") == 1
    assert "holds no bardbot settings" in capsys.readouterr().err

    async def schemas() -> list:
        conn = await asyncpg.connect(pg_url)
        try:
            return await conn.fetch("SELECT 1 FROM pg_namespace WHERE nspname = 'bardbot'")
        finally:
            await conn.close()

    assert asyncio.run(schemas()) == []  # not migrated


def test_an_old_version_1_source_is_read_as_it_is(tmp_path, target, capsys):
    """N7: the source was migrated to version 2 and switched to WAL."""
    source = tmp_path / "old.db"
    _make_v1_file(source)
    before = source.read_bytes()
    assert _migrate(source, target) == 0
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("old")) == ["old.db"]
    with sqlite3.connect(source) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 1
        assert con.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    con.close()
    assert asyncio.run(_get(target, GUILD)) == GuildSettings(
        temperature=1.2, length=300, chat_enabled=False, allowed_channels=frozenset({CHANNEL}))


def test_damaged_foreign_or_newer_sources_are_refused_untouched(tmp_path, capsys):
    target = tmp_path / "target.db"
    cases = {
        "not sqlite": (b"this is not a database" * 100, "corrupt or not a SQLite database"),
        "empty": (b"", "holds no bardbot settings"),
    }
    for name, (data, message) in cases.items():
        source = tmp_path / f"{name}.db"
        source.write_bytes(data)
        assert _migrate(source, target) == 1
        assert message in capsys.readouterr().err and source.read_bytes() == data
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {sqlite_schema.SCHEMA_VERSION + 1}")
    con.close()
    assert _migrate(newer, target) == 1
    assert "newer than this bardbot understands" in capsys.readouterr().err
    assert not target.exists()


_MIGRATE_AS_NOBODY = """
import os, sys
import concurrent.futures.thread  # everything imported first: nobody may not read the stdlib
import argparse, aiosqlite, bardbot.config, bardbot.settings.sqlite
import bardbot.__main__ as entry
if os.geteuid() == 0:  # root may read and write anything: be nobody
    os.setgid(65534); os.setuid(65534)
sys.exit(entry.main(["migrate-settings", "--from", sys.argv[1], "--to", sys.argv[2]]))
"""


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_read_only_source_is_copied(journal):
    """N7: a source the user may only read was refused ("cannot write the settings database").
    Read-only file in a read-only folder, so SQLite cannot create a WAL index beside it."""
    folder = Path(tempfile.mkdtemp())  # under /tmp: pytest's own folders are root's only
    try:
        source, out = folder / "ro" / "settings.db", folder / "out"
        source.parent.mkdir()
        out.mkdir()
        asyncio.run(_fill(source, GUILD, CHANNEL, length=123))
        with sqlite3.connect(source) as con:
            con.execute(f"PRAGMA journal_mode = {journal}")
        con.close()
        before = source.read_bytes()
        source.chmod(0o444)
        source.parent.chmod(0o555)
        out.chmod(0o777)
        folder.chmod(0o755)
        proc = subprocess.run(
            [sys.executable, "-c", _MIGRATE_AS_NOBODY, str(source), str(out / "copy.db")],
            capture_output=True, text=True, cwd="/",
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert proc.returncode == 0, proc.stderr
        assert "copied the settings of 1 servers" in proc.stdout
        assert source.read_bytes() == before
        assert asyncio.run(_get(out / "copy.db", GUILD)) == GuildSettings(
            length=123, allowed_channels=frozenset({CHANNEL}))
    finally:
        source.parent.chmod(0o755)
        shutil.rmtree(folder)

"""A PostgreSQL server that stops answering (a network cut: connections stay open, nothing comes
back): every store call ends within 2 s, waiting included, and what a write's caller is told
is true (issue 15, N9 and N10). The server is paused with SIGSTOP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import asyncpg
import pytest
from bardbot.interactions import OUTCOME_UNKNOWN
from bardbot.settings import SettingsOutcomeUnknown, SettingsUnavailable, open_store
from bardbot.settings import postgres as settings_postgres

from tests.bot.harness import option
from tests.bot.test_guild_settings import set_

GUILD = 111111111111111111
BOUND = settings_postgres.OPERATION_TIMEOUT + 0.4  # the budget, plus this busy machine's slack


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def frozen(cluster):
    pids = cluster.postgres_pids()
    _signal(pids, signal.SIGSTOP)
    try:
        yield
    finally:
        _signal(pids, signal.SIGCONT)


async def _stored_length(url: str) -> int | None:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT length FROM bardbot.guilds WHERE guild_id = $1", GUILD)
    finally:
        await conn.close()


async def test_every_call_to_a_frozen_server_ends_within_the_budget(pg_url, pg_cluster):
    """N9: the first call took 2 s, every later one 4 s (2 s waiting for the abandoned one)."""
    loop = asyncio.get_running_loop()
    async with await open_store(pg_url) as store:
        await store.update(GUILD, length=44)
        with frozen(pg_cluster):
            for call in (store.get, store.get, store.get):
                started = loop.time()
                with pytest.raises(SettingsUnavailable, match="did not answer within 2 s"):
                    await call(GUILD)
                assert loop.time() - started < BOUND
            started = loop.time()
            with pytest.raises(SettingsUnavailable):
                await store.update(GUILD, length=45)
            assert loop.time() - started < BOUND
        assert (await store.get(GUILD)).length == 44


async def test_a_write_given_up_on_is_never_made_later(pg_url, pg_cluster):
    """N10: "nothing was changed", yet the write landed once the server resumed."""
    async with await open_store(pg_url) as store:
        await store.update(GUILD, length=44)
        with frozen(pg_cluster):
            with pytest.raises(SettingsUnavailable, match="nothing was changed") as info:
                await store.update(GUILD, length=55)
            assert not isinstance(info.value, SettingsOutcomeUnknown)
            with pytest.raises(SettingsUnavailable, match="nothing was changed"):
                await store.allow_channel(GUILD, 5)
        await asyncio.sleep(1.0)  # the server works through what it had received
        assert await _stored_length(pg_url) == 44
        settings = await store.get(GUILD)
        assert settings.length == 44 and not settings.allowed_channels
        assert (await store.update(GUILD, length=56)).length == 56  # and it recovers


async def test_a_write_unconfirmed_after_its_commit_was_sent_says_the_outcome_is_unknown(
    pg_url, pg_cluster, monkeypatch
):
    async with await open_store(pg_url) as store:
        await store.update(GUILD, length=44)
        upsert, paused = settings_postgres._upsert, []

        async def upsert_then_freeze(conn, guild_id, columns):
            row = await upsert(conn, guild_id, columns)
            paused.extend(pg_cluster.postgres_pids())  # the cut comes just before COMMIT
            _signal(paused, signal.SIGSTOP)
            return row

        monkeypatch.setattr(settings_postgres, "_upsert", upsert_then_freeze)
        try:
            with pytest.raises(SettingsOutcomeUnknown, match="may or may not have been made"):
                await store.update(GUILD, length=55)
        finally:
            _signal(paused, signal.SIGCONT)
        monkeypatch.undo()
        await asyncio.sleep(1.0)
        assert await _stored_length(pg_url) == 55  # it was made: "unknown" was the truth


async def test_the_server_itself_ends_a_statement_or_transaction_left_running(pg_url):
    """Should the client's cancel not reach it, the server still ends a write stuck behind a lock
    (statement_timeout) or a transaction whose client went away mid-way."""
    async with await open_store(pg_url) as store:
        shown = await store._run(lambda conn: conn.fetch(
            "SELECT current_setting('statement_timeout') AS statement,"
            " current_setting('idle_in_transaction_session_timeout') AS idle"))
    assert dict(shown[0]) == {"statement": "2s", "idle": "10s"}


async def test_bardbot_set_says_when_a_change_is_unconfirmed(env, monkeypatch):
    async def unconfirmed(guild_id, **changes):
        raise SettingsOutcomeUnknown("did not confirm a change within 2 s")

    monkeypatch.setattr(env.store, "update", unconfirmed)
    reply = await set_(env, option("length", 55))
    assert reply.message["content"] == OUTCOME_UNKNOWN
    assert "may or may not" in OUTCOME_UNKNOWN

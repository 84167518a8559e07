from __future__ import annotations

from types import SimpleNamespace

import pytest
from bardbot.cog import Bard
from bardbot.engine import Engine, EngineLimits
from bardbot.settings import GuildSettings, open_store

from tests.bot.harness import FakeClassifier, FakeGenerator, make_bot, start


async def make_env(db_path, *, chat: bool = True, limits: EngineLimits | None = None,
                   defer_after: float = 1.0, owns_resources: bool = True) -> SimpleNamespace:
    bot, session = make_bot()
    await start(bot)
    clf, gen = FakeClassifier(), FakeGenerator()
    store = await open_store(db_path, GuildSettings(chat_enabled=chat))
    engine = Engine(clf, gen, limits or EngineLimits())
    cog = Bard(bot, engine, store, defer_after=defer_after, owns_resources=owns_resources)
    await bot.add_cog(cog)
    return SimpleNamespace(bot=bot, session=session, clf=clf, gen=gen, store=store, cog=cog,
                           engine=engine)


@pytest.fixture
async def env(tmp_path):
    env = await make_env(tmp_path / "settings.db")
    yield env
    if env.gen.gate is not None:
        env.gen.gate.set()
    await env.bot.remove_cog("Bard")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL server for the whole run (a few seconds to start)."""
    from tests.bot.pg_cluster import remove_cluster, start_cluster

    cluster = start_cluster()
    yield cluster
    remove_cluster(cluster)


@pytest.fixture
async def pg_url(pg_cluster):
    """The test database's URL, emptied of bardbot's tables: every test starts from nothing."""
    import asyncpg

    conn = await asyncpg.connect(pg_cluster.url())
    try:
        await conn.execute("DROP SCHEMA IF EXISTS bardbot CASCADE")
    finally:
        await conn.close()
    return pg_cluster.url()

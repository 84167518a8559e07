"""The plugin entry point: `await bot.load_extension("bot.extension")` (or just "bot").

Configuration comes from the same environment variables as the standalone bot (BARDBOT_DB,
BARDBOT_SENTIMENT_MODEL, ...). In a host bot the chat listener is off until a server turns it
on with `/bardbot-set chat:True` (set BARDBOT_CHAT=1 to make it on by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os

from discord.ext import commands

from bot.config import Config, _bool, load_config
from bot.engine import Engine
from bot.settings import GuildSettings, SettingsStore

log = logging.getLogger(__name__)


def load_models(config: Config) -> tuple[object, object]:
    """The runtime models named by `config` (the shipped ones by default); ModelError if missing."""
    from models import SentimentClassifier, ShakespeareGenerator

    classifier = SentimentClassifier.load(config.sentiment_model)
    generator = ShakespeareGenerator.load(config.shakespeare_model)
    return classifier, generator


async def create_cog(
    bot: commands.Bot,
    config: Config,
    *,
    classifier: object | None = None,
    generator: object | None = None,
    store: SettingsStore | None = None,
):
    """A `Bard` cog with its engine and settings store (models loaded unless given)."""
    from bot.cog import Bard

    if classifier is None or generator is None:
        classifier, generator = await asyncio.to_thread(load_models, config)
    if store is None:
        store = await SettingsStore.open(config.db_path, GuildSettings(chat_enabled=config.chat))
    return Bard(bot, Engine(classifier, generator, config.limits), store)


async def setup(bot: commands.Bot) -> None:
    config = load_config([])
    chat = os.environ.get("BARDBOT_CHAT")
    config = dataclasses.replace(config, chat=_bool(chat, "BARDBOT_CHAT") if chat else False)
    cog = await create_cog(bot, config)
    await bot.add_cog(cog)
    log.info("bardbot loaded (settings: %s, chat by default: %s)", config.db_path, config.chat)


async def teardown(bot: commands.Bot) -> None:
    # Removing the cog runs Bard.cog_unload: context menu removed, threads and database closed.
    await bot.remove_cog("Bard")

"""The plugin entry point: `await bot.load_extension("bardbot.extension")` (or just "bardbot").

Configuration comes from the same environment variables as the standalone bot (BARDBOT_DB,
BARDBOT_SENTIMENT_MODEL, ...). In a host bot the chat listener is off until a server turns it
on with `/bardbot-set chat:True` (set BARDBOT_CHAT=1 to make it on by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os

from bardbot import metrics
from bardbot.cog import Bard
from bardbot.config import Config, load_config
from bardbot.engine import Engine
from bardbot.limits import parse_bool
from bardbot.settings import GuildSettings, SettingsStore
from discord.ext import commands

log = logging.getLogger(__name__)

TOKEN_VARIABLES = ("DISCORD_TOKEN", "DISCORD_TOKEN_FILE")


def load_models(config: Config) -> tuple[object, object]:
    """The runtime models named by `config` (the shipped ones by default); ModelError if missing."""
    from bardbot.models import ModelError, SentimentClassifier, ShakespeareGenerator

    def load(runner, path, setting: str):
        try:
            return runner.load(path)
        except ModelError as e:
            if path is None:
                raise
            # A path the user chose may simply be mistyped: say where it came from.
            raise ModelError(f"{e} (path set by {setting})") from None

    classifier = load(SentimentClassifier, config.sentiment_model,
                      "BARDBOT_SENTIMENT_MODEL / --sentiment-model")
    generator = load(ShakespeareGenerator, config.shakespeare_model,
                     "BARDBOT_SHAKESPEARE_MODEL / --shakespeare-model")
    return classifier, generator


def load_engine(config: Config) -> Engine:
    """The models `config` names, loaded once, behind the engine that runs them."""
    classifier, generator = load_models(config)
    return Engine(classifier, generator, config.limits)


async def open_store(config: Config) -> SettingsStore:
    return await SettingsStore.open(config.db_path, GuildSettings(chat_enabled=config.chat))


async def install(bot: commands.Bot, engine: Engine, store: SettingsStore) -> Bard:
    """The Bard cog on `engine` and `store`, added to `bot` all or nothing: on failure both
    are closed (an open store's thread would keep the host process from exiting)."""
    try:
        cog = Bard(bot, engine, store)
    except BaseException:  # e.g. the host already has an "Analyze sentiment" context menu
        engine.close()
        await store.close()
        raise
    await add_cog(bot, cog)  # on failure, unloading the cog closes both
    return cog


async def serve_metrics(bot: commands.Bot, config: Config, engine: Engine, cog: Bard) -> None:
    """Prometheus /metrics for `cog` when `config` asks for them. When the address cannot be
    served the cog is removed again (all or nothing) and MetricsError says why."""
    if config.metrics is None:
        return
    try:
        metrics.start(config.metrics, bot, engine, cog)
    except metrics.MetricsError:
        await bot.remove_cog(cog.qualified_name)
        raise


async def add_cog(bot: commands.Bot, cog: Bard) -> None:
    """`bot.add_cog(cog)`, all or nothing. discord.py's add_cog is not atomic for app commands:
    a clash with one of the host's slash commands leaves our listener, earlier commands and
    context menu registered. Take back exactly what is ours (never the host's), then re-raise."""
    try:
        await bot.add_cog(cog)
    except BaseException:
        for command in cog.get_app_commands():
            if bot.tree.get_command(command.name) is command:
                bot.tree.remove_command(command.name)
        for name, listener in cog.get_listeners():
            bot.remove_listener(listener, name)
        await cog.cog_unload()
        raise


async def setup(bot: commands.Bot) -> None:
    # The host's token is none of the plugin's business: do not read it, nor fail on its file.
    environ = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES}
    config = load_config([], environ)
    chat = os.environ.get("BARDBOT_CHAT")
    config = dataclasses.replace(config, chat=parse_bool(chat, "BARDBOT_CHAT") if chat else False)
    engine = await asyncio.to_thread(load_engine, config)
    # No thread runs before the engine's first request: nothing to close if the store fails.
    cog = await install(bot, engine, await open_store(config))
    await serve_metrics(bot, config, engine, cog)
    mood = ("available" if bot.intents.message_content
            else "unavailable (the bot lacks the Message Content intent)")
    log.info("bardbot loaded (settings: %s, chat by default: %s, channel mood: %s)",
             config.db_path, config.chat, mood)


async def teardown(bot: commands.Bot) -> None:
    # Removing the cog runs Bard.cog_unload: context menu removed, threads and database closed.
    await bot.remove_cog("Bard")

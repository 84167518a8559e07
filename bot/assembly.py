"""Building the bot's parts from a `Config`: the models, the engine that runs them, the settings
store, the Bard cog (added all or nothing) and the metrics endpoint. One path for both the
standalone bot (`client.py`, `__main__.py`) and the plugin (`extension.py`)."""

from __future__ import annotations

from bardbot import metrics, settings
from bardbot.cog import Bard
from bardbot.config import Config
from bardbot.engine import Engine
from bardbot.models.play import Speakers
from bardbot.settings import GuildSettings, SettingsStore
from discord.ext import commands


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


async def open_settings(config: Config) -> SettingsStore:
    return await settings.open_store(config.db_path, GuildSettings(chat_enabled=config.chat))


async def install(
    bot: commands.Bot, engine: Engine, store: SettingsStore, speakers: Speakers | None = None
) -> Bard:
    """The Bard cog on `engine` and `store`, added to `bot` all or nothing. The cog owns both
    from here: unloading it, or a failure here, closes them (an open store's thread would keep
    the host process from exiting)."""
    try:
        cog = Bard(bot, engine, store, owns_resources=True, speakers=speakers)
    except BaseException:  # e.g. the host already has an "Analyze sentiment" context menu
        engine.close()
        await store.close()
        raise
    await add_cog(bot, cog)  # on failure, unloading the cog closes both
    return cog


async def assemble(bot: commands.Bot, config: Config, engine: Engine) -> Bard:
    """The settings store `config` names (a broken database stops us before the cog exists),
    the Bard cog on it and `engine`, and the metrics endpoint if asked for (a taken port stops
    us too: the cog is removed again)."""
    # No thread runs before the engine's first request: nothing to close if the store fails.
    cog = await install(bot, engine, await open_settings(config),
                        Speakers(config.play_speaker))
    await serve_metrics(bot, config, engine, cog)
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

"""The standalone bot: a `commands.Bot` (or `AutoShardedBot`) running the Bard cog.

Intents are the defaults (no privileged ones): slash commands, the context menu, mentions and
DMs all work without the message-content intent. Commands are synced only when asked: at start
with `--sync-guild ID`, or by the owner with `@bardbot sync` (this server), `@bardbot sync
global` or `@bardbot sync clear`.
"""

from __future__ import annotations

import logging
from typing import Literal

import discord
from bardbot.cog import HANDLED, NO_MENTIONS, where
from bardbot.config import Config
from bardbot.extension import create_cog
from bardbot.settings import SettingsStore
from discord import app_commands
from discord.ext import commands

log = logging.getLogger(__name__)


class BardTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if interaction.extras.get(HANDLED):
            return  # the cog already answered and logged it
        original = getattr(error, "original", error)
        log.error(
            "interaction failed: %s: %s: %s", where(interaction), type(original).__name__, original
        )
        log.debug("traceback", exc_info=original)
        message = "Something went wrong; it has been logged."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    message, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
            else:
                await interaction.response.send_message(
                    message, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
        except discord.HTTPException:
            pass


class Admin(commands.Cog):
    """Owner-only maintenance, reached by mentioning the bot (no message-content intent)."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    @commands.command(name="sync")
    @commands.is_owner()
    async def sync(
        self, ctx: commands.Context, scope: Literal["here", "global", "clear"] = "here"
    ) -> None:
        tree = self.bot.tree
        if scope == "global":
            synced = await tree.sync()
            text = f"Synced {len(synced)} commands globally (may take up to an hour to show)."
        elif ctx.guild is None:
            text = "Use `sync global` in DMs, or run `sync` in a server."
        elif scope == "clear":
            tree.clear_commands(guild=ctx.guild)
            await tree.sync(guild=ctx.guild)
            text = "Removed this server's copy of the commands."
        else:
            tree.copy_global_to(guild=ctx.guild)
            synced = await tree.sync(guild=ctx.guild)
            text = f"Synced {len(synced)} commands to this server."
        log.info("sync %s by %s in guild %s", scope, ctx.author.id, ctx.guild and ctx.guild.id)
        await ctx.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, commands.NotOwner):
            return  # not worth a reply
        await ctx.reply(f"sync failed: {error}", mention_author=False, allowed_mentions=NO_MENTIONS)


class _BardBotMixin:
    def _init(self, config: Config, store: SettingsStore, classifier, generator) -> dict:
        self.config = config
        self._parts = (store, classifier, generator)
        kwargs = dict(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            tree_cls=BardTree,
            help_command=None,
        )
        if config.sharded:
            shard_ids = list(config.shard_ids) if config.shard_ids is not None else None
            kwargs.update(shard_count=config.shard_count, shard_ids=shard_ids)
        return kwargs

    async def setup_hook(self) -> None:
        store, classifier, generator = self._parts
        cog = await create_cog(
            self, self.config, classifier=classifier, generator=generator, store=store
        )
        await self.add_cog(cog)
        await self.add_cog(Admin(self))
        if self.config.sync_guild:
            guild = discord.Object(self.config.sync_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.config.sync_guild)

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        # Every chat mention ("@bardbot to be or not") looks like an unknown prefix command.
        if isinstance(error, commands.CommandNotFound):
            return
        await super().on_command_error(ctx, error)  # type: ignore[misc]

    async def on_ready(self) -> None:
        shards = (
            f", shards {sorted(self.shards)}" if isinstance(self, commands.AutoShardedBot) else ""
        )
        log.info(
            "ready as %s (%s) in %d servers%s", self.user, self.user.id, len(self.guilds), shards
        )


class BardBot(_BardBotMixin, commands.Bot):
    def __init__(self, config: Config, store: SettingsStore, classifier, generator):
        super().__init__(**self._init(config, store, classifier, generator))


class ShardedBardBot(_BardBotMixin, commands.AutoShardedBot):
    def __init__(self, config: Config, store: SettingsStore, classifier, generator):
        super().__init__(**self._init(config, store, classifier, generator))


def make_bot(config: Config, store: SettingsStore, classifier, generator) -> commands.Bot:
    # A text-only bot: no "voice will NOT be supported" warnings at every start.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    cls = ShardedBardBot if config.sharded else BardBot
    return cls(config, store, classifier, generator)

"""The standalone bot: a `commands.Bot` (or `AutoShardedBot`) running the Bard cog.

Intents are the defaults (no privileged ones): slash commands, the context menu, mentions and
DMs all work without the message-content intent. With `--message-content` the bot asks for it
too (channel mood needs it) and says at start whether Discord granted it. Commands are synced
only when asked: at start with `--sync-guild ID`, or by the owner with `@bardbot sync` (this
server), `@bardbot sync global` or `@bardbot sync clear`.
"""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from typing import Any, Literal

import discord
from bardbot import assembly
from bardbot.config import Config
from bardbot.engine import Engine
from bardbot.interactions import HANDLED, NO_MENTIONS, report
from discord import app_commands
from discord.ext import commands
from discord.utils import MISSING

log = logging.getLogger(__name__)

PARSED_KEPT = 64  # messages whose parse is kept for the second reader (a burst's worth)


class BardTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if not interaction.extras.get(HANDLED):  # else the cog already answered and logged it
            await report(interaction, error, log)


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
    config: Config

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsed: OrderedDict[int, commands.Context] = OrderedDict()  # message id -> parse

    async def setup_hook(self) -> None:
        log.info("%s", content_intent_status(self))
        if self.config.sync_guild:
            guild = discord.Object(self.config.sync_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.config.sync_guild)

    async def process_commands(self, message: discord.Message) -> None:
        # Only a real command is invoked: a chat mention ("@bardbot to be or not") is the Bard
        # cog's, not an unknown prefix command to report and drop.
        if not message.author.bot:
            ctx = await self.get_context(message)
            if ctx.valid:
                await self.invoke(ctx)

    async def get_context(self, origin, /, *, cls=MISSING):  # type: ignore[override]
        """Each message is parsed once: the Bard cog's chat listener asks about it too (is it a
        command?), and gets the answer process_commands got a moment before."""
        if not isinstance(origin, discord.Message) or cls is not MISSING:
            return await super().get_context(origin, cls=cls)  # type: ignore[misc]
        ctx = self._parsed.pop(origin.id, None)
        if ctx is None:
            ctx = await super().get_context(origin)  # type: ignore[misc]
        self._parsed[origin.id] = ctx
        if len(self._parsed) > PARSED_KEPT:
            self._parsed.popitem(last=False)
        return ctx

    async def on_ready(self) -> None:
        shards = (
            f", shards {sorted(self.shards)}" if isinstance(self, commands.AutoShardedBot) else ""
        )
        log.info(
            "ready as %s (%s) in %d servers%s", self.user, self.user.id, len(self.guilds), shards
        )


def content_intent_status(bot: commands.Bot) -> str:
    """One line for the start log: the Message Content intent asked for, and granted or not."""
    if not bot.intents.message_content:
        return ("Message Content intent not requested: channel mood is unavailable (set"
                " BARDBOT_MESSAGE_CONTENT=1 and switch the intent on in the developer portal)")
    flags = bot.application.flags if bot.application is not None else None
    if flags is not None and not (flags.gateway_message_content
                                  or flags.gateway_message_content_limited):
        raise discord.PrivilegedIntentsRequired(None)  # said before Discord closes on us
    return "Message Content intent requested and granted: servers may turn on channel mood"


class BardBot(_BardBotMixin, commands.Bot):
    pass


class ShardedBardBot(_BardBotMixin, commands.AutoShardedBot):
    pass


def make_bot(config: Config) -> commands.Bot:
    # A text-only bot: no "voice will NOT be supported" warnings at every start.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    intents = discord.Intents.default()
    intents.message_content = config.message_content
    kwargs: dict = dict(
        command_prefix=commands.when_mentioned,
        intents=intents,
        allowed_mentions=NO_MENTIONS,
        tree_cls=BardTree,
        help_command=None,
    )
    if config.sharded:
        shard_ids = list(config.shard_ids) if config.shard_ids is not None else None
        kwargs.update(shard_count=config.shard_count, shard_ids=shard_ids)
    bot = (ShardedBardBot if config.sharded else BardBot)(**kwargs)
    bot.config = config
    return bot


async def assemble(bot: commands.Bot, config: Config, engine: Engine) -> None:
    """The standalone bot's parts: the plugin's (a broken database or a taken metrics port stops
    us before we connect to Discord) and the owner's Admin cog."""
    await assembly.assemble(bot, config, engine)
    await bot.add_cog(Admin(bot))


async def run_bot(config: Config, engine: Engine) -> None:
    bot = make_bot(config)
    async with bot:  # closing the bot removes the cog, which closes the engine and the store
        await assemble(bot, config, engine)
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full scans, which otherwise stall the event loop for ~100 ms now and then.
        gc.collect()
        gc.freeze()
        await bot.start(config.token)  # type: ignore[arg-type]

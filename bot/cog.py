"""The Bard Cog: every Discord-facing feature of bardbot in one plugin.

Slash commands `/sentiment`, `/shakespeare`, `/bardbot about|settings|mood`, `/bardbot-set`, the
"Analyze sentiment" message context menu, the chat listener (mention the bot, or DM it) and the
channel mood listener (bardbot.mood, off unless a server opts in).
Replies never ping anyone and stay under 2,000 characters. Sending, deferring, option checks
and error reports live in `bardbot.interactions`; whether and what to answer in chat, in
`bardbot.chat`. This module reads top to bottom as the commands and the order of chat replies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import discord
from bardbot import handlers, interactions, limits, metrics, mood_chart, mood_commands
from bardbot.chat import CHAT_CHANNEL_TYPES, addressed, allowed_here, guild_id_of, reply_to
from bardbot.engine import Engine
from bardbot.handlers import Reply
from bardbot.limits import UserError
from bardbot.models.play import Speakers
from bardbot.mood import DAYS_RANGE, DEFAULT_DAYS, MoodRecorder
from bardbot.settings import MAX_MOOD_DAYS, GuildSettings, SettingsError, SettingsStore
from discord import app_commands
from discord.ext import commands

log = logging.getLogger(__name__)

T_MIN, T_MAX = limits.TEMPERATURE_RANGE
Temperature = app_commands.Range[float, T_MIN, T_MAX]
Length = app_commands.Range[int, 1, limits.MAX_LENGTH]
DEFAULTS_USED = "bardbot's settings are unavailable right now: this used the default settings."
CHAT_RATE, CHAT_PER = 3, 30.0  # chat replies per user per 30 s
# Chat replies per channel waiting or being written (they are answered one at a time, in
# order); a mention past this gets "busy" at once instead of a reply minutes later.
CHAT_QUEUE = 10


@dataclass
class _ChannelQueue:
    """The chat replies of one channel: `size` waiting or running, one at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    size: int = 0


class Bard(commands.Cog):
    """Sentiment and Shakespeare, as slash commands, a context menu and chat replies."""

    bardbot = app_commands.Group(name="bardbot", description="About bardbot and its settings here")

    def __init__(
        self,
        bot: commands.Bot,
        engine: Engine,
        store: SettingsStore,
        *,
        defer_after: float = 1.0,
        owns_resources: bool = True,
        speakers: Speakers | None = None,
    ):
        self.bot = bot
        self.engine = engine
        self.store = store
        self.speakers = speakers or Speakers()  # who chat replies speak as (Config.play_speaker)
        # Work that has not finished after this many seconds is deferred ("thinking..."), then
        # followed up: Discord drops an interaction not acknowledged within 3 s.
        self.defer_after = defer_after
        self.owns_resources = owns_resources
        self.ctx_menu = app_commands.ContextMenu(
            name="Analyze sentiment", callback=self.analyze_message
        )
        self.ctx_menu.on_error = self.cog_app_command_error  # a menu is no command of the cog
        self.bot.tree.add_command(self.ctx_menu)
        self._chat_cooldown = commands.CooldownMapping.from_cooldown(
            CHAT_RATE, CHAT_PER, commands.BucketType.user
        )
        self._chat_queues: dict[int, _ChannelQueue] = {}
        self._restore_tree_errors: Callable[[], None] = lambda: None  # set by cog_load
        self.mood = MoodRecorder(store, engine)

    async def cog_load(self) -> None:
        self._restore_tree_errors = interactions.quiet_answered_errors(self.bot.tree)
        if mood_commands.has_content_intent(self.bot):  # servers may count mood
            self.mood.start_writer()  # also prunes old counts every hour
            mood_chart.warm_up()

    async def cog_unload(self) -> None:
        self._restore_tree_errors()
        tree = self.bot.tree
        if tree.get_command(self.ctx_menu.name, type=self.ctx_menu.type) is self.ctx_menu:
            tree.remove_command(self.ctx_menu.name, type=self.ctx_menu.type)
        await metrics.release(self)
        await self.mood.close()  # writes the counts not yet written
        if self.owns_resources:
            mood_chart.shutdown()
            self.engine.close()
            await self.store.close()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Every option of the right type before any command code sees it."""
        metrics.mark_start(interaction)
        interactions.check_option_types(interaction)
        return True

    # -- errors --------------------------------------------------------------------------

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        metrics.count_command(interaction, metrics.command_outcome(error))
        await interactions.report(interaction, error, log)

    # -- slash commands ------------------------------------------------------------------

    @app_commands.command(name="sentiment", description="Is this text positive or negative?")
    @app_commands.describe(text="The text to analyse (a review, a message, ...)")
    @app_commands.checks.cooldown(5, 10.0)
    async def sentiment(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, limits.TEXT_LIMIT]
    ) -> None:
        await interactions.respond(interaction, handlers.sentiment(self.engine, text),
                                   self.defer_after)

    @app_commands.command(
        name="shakespeare", description="Continue a prompt in Shakespeare's style"
    )
    @app_commands.describe(
        prompt="The text to continue",
        temperature=f"Randomness {T_MIN}-{T_MAX}: 0.2 conservative, 0.5 balanced, 1.0 adventurous",
        length=f"Characters to generate, 1-{limits.MAX_LENGTH} (default: this server's setting)",
    )
    @app_commands.checks.cooldown(3, 15.0)
    async def shakespeare(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, limits.PROMPT_LIMIT],
        temperature: Temperature | None = None,
        length: Length | None = None,
    ) -> None:
        defaults_used = False

        async def work() -> Reply:
            nonlocal defaults_used
            # Inside the deferred work: a database locked by another shard's process can take
            # seconds, past Discord's 3 s for an unacknowledged interaction.
            settings = await self._settings_for(interaction.guild_id)
            defaults_used = settings is None
            settings = settings or self.store.defaults
            return await handlers.shakespeare(
                self.engine,
                prompt,
                settings.temperature if temperature is None else temperature,
                settings.length if length is None else length,
            )

        await interactions.respond(interaction, work(), self.defer_after)
        if defaults_used and (temperature is None or length is None):
            await interactions.send(interaction, Reply(DEFAULTS_USED, ephemeral=True))

    @shakespeare.autocomplete("temperature")
    async def _temperature_hints(
        self, interaction: discord.Interaction, current: float | str | None
    ) -> list[app_commands.Choice[float]]:
        return [
            app_commands.Choice(name=f"{t} ({label})", value=t)
            for t, label in handlers.TEMPERATURE_HINTS.items()
        ]

    @app_commands.checks.cooldown(5, 10.0)
    async def analyze_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        # The context menu (built in __init__) calls this; message commands receive the
        # message's content without the privileged message-content intent.
        metrics.mark_start(interaction)
        if not message.content.strip():
            raise UserError("That message has no text to analyse.")
        work = handlers.sentiment(self.engine, message.content)
        await interactions.respond(interaction, work, self.defer_after, ephemeral=True)

    @bardbot.command(name="about", description="The models behind bardbot, their scores, latency")
    async def about(self, interaction: discord.Interaction) -> None:
        reply = handlers.about(self.engine, self.bot.latency)
        intent = mood_commands.has_content_intent(self.bot)
        assert reply.embed is not None
        reply.embed.add_field(name="Channel mood", value=mood_commands.status(self.mood, intent),
                              inline=False)
        await interactions.send(interaction, reply)
        metrics.count_command(interaction, "ok")

    @bardbot.command(name="mood", description="How this server's channels have felt, as a chart")
    @app_commands.describe(
        channel="One channel (default: every channel you can read)",
        days=f"Days to show, {DAYS_RANGE[0]}-{DAYS_RANGE[1]} (default {DEFAULT_DAYS})",
    )
    @app_commands.check(interactions.in_guild)
    @app_commands.checks.cooldown(2, 20.0)
    async def show_mood(
        self,
        interaction: discord.Interaction,
        channel: mood_commands.Channel | None = None,
        days: app_commands.Range[int, DAYS_RANGE[0], DAYS_RANGE[1]] = DEFAULT_DAYS,
    ) -> None:
        guild_id = interaction.guild_id
        assert guild_id is not None  # in_guild
        if not mood_commands.has_content_intent(self.bot):
            raise UserError(mood_commands.NO_INTENT)
        channel_ids, name = mood_commands.readable_channels(interaction, channel)
        work = mood_commands.mood_reply(self.store, self.mood, guild_id, channel_ids, name, days)
        # Everyone here may see this channel's mood; other channels' only the caller.
        await interactions.respond(
            interaction, work, self.defer_after, ephemeral=channel_ids != [interaction.channel_id]
        )

    @bardbot.command(name="settings", description="bardbot's settings in this server")
    async def show_settings(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise UserError("Settings belong to a server; in DMs the defaults apply.")
        guild_id, name = interaction.guild_id, self._guild_name(interaction)

        async def work() -> Reply:
            return handlers.format_settings(await self.store.get(guild_id), name)

        await interactions.respond(interaction, work(), self.defer_after, ephemeral=True)

    # Discord applies default permissions to top-level commands only, hence a top-level command
    # rather than a `/bardbot set` subcommand.
    @app_commands.command(
        name="bardbot-set", description="Change bardbot's settings in this server"
    )
    @app_commands.describe(
        temperature=f"Default randomness for /shakespeare and chat, {T_MIN}-{T_MAX}",
        length=f"Default characters generated, 1-{limits.MAX_LENGTH}",
        chat="Reply when someone mentions the bot",
        show_sentiment="Add the message's sentiment to chat replies",
        allow_channel="Reply to mentions in this channel (once any is set, only in those)",
        disallow_channel="Stop replying to mentions in this channel",
        mood="Count this server's channel mood (off deletes its history at once)",
        mood_days=f"Days of channel mood kept, 1-{MAX_MOOD_DAYS}",
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.check(interactions.in_guild)
    async def set_settings(
        self,
        interaction: discord.Interaction,
        temperature: Temperature | None = None,
        length: Length | None = None,
        chat: bool | None = None,
        show_sentiment: bool | None = None,
        allow_channel: app_commands.AppCommandChannel | app_commands.AppCommandThread | None = None,
        disallow_channel: app_commands.AppCommandChannel
        | app_commands.AppCommandThread
        | None = None,
        mood: bool | None = None,
        mood_days: app_commands.Range[int, 1, MAX_MOOD_DAYS] | None = None,
    ) -> None:
        guild_id = interaction.guild_id
        assert guild_id is not None  # in_guild
        changes = {
            name: value
            for name, value in (
                ("temperature", temperature),
                ("length", length),
                ("chat_enabled", chat),
                ("show_sentiment", show_sentiment),
                ("mood_enabled", mood),
                ("mood_days", mood_days),
            )
            if value is not None
        }
        if not changes and allow_channel is None and disallow_channel is None:
            raise UserError("Give at least one setting to change.")
        for channel in (allow_channel, disallow_channel):
            if channel is not None and (
                channel.guild_id != guild_id or channel.type not in CHAT_CHANNEL_TYPES
            ):
                raise UserError(f"<#{channel.id}> is not a channel of this server I can chat in.")
        guild = self.bot.get_guild(guild_id)
        if (
            isinstance(allow_channel, app_commands.AppCommandChannel)
            and guild is not None
            and guild.get_channel(allow_channel.id) is None
        ):
            raise UserError(f"I cannot see the channel <#{allow_channel.id}> in this server.")
        if mood and not mood_commands.has_content_intent(self.bot):
            raise UserError(mood_commands.NO_INTENT)
        if "temperature" in changes:
            limits.check_temperature(changes["temperature"])
        if "length" in changes:
            limits.check_length(changes["length"])

        async def work() -> Reply:
            settings = None
            try:
                if changes:
                    settings = await self.store.update(guild_id, **changes)
                if allow_channel is not None:
                    settings = await self.store.allow_channel(guild_id, allow_channel.id)
                if disallow_channel is not None:
                    settings = await self.store.disallow_channel(guild_id, disallow_channel.id)
            except ValueError as e:  # the store's validation: a message meant for the user
                raise UserError(str(e)) from e
            note = await self._mood_switched(guild_id, mood) if mood is not None else ""
            log.info("settings changed: %s: %s", interactions.where(interaction), settings)
            name = self._guild_name(interaction)
            reply = handlers.format_settings(settings, name, title="Updated")
            return dataclasses.replace(reply, content=note)

        await interactions.respond(interaction, work(), self.defer_after, ephemeral=True)

    async def _mood_switched(self, guild_id: int, on: bool) -> str:
        """Tell the recorder; turning mood off deletes the server's history (after the switch is
        stored: from then on no process adds to it)."""
        self.mood.set_enabled(guild_id, on)
        if on:
            return ("Channel mood is on: every message here is judged and counted per channel and"
                    " hour (no text, no ids kept). See it with /bardbot mood.")
        deleted = await self.store.forget_mood(guild_id)
        return f"Channel mood is off, and this server's mood history was deleted ({deleted:,}" \
               " channel-hours)."

    @staticmethod
    def _guild_name(interaction: discord.Interaction) -> str:
        guild = interaction.guild
        name = guild.name if guild is not None and guild.name else None
        return handlers.escape(name) if name else "this server"

    async def _settings_for(self, guild_id: int | None) -> GuildSettings | None:
        """The server's settings (the defaults in DMs); None while the database is unavailable:
        the caller decides whether the defaults are safe to use."""
        if guild_id is None:
            return self.store.defaults
        try:
            return await self.store.get(guild_id)
        except SettingsError as e:
            log.warning("settings unavailable for guild=%s: %s", guild_id, e)
            return None

    # -- chat ----------------------------------------------------------------------------

    @commands.Cog.listener("on_message")
    async def count_mood(self, message: discord.Message) -> None:
        mood_commands.observe(self.mood, self.bot, message)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not addressed(self.bot.user, message):
            return
        # A prefix command (e.g. "@bot sync") is the host bot's business, not a chat line.
        ctx = await self.bot.get_context(message)
        if ctx.valid:
            return
        if self._chat_cooldown.update_rate_limit(message):
            metrics.count_chat("cooldown")
            log.debug("chat cooldown: user=%s channel=%s", message.author.id, message.channel.id)
            return
        started = time.perf_counter()
        # Taking the channel's lock before any other await keeps a burst in arrival order.
        channel_id = message.channel.id
        queue = self._chat_queues.setdefault(channel_id, _ChannelQueue())
        if queue.size >= CHAT_QUEUE:
            await self._chat(message, busy=True, started=started)
            return
        queue.size += 1
        try:
            async with queue.lock:
                await self._chat(message, started=started)
        finally:
            queue.size -= 1
            if not queue.size:
                del self._chat_queues[channel_id]

    async def _chat(
        self, message: discord.Message, *, busy: bool = False, started: float | None = None
    ) -> None:
        guild_id = guild_id_of(message)
        context = (
            f"message={message.id} user={message.author.id} "
            f"guild={guild_id} channel={message.channel.id}"
        )
        try:
            settings = await self._settings_for(guild_id)
            if settings is None:
                # Fail closed: the server may have turned chat off or kept it to some channels.
                log.info("no chat reply while the settings are unavailable: %s", context)
                return
            if not allowed_here(settings, message):
                return
            if busy:
                reply, outcome = Reply(interactions.BUSY), "busy"
                metrics.count_busy("chat")
                log.info("busy: chat %s (channel queue full)", context)
            else:
                assert self.bot.user is not None  # addressed
                reply, outcome = await reply_to(
                    self.engine, self.speakers, self.bot.user, message, settings)
            # A reply to a message deleted meanwhile is still sent, as a plain message.
            reference = message.to_reference(fail_if_not_exists=False)
            await message.channel.send(reply.content, reference=reference, mention_author=False,
                                       allowed_mentions=interactions.NO_MENTIONS)
            metrics.count_chat(outcome, started)
        except discord.HTTPException as e:
            metrics.count_chat("failed", started)
            log.warning("chat reply failed: %s: %s", context, e)
        except Exception as e:  # the listener must survive anything
            metrics.count_chat("failed", started)
            log.error("chat reply failed: %s: %s: %s", context, type(e).__name__, e)
            log.debug("traceback", exc_info=e)

    def chat_depth(self) -> int:
        """Chat replies waiting or being written, over all channels (read by the metrics)."""
        return sum(queue.size for queue in list(self._chat_queues.values()))

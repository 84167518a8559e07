"""Channel mood on Discord: which messages are sampled, which channels a caller may see, and
the `/bardbot mood` reply (shared with the console's `/mood`)."""

from __future__ import annotations

import time

import discord
from bardbot import mood_chart
from bardbot.handlers import Reply, escape
from bardbot.limits import UserError
from bardbot.mood import MoodRecorder, bin_rows, check_days, hour_of, summary
from bardbot.settings import SettingsStore
from discord import app_commands

NO_INTENT = (
    "Channel mood needs Discord's Message Content intent, which this bot does not have: its"
    " operator sets BARDBOT_MESSAGE_CONTENT=1 (or --message-content) and turns on Message"
    " Content Intent in the Discord developer portal."
)
MOOD_OFF = (
    "Channel mood is off in this server: a server manager can turn it on with"
    " /bardbot-set mood:True."
)
SAMPLED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def has_content_intent(bot: discord.Client) -> bool:
    """Whether the bot receives message text (in a plugin, the host's intents decide)."""
    return bot.intents.message_content


def observe(recorder: MoodRecorder, bot: discord.Client, message: discord.Message) -> None:
    """Sample a server member's message for its channel's mood (threads count in their
    channel). Whether the server opted in is checked by the recorder."""
    guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
    if (
        guild_id is None
        or not has_content_intent(bot)
        or message.author.bot
        or message.webhook_id is not None
        or message.type not in SAMPLED_TYPES
        or not message.content.strip()
    ):
        return
    channel = message.channel
    parent_id = channel.parent_id if isinstance(channel, discord.Thread) else None
    recorder.sample(guild_id, parent_id or channel.id, message.content)


Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread


def readable_channels(interaction: discord.Interaction, channel: Channel | None) -> tuple[
    list[int], str
]:
    """The channel ids the caller asks about and may read, and how to name them."""
    if channel is not None:
        if isinstance(channel, app_commands.AppCommandThread):
            raise UserError(f"Mood is counted per channel, threads included: ask for"
                            f" <#{channel.parent_id}>.")
        if channel.guild_id != interaction.guild_id:
            raise UserError("That channel is not in this server.")
        if not channel.permissions.read_messages:  # the caller's own, resolved by Discord
            raise UserError(f"You cannot read <#{channel.id}>.")
        return [channel.id], f"#{channel.name}"
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):  # not cached: this channel only
        if interaction.channel_id is None or not interaction.permissions.read_messages:
            raise UserError("I cannot tell which channels you can read here; name one.")
        return [interaction.channel_id], "this channel"
    ids = [
        c.id
        for c in guild.channels
        if not isinstance(c, discord.CategoryChannel) and c.permissions_for(member).read_messages
    ]
    return ids, guild.name or "this server"


async def mood_reply(
    store: SettingsStore,
    recorder: MoodRecorder,
    guild_id: int,
    channel_ids: list[int],
    where: str,
    days: int,
    now: float | None = None,
) -> Reply:
    """The chart and summary line of these channels' mood over the last `days`; `where` names
    them (as typed: it is escaped here)."""
    check_days(days)
    settings = await store.get(guild_id)
    if not settings.mood_enabled:
        raise UserError(MOOD_OFF)
    await recorder.settle()
    await recorder.flush()  # everything received before the question is in the answer
    end_hour = hour_of(time.time() if now is None else now)
    since = end_hour - 2 * days * 24 - 24
    rows = await store.mood_rows(guild_id, since, channel_ids)
    current, previous = bin_rows(rows, end_hour, days)
    line = summary(current, previous, escape(where), days)
    if days > settings.mood_days:
        line += f" This server keeps {settings.mood_days} days of mood."
    if not current.total:
        return Reply(line)
    title = f"{where}, last {'day' if days == 1 else f'{days} days'}"
    # "$" would start matplotlib's mathtext.
    return Reply(line, image=await mood_chart.render(current, title.replace("$", r"\$")))


def status(recorder: MoodRecorder | None, intent: bool) -> str:
    """The /bardbot about line on channel mood."""
    if not intent:
        return "off: the Message Content intent was not granted (BARDBOT_MESSAGE_CONTENT=1)"
    text = "available (Message Content intent granted); servers opt in with /bardbot-set"
    if recorder is not None:
        text += f"\n{recorder.counted:,} messages counted, {recorder.dropped:,} dropped when busy"
    return text

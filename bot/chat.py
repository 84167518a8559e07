"""Chat on Discord: which messages speak to the bot, where it may answer, and its reply.

The Bard cog's listener owns the order of replies (one at a time per channel, a bounded queue);
this module decides, for one message, whether and what to answer.
"""

from __future__ import annotations

import re

import discord
from bardbot import handlers
from bardbot.engine import Busy, Engine
from bardbot.handlers import Reply
from bardbot.interactions import BUSY
from bardbot.limits import UserError
from bardbot.models.play import Speakers
from bardbot.settings import GuildSettings

# Channel types a chat reply can be posted in (a category or directory cannot be allowed).
CHAT_CHANNEL_TYPES = (
    discord.ChannelType.text,
    discord.ChannelType.news,
    discord.ChannelType.voice,
    discord.ChannelType.stage_voice,
    discord.ChannelType.forum,
    discord.ChannelType.media,
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


def guild_id_of(message: discord.Message) -> int | None:
    """The message's server; None in a DM."""
    # A server message whose guild is not cached still carries its guild id.
    if message.guild is not None:
        return message.guild.id
    return getattr(message.channel, "guild_id", None)


def addressed(me: discord.ClientUser | None, message: discord.Message) -> bool:
    """Whether a person mentioned the bot `me`, or wrote to it in a DM."""
    if me is None or message.author.bot or message.author.id == me.id:
        return False
    if guild_id_of(message) is None:  # a DM
        return True
    return me.id in message.raw_mentions


def allowed_here(settings: GuildSettings, message: discord.Message) -> bool:
    """Whether the server lets the bot chat in the message's channel."""
    channels = (message.channel.id, getattr(message.channel, "parent_id", None))
    # A thread of an allowed channel is allowed too.
    return settings.chat_enabled and any(
        settings.allows_channel(c) for c in channels if c is not None
    )


async def reply_to(
    engine: Engine, speakers: Speakers, me: discord.ClientUser, message: discord.Message,
    settings: GuildSettings,
) -> tuple[Reply, str]:
    """The reply and its outcome for the metrics (ok, user_error or busy)."""
    try:
        async with message.channel.typing():
            text = re.sub(rf"<@!?{me.id}>", " ", message.content).strip()
            return await handlers.chat(engine, text, settings, speakers), "ok"
    except UserError as e:
        return Reply(str(e)), "user_error"
    except Busy:
        return Reply(BUSY), "busy"

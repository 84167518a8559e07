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

from bardbot.assembly import assemble, load_engine
from bardbot.config import load_config
from bardbot.limits import parse_bool
from discord.ext import commands

log = logging.getLogger(__name__)

TOKEN_VARIABLES = ("DISCORD_TOKEN", "DISCORD_TOKEN_FILE")


async def setup(bot: commands.Bot) -> None:
    # The host's token is none of the plugin's business: do not read it, nor fail on its file.
    environ = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES}
    config = load_config([], environ)
    chat = os.environ.get("BARDBOT_CHAT")
    config = dataclasses.replace(config, chat=parse_bool(chat, "BARDBOT_CHAT") if chat else False)
    engine = await asyncio.to_thread(load_engine, config)
    await assemble(bot, config, engine)
    mood = ("available" if bot.intents.message_content
            else "unavailable (the bot lacks the Message Content intent)")
    log.info("bardbot loaded (settings: %s, chat by default: %s, channel mood: %s)",
             config.db_path, config.chat, mood)


async def teardown(bot: commands.Bot) -> None:
    # Removing the cog runs Bard.cog_unload: context menu removed, threads and database closed.
    await bot.remove_cog("Bard")

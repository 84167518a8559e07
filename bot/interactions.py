"""Answering Discord interactions: the plumbing under every slash command and menu.

Replies never ping anyone (`NO_MENTIONS`); work not ready within a second is deferred, then
followed up; every option is checked for its declared type before command code sees it; an error
reaches the user as one short ephemeral message and the log as one line. The Bard cog and the
standalone bot's command tree (`client.BardTree`) report errors through the same `report`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import math
from collections.abc import Awaitable, Callable

import discord
from bardbot import metrics
from bardbot.engine import Busy
from bardbot.handlers import Reply
from bardbot.limits import UserError
from bardbot.settings import SettingsError, SettingsOutcomeUnknown
from discord import app_commands

NO_MENTIONS = discord.AllowedMentions.none()
# Set on an interaction once its error has been answered, so a tree-wide handler stays quiet.
HANDLED = "bardbot_error_handled"
BUSY = "I am busy with other requests right now; try again in a few seconds."
SETTINGS_UNAVAILABLE = (
    "bardbot's settings are unavailable right now, so nothing was read or changed; "
    "try again in a minute."
)
OUTCOME_UNKNOWN = (
    "bardbot's settings database did not confirm the change in time: it may or may not have"
    " been made. Check with /bardbot settings in a minute."
)
FAILED = "Something went wrong; it has been logged."

# What each option type must arrive as. A stale command registration on Discord's side can send
# another type (an integer where the code now expects text).
OPTION_TYPES: dict[discord.AppCommandOptionType, tuple[tuple[type, ...], str]] = {
    discord.AppCommandOptionType.string: ((str,), "text"),
    discord.AppCommandOptionType.integer: ((int,), "a whole number"),
    discord.AppCommandOptionType.number: ((int, float), "a number"),
    discord.AppCommandOptionType.boolean: ((bool,), "true or false"),
}
VALUE_KINDS = {str: "text", bool: "true or false", int: "a whole number", float: "a number"}


class WrongOptionType(app_commands.CheckFailure):
    """An option arrived with another type than the command declares; the message says which."""


def check_option_types(interaction: discord.Interaction) -> None:
    command = interaction.command
    for param in getattr(command, "parameters", ()):
        if param.type not in OPTION_TYPES or param.display_name not in interaction.namespace:
            continue
        value = interaction.namespace[param.display_name]
        types, wanted = OPTION_TYPES[param.type]
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            got = VALUE_KINDS.get(type(value), type(value).__name__)
            raise WrongOptionType(
                f"The option {param.display_name} must be {wanted}, not {got}: the commands may "
                "be out of date; try again in a minute or ask the bot's owner to sync them."
            )


def in_guild(interaction: discord.Interaction) -> bool:
    """Run-time twin of `guild_only()`, which is only a hint to Discord's client."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return True


def where(interaction: discord.Interaction) -> str:
    """Context for a log line."""
    command = interaction.command.qualified_name if interaction.command else "?"
    return (
        f"command={command} user={interaction.user.id} guild={interaction.guild_id} "
        f"channel={interaction.channel_id} interaction={interaction.id}"
    )


# -- sending ---------------------------------------------------------------------------------


async def send(interaction: discord.Interaction, reply: Reply) -> None:
    """`reply` as the interaction's response, or as a follow-up once it has one."""
    kwargs: dict = {"ephemeral": reply.ephemeral, "allowed_mentions": NO_MENTIONS}
    if reply.content:
        kwargs["content"] = reply.content
    if reply.embed is not None:
        kwargs["embed"] = reply.embed
    if reply.image is not None:
        kwargs["file"] = discord.File(io.BytesIO(reply.image), filename="mood.png")
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def respond(
    interaction: discord.Interaction,
    work: Awaitable[Reply],
    defer_after: float,
    *,
    ephemeral: bool = False,
) -> None:
    """Answer with `work`'s reply; defer first if it is not ready within `defer_after` seconds
    (Discord drops an interaction not acknowledged within 3 s)."""
    task = asyncio.ensure_future(work)
    try:
        reply = await asyncio.wait_for(asyncio.shield(task), defer_after)
    except TimeoutError:
        try:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        except BaseException:  # e.g. the interaction expired: nobody will see the reply
            task.cancel()
            raise
        reply = await task
    if ephemeral and not reply.ephemeral:
        reply = dataclasses.replace(reply, ephemeral=True)
    await send(interaction, reply)
    metrics.count_command(interaction, "ok")


# -- errors ----------------------------------------------------------------------------------


async def report(
    interaction: discord.Interaction, error: app_commands.AppCommandError, log: logging.Logger
) -> None:
    """Tell the user what went wrong, in one ephemeral message, and log it to `log` (the
    caller's, so the line says which handler answered)."""
    interaction.extras[HANDLED] = True
    message = error_text(interaction, error, log)
    try:
        await send(interaction, Reply(message, ephemeral=True))
    except discord.HTTPException as e:
        log.warning("could not report an error: %s: %s", where(interaction), e)


def error_text(
    interaction: discord.Interaction, error: app_commands.AppCommandError, log: logging.Logger
) -> str:
    """The user's message for `error`; what the operator needs to know goes to `log`."""
    original = getattr(error, "original", error)
    if isinstance(original, UserError | WrongOptionType):
        return str(original)
    if isinstance(original, Busy):
        log.info("busy: %s (%s)", where(interaction), original)
        return BUSY
    if isinstance(error, app_commands.CommandOnCooldown):
        # Rounded up: "try again in 0 s" would be a lie.
        return f"Slow down: try again in {math.ceil(error.retry_after)} s."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the Manage Server permission to change bardbot's settings."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.TransformerError):
        return f"That value is not valid: {error.value!r}."
    if isinstance(original, SettingsOutcomeUnknown):
        log.error("settings change unconfirmed: %s: %s", where(interaction), original)
        return OUTCOME_UNKNOWN
    if isinstance(original, SettingsError):
        log.error("settings failed: %s: %s", where(interaction), original)
        return SETTINGS_UNAVAILABLE
    log.error("command failed: %s: %s: %s", where(interaction), type(original).__name__, original)
    log.debug("traceback", exc_info=original)
    return FAILED


def quiet_answered_errors(tree: app_commands.CommandTree) -> Callable[[], None]:
    """Keep errors already answered (a cooldown, a bad value) out of `tree`'s error handler, which
    discord.py calls after ours for every error, and pass the rest on. Returns the undo: it puts
    the host's handler back, unless the host has set another one since."""
    had_own = "on_error" in vars(tree)
    previous = tree.on_error

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError):
        if not interaction.extras.get(HANDLED):
            await previous(interaction, error)

    tree.on_error = on_error  # type: ignore[method-assign]

    def undo() -> None:
        if vars(tree).get("on_error") is on_error:
            if had_own:
                tree.on_error = previous  # type: ignore[method-assign]
            else:
                del tree.on_error

    return undo

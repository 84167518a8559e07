"""`bardbot` / `python -m bardbot`: the Discord bot with a token, the console without one."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Sequence

import aiohttp
import discord
from bardbot.config import ConfigError, load_config

log = logging.getLogger("bardbot")

# discord.py's loggers that write request URLs (and, at DEBUG, bodies): the URLs of interaction
# replies and followups hold the interaction's token.
REQUEST_LOGGERS = ("discord.http", "discord.webhook.async_")
_TOKEN_IN_URL = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s'\"]+")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub(r"\1<token>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def setup_logging(level: str) -> None:
    """discord.py's logging at `level`, except request logs: at most INFO, tokens redacted."""
    number = getattr(logging, level)
    discord.utils.setup_logging(level=number)
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(number, logging.INFO))
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def _fail(message: str, code: int = 1) -> int:
    print(f"bardbot: {message}", file=sys.stderr)
    return code


def _migrate_settings(argv: Sequence[str]) -> int:
    import argparse

    from bardbot.settings import SettingsError, copy_settings, parse_target

    p = argparse.ArgumentParser(
        prog="bardbot migrate-settings",
        description="Copy per-server settings from a SQLite file into PostgreSQL (or any store"
        " into another); running it again changes nothing.",
    )
    p.add_argument("--from", dest="source", required=True, metavar="PATH",
                   help="the SQLite settings file")
    p.add_argument("--to", dest="target", required=True, metavar="URL",
                   help="postgresql://user@host/db (password: PGPASSWORD or ~/.pgpass)")
    args = p.parse_args(argv)
    try:
        copied = asyncio.run(copy_settings(args.source, args.target))
    except SettingsError as e:
        return _fail(str(e))
    print(f"copied the settings of {copied} servers from {args.source} to "
          f"{parse_target(args.target)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["migrate-settings"]:
        return _migrate_settings(argv[1:])
    try:
        config = load_config(argv)
    except ConfigError as e:
        return _fail(str(e), 2)
    setup_logging(config.log_level)
    for warning in config.warnings:
        log.warning("%s", warning)

    from bardbot.extension import load_engine
    from bardbot.models import ModelError
    from bardbot.settings import SettingsError

    try:
        engine = load_engine(config)
    except ModelError as e:
        return _fail(str(e))

    if config.token is None or config.console:
        from bardbot import console

        if config.token is None:
            log.info("no DISCORD_TOKEN: console mode")
        return console.run(engine)

    from bardbot.client import run_bot

    try:
        asyncio.run(run_bot(config, engine))
    except SettingsError as e:
        return _fail(str(e))
    except discord.LoginFailure:
        return _fail("Discord rejected the token: check DISCORD_TOKEN / DISCORD_TOKEN_FILE")
    except discord.PrivilegedIntentsRequired:
        return _fail(
            "Discord did not grant the Message Content intent that BARDBOT_MESSAGE_CONTENT=1"
            " (--message-content) asks for: switch on Message Content Intent in the developer"
            " portal (Bot page), or unset it (channel mood then stays off)"
        )
    except (
        discord.HTTPException,
        discord.GatewayNotFound,
        discord.ConnectionClosed,
        aiohttp.ClientError,
        OSError,
        TimeoutError,
    ) as e:
        # No network, DNS failure, Discord down: one line, not an aiohttp traceback.
        return _fail(
            f"cannot connect to Discord ({type(e).__name__}: {e}); "
            "check the network connection and try again"
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`bardbot` / `python -m bardbot`: the Discord bot with a token, the console without one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp
import discord
from bardbot.config import ConfigError, load_config
from bardbot.limits import hide_tokens

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


# discord.py's gateway logger writes every event received, at DEBUG: an interaction's token
# (it can reply for 15 minutes) and what users wrote (messages, command options, embeds).
GATEWAY_LOGGERS = ("discord.gateway",)
HIDDEN_KEYS = frozenset({"token", "content", "value", "title", "description"})
_KEYS = "|".join(sorted(HIDDEN_KEYS))
# The same keys in a payload already turned into text (JSON or a Python repr).
_HIDDEN_IN_TEXT = re.compile(
    rf"""(["'](?:{_KEYS})["']\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
)


def _hidden(value: object) -> object:
    """A payload (dicts and lists) with the values of HIDDEN_KEYS replaced."""
    if isinstance(value, dict):
        return {k: "<hidden>" if k in HIDDEN_KEYS and value[k] not in (None, "") else _hidden(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hidden(v) for v in value]
    return value


class RedactPayloads(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_hidden(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = _hidden(record.args)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it, as without this filter
            return True
        record.msg, record.args = _HIDDEN_IN_TEXT.sub(r'\1"<hidden>"', message), ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, log_format: str = "text") -> None:
    """discord.py's logging at `level` (JSON lines with log_format="json"), except request
    logs (at most INFO, tokens redacted); gateway events are logged without tokens and
    without what users wrote."""
    number = getattr(logging, level)
    formatter = JsonFormatter() if log_format == "json" else None
    discord.utils.setup_logging(level=number, formatter=formatter)
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))
    for names, redact in ((REQUEST_LOGGERS, RedactTokens), (GATEWAY_LOGGERS, RedactPayloads)):
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(f, redact) for f in logger.filters):
                logger.addFilter(redact())


def _fail(message: str, code: int = 1) -> int:
    print(f"bardbot: {hide_tokens(message)}", file=sys.stderr)
    return code


def _migrate_settings(argv: Sequence[str]) -> int:
    import argparse

    from bardbot.config import unknown_arguments
    from bardbot.database_url import parse_target
    from bardbot.settings import SettingsError, copy_settings

    p = argparse.ArgumentParser(
        prog="bardbot migrate-settings",
        description="Copy per-server settings from one store into another (e.g. a SQLite file"
        " into PostgreSQL). Servers the target has already are skipped, so running it again"
        " loses no change made there; the source is only read.",
    )
    p.add_argument("--from", dest="source", required=True, metavar="PATH|URL",
                   help="the settings to copy: a SQLite file (or a postgresql:// URL)")
    p.add_argument("--to", dest="target", required=True, metavar="URL|PATH",
                   help="postgresql://user@host/db (password: PGPASSWORD or ~/.pgpass)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the settings of servers the target has already")
    args, extras = p.parse_known_args(argv)
    if extras:
        return _fail(str(unknown_arguments(extras)), 2)
    targets = []
    for flag, value in (("--from", args.source), ("--to", args.target)):
        try:
            targets.append(parse_target(value))
        except ValueError as e:  # never shows a password
            return _fail(f"{flag}: {e}", 2)
    source, target = targets
    try:
        report = asyncio.run(copy_settings(source, target, overwrite=args.overwrite))
    except SettingsError as e:  # never shows a password
        return _fail(str(e))
    print(f"copied the settings of {len(report.copied)} servers from {source} to {target}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} servers that {target} has already (left as they"
              f" are there; --overwrite replaces them): {_listed(report.skipped)}")
    return 0


def _listed(ids: Sequence[int], most: int = 20) -> str:
    shown = ", ".join(map(str, ids[:most]))
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["migrate-settings"]:
        return _migrate_settings(argv[1:])
    try:
        config = load_config(argv)
    except ConfigError as e:
        return _fail(str(e), 2)
    setup_logging(config.log_level, config.log_format)
    for warning in config.warnings:
        log.warning("%s", warning)

    from bardbot.assembly import load_engine
    from bardbot.metrics import MetricsError
    from bardbot.models import ModelError
    from bardbot.models.play import Speakers
    from bardbot.settings import SettingsError

    try:
        engine = load_engine(config)
    except ModelError as e:
        return _fail(str(e))

    if config.token is None or config.console:
        from bardbot import console

        if config.token is None:
            log.info("no DISCORD_TOKEN: console mode")
        if config.metrics is not None:
            log.warning("BARDBOT_METRICS / --metrics: metrics are served by the Discord bot only, "
                        "not in console mode")
        return console.run(engine, speakers=Speakers(config.play_speaker))

    from bardbot.client import run_bot

    try:
        asyncio.run(run_bot(config, engine))
    except (SettingsError, MetricsError) as e:
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

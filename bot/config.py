"""Configuration: environment variables, overridden by command-line flags.

The Discord token is read only from the environment (`DISCORD_TOKEN`) or a file
(`DISCORD_TOKEN_FILE` / `--token-file`): never from an argument that `ps` would show, and it is
kept out of `repr()` so it cannot end up in a log line.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bardbot import metrics
from bardbot.database_url import DatabaseTarget, parse_target
from bardbot.engine import EngineLimits
from bardbot.limits import TOKEN_SHAPE, UserError, parse_bool, shown
from bardbot.models import play

# A bad setting is a user error; its message names the variable or flag to fix.
ConfigError = UserError


def default_db_path(environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/bardbot/settings.db, i.e. ~/.local/state/bardbot/settings.db by default."""
    home = environ.get("HOME") or os.path.expanduser("~")
    state = environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return Path(state) / "bardbot" / "settings.db"


@dataclass(frozen=True)
class Config:
    token: str | None = field(default=None, repr=False)
    console: bool = False  # console mode even when a token is set
    sentiment_model: str | None = None  # a shipped model's name or a path; None: the default
    shakespeare_model: str | None = None  # a shipped model's name or a path; None: the default
    # A SQLite file, or a PostgreSQL URL (whose str/repr hide the password).
    db_path: DatabaseTarget = field(default_factory=lambda: default_db_path(os.environ))
    sync_guild: int | None = None  # copy the commands to this server and sync them at start
    sharded: bool = False  # run as AutoShardedBot
    shard_count: int | None = None  # None with sharded: Discord's recommended count
    shard_ids: tuple[int, ...] | None = None  # the shards this process runs (needs shard_count)
    chat: bool = True  # chat replies on by default in servers that did not choose
    message_content: bool = False  # ask Discord for message text (channel mood needs it)
    play_speaker: str = "rotate"  # chat in play form as: off, rotate or a speaker's name
    sentiment_workers: int = EngineLimits.sentiment_workers  # the engine's defaults, said once
    generate_workers: int = EngineLimits.generate_workers
    max_generations: int = EngineLimits.max_generations
    max_queued_texts: int = EngineLimits.max_queued_texts
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object a line
    metrics: tuple[str, int] | None = None  # serve Prometheus /metrics on (host, port)
    warnings: tuple[str, ...] = ()  # logged once logging is set up

    @property
    def limits(self) -> EngineLimits:
        return EngineLimits(**{name: getattr(self, name) for name, *_ in ENGINE_FLAGS})


# The engine's limits that have a flag: (Config field, flag, variable, help); a field not set
# keeps its default.
ENGINE_FLAGS = (
    ("generate_workers", "--workers", "BARDBOT_WORKERS", "generation threads"),
    ("sentiment_workers", "--sentiment-workers", "BARDBOT_SENTIMENT_WORKERS", "sentiment threads"),
    ("max_generations", "--max-generations", "BARDBOT_MAX_GENERATIONS",
     "generations queued before 'busy'"),
    ("max_queued_texts", "--max-queued-texts", "BARDBOT_MAX_QUEUED_TEXTS",
     "sentiment requests queued before 'busy'"),
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def _int(value: str, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {shown(value)}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}")
    return number


def _shard_ids(value: str, name: str) -> tuple[int, ...]:
    ids = tuple(_int(part.strip(), name) for part in value.split(",") if part.strip())
    if not ids:
        raise ConfigError(f"{name} must list shard ids, e.g. 0,1")
    return ids


MAX_TOKEN_FILE = 4096  # bytes; a Discord token is ~70 characters


def check_token(token: str, where: str) -> str:
    """The token without surrounding whitespace; ConfigError (never showing it) unless it is
    one line of printable ASCII without spaces, the only shape a Discord token has."""
    token = token.strip()
    if not token:
        raise ConfigError(f"the token given by {where} is empty")
    if "\n" in token or "\r" in token:
        raise ConfigError(f"the token given by {where} holds more than one line; "
                          "it must be the token alone")
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise ConfigError(f"the token given by {where} holds spaces or characters no Discord "
                          "token has; is it the right file?")
    return token


def read_token_file(path: str, name: str) -> tuple[str, list[str]]:
    """The token in `path` and warnings about the file. Only a small regular file is read: a
    FIFO would hang the start and /dev/zero would read until memory runs out."""
    where = f"{name} ({path})"
    try:
        # Non-blocking, so opening a FIFO with no writer returns at once (the check below
        # refuses it); reads of a regular file are unaffected.
        fd = os.open(Path(path).expanduser(), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        raise ConfigError(f"cannot read the token file given by {where}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the token file given by {where} is not a regular file")
        data = os.read(fd, MAX_TOKEN_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_TOKEN_FILE:
        raise ConfigError(f"the token file given by {where} is larger than {MAX_TOKEN_FILE} "
                          "bytes; it must hold the token alone")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"the token file given by {where} is not UTF-8 text") from None
    warnings = []
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"the token file {path} can be read or changed by other users "
                        f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 600 it")
    return check_token(text, f"the token file {where}"), warnings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        # argparse quotes the offending value ("ignored explicit argument 'x'"): it could be a
        # token typed in the wrong place, so it is never repeated.
        raise ConfigError(re.sub(r"""(['"]).*\1""", "(value not shown)", message))


def unknown_arguments(extras: list[str]) -> ConfigError:
    """Names the unknown options, never their values (`-t TOKEN`, `--tok=TOKEN`, `TOKEN`)."""
    names = [a.split("=", 1)[0] if a.startswith("--") else a[:2] for a in extras
             if a.startswith("-")]
    others = len(extras) - len(names)
    listed = ", ".join(names) + (f" and {others} value(s)" if names and others else "")
    return ConfigError(f"unknown argument(s): {listed or f'{others} value(s)'} (values are "
                       "never shown: one could be a token); see bardbot --help")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="bardbot",
        allow_abbrev=False,  # "--token x" must not be taken for --token-file
        description="The bardbot Discord bot. Without a token (DISCORD_TOKEN or "
        "DISCORD_TOKEN_FILE) it opens a console running the same commands.",
        epilog="Every flag has an environment variable (shown in brackets); flags win.",
    )
    p.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the Discord token from this file [DISCORD_TOKEN_FILE]; "
        "the token itself is never a flag",
    )
    p.add_argument(
        "--console",
        action="store_true",
        default=None,
        help="console mode even when a token is set [BARDBOT_CONSOLE]",
    )
    p.add_argument(
        "--sentiment-model",
        metavar="NAME|PATH",
        help="reference, message, fast or a sentiment .onnx (default: the shipped default) "
        "[BARDBOT_SENTIMENT_MODEL]",
    )
    p.add_argument(
        "--shakespeare-model",
        metavar="NAME|PATH",
        help="reference, bard or a Shakespeare .onnx (default: the shipped default) "
        "[BARDBOT_SHAKESPEARE_MODEL]",
    )
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        help="per-server settings: a SQLite file (default: ~/.local/state/bardbot/settings.db)"
        " or a postgresql://user@host/db URL [BARDBOT_DB]",
    )
    p.add_argument("--sync-guild", metavar="ID",
                   help="at start, sync the commands to this server only [BARDBOT_SYNC_GUILD]")
    p.add_argument(
        "--shards",
        metavar="N",
        help="run as AutoShardedBot with N shards; 'auto' for Discord's recommended "
        "count [BARDBOT_SHARDS]",
    )
    p.add_argument("--shard-ids", metavar="IDS",
                   help="comma-separated shards this process runs, with --shards N "
                   "[BARDBOT_SHARD_IDS]")
    p.add_argument(
        "--no-chat",
        dest="chat",
        action="store_false",
        default=None,
        help="chat replies off until a server turns them on [BARDBOT_CHAT=0]",
    )
    p.add_argument(
        "--message-content",
        action="store_true",
        default=None,
        help="ask Discord for the Message Content intent (also switch it on in the developer"
        " portal): servers may then turn on channel mood [BARDBOT_MESSAGE_CONTENT]",
    )
    p.add_argument("--play-speaker", metavar="NAME",
                   help="chat in play form (case-kept models) answering as this speaker; "
                   "rotate (default) or off [BARDBOT_PLAY_SPEAKER]")
    for _, flag, variable, what in ENGINE_FLAGS:
        p.add_argument(flag, metavar="N", help=f"{what} [{variable}]")
    p.add_argument("--log-level", metavar="LEVEL",
                   help=f"{', '.join(LOG_LEVELS)} (default: INFO) [BARDBOT_LOG_LEVEL]")
    p.add_argument("--log-format", metavar="FORMAT",
                   help="text (default) or json: one JSON object a line [BARDBOT_LOG_FORMAT]")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (HOST defaults to "
                   "127.0.0.1) [BARDBOT_METRICS]")
    return p


def _token(
    flag: str | None, token_file: str | None, env: Mapping[str, str]
) -> tuple[str | None, list[str]]:
    """The token: from the file --token-file names, else DISCORD_TOKEN, else the file
    DISCORD_TOKEN_FILE names; and what to warn about that file."""
    token = env.get("DISCORD_TOKEN", "").strip() or None
    if flag is not None or (token is None and token_file is not None):
        where = "--token-file" if flag is not None else "DISCORD_TOKEN_FILE"
        return read_token_file(token_file, where)  # type: ignore[arg-type]
    return (check_token(token, "DISCORD_TOKEN") if token is not None else None), []


def _sharding(
    shards: str | None, shard_ids: str | None
) -> tuple[int | None, tuple[int, ...] | None]:
    """The shard count (None: Discord's recommended one) and the shards this process runs."""
    count = None
    if shards is not None and shards != "auto":
        count = _int(shards, "--shards / BARDBOT_SHARDS", 1)
    ids = _shard_ids(shard_ids, "--shard-ids / BARDBOT_SHARD_IDS") if shard_ids else None
    if ids is not None:
        if count is None:
            raise ConfigError("--shard-ids needs --shards N (the total number of shards)")
        bad = [i for i in ids if i >= count]
        if bad:
            raise ConfigError(f"shard id {bad[0]} is out of range for --shards {count}")
    return count, ids


def _logging(level: str | None, log_format: str | None) -> tuple[str, str]:
    level, log_format = (level or "INFO").upper(), (log_format or "text").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"--log-level / BARDBOT_LOG_LEVEL must be {', '.join(LOG_LEVELS[:-1])} "
                          f"or {LOG_LEVELS[-1]}, got {shown(level)}")
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format / BARDBOT_LOG_FORMAT must be text or json, "
                          f"got {shown(log_format)}")
    return level, log_format


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Config from `environ` (default os.environ) and `argv` (default sys.argv[1:])."""
    env = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--token" or a.startswith("--token=") for a in argv):
        # Refuse without echoing the value: argparse's own error would print it.
        raise ConfigError(
            "the token is never a command-line argument (ps shows those): "
            "set DISCORD_TOKEN or use --token-file PATH"
        )
    args, extras = parser().parse_known_args(argv)
    if extras:
        raise unknown_arguments(extras)

    def pick(flag: object, var: str) -> str | None:
        value = str(flag) if flag is not None else env.get(var)
        if value and TOKEN_SHAPE.search(value):
            raise ConfigError(
                f"{var} (or its flag) holds what looks like a Discord token (not shown); the"
                " token goes in DISCORD_TOKEN, or in a file named by --token-file"
            )
        return value if value not in (None, "") else None

    token, warnings = _token(args.token_file, pick(args.token_file, "DISCORD_TOKEN_FILE"), env)
    shards = pick(args.shards, "BARDBOT_SHARDS")
    shard_count, shard_ids = _sharding(shards, pick(args.shard_ids, "BARDBOT_SHARD_IDS"))

    sync = pick(args.sync_guild, "BARDBOT_SYNC_GUILD")
    engine = {}
    for name, flag, variable, _ in ENGINE_FLAGS:
        value = pick(getattr(args, flag[2:].replace("-", "_")), variable)
        if value:
            engine[name] = _int(value, f"{flag} / {variable}", 1)
    chat = args.chat
    if chat is None:
        chat = parse_bool(env.get("BARDBOT_CHAT", "1"), "BARDBOT_CHAT")
    message_content = bool(args.message_content) or parse_bool(
        env.get("BARDBOT_MESSAGE_CONTENT", "0"), "BARDBOT_MESSAGE_CONTENT"
    )
    console = bool(args.console) or parse_bool(env.get("BARDBOT_CONSOLE", "0"), "BARDBOT_CONSOLE")
    level, log_format = _logging(
        pick(args.log_level, "BARDBOT_LOG_LEVEL"), pick(args.log_format, "BARDBOT_LOG_FORMAT")
    )
    metrics_at = pick(args.metrics, "BARDBOT_METRICS")
    # A token set there by mistake is refused by pick() without echoing it.
    speaker = pick(args.play_speaker, "BARDBOT_PLAY_SPEAKER") or "rotate"
    try:  # a bad value stops the bot here, at start
        speaker = play.Speakers(speaker).spec
    except ValueError as exc:
        raise ConfigError(f"--play-speaker / BARDBOT_PLAY_SPEAKER: {exc}") from None
    sentiment = pick(args.sentiment_model, "BARDBOT_SENTIMENT_MODEL")
    shakespeare = pick(args.shakespeare_model, "BARDBOT_SHAKESPEARE_MODEL")
    db = pick(args.db, "BARDBOT_DB")
    try:
        db_path = parse_target(db) if db and db.strip() else default_db_path(env)
    except ValueError as e:  # the message never shows a password
        raise ConfigError(f"--db / BARDBOT_DB: {e}") from None
    return Config(
        token=token,
        console=console,
        sentiment_model=sentiment or None,
        shakespeare_model=shakespeare or None,
        db_path=db_path,
        sync_guild=_int(sync, "--sync-guild / BARDBOT_SYNC_GUILD", 1) if sync else None,
        sharded=shards is not None,
        shard_count=shard_count,
        shard_ids=shard_ids,
        chat=chat,
        message_content=message_content,
        play_speaker=speaker,
        **engine,
        log_level=level,
        log_format=log_format,
        metrics=metrics.parse_address(metrics_at, "--metrics / BARDBOT_METRICS")
        if metrics_at
        else None,
        warnings=tuple(warnings),
    )

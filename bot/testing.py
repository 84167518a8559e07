"""A network-free Discord for tests and benchmarks (public: bench/ and tests/ both use it).

- `FakeSession` replaces the aiohttp session inside `discord.http.HTTPClient` (the same session
  interaction responses and webhooks use), records every request — method, path, JSON body —
  and answers with plausible Discord payloads. Everything above it (discord.py's routes,
  payload building, allowed-mentions merging) runs for real. A subclass may override `record`
  to keep something else (bench/bench_bot_load.py keeps reply times only).
- `interaction_payload` / `message_payload` build real-shaped INTERACTION_CREATE and
  MESSAGE_CREATE gateway payloads; `run_interaction` drives one through `CommandTree._call` the
  way `CommandTree._from_interaction` does; `dispatch_message` goes through
  `ConnectionState.parse_message_create`.
- `make_bot` / `attach` / `start`: a bot that believes it is logged in, with two cached guilds.

Not for production use: it reaches into discord.py's private attributes.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

API = discord.http.Route.BASE
APP_ID = 100000000000000001
BOT_ID = APP_ID
GUILD_ID = 200000000000000001
OTHER_GUILD_ID = 200000000000000002
CHANNEL_ID = 300000000000000001
OTHER_CHANNEL_ID = 300000000000000002
CATEGORY_ID = 300000000000000009
USER_ID = 400000000000000001
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
EVERYONE_PERMS = discord.Permissions(send_messages=True, view_channel=True).value
_seq = itertools.count(1)
# Snowflakes carry their creation time, and discord.py's cooldowns use the interaction's
# snowflake time: a fake clock makes each test start with fresh cooldowns (see `advance`).
_clock = [datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)]


def advance(seconds: float) -> None:
    _clock[0] += datetime.timedelta(seconds=seconds)


def next_id() -> int:
    return discord.utils.time_snowflake(_clock[0]) + next(_seq) % (1 << 22)


def user_payload(user_id: int = USER_ID, name: str = "alice", bot: bool = False) -> dict:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
    }


BOT_USER = user_payload(BOT_ID, "bardbot", bot=True)


# -- HTTP -----------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    json: Any
    params: dict | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # attachments: file name -> bytes

    @property
    def callback_type(self) -> int | None:
        return self.json.get("type") if isinstance(self.json, dict) else None

    @property
    def message(self) -> dict:
        """The message part of the body: `data` of an interaction callback, else the body."""
        body = self.json or {}
        return body.get("data", body) if "/callback" in self.path else body


class Response:
    def __init__(self, status: int, body: Any):
        self.status = status
        self.reason = "OK"
        if body is None:
            self._text = ""
            self.headers = {}
        else:
            self._text = json.dumps(body)
            self.headers = {"content-type": "application/json"}

    async def text(self, encoding: str = "utf-8") -> str:
        return self._text

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@dataclass
class FakeSession:
    """Stands in for aiohttp.ClientSession: records requests, answers like Discord."""

    requests: list[Request] = field(default_factory=list)
    closed: bool = False

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        assert url.startswith(API), url
        path = url[len(API):]
        data = kwargs.get("data")
        body = json.loads(data) if isinstance(data, str) and data else None
        files: dict[str, bytes] = {}
        if isinstance(data, aiohttp.FormData):  # a message with attachments
            body, files = _form(data)
        self.record(Request(method, path, body, kwargs.get("params"), files))
        return Response(*self._answer(method, path, body))

    def record(self, request: Request) -> None:
        self.requests.append(request)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] == "interactions" and parts[-1] == "callback":
            return 200, {"interaction": {"id": parts[1], "type": 2}}
        if parts[0] == "webhooks" and method == "POST":  # follow-up message
            return 200, self._message(CHANNEL_ID, body)
        if parts[0] == "channels" and parts[-1] == "typing":
            return 204, None
        if parts[0] == "channels" and parts[-1] == "messages" and method == "POST":
            return 200, self._message(int(parts[1]), body)
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            return 200, [
                {"description": "", **cmd, "id": str(next_id()), "application_id": str(APP_ID),
                 "version": "1"}
                for cmd in body
            ]
        return 200, {}

    @staticmethod
    def _message(channel_id: int, body: dict | None) -> dict:
        body = body or {}
        return message_payload(
            body.get("content", ""), channel_id=channel_id, author=BOT_USER, guild_id=None,
            embeds=body.get("embeds", []),
        )

    async def close(self) -> None:
        self.closed = True

    # Replies only: what the bot said, leaving out typing indicators and syncs.
    @property
    def replies(self) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and ("/callback" in r.path or r.path.startswith("/webhooks/") or
                 r.path.endswith("/messages"))
        ]


def _form(form: aiohttp.FormData) -> tuple[Any, dict[str, bytes]]:
    """The JSON part and the files of a multipart body as discord.py builds it."""
    body, files = None, {}
    for options, _headers, value in form._fields:
        if options["name"] == "payload_json":
            body = json.loads(value)
        elif "filename" in options:
            files[options["filename"]] = value.read() if hasattr(value, "read") else bytes(value)
    return body, files


def make_bot(cls: type[commands.Bot] = commands.Bot) -> tuple[commands.Bot, FakeSession]:
    """A host bot that believes it is logged in, talking to a FakeSession."""
    bot = cls(
        command_prefix="!",  # a host bot with its own prefix commands
        intents=discord.Intents.default(),
        allowed_mentions=discord.AllowedMentions.none(),
        help_command=None,
    )
    return bot, attach(bot)


def attach(bot: commands.Bot) -> FakeSession:
    """Give `bot` a FakeSession and the identity login would have fetched."""
    advance(3600)  # cooldowns left by an earlier bot have expired
    session = FakeSession()
    bot.http._HTTPClient__session = session  # type: ignore[attr-defined]
    bot.http.token = "test-token"
    state = bot._connection
    state.user = discord.ClientUser(state=state, data=BOT_USER)
    state.application_id = APP_ID
    return session


async def start(bot: commands.Bot) -> None:
    """What login does before connecting: bind the loop; then cache one guild like GUILD_CREATE."""
    await bot._async_setup_hook()
    bot.http._global_over = asyncio.Event()  # what static_login sets up
    bot.http._global_over.set()
    for guild_id in (GUILD_ID, OTHER_GUILD_ID):
        bot._connection._add_guild_from_data(guild_payload(guild_id))  # type: ignore[arg-type]


def guild_payload(guild_id: int) -> dict:
    channel = CHANNEL_ID if guild_id == GUILD_ID else OTHER_CHANNEL_ID
    return {
        "id": str(guild_id),
        "name": "Globe Theatre" if guild_id == GUILD_ID else "Rose Theatre",
        "owner_id": str(USER_ID + 99),
        "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": str(EVERYONE_PERMS),
                   "position": 0, "color": 0, "hoist": False, "managed": False,
                   "mentionable": False, "flags": 0}],
        "channels": [
            {"id": str(channel), "type": 0, "name": "general", "position": 0,
             "permission_overwrites": [], "nsfw": False, "parent_id": None, "guild_id":
             str(guild_id)},
        ],
        "members": [],
        "member_count": 2,
        "emojis": [],
        "stickers": [],
        "features": [],
        "threads": [],
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
    }


# -- gateway payloads -----------------------------------------------------------------------


def option(name: str, value: Any) -> dict:
    kind = {bool: 5, int: 4, float: 10, str: 3}[type(value)]
    return {"name": name, "type": kind, "value": value}


def interaction_payload(
    name: str,
    options: list[dict] | None = None,
    *,
    subcommand: str | None = None,
    guild_id: int | None = GUILD_ID,
    channel_id: int = CHANNEL_ID,
    user_id: int = USER_ID,
    permissions: int = EVERYONE_PERMS,
    resolved: dict | None = None,
    kind: int = 1,
    target_id: int | None = None,
) -> dict:
    """An INTERACTION_CREATE payload for an application command (kind 1 = slash, 3 = message)."""
    options = options or []
    if subcommand is not None:
        options = [{"name": subcommand, "type": 1, "options": options}]
    data: dict[str, Any] = {"id": str(next_id()), "name": name, "type": kind, "options": options}
    if resolved:
        data["resolved"] = resolved
    if target_id is not None:
        data["target_id"] = str(target_id)
    interaction_id = next_id()
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(APP_ID),
        "type": 2,
        "token": f"token-{interaction_id}",
        "version": 1,
        "data": data,
        "locale": "en-US",
        "attachment_size_limit": 8 * 1024 * 1024,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id or user_id)},
        "app_permissions": str(discord.Permissions.all().value),
    }
    user = user_payload(user_id)
    if guild_id is None:
        payload.update(
            channel_id=str(channel_id),
            channel={"id": str(channel_id), "type": 1, "recipients": [user]},
            user=user,
            context=1,
        )
    else:
        payload.update(
            guild_id=str(guild_id),
            guild_locale="en-US",
            channel_id=str(channel_id),
            channel={"id": str(channel_id), "type": 0, "name": "general", "guild_id":
                     str(guild_id), "position": 0, "permission_overwrites": [], "nsfw": False,
                     "parent_id": None, "permissions": str(permissions)},
            member={"user": user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                    "deaf": False, "mute": False, "flags": 0, "permissions": str(permissions)},
            context=0,
        )
    return payload


def message_payload(
    content: str,
    *,
    channel_id: int = CHANNEL_ID,
    guild_id: int | None = GUILD_ID,
    author: dict | None = None,
    mentions: list[dict] | None = None,
    embeds: list | None = None,
    message_id: int | None = None,
) -> dict:
    author = author or user_payload()
    payload: dict[str, Any] = {
        "id": str(message_id or next_id()),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": [],
        "embeds": embeds or [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {"roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                             "deaf": False, "mute": False, "flags": 0}
    return payload


async def run_interaction(bot: commands.Bot, payload: dict) -> discord.Interaction:
    """Handle one INTERACTION_CREATE exactly as `CommandTree._from_interaction` does, awaited."""
    interaction = discord.Interaction(data=payload, state=bot._connection)  # type: ignore[arg-type]
    try:
        await bot.tree._call(interaction)
    except app_commands.AppCommandError as e:
        await bot.tree._dispatch_error(interaction, e)
    return interaction


async def dispatch_message(bot: commands.Bot, payload: dict) -> None:
    """Feed a MESSAGE_CREATE through discord.py's parser, then wait for the listeners."""
    before = asyncio.all_tasks()
    bot._connection.parse_message_create(payload)  # type: ignore[arg-type]
    await settle(before)


async def settle(before: set[asyncio.Task] | None = None, timeout: float = 10.0) -> None:
    """Wait until the tasks spawned since `before` (event handlers and their children) finish."""
    current = asyncio.current_task()
    before = before or set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not pending:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"tasks still running: {pending}")
        await asyncio.wait(pending, timeout=0.05)

"""The plugin: load the extension into a fresh host bot, inspect what it registers."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from bardbot import settings
from bardbot.limits import MAX_LENGTH
from bardbot.models.sentiment import SentimentClassifier
from bardbot.models.shakespeare import ShakespeareGenerator
from discord.ext import commands

from tests.bot import test_metrics
from tests.bot.harness import (
    BOT_ID as ME,
)
from tests.bot.harness import (
    GUILD_ID,
    FakeClassifier,
    FakeGenerator,
    interaction_payload,
    make_bot,
    message_payload,
    run_interaction,
    start,
    user_payload,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def host(tmp_path, monkeypatch):
    """A host bot with the models replaced by the fakes and the settings in tmp_path."""
    monkeypatch.setenv("BARDBOT_DB", str(tmp_path / "host.db"))
    monkeypatch.delenv("BARDBOT_CHAT", raising=False)
    # discord.py executes the extension module afresh, so patch the runtime it calls.
    monkeypatch.setattr(SentimentClassifier, "load", classmethod(lambda cls, p: FakeClassifier()))
    monkeypatch.setattr(ShakespeareGenerator, "load", classmethod(lambda cls, p: FakeGenerator()))
    host, session = make_bot()
    await start(host)
    # Unloading an extension purges it and its submodules from sys.modules (that is how
    # discord.py reloads code); put ours back so later tests see the same classes.
    saved = {k: m for k, m in sys.modules.items() if k == "bardbot" or k.startswith("bardbot.")}
    yield host, session
    for name in list(host.extensions):
        await host.unload_extension(name)
    sys.modules.update(saved)


def payloads(host: commands.Bot) -> dict[str, dict]:
    return {c.name: c.to_dict(host.tree) for c in host.tree.get_commands()} | {
        c.name: c.to_dict(host.tree)
        for c in host.tree.get_commands(type=discord.AppCommandType.message)
    }


def options(command: dict) -> dict[str, dict]:
    return {o["name"]: o for o in command.get("options", [])}


@pytest.mark.parametrize("name", ["bardbot.extension", "bardbot"])
async def test_load_registers_the_commands(host, name):
    host, _ = host
    await host.load_extension(name)
    assert isinstance(host.get_cog("Bard"), commands.Cog)
    cmds = payloads(host)
    assert set(cmds) == {"sentiment", "shakespeare", "bardbot", "bardbot-set", "Analyze sentiment"}

    text = options(cmds["sentiment"])["text"]
    assert (text["type"], text["required"], text["min_length"], text["max_length"]) == (
        3, True, 1, 6000)

    shakespeare = options(cmds["shakespeare"])
    assert shakespeare["prompt"]["required"] is True
    t = shakespeare["temperature"]
    assert (t["type"], t["min_value"], t["max_value"], t["required"]) == (10, 0.1, 2.0, False)
    assert t["autocomplete"] is True  # offers the reference's 0.2 / 0.5 / 1.0
    assert "0.2" in t["description"] and "1.0" in t["description"]
    length = shakespeare["length"]
    assert (length["type"], length["min_value"], length["max_value"]) == (4, 1, MAX_LENGTH)

    group = cmds["bardbot"]
    assert {o["name"] for o in group["options"]} == {"about", "settings", "mood"}
    assert group["default_member_permissions"] is None
    mood = next(o for o in group["options"] if o["name"] == "mood")
    days = next(o for o in mood["options"] if o["name"] == "days")
    assert (days["min_value"], days["max_value"], days["required"]) == (1, 90, False)

    admin = cmds["bardbot-set"]
    assert int(admin["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert admin["contexts"] == [0]  # servers only
    assert set(options(admin)) == {"temperature", "length", "chat", "show_sentiment",
                                   "allow_channel", "disallow_channel", "mood", "mood_days"}
    assert (options(admin)["mood_days"]["min_value"], options(admin)["mood_days"]["max_value"]) \
        == (1, 365)
    assert options(admin)["temperature"]["min_value"] == 0.1

    menu = cmds["Analyze sentiment"]
    assert menu["type"] == 3  # message context menu


async def test_temperature_hints(host):
    host, session = host
    await host.load_extension("bardbot.extension")
    payload = interaction_payload(
        "shakespeare", [{"name": "prompt", "type": 3, "value": "o"},
                        {"name": "temperature", "type": 10, "value": 0.3, "focused": True}]
    )
    payload["type"] = 4  # autocomplete
    await run_interaction(host, payload)
    (request,) = session.requests
    assert request.json["type"] == 8
    assert [c["value"] for c in request.json["data"]["choices"]] == [0.2, 0.5, 1.0]


async def test_plugin_chat_is_off_until_a_server_turns_it_on(host):
    host, session = host
    await host.load_extension("bardbot.extension")
    mention = message_payload(f"<@{ME}> to be or not", mentions=[user_payload(ME, "bardbot",
                                                                               bot=True)])
    from tests.bot.harness import dispatch_message

    await dispatch_message(host, mention)
    await dispatch_message(host, message_payload("hello", guild_id=None))  # a DM
    assert session.replies == []
    cog = host.get_cog("Bard")
    await cog.store.update(GUILD_ID, chat_enabled=True)
    await dispatch_message(host, {**mention, "id": str(int(mention["id"]) + 1)})
    assert len(session.replies) == 1


async def test_a_host_prefix_command_by_mention_is_the_host_s_not_a_chat_line(host):
    """The cog asks the host whether a mention is a command: the host's command runs, the
    bard stays quiet; a mention that is no command gets one chat reply."""
    host, session = host
    host.command_prefix = commands.when_mentioned_or("!")
    ran = []

    @host.command()
    async def hello(ctx: commands.Context) -> None:
        ran.append(ctx.message.id)

    await host.load_extension("bardbot.extension")
    await host.get_cog("Bard").store.update(GUILD_ID, chat_enabled=True)
    from tests.bot.harness import dispatch_message

    bot_user = user_payload(ME, "bardbot", bot=True)
    command = message_payload(f"<@{ME}> hello", mentions=[bot_user])
    await dispatch_message(host, command)
    assert ran == [int(command["id"])] and session.replies == []
    await dispatch_message(host, message_payload(f"<@{ME}> to be or not", mentions=[bot_user]))
    assert len(ran) == 1 and len(session.replies) == 1


async def test_unload_removes_everything(host):
    host, _ = host
    await host.load_extension("bardbot.extension")
    cog = host.get_cog("Bard")
    await host.unload_extension("bardbot.extension")
    assert host.get_cog("Bard") is None
    assert payloads(host) == {}
    with pytest.raises(RuntimeError, match="closed"):
        await cog.store.get(GUILD_ID)
    # ... and loads again cleanly.
    await host.load_extension("bardbot.extension")
    assert "Analyze sentiment" in payloads(host)


async def test_missing_models_fail_the_load(tmp_path, monkeypatch):
    monkeypatch.setenv("BARDBOT_DB", str(tmp_path / "x.db"))
    monkeypatch.setenv("BARDBOT_SENTIMENT_MODEL", str(tmp_path / "missing.onnx"))
    host, _ = make_bot()
    await start(host)
    with pytest.raises(commands.ExtensionFailed) as info:
        await host.load_extension("bardbot.extension")
    from bardbot.models import ModelError

    assert isinstance(info.value.original, ModelError)
    assert payloads(host) == {}


def test_info_json():
    info = json.loads((ROOT / "bot" / "info.json").read_text())
    for key in ("name", "author", "description", "install_msg", "end_user_data_statement",
                "requirements", "tags", "min_python_version"):
        assert info[key], key
    assert "message content" in info["end_user_data_statement"]
    # What a Red-style installer adds to a host that already has discord.py: our runtime.
    import tomllib

    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(info["requirements"]) == {d for d in runtime if not d.startswith("discord.py")}


async def _host_command(interaction: discord.Interaction) -> None: ...


async def _host_menu(interaction: discord.Interaction, message: discord.Message) -> None: ...


@pytest.mark.parametrize("clash", ["shakespeare", "Analyze sentiment"])
async def test_a_clash_with_the_host_leaves_nothing_behind(host, clash, monkeypatch):
    # discord.py's add_cog stops at the first clashing slash command, after the listener and
    # earlier commands were added: the plugin must take back all of its own, and close its
    # settings database (whose thread would otherwise keep the host process alive).
    bot, _ = host
    if clash == "shakespeare":
        theirs = discord.app_commands.Command(
            name=clash, description="the host's", callback=_host_command
        )
    else:
        theirs = discord.app_commands.ContextMenu(name=clash, callback=_host_menu)
    bot.tree.add_command(theirs)
    handler = bot.tree.on_error
    stores = []
    open_store = settings.open_store

    async def recording_open(*args, **kwargs):
        stores.append(await open_store(*args, **kwargs))
        return stores[-1]

    monkeypatch.setattr(settings, "open_store", recording_open)
    with pytest.raises(commands.ExtensionFailed, match="already registered"):
        await bot.load_extension("bardbot.extension")
    assert stores and stores[0]._db is None  # closed
    assert bot.tree.get_commands() == [theirs]
    assert bot.extra_events.get("on_message", []) == []
    assert bot.tree.on_error == handler and "on_error" not in vars(bot.tree)
    assert bot.cogs == {} and bot.extensions == {}
    # The plugin loads once the host gives the name back.
    bot.tree.remove_command(clash, type=getattr(theirs, "type", discord.AppCommandType.chat_input))
    await bot.load_extension("bardbot.extension")
    assert bot.get_cog("Bard") is not None


async def test_the_host_tree_error_handler_is_kept(host):
    bot, _ = host
    seen = []

    @bot.tree.error
    async def before(interaction, error):
        seen.append(("before", type(error).__name__))

    await bot.load_extension("bardbot.extension")
    # Errors the cog did not answer still reach the host's handler.
    await run_interaction(bot, interaction_payload("no-such-command"))
    assert seen == [("before", "CommandNotFound")]
    await bot.unload_extension("bardbot.extension")
    assert bot.tree.on_error is before

    # A handler the host sets while the plugin is loaded survives the unload.
    await bot.load_extension("bardbot.extension")

    @bot.tree.error
    async def after(interaction, error): ...

    await bot.unload_extension("bardbot.extension")
    assert bot.tree.on_error is after


async def test_the_plugin_ignores_the_host_token_file(host, monkeypatch):
    # A host that keeps its token elsewhere (or that the plugin cannot read) still loads it.
    bot, _ = host
    monkeypatch.setenv("DISCORD_TOKEN_FILE", "/nonexistent/host-token")
    await bot.load_extension("bardbot.extension")
    assert bot.get_cog("Bard") is not None


# -- metrics in a host bot ----------------------------------------------------------------


async def test_plugin_serves_its_own_registry_and_reloads_cleanly(host, monkeypatch):
    bot, _ = host
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BARDBOT_METRICS", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    for _ in range(2):  # a reload registers nothing twice and reuses the port
        await bot.load_extension("bardbot")
        await test_metrics.command(SimpleNamespace(bot=bot), "sentiment", text="good")
        text = await asyncio.to_thread(test_metrics.scrape, url)
        ok = test_metrics.value(text, "bardbot_commands_total", command="sentiment", outcome="ok")
        assert ok == 1
        await bot.unload_extension("bardbot")
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(test_metrics.scrape, url)
    test_metrics.test_the_default_registry_is_left_alone()


async def test_plugin_with_a_taken_port_loads_nothing(host, monkeypatch):
    bot, _ = host
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("BARDBOT_METRICS", f"127.0.0.1:{taken.getsockname()[1]}")
        with pytest.raises(commands.ExtensionFailed, match="cannot serve metrics"):
            await bot.load_extension("bardbot")
    assert bot.get_cog("Bard") is None
    assert bot.tree.get_commands() == []

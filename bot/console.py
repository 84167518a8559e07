"""Console mode: the bot's command handlers behind a prompt, for use without a Discord token.

    /sentiment I loved every minute of it
    /shakespeare to be, or not to be temperature=1.0 length=100 seed=7
    /about
    /set temperature=0.8 length=120 sentiment=on     (this session's chat settings)
    shall I compare thee to a summer's day            (a chat message, as when mentioning the bot)
    help | quit

Interactive on a terminal; from a pipe it reads one command per line and prints each reply
(`echo "/sentiment great film" | bardbot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import sys
from typing import TextIO

from bardbot import handlers
from bardbot.engine import Busy, Engine
from bardbot.handlers import Reply, UserError
from bardbot.settings import GuildSettings

HELP = """commands:
  /sentiment TEXT                        sentiment of TEXT
  /shakespeare PROMPT [temperature=T] [length=N] [seed=S]
                                         continue PROMPT in Shakespeare's style
  /about                                 the models and their scores
  /set [temperature=T] [length=N] [sentiment=on|off]
                                         chat settings for this session
  TEXT (no leading /)                    a chat message: continued in Shakespeare's style
  help                                   this text
  quit                                   leave (Ctrl-D works too)"""

_OPTION = re.compile(r"\s+(\w+)=(\S+)\s*$")


def split_options(text: str, allowed: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """Peel `name=value` options off the end of a line: ("to be temperature=1", ...) ->
    ("to be", {"temperature": "1"}). Unknown names stay part of the text."""
    options: dict[str, str] = {}
    text = " " + text
    while (m := _OPTION.search(text)) and m.group(1) in allowed and m.group(1) not in options:
        options[m.group(1)] = m.group(2)
        text = text[: m.start()]
    return text.strip(), options


def _number(options: dict[str, str], name: str, kind: type, default):
    if name not in options:
        return default
    try:
        return kind(options[name])
    except ValueError:
        raise UserError(
            f"{name} must be a {'whole ' if kind is int else ''}number, got {options[name]!r}."
        ) from None


def _seed(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise UserError(f"seed must be a whole number of 0 or more, got {value}.")
    return value


def _switch(value: str, name: str) -> bool:
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise UserError(f"{name} must be on or off, got {value!r}.")


class Console:
    def __init__(self, engine: Engine, settings: GuildSettings | None = None):
        self.engine = engine
        self.settings = settings or GuildSettings()

    async def handle(self, line: str) -> Reply | None:
        """The reply to one input line (None for a blank line)."""
        line = line.strip()
        if not line:
            return None
        if line.lower() in ("help", "/help", "?"):
            return Reply(HELP)
        if not line.startswith("/"):
            return await handlers.chat(self.engine, line, self.settings)
        command, _, rest = line[1:].partition(" ")
        command = command.lower()
        if command == "sentiment":
            return await handlers.sentiment(self.engine, rest)
        if command == "shakespeare":
            prompt, options = split_options(rest, ("temperature", "length", "seed"))
            return await handlers.shakespeare(
                self.engine,
                prompt,
                _number(options, "temperature", float, self.settings.temperature),
                _number(options, "length", int, self.settings.length),
                seed=_seed(_number(options, "seed", int, None)),
            )
        if command == "about":
            return handlers.about(self.engine)
        if command == "set":
            unknown, options = split_options(rest, ("temperature", "length", "sentiment"))
            if unknown:  # a typo must not look like a change that was made
                raise UserError(
                    f"/set does not know {unknown.split()[-1]!r}; it takes temperature=T "
                    "length=N sentiment=on|off."
                )
            if not options:
                return handlers.format_settings(self.settings, "this console")
            changes: dict = {}
            if "temperature" in options:
                changes["temperature"] = handlers.check_temperature(
                    _number(options, "temperature", float, None)
                )
            if "length" in options:
                changes["length"] = handlers.check_length(_number(options, "length", int, None))
            if "sentiment" in options:
                changes["show_sentiment"] = _switch(options["sentiment"], "sentiment")
            self.settings = dataclasses.replace(self.settings, **changes)
            return handlers.format_settings(self.settings, "this console", title="Updated")
        raise UserError(f"unknown command /{command}; type help for the list.")

    def run(self, runner: asyncio.Runner, stdin: TextIO, stdout: TextIO, interactive: bool) -> int:
        """Read, answer, repeat until quit or end of input. Lines are read outside the event
        loop, so Ctrl-C at the prompt raises KeyboardInterrupt at once (inside `asyncio.run`,
        the first Ctrl-C would only cancel the main task, which a blocking read never sees)."""
        if interactive:
            # readline reads the terminal in raw mode: without it the kernel cuts a typed or
            # pasted line at 4,095 characters, silently. It also gives line editing and history.
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401
            print("bardbot console — type help for commands, quit to leave.", file=stdout)
        while True:
            if interactive:
                try:
                    line = input("bardbot> ")
                except EOFError:
                    print(file=stdout)
                    return 0
            else:
                line = stdin.readline()
                if not line:  # end of input
                    return 0
            if line.strip().lower() in ("quit", "exit", "/quit", "/exit"):
                return 0
            try:
                reply = runner.run(self.handle(line))
            except (UserError, ValueError) as e:
                print(f"error: {e}", file=stdout, flush=True)
                continue
            except Busy:
                print("error: busy, try again", file=stdout, flush=True)
                continue
            if reply is not None:
                print(handlers.render_text(reply), file=stdout, flush=True)


def run(engine: Engine, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    try:
        with asyncio.Runner() as runner:
            try:
                return Console(engine).run(runner, stdin, stdout, stdin.isatty())
            finally:
                engine.close()
    except KeyboardInterrupt:
        print(file=stdout)
        return 130
    except BrokenPipeError:  # `bardbot < commands | head`: the reader left, nothing to say
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 0

"""Console mode: the bot's command handlers behind a prompt, for use without a Discord token.

    /sentiment I loved every minute of it
    /shakespeare to be, or not to be temperature=1.0 length=100 seed=7
    /about
    /set temperature=0.8 length=120 sentiment=on     (this session's chat settings)
    /mood days=1                                      (this session's chat lines, as a chart)
    shall I compare thee to a summer's day            (a chat message, as when mentioning the bot)
    help | quit

Interactive on a terminal; from a pipe it reads one command per line and prints each reply
(`echo "/sentiment great film" | bardbot`). Input that is not valid in the locale's encoding
(UTF-8) is decoded with U+FFFD in place of each bad byte, so one bad line never costs another.
Written to a non-terminal, replies are plain text (no Discord markdown), separated by a blank
line, and the exit status is 1 when any command failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import io
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from bardbot import handlers
from bardbot.config import default_db_path
from bardbot.engine import Busy, Engine
from bardbot.handlers import Reply
from bardbot.limits import UserError, check_length, check_temperature, parse_bool
from bardbot.models.play import Speakers
from bardbot.mood import DEFAULT_DAYS, MoodRecorder
from bardbot.settings import GuildSettings, open_store

HELP = """commands:
  /sentiment TEXT                        sentiment of TEXT
  /shakespeare PROMPT [temperature=T] [length=N] [seed=S]
                                         continue PROMPT in Shakespeare's style
  /about                                 the models and their scores
  /mood [days=N]                         the mood of this session's chat lines, saved as a
                                         PNG chart (its path is printed)
  /set [temperature=T] [length=N] [sentiment=on|off]
                                         chat settings for this session
  TEXT (no leading /)                    a chat message: continued in Shakespeare's style
  help                                   this text
  quit                                   leave (Ctrl-D works too)"""

# The options each command takes, with the placeholder its usage shows.
OPTIONS = {
    "shakespeare": {"temperature": "T", "length": "N", "seed": "S"},
    "set": {"temperature": "T", "length": "N", "sentiment": "on|off"},
    "mood": {"days": "N"},
}
CONSOLE_ID = 1  # the console's server and channel in its own (in-memory) mood counts
# Longest line handled: a /sentiment with a full text fits; anything longer is refused before
# any parsing sees it (and, from a pipe, is never held in memory whole).
MAX_LINE = 10_000
_NAME = re.compile(r"\w+")


def unknown_option(command: str, word: str) -> UserError:
    usage = " ".join(f"{name}={value}" for name, value in OPTIONS[command].items())
    return UserError(f"/{command} does not know {word!r}; it takes {usage}.")


def split_options(text: str, command: str) -> tuple[str, dict[str, str]]:
    """Peel `name=value` options off the end of a line: ("to be temperature=1", ...) ->
    ("to be", {"temperature": "1"}). A trailing `name=value` that the command does not take,
    or takes once only, is an error. Linear time: each step looks at the last word only."""
    allowed = OPTIONS[command]
    options: dict[str, str] = {}
    head = text.strip()
    while head:
        *rest, word = head.rsplit(None, 1)
        name, equals, value = word.partition("=")
        if not (equals and value and _NAME.fullmatch(name)):
            break
        if name not in allowed:
            raise unknown_option(command, word)
        if name in options:
            raise UserError(f"{name} is given twice.")
        options[name] = value
        head = rest[0] if rest else ""
    return head, options


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


class Console:
    def __init__(
        self, engine: Engine, settings: GuildSettings | None = None, chart_dir: Path | None = None,
        speakers: Speakers | None = None,
    ):
        self.engine = engine
        self.speakers = speakers or Speakers()  # who chat replies speak as (Config.play_speaker)
        self.settings = settings or GuildSettings()
        # $XDG_STATE_HOME/bardbot (~/.local/state/bardbot), beside the settings database.
        self.chart_dir = chart_dir or default_db_path(os.environ).parent
        self._mood: MoodRecorder | None = None  # opened at the first chat line or /mood

    async def _recorder(self) -> MoodRecorder:
        """The session's mood counts: an in-memory database, gone when the console closes."""
        if self._mood is None:
            store = await open_store(":memory:")
            await store.update(CONSOLE_ID, mood_enabled=True)
            self._mood = MoodRecorder(store, self.engine)
        return self._mood

    async def close(self) -> None:
        if self._mood is not None:
            await self._mood.close()
            await self._mood.store.close()

    async def _show_mood(self, rest: str) -> Reply:
        from bardbot.mood_commands import mood_reply

        unknown, options = split_options(rest, "mood")
        if unknown:
            raise unknown_option("mood", unknown.split()[-1])
        days = _number(options, "days", int, DEFAULT_DAYS)
        recorder = await self._recorder()
        reply = await mood_reply(recorder.store, recorder, CONSOLE_ID, [CONSOLE_ID],
                                 "this console", days)
        if reply.image is None:
            return reply
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        path = self.chart_dir / f"mood-{stamp}.png"
        await asyncio.to_thread(_save, path, reply.image)
        return Reply(f"{reply.content}\nChart saved to {path}")

    async def handle(self, line: str) -> Reply | None:
        """The reply to one input line (None for a blank line)."""
        if len(line) > MAX_LINE:
            raise UserError(f"That line is too long: at most {MAX_LINE} characters.")
        line = line.strip()
        if not line:
            return None
        if line.lower() in ("help", "/help", "?"):
            return Reply(HELP)
        if not line.startswith("/"):
            (await self._recorder()).sample(CONSOLE_ID, CONSOLE_ID, line)
            return await handlers.chat(self.engine, line, self.settings, self.speakers)
        command, _, rest = line[1:].partition(" ")
        command = command.lower()
        if command == "sentiment":
            return await handlers.sentiment(self.engine, rest)
        if command == "shakespeare":
            prompt, options = split_options(rest, "shakespeare")
            return await handlers.shakespeare(
                self.engine,
                prompt,
                _number(options, "temperature", float, self.settings.temperature),
                _number(options, "length", int, self.settings.length),
                seed=_seed(_number(options, "seed", int, None)),
            )
        if command == "about":
            return handlers.about(self.engine)
        if command == "mood":
            return await self._show_mood(rest)
        if command == "set":
            unknown, options = split_options(rest, "set")
            if unknown:  # a typo must not look like a change that was made
                raise unknown_option("set", unknown.split()[-1])
            if not options:
                return handlers.format_settings(self.settings, "this console")
            changes: dict = {}
            if "temperature" in options:
                changes["temperature"] = check_temperature(
                    _number(options, "temperature", float, None)
                )
            if "length" in options:
                changes["length"] = check_length(_number(options, "length", int, None))
            if "sentiment" in options:
                changes["show_sentiment"] = parse_bool(options["sentiment"], "sentiment")
            self.settings = dataclasses.replace(self.settings, **changes)
            return handlers.format_settings(self.settings, "this console", title="Updated")
        raise UserError(f"unknown command /{command}; type help for the list.")

    def run(self, runner: asyncio.Runner, stdin: TextIO, stdout: TextIO, interactive: bool) -> int:
        """Read, answer, repeat until quit or end of input; 1 if any command failed, else 0.
        Lines are read outside the event loop, so Ctrl-C at the prompt raises
        KeyboardInterrupt at once (inside `asyncio.run`, the first Ctrl-C would only cancel
        the main task, which a blocking read never sees)."""
        if interactive:
            # readline reads the terminal in raw mode: without it the kernel cuts a typed or
            # pasted line at 4,095 characters, silently. It also gives line editing and history.
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401
            print("bardbot console — type help for commands, quit to leave.", file=stdout)
        plain = not stdout.isatty()
        failed = False
        answered = False

        def show(text: str) -> None:
            nonlocal answered
            if plain and answered:
                print(file=stdout)  # a blank line between replies
            print(text, file=stdout, flush=True)
            answered = True

        while True:
            if interactive:
                try:
                    line = input("bardbot> ")
                except EOFError:
                    print(file=stdout)
                    return int(failed)
            else:
                line = read_line(stdin)
                if line is None:  # end of input
                    return int(failed)
            if line.strip().lower() in ("quit", "exit", "/quit", "/exit"):
                return int(failed)
            try:
                reply = runner.run(self.handle(line))
            except ValueError as e:  # a UserError, or a model refusing its input
                failed = True
                show(f"error: {e}")
                continue
            except Busy:
                failed = True
                show("error: busy, try again")
                continue
            if reply is not None:
                show(render_text(reply, plain=plain))


def _save(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise UserError(f"cannot save the chart to {path}: {e.strerror}") from None


def read_line(stdin: TextIO) -> str | None:
    """The next line (None at end of input), without holding more than MAX_LINE + 1
    characters of it: the rest of a longer line is read and dropped, and what is returned is
    still over MAX_LINE, so `handle` refuses it."""
    line = stdin.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE:
        tail = line
        while tail and not tail.endswith("\n"):
            tail = stdin.readline(65536)
    return line


_ESCAPE = r"\\([\\*_`~|>#\-\[\]()])"  # what discord.utils.escape_markdown escapes
_ESCAPED = re.compile(_ESCAPE)
# Discord markdown the handlers write: quote and small-text line prefixes, and inline markers;
# a backslash escape stands for its character. Left to right, so `\*\*` stays `**`.
_LINE_MARKUP = re.compile(r"^(?:> |-# )", re.MULTILINE)
_INLINE_MARKUP = re.compile(_ESCAPE + r"|\*\*|__|~~|\|\||`")


def strip_markdown(text: str) -> str:
    text = _LINE_MARKUP.sub("", text)
    return _INLINE_MARKUP.sub(lambda m: m.group(1) or "", text)


def render_text(reply: Reply, *, plain: bool = False) -> str:
    """A reply as text for the console, embed fields as lines. On a terminal markdown stays
    (escapes removed); `plain` (a pipe or a file) drops the markdown too."""
    unmark = strip_markdown if plain else (lambda text: _ESCAPED.sub(r"\1", text))
    parts = [unmark(reply.content)] if reply.content else []
    if reply.embed is not None:
        e = reply.embed
        if e.title:
            parts.append(unmark(e.title))
        if e.description:
            parts.append(unmark(e.description))
        for f in e.fields:
            value = unmark(str(f.value)).replace("\n", "\n    ")
            parts.append(
                f"  {f.name}:\n    {value}" if "\n" in str(f.value) else f"  {f.name}: {value}"
            )
        if e.footer and e.footer.text:
            parts.append(e.footer.text)
    return "\n".join(parts)


def run(
    engine: Engine, stdin: TextIO | None = None, stdout: TextIO | None = None,
    speakers: Speakers | None = None,
) -> int:
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    # Bytes that are not valid in the locale's encoding become U+FFFD, line by line, instead of
    # a UnicodeDecodeError that would end the session and lose the lines read with them.
    for stream in (stdin, stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    try:
        with asyncio.Runner() as runner:
            try:
                console = Console(engine, speakers=speakers)
                try:
                    return console.run(runner, stdin, stdout, stdin.isatty())
                finally:
                    runner.run(console.close())
            finally:
                engine.close()
    except KeyboardInterrupt:
        print(file=stdout)
        return 130
    except BrokenPipeError:  # `bardbot < commands | head`: the reader left, nothing to say
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 0

"""Console mode: the same handlers behind a prompt, driven through a subprocess's stdin."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bardbot import console
from bardbot.console import MAX_LINE, OPTIONS, render_text, split_options
from bardbot.engine import Engine
from bardbot.handlers import Reply, UserError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bot.harness import FakeClassifier, FakeGenerator

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "models" / "sentiment.onnx", ROOT / "models" / "sentiment-message.onnx",
           ROOT / "models" / "shakespeare.onnx")


def run(args: list[str], stdin: str, env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
        timeout=timeout, env={**os.environ, "DISCORD_TOKEN": "", **(env or {})},
    )


def test_split_options():
    assert split_options("to be or not temperature=1.0 length=5", "shakespeare") == (
        "to be or not", {"temperature": "1.0", "length": "5"}
    )
    # An option-looking word mid-text stays in the text.
    assert split_options("a=b c length=3", "shakespeare") == ("a=b c", {"length": "3"})


@pytest.mark.parametrize("command", ["shakespeare", "set"])
def test_an_unknown_or_repeated_option_is_an_error_for_every_command(command):
    # /shakespeare used to take `foo=1` as part of the prompt while /set refused it.
    with pytest.raises(UserError, match=rf"^/{command} does not know 'foo=1'; it takes "):
        split_options("x foo=1", command)
    with pytest.raises(UserError, match=r"^length is given twice"):
        split_options("x length=3 length=5", command)


def test_option_splitting_is_linear():
    # The old `\s+(\w+)=(\S+)\s*$` search took 46 s of CPU on a 30,000-space prompt.
    started = time.process_time()
    assert split_options("x" + " " * 30_000 + "y", "shakespeare") == ("x" + " " * 30_000 + "y", {})
    assert split_options(" " * 30_000 + "length=3", "shakespeare") == ("", {"length": "3"})
    assert time.process_time() - started < 0.5


def test_console_script_through_stdin():
    lines = [
        "help",
        "/sentiment I loved this film, it was great",
        "/sentiment    ",
        "/shakespeare Shall I compare thee temperature=1.0 length=20 seed=3",
        "/shakespeare o temperature=9",
        "/shakespeare o length=abc",
        "/set temperature=0.8 length=12 sentiment=on",
        "the movie was good",
        "/nonsense",
        "/about",
        "quit",
        "/sentiment never reached",
    ]
    out = run(["-m", "tests.bot.fake_console"], "\n".join(lines) + "\n")
    assert out.returncode == 1, out.stderr  # some commands failed
    text = out.stdout
    assert "commands:" in text and "/shakespeare PROMPT" in text
    assert "positive 88% positive" in text  # plain text: no markdown on a pipe
    assert "error: There is no text to analyse." in text
    # The bold prompt is plain; a space after its last word; the 20 chars end at a word boundary.
    assert "Shall I compare thee and thou art more\n" in text
    assert "temperature 1 · 20 characters" in text
    assert "error: temperature must be between 0.1 and 2.0 (got 9.0)." in text
    assert "error: length must be a whole number, got 'abc'." in text
    assert "Updated for this console" in text and "temperature: 0.8" in text
    assert "…and thou art\n" in text  # the chat reply, 12 characters
    assert "your message reads positive (73% positive)" in text
    assert "error: unknown command /nonsense" in text
    assert "test accuracy: 0.875" in text
    assert "never reached" not in text
    assert "Traceback" not in out.stderr


def test_console_ends_at_end_of_input():
    out = run(["-m", "tests.bot.fake_console"], "/sentiment dull\n")
    assert out.returncode == 0
    assert out.stdout.startswith("negative ")


def test_missing_models_refuse_to_start(tmp_path):
    missing = tmp_path / "nowhere" / "sentiment.onnx"
    out = run(["-m", "bardbot"], "", env={"BARDBOT_SENTIMENT_MODEL": str(missing)})
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith("bardbot: ") and str(missing) in message
    # A path the user set is more likely mistyped than in need of a rebuild.
    assert "no such file" in message and "BARDBOT_SENTIMENT_MODEL" in message


def test_bad_flag_value_is_one_line():
    out = run(["-m", "bardbot", "--shards", "2", "--shard-ids", "5"], "")
    assert out.returncode == 2
    assert out.stderr.strip() == "bardbot: shard id 5 is out of range for --shards 2"


@pytest.mark.skipif(not all(p.exists() for p in SHIPPED), reason="shipped models not built yet")
def test_console_end_to_end_with_the_shipped_models():
    stdin = (
        "/sentiment This was one of the best films I have ever seen, wonderful acting.\n"
        "/sentiment A dull, boring mess. The worst film of the year.\n"
        "/shakespeare to be, or not to be temperature=0.2 length=80 seed=1\n"
        "shall I compare thee to a summer's day\n"
        "/about\n"
    )
    out = run(["-m", "bardbot"], stdin, timeout=120)
    assert out.returncode == 0, out.stderr
    blocks = out.stdout
    first, second = (line for line in blocks.splitlines() if "% positive" in line)
    assert first.startswith("positive")
    assert second.startswith("negative")
    assert "\nto be, or not to be" in blocks
    assert "temperature 0.2 · 80 characters" in blocks
    assert "Sentiment model" in blocks and "Shakespeare model" in blocks


def test_ctrl_c_while_waiting_for_input_exits_at_once():
    # Inside asyncio.run the first Ctrl-C used to only cancel the main task, which a blocking
    # read never noticed: the console hung until another line or a second Ctrl-C.
    # The child starts with Ctrl-C's default handling as from a terminal, whatever this test
    # process inherited (a process started with SIGINT ignored, like a shell's background job,
    # passes that on, and Python then never raises KeyboardInterrupt).
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bot.fake_console"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "DISCORD_TOKEN": ""},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        proc.stdin.write("/sentiment fine\n")
        proc.stdin.flush()
        assert "% positive" in proc.stdout.readline()  # now back to reading stdin
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_negative_seed_is_a_clear_error():
    out = run(["-m", "tests.bot.fake_console"], "/shakespeare to be seed=-1\n")
    assert out.returncode == 1
    assert out.stdout.strip() == "error: seed must be a whole number of 0 or more, got -1."


def test_set_with_an_unknown_option_changes_nothing_and_says_so():
    out = run(["-m", "tests.bot.fake_console"], "/set temperature=0.8 lenght=100\n/set\n")
    first, *rest = out.stdout.splitlines()
    assert first == (
        "error: /set does not know 'lenght=100'; it takes temperature=T length=N sentiment=on|off."
    )
    assert "  temperature: 0.5" in rest  # unchanged


def test_a_reader_that_leaves_early_is_no_traceback():
    # `bardbot < commands | head -1`
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bot.fake_console"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "DISCORD_TOKEN": ""},
    )
    proc.stdin.write("/sentiment good\n")
    proc.stdin.flush()
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate("/about\n" * 50, timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_interactive_long_line_is_read_whole():
    # On a terminal the kernel cuts a line at 4,095 characters unless the console reads it in
    # raw mode (readline): a 6,100-character /sentiment was silently analysed in part.
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bot.fake_console"], stdin=slave, stdout=slave,
        stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "DISCORD_TOKEN": "", "TERM": "dumb"},
    )
    os.close(slave)
    out = bytearray()

    def pump(until: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while until not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    out.extend(os.read(master, 65536))
                except OSError:
                    return

    try:
        pump(b"bardbot> ", 30)
        line = ("/sentiment " + "good " * 1220).encode() + b"\r"
        for i in range(0, len(line), 256):
            os.write(master, line[i : i + 256])
            pump(b"\x00", 0.01)  # drain the echo so the child never blocks writing it
        pump(b"characters.", 30)
        assert b"error: The text is too long: at most 6000 characters." in out
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


@pytest.mark.skipif(not all(p.is_file() for p in SHIPPED), reason="shipped models not built")
@pytest.mark.parametrize(("flag", "name"), [(["--sentiment-model", "reference"], "reference"),
                                            ([], "message")])
def test_console_serves_the_chosen_sentiment_model(flag, name):
    out = run(["-m", "bardbot", *flag], "/about\n", timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"name: {name}" in out.stdout


def run_bytes(stdin: bytes, env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "tests.bot.fake_console"], input=stdin, capture_output=True,
        cwd=ROOT, timeout=timeout,
        env={**os.environ, "DISCORD_TOKEN": "", "LC_ALL": "C.UTF-8", **(env or {})},
    )


def test_bytes_that_are_not_utf8_are_replaced_and_nothing_is_lost():
    # Used to be a UnicodeDecodeError traceback, exit 1, and every line of the same 8 KB read
    # lost with it (here /about and the second /sentiment).
    out = run_bytes(b"/sentiment great\n/sentiment caf\xe9 was a good film\n/about\n"
                    b"/sentiment dull\n")
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr
    replies = out.stdout.decode("utf-8").split("\n\n")  # a blank line between replies
    assert [r.split()[0] for r in replies] == ["positive", "positive", "bardbot", "negative"]
    assert "caf\ufffd was a good film" in replies[1]


def test_a_failed_command_makes_the_exit_status_non_zero():
    assert run_bytes(b"/sentiment good\n").returncode == 0
    assert run_bytes(b"/nonsense\n/sentiment good\n").returncode == 1
    assert run_bytes(b"/shakespeare x length=0\nquit\n").returncode == 1


def test_a_huge_line_from_a_pipe_is_refused_without_reading_it_whole():
    started = time.monotonic()
    out = run_bytes(b"/shakespeare x" + b" " * 30_000 + b"y\n" + b"a" * 5_000_000 + b"\n"
                    b"/sentiment good\n")
    assert time.monotonic() - started < 30
    first, second, third = out.stdout.decode().split("\n\n")
    assert first == second == f"error: That line is too long: at most {MAX_LINE} characters."
    assert third.startswith("positive")


def test_plain_text_drops_markdown_but_keeps_escaped_characters():
    reply = Reply("**prompt**\\*\\*bold\\*\\* `bar`\n-# footer\n> quoted \\> not a quote")
    assert render_text(reply, plain=True) == "prompt**bold** bar\nfooter\nquoted > not a quote"
    # On a terminal the markdown stays, escapes removed.
    assert render_text(reply) == "**prompt****bold** `bar`\n-# footer\n> quoted > not a quote"


WORDS = st.sampled_from(["temperature=1", "length=5", "seed=2", "foo=1", "x", "=", "a=", "=b",
                         "length=3", " ", "\t", "é", "\x00", "sentiment=on"])


@settings(max_examples=300, deadline=1000)
@given(words=st.lists(WORDS | st.text(max_size=8), max_size=12),
       command=st.sampled_from(["shakespeare", "set"]))
def test_fuzz_split_options(words, command):
    text = " ".join(words)
    try:
        head, options = split_options(text, command)
    except UserError as e:
        assert str(e).startswith(f"/{command} does not know ") or "given twice" in str(e)
        return
    assert set(options) <= set(OPTIONS[command])
    assert head == head.strip() and text.strip().startswith(head)
    assert all(value and not any(c.isspace() for c in value) for value in options.values())


@settings(max_examples=200, deadline=2000)
@given(data=st.binary(max_size=300))
def test_fuzz_console_lines(data):
    # Any bytes: every line gets an answer or nothing (a blank line), never an exception.
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
    stdout = io.StringIO()
    status = console.run(Engine(FakeClassifier(), FakeGenerator()), stdin, stdout)
    assert status in (0, 1)
    assert "Traceback" not in stdout.getvalue()


def test_a_chat_line_is_bounded_like_sentiment():
    engine = Engine(FakeClassifier(), FakeGenerator())
    try:
        with pytest.raises(UserError, match="The message is too long: at most 6000 characters"):
            asyncio.run(console.Console(engine).handle("good " * 1300))
    finally:
        engine.close()

"""The chart helper process: `python -m bardbot.chart_process` draws mood charts for the bot.

A process of its own, so that drawing never holds the bot's interpreter lock (a chart drawn in a
thread stalls the event loop for tens of milliseconds). Started with `subprocess`, not
`multiprocessing`: spawning re-imports the parent's main script, and a host bot's script that
calls `bot.run()` at its top level would start a second bot.

The protocol, one request at a time on stdin/stdout: the parent writes a 4-byte big-endian
length and that many bytes of JSON (a MoodSeries and a title); the child answers b"K" (a PNG)
or b"E" (an error message in UTF-8), then a 4-byte length and the bytes. End of input ends it.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import asdict
from typing import BinaryIO

from bardbot.mood import MoodSeries

_LENGTH = struct.Struct(">I")


class ChartProcessError(RuntimeError):
    """The helper could not draw the chart (it failed, or exited)."""


class ChartProcess:
    """The parent's end. Blocking calls: use it from one worker thread, never the event loop."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            # -P: the current folder is not put on the path (a host's own modules stay out).
            [sys.executable, "-P", "-m", "bardbot.chart_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def render(self, series: MoodSeries, title: str) -> bytes:
        request = json.dumps({"series": asdict(series), "title": title}).encode()
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(_LENGTH.pack(len(request)) + request)
            stdin.flush()
            status = _read(stdout, 1)
            answer = _read(stdout, _LENGTH.unpack(_read(stdout, _LENGTH.size))[0])
        except (OSError, EOFError) as e:
            raise ChartProcessError(f"the chart process exited ({e})") from None
        if status != b"K":
            raise ChartProcessError(answer.decode("utf-8", "replace"))
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # end of input: the child exits
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _read(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("no answer")
        data += chunk
    return data


def main() -> None:
    from bardbot.chart_drawing import render_png  # imports matplotlib now, before any request

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            request = json.loads(_read(stdin, _LENGTH.unpack(_read(stdin, _LENGTH.size))[0]))
        except EOFError:
            return
        try:
            status, answer = b"K", render_png(MoodSeries(**request["series"]), request["title"])
        except Exception as e:  # one bad chart must not end the helper
            status, answer = b"E", f"{type(e).__name__}: {e}".encode()
        stdout.write(status + _LENGTH.pack(len(answer)) + answer)
        stdout.flush()


if __name__ == "__main__":
    main()

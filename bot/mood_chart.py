"""The mood chart, drawn (bardbot.chart_drawing) in the helper process (bardbot.chart_process,
started with the cog when the bot has the Message Content intent, or at the first chart): one
process also means two charts are never drawn at once (bench/bench_mood.py: process vs thread).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bardbot.chart_drawing import render_png
from bardbot.chart_process import ChartProcess, ChartProcessError
from bardbot.mood import MoodSeries

_thread = ThreadPoolExecutor(1, thread_name_prefix="bardbot-mood-chart")
_process: ChartProcess | None = None  # used from _thread only
IN_A_THREAD = False  # draw in _thread itself instead (the bench compares)


async def render(series: MoodSeries, title: str) -> bytes:
    """The chart as PNG bytes, drawn by the helper process (ChartProcessError if it fails)."""
    draw = render_png if IN_A_THREAD else _render_in_process
    return await asyncio.get_running_loop().run_in_executor(_thread, draw, series, title)


def _render_in_process(series: MoodSeries, title: str) -> bytes:
    process = _helper()
    try:
        return process.render(series, title)
    except ChartProcessError:
        if not process.alive:  # killed, out of memory: a new one next time
            _stop()
        raise


def _helper() -> ChartProcess:
    global _process
    if _process is None or not _process.alive:
        _process = ChartProcess()
    return _process


def warm_up() -> None:
    """Start the helper now (it imports matplotlib: a second or two), not at the first chart."""
    if not IN_A_THREAD:
        _thread.submit(_helper)


def shutdown() -> None:
    """Stop the helper (a later chart starts a new one)."""
    _thread.submit(_stop)


def _stop() -> None:
    global _process
    if _process is not None:
        process, _process = _process, None
        process.close()

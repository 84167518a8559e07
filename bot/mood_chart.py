"""The mood chart: mean P(positive) over time above the number of messages, as a PNG.

Drawn with matplotlib's Agg backend through its object API (no pyplot, no global state), in one
worker thread of its own, so a chart never blocks the event loop and two are never drawn at
once. The picture is opaque, dark-grey with light text, so that it reads the same in Discord's
dark and light themes, and its text is large enough to stay legible at phone width.
"""

from __future__ import annotations

import asyncio
import datetime
import io
from concurrent.futures import ThreadPoolExecutor

from bardbot.mood import MoodSeries

WIDTH, HEIGHT, DPI = 8.0, 4.8, 100  # inches: 800 x 480 pixels
BACKGROUND = "#2b2d31"
TEXT = "#f2f3f5"
GRID = "#4e5058"
POSITIVE = "#57f287"
NEGATIVE = "#ed4245"
LINE = "#f2f3f5"
VOLUME = "#949cf7"
FONT_SIZE = 15

_executor = ThreadPoolExecutor(1, thread_name_prefix="bardbot-mood-chart")


async def render(series: MoodSeries, title: str) -> bytes:
    """The chart as PNG bytes, drawn in the chart thread."""
    return await asyncio.get_running_loop().run_in_executor(_executor, render_png, series, title)


def warm_up() -> None:
    """Import matplotlib in the chart thread now (a second or so), not at the first chart."""
    _executor.submit(_import)


def _import() -> None:
    from matplotlib.backends import backend_agg  # noqa: F401


def render_png(series: MoodSeries, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    mood, volume = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08}
    )
    times = [_time(series.start_hour + i * series.bin_hours) for i in range(len(series.messages))]
    width = datetime.timedelta(hours=series.bin_hours)
    centres = [t + width / 2 for t in times]
    means = [float("nan") if m is None else m for m in series.means()]

    mood.axhline(0.5, color=GRID, linewidth=1.5, linestyle="--")
    mood.fill_between(centres, means, 0.5, where=[m >= 0.5 for m in means], color=POSITIVE,
                      alpha=0.45, interpolate=True, linewidth=0)
    mood.fill_between(centres, means, 0.5, where=[m < 0.5 for m in means], color=NEGATIVE,
                      alpha=0.45, interpolate=True, linewidth=0)
    mood.plot(centres, means, color=LINE, linewidth=2, marker="o" if len(times) <= 31 else None)
    mood.set_ylim(0, 1)
    mood.set_yticks([0, 0.5, 1], ["0%", "50%", "100%"])
    mood.set_ylabel("positive", fontsize=FONT_SIZE)
    mood.set_title(title, fontsize=FONT_SIZE + 2, color=TEXT, loc="left", pad=10)

    volume.bar(times, series.messages, width=width, align="edge", color=VOLUME, linewidth=0)
    volume.set_ylabel("messages", fontsize=FONT_SIZE)
    volume.yaxis.set_major_locator(_few_ticks())
    locator = AutoDateLocator(minticks=3, maxticks=6)
    volume.xaxis.set_major_locator(locator)
    volume.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
    volume.set_xlim(times[0], times[-1] + width)
    for axes in (mood, volume):
        _style(axes)
    figure.text(0.99, 0.01, "UTC", color=GRID, fontsize=FONT_SIZE - 3, ha="right", va="bottom")
    figure.subplots_adjust(left=0.14, right=0.97, top=0.89, bottom=0.12)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def _time(hour: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hour * 3600, datetime.UTC).replace(tzinfo=None)


def _few_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=2, integer=True, min_n_ticks=1)


def _style(axes) -> None:
    axes.set_facecolor(BACKGROUND)
    axes.tick_params(colors=TEXT, labelsize=FONT_SIZE - 1, length=4)
    axes.yaxis.label.set_color(TEXT)
    axes.grid(axis="y", color=GRID, linewidth=0.8, alpha=0.6)
    for side, spine in axes.spines.items():
        spine.set_visible(side == "bottom")
        spine.set_color(GRID)

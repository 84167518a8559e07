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

WIDTH, HEIGHT, DPI = 7.2, 4.5, 100  # inches: 720 x 450 pixels
BACKGROUND = "#2b2d31"
TEXT = "#f2f3f5"
GRID = "#4e5058"
POSITIVE = "#57f287"
NEGATIVE = "#ed4245"
LINE = "#f2f3f5"
VOLUME = "#949cf7"
FONT_SIZE = 19  # points: about 13 pixels high at a phone's width (~360 pixels)
TITLE_LIMIT = 34  # characters

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
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    mood, volume = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.18}
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
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    mood.set_title(title, fontsize=FONT_SIZE + 1, color=TEXT, loc="left", pad=8)

    volume.bar(times, series.messages, width=width, align="edge", color=VOLUME, linewidth=0)
    volume.set_ylabel("messages", fontsize=FONT_SIZE)
    volume.yaxis.set_major_locator(_few_ticks())
    _date_axis(volume.xaxis, len(times) * series.bin_hours // 24)
    volume.set_xlim(times[0], times[-1] + width)
    for axes in (mood, volume):
        _style(axes)
    step = "hourly" if series.bin_hours == 1 else "daily"
    figure.text(0.985, 0.975, f"{step}, UTC", color=TEXT, alpha=0.6, fontsize=FONT_SIZE - 5,
                ha="right", va="top")
    figure.subplots_adjust(left=0.17, right=0.97, top=0.87, bottom=0.13)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def _time(hour: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hour * 3600, datetime.UTC).replace(tzinfo=None)


def _date_axis(axis, days: int) -> None:
    """Few labels (a phone shows the chart ~360 pixels wide): weekdays for a week or less."""
    from matplotlib.dates import (
        AutoDateLocator,
        ConciseDateFormatter,
        DateFormatter,
        DayLocator,
        HourLocator,
    )

    if days <= 1:
        axis.set_major_locator(HourLocator(byhour=range(0, 24, 6)))
        axis.set_major_formatter(DateFormatter("%H:00"))
    elif days <= 7:
        axis.set_major_locator(DayLocator(interval=1 if days <= 3 else 2))
        axis.set_major_formatter(DateFormatter("%a %d"))
    else:
        locator = AutoDateLocator(minticks=3, maxticks=5)
        axis.set_major_locator(locator)
        axis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))


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

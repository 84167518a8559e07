"""The mood chart's picture: mean P(positive) over time above the number of messages, as a PNG.

Drawn with matplotlib's Agg backend through its object API (no pyplot, no global state), by the
helper process (bardbot.chart_process). The picture is opaque, dark-grey with light text, so that
it reads the same in Discord's dark and light themes, and its text is large enough to stay
legible at phone width.
"""

from __future__ import annotations

import datetime
import io

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


def render_png(series: MoodSeries, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    mood, volume = figure.subplots(
        2, 1, gridspec_kw={"height_ratios": [3, 1.2], "hspace": 0.3}
    )
    # x in hours from the start: plain numbers with ticks placed here draw much faster than
    # matplotlib's date locators.
    step = series.bin_hours
    span = len(series.messages) * step
    centres = [i * step + step / 2 for i in range(len(series.messages))]
    means = [float("nan") if m is None else m for m in series.means()]

    mood.axhline(0.5, color=GRID, linewidth=1.5, linestyle="--")
    mood.fill_between(centres, means, 0.5, where=[m >= 0.5 for m in means], color=POSITIVE,
                      alpha=0.45, interpolate=True, linewidth=0)
    mood.fill_between(centres, means, 0.5, where=[m < 0.5 for m in means], color=NEGATIVE,
                      alpha=0.45, interpolate=True, linewidth=0)
    mood.plot(centres, means, color=LINE, linewidth=2, marker="o" if len(centres) <= 31 else None)
    mood.set_ylim(0, 1)
    mood.set_yticks([0, 0.5, 1], ["0%", "50%", "100%"])
    mood.set_ylabel("positive", fontsize=FONT_SIZE)
    mood.xaxis.set_visible(False)
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    mood.set_title(title, fontsize=FONT_SIZE + 1, color=TEXT, loc="left", pad=8)

    # One polygon, not a bar per hour: a week of hourly bars would be 168 artists to draw.
    volume.stairs(series.messages, range(0, span + 1, step), fill=True, color=VOLUME,
                  linewidth=0)
    volume.set_ylabel("messages", fontsize=FONT_SIZE)
    volume.yaxis.set_major_locator(MaxNLocator(nbins=2, integer=True, min_n_ticks=1))
    volume.set_xticks(*_time_ticks(series.start_hour, span))
    for axes in (mood, volume):
        axes.set_xlim(0, span)
        _style(axes)
    figure.text(0.985, 0.975, f"{'hourly' if step == 1 else 'daily'}, UTC", color=TEXT,
                alpha=0.6, fontsize=FONT_SIZE - 5, ha="right", va="top")
    figure.subplots_adjust(left=0.17, right=0.97, top=0.87, bottom=0.13)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def _time_ticks(start_hour: int, span: int) -> tuple[list[int], list[str]]:
    """Few labels (a phone shows the chart ~360 pixels wide): hours for a day, weekdays for a
    week or less, dates beyond; at UTC midnights (or every 6 hours)."""
    days = span // 24
    if days <= 1:
        step, form = 6, "%H:00"
    elif days <= 7:
        step, form = 24 if days <= 3 else 48, "%a %d"
    else:
        step, form = 24 * -(-days // 4), "%b %d"
    first = -(-start_hour // step) * step
    hours = range(first, start_hour + span, step)
    labels = [datetime.datetime.fromtimestamp(h * 3600, datetime.UTC).strftime(form)
              for h in hours]
    return [h - start_hour for h in hours], labels


def _style(axes) -> None:
    axes.set_facecolor(BACKGROUND)
    axes.tick_params(colors=TEXT, labelsize=FONT_SIZE - 1, length=4)
    axes.yaxis.label.set_color(TEXT)
    axes.grid(axis="y", color=GRID, linewidth=0.8, alpha=0.6)
    for side, spine in axes.spines.items():
        spine.set_visible(side == "bottom")
        spine.set_color(GRID)

"""What each command does and says, independent of where it is asked.

The Cog (Discord) and console mode call these same functions; they return a `Reply` and raise
`limits.UserError` (a short message for the user) or `engine.Busy`. Discord-specific sending —
defer, ephemeral, allowed mentions — lives in the Cog.
"""

from __future__ import annotations

import asyncio
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from bardbot.engine import Engine
from bardbot.limits import PROMPT_LIMIT, UserError, check_length, check_size, check_temperature
from bardbot.metrics import version
from bardbot.models import play
from bardbot.models.errors import TextError
from bardbot.settings import GuildSettings

if TYPE_CHECKING:  # the runtime models load only when the bot assembles them
    from bardbot.models.sentiment import SentimentResult

MESSAGE_LIMIT = 2000  # Discord's limit for a message's content
TEMPERATURE_HINTS = {0.2: "conservative", 0.5: "balanced", 1.0: "adventurous"}  # the reference's
BAR_WIDTH = 10
ELLIPSIS = "…"
CANNOT_ANALYSE = "Could not analyse this text: it took too long to read. Try a plainer one."
COLOUR = 0x8B5CF6


@dataclass(frozen=True)
class Reply:
    content: str = ""
    embed: discord.Embed | None = None
    ephemeral: bool = False  # only the asker sees it (Discord); console prints it like any other
    image: bytes | None = None  # a PNG attached to the reply (the console saves it)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    # Do not leave a dangling escape backslash that would swallow the ellipsis.
    return cut.rstrip("\\") + ELLIPSIS


def escape(text: str) -> str:
    """Text shown verbatim: markdown escaped. Mentions need no escaping — replies are sent with
    allowed mentions disabled, so `@everyone` or `<@id>` pings no one."""
    return discord.utils.escape_markdown(text)


WORD_EDGES = ".,;:!?\"'()[]{}«»“”‘’…"


def bar(score: float, width: int = BAR_WIDTH) -> str:
    filled = round(min(max(score, 0.0), 1.0) * width)
    return "█" * filled + "░" * (width - filled)


def sentiment_summary(result: SentimentResult) -> str:
    """One line: label, P(positive) as a percentage and a bar, the uncertainty flag."""
    line = f"**{result.label}** {result.score:.0%} positive `{bar(result.score)}`"
    if result.uncertain:
        line += " — uncertain (too close to 50% to call)"
    return line


def shown_word(word: str) -> str:
    """A word as written, without the punctuation stuck to it ("day," reads "day" in a list
    that is itself separated by commas); punctuation alone stays as it is."""
    return word.strip(WORD_EDGES) or word


def reasons_line(reasons: Sequence[tuple[str, float]], per_side: int = 3) -> str:
    """The few words that pushed the score most each way (at least one point), strongest
    first: "pushed positive: loved +32, superb +20 · pushed negative: boring −37"."""
    def side(sign: int) -> str:
        pushed = sorted((c * sign, word) for word, c in reasons if c * sign >= 1.0)[::-1]
        return ", ".join(f"{escape(clip(shown_word(word), 24))} {'+' if sign > 0 else '−'}"
                         f"{points:.0f}" for points, word in pushed[:per_side])
    parts = [f"{name}: {words}" for name, words in
             (("pushed positive", side(1)), ("pushed negative", side(-1))) if words]
    return " · ".join(parts)


def format_sentiment(text: str, result: SentimentResult, reasons: Sequence[tuple[str, float]] = (),
                     *, quote_limit: int = 300) -> Reply:
    lines = [sentiment_summary(result)]
    if why := reasons_line(reasons):
        lines.append("-# " + why)
    notes = [f"unknown words: {result.unknown_ratio:.0%}"]
    if result.tokens and result.unknown_ratio >= 1.0:
        notes.append("the model knows none of these words, so the score means little")
    if result.truncated:
        notes.append("only the beginning was read")
    lines.append("-# " + " · ".join(notes))
    quoted = escape(clip(" ".join(text.split()), quote_limit))
    lines.append("> " + quoted)
    return Reply(clip("\n".join(lines)))


async def sentiment(engine: Engine, text: str) -> Reply:
    if not text or not text.strip():
        raise UserError("There is no text to analyse.")
    check_size(text, "text")
    try:
        result, reasons = await engine.classify_explained(text)
    except TextError:  # the words could not be had: the verdict alone, if it can be
        result, reasons = await _verdict(engine, text), []
    if not result.tokens:
        raise UserError("There are no words in that text to analyse.")
    return format_sentiment(text, result, reasons)


async def _verdict(engine: Engine, text: str) -> SentimentResult:
    try:
        return await engine.classify(text)
    except TextError as e:
        raise UserError(CANNOT_ANALYSE) from e


def format_shakespeare(prompt: str, continuation: str, temperature: float, length: int) -> Reply:
    """The prompt (bold) followed by the continuation; the prompt is cut from the left, never
    the continuation, when both do not fit in one message."""
    footer = f"\n-# temperature {temperature:g} · {length} characters"
    body = escape(continuation)
    room = MESSAGE_LIMIT - len(footer) - len(body) - 4  # the two `**`
    raw = prompt.strip()
    head = escape(raw)
    if len(head) > room:
        # Keep the end of the prompt (what the continuation follows); cut the raw text, then
        # escape, so that no escape sequence is split.
        keep = room - len(ELLIPSIS)
        raw = raw[-keep:] if keep > 0 else ""
        while raw and len(escape(raw)) > keep:
            raw = raw[max(1, (len(escape(raw)) - keep) // 2) :]
        head = ELLIPSIS + escape(raw) if raw else ""
    content = (f"**{head}**" if head else "") + body
    return Reply(clip(content, MESSAGE_LIMIT - len(footer)) + footer)


async def shakespeare(
    engine: Engine, prompt: str, temperature: float, length: int, seed: int | None = None
) -> Reply:
    if not prompt or not prompt.strip():
        raise UserError("Give me a prompt to continue.")
    check_size(prompt, "prompt", PROMPT_LIMIT)
    temperature = check_temperature(temperature)
    length = check_length(length)
    # Never glued onto the prompt's last word; ends at a word boundary (models/play.py).
    joined = play.continuation_prompt(prompt)
    continuation = await engine.generate(
        joined.model_prompt, length=play.generated_length(length), temperature=temperature,
        seed=seed,
    )
    text = joined.separator + play.trim(continuation, length)
    return format_shakespeare(joined.shown_prompt, text, temperature, length)


async def chat(
    engine: Engine, text: str, settings: GuildSettings, speakers: play.Speakers,
    seed: int | None = None,
) -> Reply:
    """A chat message continued in Shakespeare's style at the server's settings; answered in
    play form, as the next of `speakers`, when they are on and the model writes plays."""
    text = text.strip()
    if not text:
        raise UserError(
            "Say something after the mention and I will continue it, Shakespeare-style."
        )
    check_size(text, "message")  # bounded before the tokenizer's regexes see it
    speaker = speakers.next() if speakers.enabled and engine.generator.writes_plays else None
    if speaker:  # play form: the bard answers the message as `speaker` (models/steer.py)
        generation = engine.answer(text[-PROMPT_LIMIT:], speaker, length=settings.length,
                                   temperature=settings.temperature, seed=seed)
    else:  # what the continuation follows: the end of the message (and maybe a space)
        joined = play.continuation_prompt(text[-(PROMPT_LIMIT - 1):])
        generation = engine.generate(joined.model_prompt,
                                     length=play.generated_length(settings.length),
                                     temperature=settings.temperature, seed=seed)
    footer = ""
    if settings.show_sentiment:
        continuation, result = await asyncio.gather(generation, _classified(engine, text))
        if result is None:
            footer = "\n-# could not analyse your message's sentiment"
        elif result.tokens:
            footer = f"\n-# your message reads {result.label} ({result.score:.0%} positive" + (
                ", uncertain)" if result.uncertain else ")"
            )
    else:
        continuation = await generation
    if speaker:
        body = f"**{speaker}:**\n" + escape(continuation or "…")
    else:
        body = ELLIPSIS + escape(play.trim(continuation, settings.length).strip("\n"))
    return Reply(clip(body, MESSAGE_LIMIT - len(footer)) + footer)


async def _classified(engine: Engine, text: str) -> SentimentResult | None:
    """The text's sentiment, or None when this text alone cannot be analysed."""
    try:
        return await engine.classify(text)
    except TextError:
        return None


def _flatten(info: dict, keys: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Scalar items of a model's info dict (nested dicts flattened, lists and hashes skipped)."""
    out: list[tuple[str, Any]] = []
    for key, value in info.items():
        if key in ("history", "epoch_seconds", "words", "chars", "versions", "encoding"):
            continue
        if isinstance(value, dict):
            out.extend(_flatten(value, (*keys, key)))
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            out.append((".".join((*keys, key)), value))
    return out


# What /bardbot about shows of a model's info, by leaf key, in this order.
ABOUT_KEYS = (
    "name", "architecture", "mode", "test_accuracy", "val_accuracy", "heldout_loss_stateful",
    "heldout_loss", "heldout_loss_windowed", "snippets_accuracy", "suite_accuracy",
    "vocab_size", "maxlen", "n_chars", "trainable", "sha256",
)


def _model_field(info: dict, limit: int = 1024) -> str:
    items = {key.rsplit(".", 1)[-1]: value for key, value in reversed(_flatten(info))}
    lines = []
    for key in ABOUT_KEYS:
        if key not in items:
            continue
        value = items[key]
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif key == "sha256":
            value = str(value)[:12]
        if key.startswith("heldout_loss"):
            key += " (nats/char)"
        lines.append(f"{key.replace('_', ' ')}: {value}")
    return clip("\n".join(lines) or "no details", limit)


def about(engine: Engine, gateway_latency: float | None = None) -> Reply:
    embed = discord.Embed(
        title="bardbot",
        description="A sentiment LSTM and a character-level Shakespeare LSTM, "
        "trained with Keras, served with onnxruntime.",
        colour=COLOUR,
    )
    embed.add_field(
        name="Sentiment model", value=_model_field(engine.classifier.info), inline=False
    )
    embed.add_field(
        name="Shakespeare model", value=_model_field(engine.generator.info), inline=False
    )
    timings = []
    for name, samples in (
        ("sentiment batch", engine.sentiment_ms),
        ("generation", engine.generate_ms),
    ):
        median = engine.median(samples)
        timings.append(f"{name}: " + (f"{median:.1f} ms median" if median is not None else "—"))
    if gateway_latency is not None and math.isfinite(gateway_latency):
        timings.append(f"gateway: {gateway_latency * 1000:.0f} ms")
    embed.add_field(name="Latency", value="\n".join(timings), inline=False)
    uptime = int(time.time() - engine.started)
    embed.set_footer(
        text=f"bardbot {version()} · discord.py {discord.__version__} · "
        f"Python {platform.python_version()} · up {uptime // 3600}h{uptime // 60 % 60:02d}m"
    )
    return Reply(embed=embed)


def format_settings(settings: GuildSettings, where: str, *, title: str = "Settings") -> Reply:
    embed = discord.Embed(title=f"{title} for {where}", colour=COLOUR)
    embed.add_field(name="temperature", value=f"{settings.temperature:g}")
    embed.add_field(name="length", value=str(settings.length))
    embed.add_field(name="chat replies", value="on" if settings.chat_enabled else "off")
    embed.add_field(name="sentiment in chat", value="on" if settings.show_sentiment else "off")
    embed.add_field(name="channel mood", value=f"on, kept {settings.mood_days} days"
                    if settings.mood_enabled else "off")
    if not settings.allowed_channels:
        embed.add_field(name="chat channels", value="every channel", inline=False)
    mentions = [f"<#{c}>" for c in sorted(settings.allowed_channels)]
    for name, value in channel_fields(mentions, EMBED_LIMIT - len(embed), 25 - len(embed.fields)):
        embed.add_field(name=name, value=value, inline=False)
    return Reply(embed=embed, ephemeral=True)


FIELD_LIMIT = 1024  # Discord's limit for an embed field's value
EMBED_LIMIT = 6000  # ... and for all the text of an embed together


def channel_fields(mentions: list[str], budget: int, max_fields: int) -> list[tuple[str, str]]:
    """Channel mentions as embed fields (name, value) of at most FIELD_LIMIT characters,
    together at most `budget` characters and `max_fields` fields. Mentions that do not fit
    are counted ("… and 12 more"), never dropped silently."""
    note_room = 40  # for the count of the rest, on a line of its own
    chunks: list[list[str]] = []
    for mention in mentions:
        if chunks and len(", ".join([*chunks[-1], mention])) <= FIELD_LIMIT - note_room:
            chunks[-1].append(mention)
        else:
            chunks.append([mention])
    fields: list[tuple[str, str]] = []
    spent, shown = note_room, 0
    for chunk in chunks:
        name = "chat channels, continued" if fields else "chat channels"
        value = ", ".join(chunk)
        if len(fields) == max_fields or spent + len(name) + len(value) > budget:
            break
        fields.append((name, value))
        spent += len(name) + len(value)
        shown += len(chunk)
    if not fields and mentions:
        return [("chat channels", f"{len(mentions)} channels")]
    if shown < len(mentions):
        name, value = fields[-1]
        fields[-1] = (name, f"{value}\n… and {len(mentions) - shown} more")
    return fields


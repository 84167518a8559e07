"""What a user may ask for, said one way everywhere: the bounds of every value a command takes,
the error that carries a message for the user, and the one on/off parser.

The Cog's option types (`app_commands.Range`), the handlers, the console and the configuration
all read these, so Discord's client, the bot and the README cannot disagree.
"""

from __future__ import annotations

import math
import numbers
import re

TEXT_LIMIT = 6000  # longest /sentiment text or chat message (Discord's limit for a string option)
PROMPT_LIMIT = 1000  # longest /shakespeare prompt (the model sees its last characters)
MAX_LENGTH = 1500  # longest continuation: fits Discord's 2,000 characters with the prompt
TEMPERATURE_RANGE = (0.1, 2.0)
ON = ("on", "true", "yes", "1")
OFF = ("off", "false", "no", "0", "")


class Busy(Exception):
    """Too much work is queued; the request was refused without running (bardbot.engine)."""


class UserError(ValueError):
    """A request or setting that cannot be served as given; the message is shown to the user
    as is. A ValueError, so code that validates with ValueError keeps working."""


# A Discord bot token: the bot's id in base64 (23-28 characters), a timestamp (6-7) and a
# signature (27-40), joined by dots. Tight enough that a file name is not taken for one.
TOKEN_SHAPE = re.compile(r"(?<![\w-])[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,40}(?![\w-])", re.ASCII)


def hide_tokens(text: str) -> str:
    """`text` with anything shaped like a Discord token replaced (an error quoting a value
    that was a token put in the wrong place)."""
    return TOKEN_SHAPE.sub("(a token, not shown)", text)


def shown(value: object) -> str:
    """A bad value for an error message; a long one could be a token put in the wrong place."""
    if isinstance(value, str) and len(value) > 24:
        return f"a {len(value)}-character value (not shown)"
    return repr(value)


def check_temperature(value: object) -> float:
    lo, hi = TEMPERATURE_RANGE
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not (number and math.isfinite(value) and lo <= value <= hi):  # type: ignore[arg-type]
        raise UserError(f"temperature must be between {lo} and {hi} (got {shown(value)}).")
    return float(value)  # type: ignore[arg-type]


def check_length(value: object) -> int:
    whole = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not (whole and 1 <= value <= MAX_LENGTH):  # type: ignore[operator]
        raise UserError(
            f"length must be a whole number between 1 and {MAX_LENGTH} (got {shown(value)})."
        )
    return int(value)  # type: ignore[call-overload]


def check_size(text: str, what: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) > limit:
        raise UserError(f"The {what} is too long: at most {limit} characters.")
    return text


def parse_bool(value: str | bool, name: str) -> bool:
    """on/off, true/false, yes/no or 1/0 (any case; empty is off), or a bool as it is."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower() if isinstance(value, str) else None
    if lowered in ON:
        return True
    if lowered in OFF:
        return False
    raise UserError(f"{name} must be on or off (or true/false, yes/no, 1/0), got {shown(value)}.")

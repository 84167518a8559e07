"""One wording for each limit, one on/off parser, used by the console, the config and the Cog."""

from __future__ import annotations

import math

import pytest
from bardbot.cog import Bard
from bardbot.limits import (
    PROMPT_LIMIT,
    TEXT_LIMIT,
    UserError,
    check_length,
    check_temperature,
    parse_bool,
)


@pytest.mark.parametrize(("text", "value"), [("on", True), ("YES", True), (" 1 ", True),
                                             ("off", False), ("False", False), ("", False),
                                             (True, True), (False, False)])
def test_parse_bool_reads_every_spelling(text, value):
    assert parse_bool(text, "chat") is value


@pytest.mark.parametrize("bad", ["maybe", 1, None, "x" * 40])
def test_parse_bool_refuses_the_rest_without_echoing_a_long_value(bad):
    with pytest.raises(UserError, match=r"^chat must be on or off") as info:
        parse_bool(bad, "chat")
    assert "x" * 40 not in str(info.value)


@pytest.mark.parametrize("bad", [0.0, 2.5, math.nan, math.inf, True, "0.5"])
def test_temperature_bounds(bad):
    with pytest.raises(UserError, match=r"^temperature must be between 0\.1 and 2\.0 \(got "):
        check_temperature(bad)


@pytest.mark.parametrize("bad", [0, 1501, 2.5, True])
def test_length_bounds(bad):
    with pytest.raises(UserError, match=r"^length must be a whole number between 1 and 1500"):
        check_length(bad)


def test_the_slash_commands_declare_the_same_limits():
    options = {c.name: {p.name: p for p in c.parameters} for c in Bard.__cog_app_commands__
               if hasattr(c, "parameters")}
    assert options["sentiment"]["text"].max_value == TEXT_LIMIT
    assert options["shakespeare"]["prompt"].max_value == PROMPT_LIMIT

"""The README's command table states the limits the bot enforces."""

from pathlib import Path

from bardbot.limits import MAX_LENGTH, PROMPT_LIMIT, TEXT_LIMIT

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def row(command: str) -> str:
    return next(line for line in README.splitlines() if line.startswith(f"| `{command}"))


def test_the_command_table_states_the_length_limits():
    assert f"up to {TEXT_LIMIT:,} characters" in row("/sentiment")
    assert f"up to {PROMPT_LIMIT:,} characters" in row("/shakespeare")
    assert f"length 1–{MAX_LENGTH:,} characters" in row("/shakespeare")

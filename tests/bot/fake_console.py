"""`python -m tests.bot.fake_console`: console mode on the fake models (for subprocess tests)."""

import sys

from bardbot import console
from bardbot.engine import Engine

from tests.bot.harness import FakeClassifier, FakeGenerator

if __name__ == "__main__":
    sys.exit(console.run(Engine(FakeClassifier(), FakeGenerator())))

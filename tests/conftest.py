import logging

import pytest


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """Entry points under test (e.g. `bardbot`'s main) install root log handlers on the stderr
    that pytest swaps per test; left behind, they write to a closed stream in later tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _keep_bardbot_modules():
    """Unloading the "bardbot" extension purges every bardbot.* module from sys.modules (how
    discord.py reloads code); later tests must keep seeing the classes they imported."""
    import sys

    saved = {k: m for k, m in sys.modules.items() if k == "bardbot" or k.startswith("bardbot.")}
    yield
    for name in [k for k in sys.modules if k == "bardbot" or k.startswith("bardbot.")]:
        if name not in saved:
            del sys.modules[name]
    sys.modules.update(saved)

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

"""Training-run folders and what the trainer and the exporter share about them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad path, flag or file): one line, no traceback."""


@contextlib.contextmanager
def removed_if_left_empty(out: Path) -> Iterator[None]:
    """The folders of `out` that do not exist yet are removed again if the run fails and
    leaves them empty: a failed first run must not leave an empty runs/NAME behind."""
    out = Path(out).absolute()
    missing = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first; a folder holding anything stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise

"""scripts/test.sh installs once, and again only when pyproject.toml changes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Stands in for the venv's python and ruff: records each call instead of running it.
FAKE_TOOL = '#!/bin/sh\necho "$(basename "$0") $*" >> "$(dirname "$0")/../../calls"\n'


def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test.sh", tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "ruff"):
        (bin_dir / tool).write_text(FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    return tmp_path


def installs_after_run(repo: Path) -> int:
    subprocess.run(["bash", "scripts/test.sh", "-q"], cwd=repo, check=True)
    return sum("pip install" in line for line in (repo / "calls").read_text().splitlines())


def test_test_script_installs_only_when_pyproject_changes(tmp_path):
    repo = checkout(tmp_path)
    assert installs_after_run(repo) == 1
    assert installs_after_run(repo) == 1  # nothing changed: no reinstall
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '2'\n")
    assert installs_after_run(repo) == 2
    assert "python -m pytest -q" in (repo / "calls").read_text()

"""deploy/bardbot.service: systemd accepts it, it is hardened, and the bot reads the token and
the settings file where the unit puts them. Needs systemd-analyze (Debian: apt-get install
systemd; .ci/run does it); no running systemd is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bardbot.config import load_config

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "bardbot.service"
TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def directives(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of the unit, by key (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def systemd_analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    return binary


@pytest.fixture
def system_root(tmp_path) -> Path:
    """A file system holding what `systemd-analyze --root` needs: the distribution's units
    (targets the unit is ordered after), the unit, and a stand-in for the bardbot program."""
    root = tmp_path / "root"
    units = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                 if p.is_dir())
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (program,) = directives(UNIT)["ExecStart"]
    fake = root / program.lstrip("/")
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/bardbot.service")
    return root


def test_systemd_analyze_verify_accepts_the_unit(system_root):
    result = subprocess.run(
        [systemd_analyze(), "verify", f"--root={system_root}", "bardbot.service"],
        capture_output=True, text=True, timeout=60)
    # Unknown keys or bad values are only warnings (exit 0): any output is a failure here.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_rates_the_unit_as_hardened(system_root):
    # Exposure 0-10 is printed, 0-100 is compared: 20 means "2.0 or less", systemd's "OK".
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--threshold=20",
         f"--root={system_root}", "bardbot.service"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_the_unit_asks_for_what_the_issue_lists():
    unit = directives(UNIT)
    for key, value in {
        "DynamicUser": "yes", "StateDirectory": "bardbot", "ProtectSystem": "strict",
        "NoNewPrivileges": "yes", "Restart": "on-failure", "RestartPreventExitStatus": "2",
        "LoadCredential": "discord_token:/etc/bardbot/discord_token",
    }.items():
        assert unit[key] == [value], key
    assert "DISCORD_TOKEN_FILE=%d/discord_token" in unit["Environment"]
    assert "DISCORD_TOKEN" not in " ".join(unit["ExecStart"])  # never a flag ps would show


def test_the_bot_reads_the_token_and_settings_where_the_unit_puts_them(tmp_path):
    """The unit's environment with %d and %S as systemd expands them: the credential copy
    (mode 0400, the service's user) and /var/lib."""
    credentials, state = tmp_path / "credentials", tmp_path / "var-lib"
    credentials.mkdir()
    token_file = credentials / "discord_token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o400)
    environ = {}
    for assignment in directives(UNIT)["Environment"]:
        name, value = assignment.split("=", 1)
        environ[name] = value.replace("%d", str(credentials)).replace("%S", str(state))
    config = load_config([], environ)
    assert config.token == TOKEN
    assert config.warnings == ()  # the copy is private: no "other users can read it"
    assert Path(str(config.db_path)) == state / "bardbot" / "settings.db"


def test_the_readme_installs_the_files_the_unit_reads():
    readme = (ROOT / "deploy" / "README.md").read_text()
    unit = directives(UNIT)
    (credential,) = unit["LoadCredential"]
    assert f"install -D -m 600 /dev/stdin {credential.split(':', 1)[1]}" in readme
    (environment_file,) = unit["EnvironmentFile"]
    assert environment_file.lstrip("-") in readme
    assert "/etc/systemd/system/" in readme and "systemctl enable --now bardbot" in readme
    assert unit["ExecStart"][0].removesuffix("/bin/bardbot") in readme  # the venv it runs

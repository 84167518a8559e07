"""The installed package beside a host bot that has its own `bot.py` and `models.py`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOST = textwrap.dedent("""
    import asyncio, sys
    import discord
    from discord.ext import commands
    import bot, models  # the host's own modules, as in many bots (RoboDanny has a root bot.py)

    async def main():
        host = commands.Bot(command_prefix="!", intents=discord.Intents.default())
        await host.load_extension("bardbot")
        import bardbot
        assert bardbot.__file__.startswith(sys.argv[1]), bardbot.__file__
        assert bot.HOST and models.HOST, "the host's modules were replaced"
        assert host.get_cog("Bard") is not None
        names = sorted(c.name for c in host.tree.get_commands())
        await host.unload_extension("bardbot")
        print("loaded", names)

    asyncio.run(main())
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in ./build: files left there by an older tree must not ship.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--disable-pip-version-check", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [path] = out.glob("bardbot-*.whl")
    return path


def test_the_wheel_holds_only_the_bardbot_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"bardbot"}
    assert "bardbot/models/sentiment.onnx" in names and "bardbot/info.json" in names


def test_a_host_with_its_own_bot_and_models_modules_loads_the_plugin(wheel, tmp_path):
    # A fresh venv: the wheel unpacked into its site-packages; the dependencies (discord.py,
    # onnxruntime, ...) come from this environment through a .pth line, never our sources.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True)
    python = tmp_path / "venv" / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True,
                               text=True).stdout.strip())
    zipfile.ZipFile(wheel).extractall(site)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    host = tmp_path / "host"
    host.mkdir()
    (host / "bot.py").write_text("HOST = True\n")
    (host / "models.py").write_text("HOST = True\n")
    (host / "host.py").write_text(HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BARDBOT"))}
    env["BARDBOT_DB"] = str(tmp_path / "settings.db")
    proc = subprocess.run([python, "host.py", str(site)], cwd=host, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "loaded" in proc.stdout and "shakespeare" in proc.stdout

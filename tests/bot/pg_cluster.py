"""A throwaway PostgreSQL server for the tests: its own data folder, port and password, on
127.0.0.1 only. Needs the server binaries (Debian: apt-get install postgresql; .ci/run does it)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

USER, DATABASE = "bard", "bardbot_test"


def server_bin_dir() -> Path:
    """Where initdb and pg_ctl are: pg_config's bindir, Debian's versioned folder, or PATH."""
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if bindir.returncode == 0 and (Path(bindir.stdout.strip()) / "initdb").exists():
            return Path(bindir.stdout.strip())
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                    key=lambda p: int(Path(p).parts[-3]))
    if debian:
        return Path(debian[-1]).parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent
    pytest.fail("the PostgreSQL server is not installed (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    folder: Path
    port: int
    password: str
    bin_dir: Path
    durable: bool = False  # fsync and synchronous commits, as in production (benchmarks)

    def url(self, database: str = DATABASE, *, password: str | None = None) -> str:
        return f"postgresql://{USER}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
                   " -c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off"
        self._pg_ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        # "immediate" is a crash: with synchronous_commit off the last commits would be lost.
        self._pg_ctl("-m", mode, "-w", "stop")

    def postgres_pids(self) -> list[int]:
        """The server's processes (postmaster and backends), for pausing it with SIGSTOP."""
        postmaster = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        return [postmaster, *(pid for pid in _pids() if _parent(pid) == postmaster)]


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_cluster(durable: bool = False) -> Cluster:
    bin_dir = server_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="bardbot-pg-"))
    password = secrets.token_urlsafe(16)
    (folder / "pw").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "pw", "postgres")
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", USER,
                      f"--pwfile={folder / 'pw'}", "-A", "scram-sha-256", "--no-sync",
                      "-E", "UTF8"]),
        check=True, capture_output=True,
    )
    (folder / "pw").unlink()
    cluster = Cluster(folder, _free_port(), password, bin_dir, durable)
    cluster.start()
    subprocess.run(
        _as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port),
                      "-U", USER, DATABASE]),
        check=True, capture_output=True, env={**os.environ, "PGPASSWORD": password},
    )
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop("immediate")
    finally:
        shutil.rmtree(cluster.folder, ignore_errors=True)

"""A real PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary directory, a free port.

Started once per test session (the `postgres_url` fixture, or `shared_url()` from code that is not a fixture)
and stopped at its end. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user that
Debian's package creates (or `vlmpg`, made here when that is missing).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

_server: PostgresServer | None = None


def _binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make system-deps does)")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user() -> str | None:
    """The unprivileged user to run as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "vlmpg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "vlmpg"], check=True)
    return "vlmpg"


class PostgresServer:
    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync and synchronous commits on (benchmarks); off for tests, which need speed
        self.bin = _binaries()
        self.user = _user()
        self.dir = Path(tempfile.mkdtemp(prefix="vlm-pg-"))
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def _as_user(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else args

    def start(self) -> PostgresServer:
        data = self.dir / "data"
        if self.user:
            shutil.chown(self.dir, self.user)
        subprocess.run(self._as_user([str(self.bin / "initdb"), "-D", str(data), "--auth=trust", "-U", "vlm",
                                      "--encoding=UTF8", "--no-sync"]), check=True, capture_output=True)
        log = open(self.dir / "postgres.log", "wb")  # noqa: SIM115 (kept open for the server's lifetime)
        # fsync off: a test cluster need not survive a power cut, and every commit is faster.
        fast = [] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.proc = subprocess.Popen(self._as_user([
            str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1", *fast, "-c", "max_connections=300"]),
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n" +
                                       (self.dir / "postgres.log").read_text(errors="replace")[-3000:]) from None
                time.sleep(0.1)
        self.url = f"postgresql://vlm@127.0.0.1:{self.port}/postgres"
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL is not accepting connections")
            time.sleep(0.1)

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "vlm", "-d",
                        "postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def shared() -> PostgresServer:
    """The session's server, started on first use."""
    global _server
    if _server is None:
        _server = PostgresServer().start()
        atexit.register(_server.stop)
    return _server


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the session's server (its maintenance database: make one of your own from it)."""
    return shared().url


@pytest.fixture
def postgres_database() -> str:
    """A fresh database of its own for one test."""
    return shared().new_database()

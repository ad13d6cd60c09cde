"""A PostgreSQL server of a test's own, on its own port and data directory.

Fault tests crash and restart the database; doing that to the machine's shared server
would break every other stack using it. This one runs from the installed PostgreSQL
binaries. It is stopped with ``pg_ctl stop -m immediate``: every server process quits at
once, without a checkpoint, and the next start recovers from the write-ahead log, as
after a crash. As root it runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.support.stack import free_port


def _bin_dir() -> Path | None:
    configured = os.environ.get("PRM_TEST_POSTGRES_BIN")
    if configured:
        return Path(configured)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return found[0].parent if found else None


def available() -> bool:
    folder = _bin_dir()
    if folder is None or not (folder / "initdb").exists():
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
    return True


class PrivatePostgres:
    def __init__(self) -> None:
        folder = _bin_dir()
        assert folder is not None
        self.bin = folder
        self.port = free_port()
        # Not under pytest's temporary directory: as root that one is closed to others.
        self.base = Path(tempfile.mkdtemp(prefix="prm-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-locale", timeout=120)  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}{self.log_tail()}")
        return done

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg2.extensions.connection:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        connection.autocommit = True
        return connection

    def create_database(self, name: str) -> str:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            connection.close()
        return self.url(name)

    def start(self, timeout: float = 60) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(timeout)), timeout=timeout + 10)  # fmt: skip

    def crash(self) -> None:
        """Every server process quits at once: no checkpoint, recovery on the next start."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def restart(self, down: float = 3.0) -> float:
        """Crash, stay away ``down`` seconds, start again: the seconds it was unreachable."""
        began = time.monotonic()
        self.crash()
        time.sleep(down)
        self.start()
        return time.monotonic() - began

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.base, ignore_errors=True)

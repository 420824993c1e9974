"""A throwaway PostgreSQL server for the test session: Debian's binaries, a data dir under tmp.

Each pytest-xdist worker starts its own (own data dir, own port): no database name is shared.

As root, the server runs as the `postgres` system user (PostgreSQL refuses to run as root).
Any failure to start raises with the reason: PostgreSQL tests are never skipped silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL introuvable (/usr/lib/postgresql/*/bin/initdb) : "
            "apt-get install -y postgresql (make test le fait en root)"
        )
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = _bin_dir()
        # Not under pytest's tmp folder: that one is private to root, and the server is not root.
        self.base = Path(tempfile.mkdtemp(prefix="dalia-test-pg-"))
        self.dir = self.base / "pgdata"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} a échoué ({result.returncode}) : "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def start(self) -> PostgresServer:
        self.dir.mkdir(parents=True)
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.base, 0o755)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.dir),
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-U",
            "postgres",
        )
        for attempt in range(3):
            try:
                self._run(
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.dir),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.dir / "server.log"),
                    "-o",
                    f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                    "start",
                )
                return self
            except PostgresUnavailable:
                # The free port may have been taken meanwhile (pytest-xdist workers each start a
                # server at the same moment): try another one, then give the reason.
                log = self.dir / "server.log"
                if attempt == 2 or "could not bind" not in (log.read_text() if log.exists() else ""):
                    raise
                self.port = _free_port()
        raise AssertionError("unreachable")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(statement)

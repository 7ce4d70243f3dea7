"""A throwaway PostgreSQL server for the API tests, started from the Debian (or any) binaries.

:class:`PgServer` runs ``initdb`` into a temporary folder and ``pg_ctl start`` with a unix
socket in that folder (no TCP), and hands out fresh databases by URL. As root the
binaries run as the ``postgres`` user (PostgreSQL refuses to run as root). The server
is stopped (``pg_ctl stop -m immediate``) and its folder deleted at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests.api._proc import free_port

__all__ = ["PgServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: ``ONDEMAND_PG_BIN``, Debian's newest version, or the PATH."""
    env = os.environ.get("ONDEMAND_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


class PgServer:
    """A PostgreSQL cluster in a temporary folder, reachable only by its unix socket."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="ondemand-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        """Start (or restart) the server on its folder and port."""
        opts = f"-k {self.dir} -p {self.port} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "-t", "60", "start"
        )

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data (``pg_ctl stop -m MODE``); :meth:`start` brings it back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def connect(self, dbname: str = "postgres") -> Any:
        """A psycopg connection (autocommit) to ``dbname``."""
        import psycopg

        conn = psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname=dbname)
        conn.autocommit = True
        return conn

    def terminate_backends(self, dbname: str) -> int:
        """``pg_terminate_backend`` every other connection to ``dbname``; how many there were."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return len(rows)

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin_dir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr[-2000:] or done.stdout[-2000:]}"
            )

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3) of database ``dbname`` on this server."""
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.dir}&port={self.port}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

"""A real PostgreSQL server for tests: initdb in a temp dir, pg_ctl on a free loopback port.

Debian's postgresql package puts initdb/pg_ctl under /usr/lib/postgresql/VERSION/bin
(not on PATH); the newest version there (or one on PATH) is used. initdb refuses to run
as root, so as root the cluster belongs to the ``postgres`` system user (created by the
package) and the commands run through ``runuser``. The cluster trusts local connections
(a throwaway server on 127.0.0.1 only), runs without fsync (its data dies with the test),
and each test gets a fresh database from ``new_database``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support import free_port, wait_for_port

SUPERUSER = "hld"
START_TIMEOUT_S = 60.0  # initdb + first start on a loaded 2-core machine
STOP_TIMEOUT_S = 30.0
OWNER_IF_ROOT = "postgres"  # the system user Debian's package creates


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def missing_reason() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    if find_binaries() is None:
        return ("PostgreSQL is not installed (initdb/pg_ctl not on PATH nor under "
                "/usr/lib/postgresql/*/bin): apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER_IF_ROOT)
        except KeyError:
            return (f"initdb refuses root and there is no {OWNER_IF_ROOT!r} user to run it "
                    "as (apt-get install postgresql creates one)")
    return None


class PostgresServer:
    """One throwaway cluster; ``start`` then ``url``/``new_database``; ``stop`` removes it."""

    def __init__(self) -> None:
        binaries = find_binaries()
        assert binaries is not None, missing_reason()
        self.bin = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hld-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.owner = OWNER_IF_ROOT if os.geteuid() == 0 else None
        self.started = False

    def _run(self, *argv: str, timeout_s: float) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): "
                               f"{done.stderr[-2000:]}{log}")

    def start(self) -> None:
        if self.owner:
            pw = pwd.getpwnam(self.owner)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync",
                  timeout_s=START_TIMEOUT_S)
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -F "
                   "-c max_connections=40 -c shared_buffers=16MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start",
                  timeout_s=START_TIMEOUT_S + 5)
        self.started = True
        wait_for_port(self.port)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name made above, not user input
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop", timeout_s=STOP_TIMEOUT_S)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)

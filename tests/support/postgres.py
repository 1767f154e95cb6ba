"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, for one test.

Its cluster lives in a fresh folder under the system's temporary directory (the server's
own user must reach it, which pytest's private ``tmp_path`` does not allow), listens on a
free loopback port with trust authentication and no fsync, and is stopped and removed when
the test ends. Without the package the test is skipped, saying how to install it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port

__all__ = ["find_postgres_bin", "running_postgres"]


def find_postgres_bin() -> Path | None:
    """The newest installed server's ``bin`` folder (``NIVA_POSTGRES_BIN`` overrides)."""
    configured = os.environ.get("NIVA_POSTGRES_BIN")
    if configured:
        return Path(configured)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    # The server refuses to run as root: run it as the package's own user then.
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run the server as")
    return ["runuser", "-u", "postgres", "--"], entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def running_postgres(_hint: Path | None = None) -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (``postgresql+psycopg://…``)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="niva-pg-"))
    data, log = root / "data", root / "server.log"
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    port = free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}\n{tail}")

    try:
        run(
            str(bin_dir / "initdb"),
            "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        run(
            str(bin_dir / "pg_ctl"),
            "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off",
            "start",
        )  # fmt: skip
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)

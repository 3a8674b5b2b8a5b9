"""Real servers for the lake's tests, started on loopback: PostgreSQL from the Debian binaries (initdb and
pg_ctl in a temporary directory, as an unprivileged user, on a free port) and moto's S3-API server.

Without them the lake tests skip with the reason, unless ``LH_REQUIRE_LAKE=1`` (which ``.ci/run`` sets)
makes a missing server a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(reason: str) -> None:
    if os.environ.get("LH_REQUIRE_LAKE") == "1":
        pytest.fail(f"LH_REQUIRE_LAKE=1 but {reason}")
    pytest.skip(reason)


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    """A throwaway PostgreSQL cluster; ``dsn(db)`` is the libpq string DuckLake's catalog takes."""

    def __init__(self, base: Path) -> None:
        initdb, self.pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            unavailable("PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)")
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: an unprivileged user owns the cluster
            user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
            if user is None or not shutil.which("runuser"):
                unavailable("running as root with no unprivileged user to own a PostgreSQL cluster")
            self.run_as = ["runuser", "-u", user, "--"]
            # pytest's temporary directories are private to root: the cluster lives where its owner can reach it.
            base = Path(tempfile.mkdtemp(prefix="lh-pg-"))
            account = pwd.getpwnam(user)
            os.chown(base, account.pw_uid, account.pw_gid)
        self.base = base
        self.data, self.port = base / "pgdata", free_port()
        self.socket_dir = base
        log = base / "initdb.log"
        with log.open("w") as out:
            done = subprocess.run(
                [*self.run_as, initdb, "-D", str(self.data), "-A", "trust", "-U", "lake"],
                stdout=out,
                stderr=out,
            )
        if done.returncode:
            unavailable(f"initdb failed: {log.read_text()[-300:]}")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *self.run_as,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data.parent / "pg.log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"], capture_output=True
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self, name: str) -> None:
        psql = postgres_bin("psql")
        subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "lake",
                "-d",
                "postgres",
                "-qc",
                f"CREATE DATABASE {name}",
            ],
            check=True,
            capture_output=True,
        )

    def dsn(self, database: str) -> str:
        return f"postgres:dbname={database} host=127.0.0.1 port={self.port} user=lake"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class S3Server:
    """moto's S3-API server in its own process."""

    def __init__(self) -> None:
        server = Path(sys.executable).with_name("moto_server")
        if not server.exists():
            unavailable("moto's server is not installed (pip install 'moto[server]', the dev extra)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        unavailable("moto's server did not start")

    def bucket(self, name: str) -> None:
        httpx.put(f"{self.url}/{name}", timeout=10).raise_for_status()

    def objects(self, bucket: str) -> int:
        return len(self.keys(bucket))

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = httpx.get(f"{self.url}/{bucket}", params={"list-type": "2", "prefix": prefix}, timeout=10)
        return re.findall(r"<Key>([^<]*)</Key>", listing.text)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

"""Real servers on 127.0.0.1 for the tests that need one: PostgreSQL and any HTTP server we start.

A session's background processes do not survive into CI, so each test starts its own server on a free
port in a temporary folder and stops it afterwards. Missing programs come from Debian's packages
(`apt-get`, as root); where that is impossible the test is skipped with the reason, never faked.
PostgreSQL refuses to run as root, so under root its commands run as Debian's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


def debian_programs(packages: list[str], programs: list[str], search: list[str] = ()) -> list[str]:
    """Paths of `programs` (looked up on PATH, then in the `search` globs), installing `packages` if any is missing."""

    def find(name: str) -> str | None:
        return shutil.which(name) or next(iter(sorted(p for pattern in search for p in glob.glob(f"{pattern}/{name}"))), None)

    found = [find(p) for p in programs]
    if not all(found) and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env,
                       capture_output=True)
        found = [find(p) for p in programs]
    if not all(found):
        missing = [p for p, path in zip(programs, found) if not path]
        pytest.skip(f"{', '.join(missing)} cannot be installed here: needs Debian's {' '.join(packages)} (apt-get as root)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, what: str, process: subprocess.Popen | None = None, seconds: float = 120) -> None:
    """Poll `ready()` until it is true; fail with the process's output if it exits or time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {output[-3000:]}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} was not ready within {seconds:.0f} s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _as_postgres_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}")


@contextmanager
def postgres_server(database: str = "lingshu", user: str = "lingshu") -> Iterator[str]:
    """A throw-away PostgreSQL cluster listening on 127.0.0.1 only; yields its SQLAlchemy URL.

    Its folder is a fresh one under the system temp dir (not pytest's, which only root may enter).
    """
    initdb, pg_ctl, createdb = debian_programs(["postgresql"], ["initdb", "pg_ctl", "createdb"],
                                               search=["/usr/lib/postgresql/*/bin"])
    root = Path(tempfile.mkdtemp(prefix="lingshu-pg-"))
    data, sockets = root / "data", root / "sockets"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (root, data, sockets):
            shutil.chown(path, "postgres", "postgres")
    port = free_port()
    try:
        _run(_as_postgres_user([initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"]))
        _run(_as_postgres_user([pg_ctl, "-D", str(data), "-l", str(root / "postgres.log"), "-w", "-t", "60", "start",
                                "-o", f"-h 127.0.0.1 -p {port} -k {sockets}"]))
        try:
            _run(_as_postgres_user([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", user, database]))
            yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
        finally:
            subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

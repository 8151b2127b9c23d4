"""A throwaway PostgreSQL server for the multi-worker tuning tests (issue 11).

Nothing is installed here: when Debian's ``postgresql`` package (``initdb``, ``pg_ctl``,
``createdb`` on ``PATH`` or in ``/usr/lib/postgresql/*/bin``) and the ``psycopg2`` driver
(``pip install '.[postgres]'``) are present, the session starts one cluster in a fresh
temporary folder, listening on a Unix socket in that folder only (no TCP port, so parallel
sessions never collide), with ``trust`` authentication for the user ``postgres``. As root,
the server runs as the system user ``postgres`` (``initdb`` refuses to run as root). When
something is missing, the tests that ask for it are skipped with the reason.

Fixtures:
    postgres_server: the session's :class:`PostgresServer`.
    postgres_url: a SQLAlchemy URL of a fresh, empty database on that server, one per test:
        ``postgresql+psycopg2://postgres@/<db>?host=<socket folder>``.

Outside pytest (the benchmark), ``with PostgresServer.start() as server: server.new_url()``;
it raises :class:`PostgresUnavailable` with the reason when the server cannot be started.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

_TOOLS = ("initdb", "pg_ctl", "createdb")
_START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server cannot be started here (the message says why)."""


def _bin_dir() -> str:
    on_path = [shutil.which(t) for t in _TOOLS]
    if all(on_path):
        return os.path.dirname(os.path.realpath(on_path[0]))
    # Debian keeps the server tools off PATH, one folder per major version; take the newest
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else -1)
    for d in reversed(versions):
        if all(os.access(os.path.join(d, t), os.X_OK) for t in _TOOLS):
            return d
    raise PostgresUnavailable("PostgreSQL server tools (initdb, pg_ctl) not found; "
                              "on Debian/Ubuntu: apt-get install -y postgresql")


@dataclass
class PostgresServer:
    """One running cluster: its folder (data, log and socket) and the user that runs it."""

    root: str
    bin_dir: str
    uid: int | None  # run the tools as this user (None: as ourselves)
    gid: int | None
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False)

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    def _run(self, tool: str, *args: str, timeout: float = _START_TIMEOUT_S) -> None:
        cmd = [os.path.join(self.bin_dir, tool), *args]
        kw = {} if self.uid is None else {"user": self.uid, "group": self.gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "PGHOST": self.root, "PGUSER": "postgres"}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=self.root, **kw)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailable(f"{tool} failed (exit {done.returncode}): {' | '.join(tail)}")

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (Unix socket, no password)."""
        return f"postgresql+psycopg2://postgres@/{database}?host={self.root}"

    def new_url(self) -> str:
        """Create a fresh empty database and return its URL."""
        name = f"mdm_ot_{next(self._names)}"
        self._run("createdb", "-h", self.root, "-U", "postgres", name)
        return self.url(name)

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[PostgresServer]:
        """Start a cluster in a new temporary folder; stop it and remove the folder on exit."""
        try:
            import psycopg2  # noqa: F401  (the driver the URLs name)
        except ImportError:
            raise PostgresUnavailable("the psycopg2 driver is not installed: "
                                      "pip install '.[postgres]' (psycopg2-binary)") from None
        bin_dir = _bin_dir()
        uid = gid = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no 'postgres' user "
                                          "(initdb refuses root)") from None
            uid, gid = pw.pw_uid, pw.pw_gid
        # a short path under /tmp: a Unix socket path must stay under ~100 bytes
        root = tempfile.mkdtemp(prefix="mdm-ot-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
        if uid is not None:
            os.chown(root, uid, gid)
        server = cls(root, bin_dir, uid, gid)
        started = False
        try:
            server._run("initdb", "-D", server.data_dir, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync", "--no-instructions")
            opts = (f"-c listen_addresses='' -c unix_socket_directories='{root}' "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            server._run("pg_ctl", "-D", server.data_dir, "-l", os.path.join(root, "server.log"),
                        "-o", opts, "-w", "-t", str(_START_TIMEOUT_S), "start",
                        timeout=_START_TIMEOUT_S + 10)
            started = True
            yield server
        finally:
            if started:
                with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                    server._run("pg_ctl", "-D", server.data_dir, "-m", "immediate", "-w", "stop")
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skips the test when it cannot be started)."""
    try:
        with PostgresServer.start() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A SQLAlchemy URL of a fresh empty database (one per test)."""
    return postgres_server.new_url()

"""A throwaway PostgreSQL server for the test suite and the benchmarks (SPEC 5).

Finds the binaries (`pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin, else PATH), makes a cluster in a fresh temp dir
with `initdb -A trust -U postgres`, and starts it on 127.0.0.1 at a free port
(another one if that port is taken) with its sockets in the temp dir and
fsync off. As root, initdb and pg_ctl run as the `postgres` system user
through `runuser` (PostgreSQL refuses to run as root); the user is created
if it does not exist.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"

#: No commit waits for the disk: fine for throwaway test clusters, never for data.
_UNSAFE_FAST = ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(result.stdout.strip())
        if result.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    versions = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        if (path / "initdb").exists() and re.fullmatch(r"\d+(\.\d+)?", path.parent.name):
            versions.append((float(path.parent.name), path))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise PostgresNotFound(
        "no PostgreSQL server binaries found (tried `pg_config --bindir`, "
        "/usr/lib/postgresql/*/bin and PATH): install them, e.g. "
        "`apt-get install -y postgresql`, or set BGJOBS_TEST_DATABASE_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


@dataclass
class PostgresServer:
    """One running cluster; `stop()` removes it and its directory."""

    bindir: Path
    root: Path
    port: int
    as_user: str | None  # run the binaries as this user (when we are root)
    max_connections: int = 200

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @classmethod
    def start_new(
        cls, *, max_connections: int = 200, durable: bool = False, trust_from: str | None = None
    ) -> PostgresServer:
        """Make and start a fresh cluster (fsync off unless `durable`: the server's defaults).

        With `trust_from` (a CIDR such as 10.200.0.0/16) the server listens on
        every address and lets clients from there in without a password.
        """
        bindir = find_bindir()
        user = _ensure_server_user() if os.geteuid() == 0 else None
        as_user = user.pw_name if user is not None else None
        # Not under pytest's tmp dirs: those are private to root (mode 0700),
        # and the server user must be able to reach its data directory.
        root = Path(tempfile.mkdtemp(prefix="bgjobs-pg-"))
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server = cls(bindir=bindir, root=root, port=0, as_user=as_user)
        try:
            server._run(
                "initdb", "-D", str(server.datadir), "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
            if trust_from is not None:
                with open(server.datadir / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {trust_from} trust\n")
            server._start(
                max_connections, durable=durable, listen="*" if trust_from else "127.0.0.1"
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        if self.as_user is not None:
            return ["runuser", "-u", self.as_user, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> str:
        result = subprocess.run(
            self._command(program, *args), capture_output=True, text=True, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self._log_tail()}"
            )
        return result.stdout

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + "\n".join(self.logfile.read_text().splitlines()[-20:])
        except OSError:
            return ""

    def _options(
        self, max_connections: int, *, durable: bool = False, listen: str = "127.0.0.1"
    ) -> str:
        return " ".join(
            [
                f"-c listen_addresses='{listen}'",
                f"-c port={self.port}",
                f"-c unix_socket_directories={shlex.quote(str(self.root))}",
                f"-c max_connections={max_connections}",
            ]
            + ([] if durable else _UNSAFE_FAST)
        )

    def _start(
        self, max_connections: int, *, durable: bool = False, listen: str = "127.0.0.1"
    ) -> None:
        last_error: Exception | None = None
        self.max_connections = max_connections
        for _ in range(8):
            self.port = _free_port()
            options = self._options(max_connections, durable=durable, listen=listen)
            try:
                self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile), "-o", options)
                return
            except RuntimeError as exc:
                last_error = exc
                log = self._log_tail()
                if "could not bind" not in log and "already in use" not in log:
                    raise
                # Another process took the port between our probe and the bind.
        raise RuntimeError(f"could not start PostgreSQL on a free port: {last_error}")

    def pg_ctl(self, *args: str) -> str:
        """Run pg_ctl on this cluster (as the server user when we are root)."""
        return self._run("pg_ctl", "-D", str(self.datadir), *args)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut, the server comes back."""
        self.pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.logfile))

    def shut_down(self) -> None:
        """`pg_ctl stop -m fast`: an outage; `start_again()` ends it on the same port."""
        self.pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    def start_again(self) -> None:
        """Start the cluster stopped by shut_down(), on the same port."""
        options = self._options(self.max_connections)
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile), "-o", options)

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "60")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (a plain identifier); returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

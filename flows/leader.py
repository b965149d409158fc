"""Exactly one active scheduler: a lease that one ``duban run`` process holds at a time.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection kept
  open for as long as the process leads. When the process dies, its connection closes and the
  server releases the lock at once; when its host vanishes, the server notices through TCP
  keepalives (about 30 s with the settings below).
- SQLite: an exclusive ``flock`` on a file beside the database, which the kernel releases when
  the process dies.

A standby process tries to take the lease every ``lease_check_seconds``, so a successor takes
over within that time of the lock's release.
"""

import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

# Set on the lock's session: the server probes an idle client every 5 s after 10 s of silence and
# drops it after 3 unanswered probes or 25 s of unacknowledged data; a lease check that hangs
# (a half-open connection) gives up after 10 s instead of holding the leader in a dead lease.
_SERVER_SIDE_WATCH = (
    "set tcp_keepalives_idle = 10",
    "set tcp_keepalives_interval = 5",
    "set tcp_keepalives_count = 3",
    "set tcp_user_timeout = 25000",
    "set statement_timeout = 10000",
)

# One lock per schema: a database may hold several duban installations in schemas of their own.
_LOCK_KEY_SQL = "hashtext(current_schema() || '/duban-scheduler')"


class Lease(Protocol):
    def acquire(self) -> bool:
        """Take the lease if it is free; True when this process now holds it."""

    def held(self) -> bool:
        """Whether this process still holds the lease (its connection or file is alive)."""

    def release(self) -> None: ...

    def describe(self) -> str: ...


class AdvisoryLockLease:
    """A PostgreSQL advisory lock held on a connection of its own."""

    def __init__(self, engine: Engine) -> None:
        # A connection of its own, outside the pool. Both ends watch it: libpq's keepalives and
        # user timeout notice a vanished server, and the session settings below make the server
        # end the session (freeing the lock) when this host vanishes, after about 25 s, rather
        # than after the operating system's default of over two hours.
        self.engine = create_engine(
            engine.url,
            poolclass=NullPool,
            connect_args={
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": 25_000,
                "connect_timeout": 10,
            },
        )
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return self.held()
        try:
            connection = self.engine.connect()
        except DBAPIError:
            return False  # the database is unreachable: stay standby and try again
        try:
            for setting in _SERVER_SIDE_WATCH:
                connection.execute(text(setting))
            got = connection.execute(text(f"select pg_try_advisory_lock({_LOCK_KEY_SQL})")).scalar()
            connection.commit()
        except DBAPIError:
            connection.close()
            return False  # the database is unreachable: stay standby and try again
        if got:
            self._connection = connection
        else:
            connection.close()
        return bool(got)

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            held = self._connection.execute(
                text(
                    "select count(*) from pg_locks where locktype = 'advisory' "
                    "and pid = pg_backend_pid() and granted"
                )
            ).scalar()
            self._connection.commit()
        except DBAPIError:
            self._drop()
            return False
        if not held:
            self._drop()
        return bool(held)

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text(f"select pg_advisory_unlock({_LOCK_KEY_SQL})"))
            self._connection.commit()
        except DBAPIError:
            pass  # the connection is gone, and with it the lock
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # never return a connection that held the lock
                self._connection.close()
            except DBAPIError:
                pass
        self._connection = None

    def describe(self) -> str:
        return "a PostgreSQL advisory lock"


class FileLease:
    """An exclusive lock on a file, for SQLite databases (one machine by nature)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who leads, for a curious administrator
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def describe(self) -> str:
        return f"a lock on {self.path}"


def lease_for(engine: Engine, state_dir: Path) -> Lease:
    """The lease that fits the database: an advisory lock on PostgreSQL, a file lock on SQLite."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return AdvisoryLockLease(engine)
    database = url.database
    if database and database != ":memory:":
        return FileLease(Path(database).with_name(Path(database).name + ".scheduler.lock"))
    return FileLease(state_dir / "scheduler.lock")

"""The PostgreSQL store's connections: opened on demand, kept idle for reuse, tested when they may be stale.

No background reconnection: while the database is down each caller fails at once (connection refused) and the
service answers 503, and the first call after it is back connects afresh. (psycopg_pool instead retries with
back-off of 1, 2, 4 ... s and makes callers wait for it, which slows both the 503s and the recovery.)
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from camserve.service.stores.base import DuplicateResult, StoreUnavailable

__all__ = ["CONNECT_TIMEOUT_S", "MAX_IDLE_CONNECTIONS", "STALE_AFTER_S", "STATEMENT_TIMEOUT_MS", "Connections"]

CONNECT_TIMEOUT_S = 2
# Past this, a query is given up and the request answered 503: a hung database must not hang requests.
STATEMENT_TIMEOUT_MS = 10_000
# An idle connection older than this is tested before use: a database restart breaks every idle one.
STALE_AFTER_S = 1.0
MAX_IDLE_CONNECTIONS = 8


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UniqueViolation as error:
        raise DuplicateResult(str(error)) from error
    except (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.ReadOnlySqlTransaction) as error:
        # OperationalError includes DiskFull; a read-only transaction is a standby after a fail-over, or a
        # database set read-only (default_transaction_read_only): writes may succeed again later.
        raise StoreUnavailable(f"PostgreSQL: {error}".strip()) from error


class Connections:
    """Connections to one database, each committing durably (``synchronous_commit=on``) before it returns."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c synchronous_commit=on -c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )

    def _take(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, idle_since = self._idle.pop()
            if time.monotonic() - idle_since < STALE_AFTER_S:
                return connection
            try:
                connection.execute("SELECT 1")
            except psycopg.Error:
                connection.close()
                continue
            return connection
        return self._connect()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in autocommit mode; writers open ``connection.transaction()`` themselves. Errors come
        out as the store's: ``DuplicateResult``, or ``StoreUnavailable`` for a database that cannot be reached."""
        with _translated_errors():
            connection = self._take()
            try:
                yield connection
            except BaseException:
                connection.close()  # in an unknown state: never reused
                raise
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS and not connection.closed:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()

"""The PostgreSQL store's tables, and the migrations that bring a database to them.

Migration n brings the database from version n - 1 to n; append, never edit. Each replica runs the missing
ones at start-up, in one transaction under an advisory lock: replicas starting together take turns, and the
later ones find nothing left to do.
"""

import threading

from camserve.service.stores._postgresql_connections import Connections

__all__ = ["MIGRATIONS", "WRITE_PROBE_INSERT", "Schema"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE predictions (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        result text NOT NULL,
        photo bytea,
        photo_key text,
        class_maps bytea NOT NULL,
        size bigint NOT NULL,
        created double precision NOT NULL,
        CHECK ((photo IS NULL) <> (photo_key IS NULL))
    );
    CREATE INDEX predictions_created ON predictions (created);
    CREATE TABLE store_usage (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        total_bytes bigint NOT NULL
    );
    INSERT INTO store_usage (total_bytes) VALUES (0);
    CREATE TABLE orphan_blobs (key text PRIMARY KEY, due double precision NOT NULL);
    """,
)
# Where readiness writes to learn that the database takes writes (``PostgresStore._probe_write``). Not a
# migration: it holds nothing between probes, and replicas of a camserve from before it, which refuse a newer
# schema version, still start beside the new ones during a rolling upgrade.
_WRITE_PROBE_TABLE = """
    CREATE TABLE IF NOT EXISTS write_probe (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        payload bytea NOT NULL
    )
"""
WRITE_PROBE_INSERT = "INSERT INTO write_probe (payload) VALUES (%s) RETURNING id"
_MIGRATION_LOCK = 0x63616D7365727665  # "camserve": the advisory lock replicas migrate under
_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS camserve_schema (version integer PRIMARY KEY, applied_at timestamptz DEFAULT now())"
)


class Schema:
    """Runs the missing migrations once per process, refusing a database newer than this code. Until a call
    succeeds (the database may come up after the service), every call tries again."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._migrated = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        with self._lock:
            if self._migrated:
                return
            with self._connections.connection() as connection, connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                connection.execute(_SCHEMA_TABLE)
                row = connection.execute("SELECT COALESCE(max(version), 0) FROM camserve_schema").fetchone()
                version: int = row[0] if row else 0
                if version > len(MIGRATIONS):
                    known = len(MIGRATIONS)
                    raise RuntimeError(f"the database has schema version {version}; this camserve knows {known}")
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    connection.execute(MIGRATIONS[number - 1].encode())
                    connection.execute("INSERT INTO camserve_schema (version) VALUES (%s)", (number,))
                connection.execute(_WRITE_PROBE_TABLE.encode())
            self._migrated = True

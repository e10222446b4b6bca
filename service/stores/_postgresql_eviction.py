"""The PostgreSQL store's size bound, shared by every replica: the running total, eviction, deleting rows.

Replicas share the bound, so the running total is a row of its own (``store_usage``), and every writing
transaction locks that row before it touches any row another transaction can see: writers from every replica
take turns (one group commit each), eviction always sees the true total, and no two writers can deadlock.
Rows are evicted oldest first by their sequence number.
"""

from typing import Any

import psycopg

from camserve.service.stores._postgresql_photos import record_orphans

__all__ = ["EVICTION_BATCH", "delete_counted", "evict", "locked_total"]

EVICTION_BATCH = 256
_LOCK_USAGE = "SELECT total_bytes FROM store_usage FOR UPDATE"

DeletedRow = tuple[str, int, str | None]  # id, size, bucket key


def locked_total(connection: psycopg.Connection[Any]) -> int:
    """The stored total, with its row locked until the transaction ends: every writer takes this first."""
    row = connection.execute(_LOCK_USAGE).fetchone()
    return int(row[0]) if row else 0


def evict(connection: psycopg.Connection[Any], total: int, max_bytes: int, newest_seq: int | None) -> list[str]:
    """Delete the oldest rows until ``total`` fits in ``max_bytes`` (rows from ``newest_seq`` on are never
    victims), record the new total, and return the bucket keys to delete once this commits. Inside a
    transaction that took ``locked_total``."""
    excess = total - max_bytes
    victims: list[int] = []
    freed = 0
    after = 0
    while freed < excess:
        batch = connection.execute(
            "SELECT seq, size FROM predictions WHERE seq > %s AND seq < %s ORDER BY seq LIMIT %s",
            (after, newest_seq, EVICTION_BATCH),
        ).fetchall()
        if not batch:
            break
        for seq, size in batch:
            victims.append(seq)
            freed += size
            if freed >= excess:
                break
        after = batch[-1][0]
    keys = _delete_rows(connection, "seq = ANY(%s)", (victims,)) if victims else []
    connection.execute("UPDATE store_usage SET total_bytes = %s", (total - freed,))
    return [key for _, _, key in keys if key is not None]


def delete_counted(connection: psycopg.Connection[Any], where: str, parameters: tuple[Any, ...]) -> list[DeletedRow]:
    """Delete the rows ``where`` selects and take their bytes off the total, in one transaction."""
    with connection.transaction():
        locked_total(connection)
        rows = _delete_rows(connection, where, parameters)
        freed = sum(size for _, size, _ in rows)
        if freed:
            connection.execute("UPDATE store_usage SET total_bytes = total_bytes - %s", (freed,))
    return rows


def _delete_rows(connection: psycopg.Connection[Any], where: str, parameters: tuple[Any, ...]) -> list[DeletedRow]:
    """Delete the rows ``where`` selects and record their bucket keys as orphans, due at once."""
    rows: list[DeletedRow] = connection.execute(
        f"DELETE FROM predictions WHERE {where} RETURNING id, size, photo_key", parameters
    ).fetchall()
    record_orphans(connection, [key for _, _, key in rows if key is not None])
    return rows

"""Coordinating several scrubctl processes through the database itself.

MySQL/MariaDB: one named lock per image (``GET_LOCK`` with no wait), held by the worker's
connection; it dies with the connection, so a killed process never leaves a stale claim. Another
run's image is simply not claimed and is left out. SQLite: the batch runs inside ``BEGIN IMMEDIATE``,
which holds the database's write lock; other processes wait for that batch, then see its result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, text

LOCK_PREFIX = "scrubctl-image-"  # + 36-character id: within MySQL's 64-character limit


def lock_name(image_id: str) -> str:
    """The named lock that guards one image."""
    return f"{LOCK_PREFIX}{image_id}"


@contextmanager
def claimed(connection: Connection, image_ids: Sequence[str], *, wait_seconds: int = 0) -> Iterator[set[str]]:
    """Claim ``image_ids`` for the duration of the block; yield the ones this connection holds.

    Must be entered outside a transaction; the block opens its own (``connection.begin()``).
    """
    if connection.dialect.name != "mysql":
        # SQLite: the write transaction the block opens is the claim.
        connection.execution_options(sqlite_write=True)
        yield set(image_ids)
        return
    held: set[str] = set()
    try:
        if image_ids:
            calls = ", ".join(f"GET_LOCK(:name{index}, :wait)" for index in range(len(image_ids)))
            names = {f"name{index}": lock_name(image_id) for index, image_id in enumerate(image_ids)}
            row = connection.execute(text(f"SELECT {calls}"), {**names, "wait": wait_seconds}).one()
            held = {image_id for image_id, got in zip(image_ids, row, strict=True) if got == 1}
        connection.commit()
        yield held
    finally:
        if connection.in_transaction():
            connection.rollback()
        if held:
            calls = ", ".join(f"RELEASE_LOCK(:name{index})" for index in range(len(held)))
            names = {f"name{index}": lock_name(image_id) for index, image_id in enumerate(sorted(held))}
            connection.execute(text(f"SELECT {calls}"), names)
            connection.commit()

"""Telling a transaction another writer won from a database that is gone, and retrying the first.

On a MariaDB Galera cluster row locks are node-local: two nodes' transactions that touch the same
row both run, and the one certified second fails, usually at COMMIT, with error 1213 (or 1020 when a
replicated write changed a row it had read). That is a lost race, not an outage: the whole
transaction is run again, a bounded number of times with growing, jittered waits (as oslo.db's
``wrap_db_retry`` does). A lost connection, a server that cannot be reached, or a node outside the
primary component (1047) is an outage and is never retried here. Which errors are which is the
server kind's to say (:mod:`scrubctl.glance.servers`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.glance.servers import is_conflict as is_conflict  # its home before servers/
from scrubctl.glance.servers import is_unreachable as is_unreachable  # its home before servers/
from scrubctl.glance.servers import server_kind

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ConflictLostError(Exception):
    """Another writer won every attempt at a transaction."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a conflicting transaction is run again."""

    attempts: int = 12
    first_wait: float = 0.01
    longest_wait: float = 1.0

    def wait(self, attempt: int) -> float:
        """The pause before attempt ``attempt + 1`` (full jitter on an exponential ceiling)."""
        ceiling = min(self.longest_wait, self.first_wait * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


DEFAULT_POLICY = RetryPolicy()


def run_transaction(
    connection: Connection,
    work: Callable[[Connection], T],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    retry_duplicate_key: bool = False,
    what: str = "transaction",
) -> T:
    """Run ``work`` in a transaction on ``connection`` and commit; run it again when another writer won.

    ``work`` must be safe to repeat from the start (it reads what it decides on inside the
    transaction). Raises :class:`ConflictLostError` when every attempt lost, and any other database
    error at once. ``connection`` must not be in a transaction.
    """
    kind = server_kind(connection)
    for attempt in range(policy.attempts):
        try:
            with connection.begin():
                return work(connection)
        except DBAPIError as error:
            if not (kind.is_conflict(error) or (retry_duplicate_key and kind.is_duplicate_key(error))):
                raise
            if attempt + 1 == policy.attempts:
                raise ConflictLostError(f"{what}: another writer won {policy.attempts} times in a row") from error
            pause = policy.wait(attempt)
            logger.debug("%s lost to another writer (error %s); again in %.3f s", what, kind.error_code(error), pause)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

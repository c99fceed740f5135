"""One run's state: its report, its claims, the stores and database found unreachable, the audit trail's health.

A :class:`~scrubctl.engine.runner.ScrubRunner` makes a new :class:`RunState` for every run, so that
nothing one run found (a store down, a broken audit trail) carries over to the next.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from scrubctl.backends import DeleterPool
from scrubctl.coordination.claims import ClaimSession
from scrubctl.engine.model import ImageResult, Observer, Report
from scrubctl.glance.database import GlanceDatabase, describe_db_error
from scrubctl.unattended.audit import AuditLogError, AuditTrail

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunTools:
    """What every run of a runner uses: the database, the deleters, the observer, the audit trail
    and the stop signal (set by SIGTERM, see :mod:`~scrubctl.unattended.signals`)."""

    database: GlanceDatabase
    deleters: DeleterPool
    observer: Observer
    audit: AuditTrail
    stop: threading.Event


@dataclass
class RunState:
    """What one run has found and holds, shared by its lanes and erase threads (under ``lock``).

    ``claims`` is ``None`` exactly when ``dry_run`` is set or nothing is to be done; ``dry_run`` is
    what every destructive decision reads (the erase threads pass it on to ``Deleter.erase``).
    """

    tools: RunTools
    report: Report
    dry_run: bool
    claims: ClaimSession | None = None
    erase_pool: Executor | None = None  # erase threads shared by the lanes, while the run lasts
    erasers: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    unreachable: set[str] = field(default_factory=set)
    # Stores found unreachable in this run: their other locations fail at once, not after a timeout each.
    down_stores: dict[str, str] = field(default_factory=dict)
    audit_broken: bool = False  # an audit line could not be written (said once)

    def stopping(self) -> bool:
        """Whether to take no more work: a signal, or a database given up on (see :mod:`~scrubctl.glance.outage`)."""
        return self.tools.stop.is_set() or self.tools.database.outage is not None

    def database_problem(self, error: Exception) -> str:
        """The line that describes ``error``: the database's outage when there is one (every lane
        then reports the same), else the error itself."""
        outage = self.tools.database.outage
        if outage is not None:
            return outage
        return describe_db_error(error) if isinstance(error, DBAPIError) else str(error)

    def database_unreachable(self, message: str) -> bool:
        """Note the database as unreachable for ``message``; return whether this is the first time."""
        line = f"database: {message}"
        with self.lock:
            first = line not in self.unreachable
            self.unreachable.add(line)
        return first

    def store_unreachable(self, store: str | None, reason: str) -> None:
        """Note ``store`` as unreachable: its other locations in this run fail at once with ``reason``."""
        with self.lock:
            self.unreachable.add(f"store {store}: {reason}")
            self.down_stores.setdefault(store or "", reason)

    def store_down(self, store: str | None) -> str | None:
        """Why ``store`` was found unreachable earlier in this run, or ``None``."""
        with self.lock:
            return self.down_stores.get(store or "")

    def may_erase(self, image_id: str) -> bool:
        """Whether this run may still erase ``image_id``: its claim was renewed in time (always in a dry run)."""
        return self.dry_run or self.claims is None or self.claims.may_erase(image_id)

    def count(self, *, taken_by_other_run: int = 0, not_started: int = 0) -> None:
        """Add to the summary's counts of images left to other runs and images not started."""
        with self.lock:
            self.report.summary.taken_by_other_run += taken_by_other_run
            self.report.summary.not_started += not_started

    def finish(self, result: ImageResult) -> None:
        """Report one image's result (once it is recorded) and tell the observer."""
        with self.lock:
            self.report.images.append(result)
            self.report.summary.count(result)
        self.tools.observer.image_finished(result)

    def audit(self, action: str, fields: dict[str, Any]) -> str | None:
        """Write one audit line; when it cannot be written, say so once (one line, exit 3) and return why."""
        try:
            self.tools.audit.record(action, fields)
        except AuditLogError as error:
            with self.lock:
                first, self.audit_broken = not self.audit_broken, True
                self.unreachable.add(str(error))
            if first:
                logger.error("%s; nothing is erased or recorded without its audit line", error)
            return str(error)
        return None

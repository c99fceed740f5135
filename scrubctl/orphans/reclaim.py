"""``orphans --reclaim``: erase orphans on the scrub's path: plan, claim, re-check, audit, erase.

The plan is every orphan that is old enough and not ``unlinked``; those with blockers (clones, watchers,
trash, undecryptable rows) are reported ``blocked``. Pieces go in batches: each batch is claimed in
``scrubctl_claims`` (the subject is the image id the piece's name carries, so a restore or a repair of
that image and a reclaim exclude one another; otherwise a hash of its normalised URL), then re-checked
inside the database in one query (the URL texts Glance writes for the batch, plus every encrypted row
decrypted), then each piece still needed by nothing is erased through its store's deleter, with an
audit line before and after. A dry run takes no claims and stops at ``Deleter.erase(dry_run=True)``.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.backends.base import EraseOutcome, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import Inventory
from scrubctl.coordination.claims import DEFAULT_TIMEOUT_SECONDS, ClaimSession
from scrubctl.coordination.conflicts import ConflictLostError, run_transaction
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_INCOMPLETE, EXIT_OK, BackendUnavailableError, RefusedError
from scrubctl.glance.database import GlanceDatabase, describe_db_error
from scrubctl.orphans.model import IN_FLIGHT, UNLINKED, UNPROTECTED_BY_ID, Orphan, OrphanScan
from scrubctl.orphans.rows import KeyMaker, image_statuses, recheck_use
from scrubctl.unattended.audit import AuditTrail, NullAudit

logger = logging.getLogger(__name__)

BATCH = 50


class ReclaimResult(str, enum.Enum):
    """The result of one piece."""

    RECLAIMED = "reclaimed"
    WOULD_RECLAIM = "would_reclaim"
    BLOCKED = "blocked"
    FAILED = "failed"


@dataclass(frozen=True)
class ReclaimOptions:
    """How to reclaim."""

    dry_run: bool
    max_delete: int | None = None
    encrypted_rows: bool = False
    claim_timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class PieceResult:
    """What happened to one orphan."""

    orphan: Orphan
    result: ReclaimResult
    reason: str = ""
    bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of one piece."""
        return {
            "store": self.orphan.store.label,
            "url": self.orphan.url,
            "kind": self.orphan.kind,
            "bytes": self.bytes if self.bytes is not None else self.orphan.bytes,
            "result": self.result.value,
            "reason": self.reason,
        }


@dataclass
class ReclaimReport:
    """Every piece's result and the counts of the run."""

    dry_run: bool
    pieces: list[PieceResult] = field(default_factory=list)
    taken_by_other_run: int = 0
    unreachable: set[str] = field(default_factory=set)
    duration_seconds: float = 0.0

    def count(self, result: ReclaimResult) -> int:
        """How many pieces ended with ``result``."""
        return sum(1 for piece in self.pieces if piece.result is result)

    def bytes_of(self, result: ReclaimResult) -> int:
        """The bytes of the pieces that ended with ``result``."""
        return sum(piece.bytes or 0 for piece in self.pieces if piece.result is result)

    @property
    def exit_code(self) -> int:
        """As for scrub: 3 a store or the database unreachable; 1 something blocked or failed; else 0."""
        if self.unreachable:
            return EXIT_ENVIRONMENT
        if self.count(ReclaimResult.BLOCKED) or self.count(ReclaimResult.FAILED):
            return EXIT_INCOMPLETE
        return EXIT_OK

    def summary(self) -> dict[str, Any]:
        """The counts of this run."""
        return {
            "dry_run": self.dry_run,
            "selected": len(self.pieces) + self.taken_by_other_run,
            "reclaimed": self.count(ReclaimResult.RECLAIMED),
            "would_reclaim": self.count(ReclaimResult.WOULD_RECLAIM),
            "blocked": self.count(ReclaimResult.BLOCKED),
            "failed": self.count(ReclaimResult.FAILED),
            "taken_by_other_run": self.taken_by_other_run,
            "bytes_reclaimed": self.bytes_of(ReclaimResult.RECLAIMED),
            "bytes_would_reclaim": self.bytes_of(ReclaimResult.WOULD_RECLAIM),
            "unreachable": sorted(self.unreachable),
            "duration_seconds": round(self.duration_seconds, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``orphans --reclaim -f json``."""
        return {"summary": self.summary(), "orphans": [piece.as_dict() for piece in self.pieces]}


def reclaim_plan(scan: OrphanScan, max_delete: int | None) -> list[Orphan]:
    """The orphans a reclaim run takes: old enough and not ``unlinked`` (blocked ones are reported)."""
    plan = [orphan for orphan in scan.orphans if orphan.kind != UNLINKED and not orphan.too_young]
    erasable = sum(1 for orphan in plan if orphan.reclaimable)
    if max_delete is not None and erasable > max_delete:
        raise RefusedError(
            f"refusing to start: {erasable} orphan(s) are reclaimable, more than --max-delete {max_delete}"
        )
    return plan


def reclaim_orphans(
    database: GlanceDatabase, keys: KeyMaker, scan: OrphanScan, options: ReclaimOptions, *, audit: AuditTrail | None
) -> ReclaimReport:
    """Reclaim the plan of ``scan``; return the report (nothing changes with ``options.dry_run``)."""
    started = time.monotonic()
    plan = reclaim_plan(scan, options.max_delete)
    report = ReclaimReport(dry_run=options.dry_run)
    work = Reclaimer(keys, options, audit or NullAudit(), report, database)
    for orphan in plan:
        if not orphan.reclaimable:
            report.pieces.append(PieceResult(orphan, ReclaimResult.BLOCKED, "; ".join(orphan.blockers)))
    erasable = [orphan for orphan in plan if orphan.reclaimable]
    with database.connect() as connection:
        if options.dry_run or not erasable:
            work.batches(connection, erasable, None)
        else:
            connection.execution_options(sqlite_write=True)
            with ClaimSession(database.engine, purpose="reclaim", timeout_seconds=options.claim_timeout) as claims:
                work.batches(connection, erasable, claims)
    report.duration_seconds = time.monotonic() - started
    return report


class Reclaimer:
    """Claims, re-checks and erases batches of orphans."""

    def __init__(
        self,
        keys: KeyMaker,
        options: ReclaimOptions,
        audit: AuditTrail,
        report: ReclaimReport,
        database: GlanceDatabase,
    ) -> None:
        self.keys = keys
        self.options = options
        self.audit = audit
        self.report = report
        self.database = database

    def batches(self, connection: Connection, erasable: Sequence[Orphan], claims: ClaimSession | None) -> None:
        """Every batch in turn, until the database is given up on (the pieces left are failed, with one line)."""
        database = self.database
        for start in range(0, len(erasable), BATCH):
            if database.outage is not None:
                logger.error("database unreachable: %s; %d piece(s) left", database.outage, len(erasable) - start)
                self._failed(erasable[start:], f"database: {database.outage}")
                return
            self.batch(connection, erasable[start : start + BATCH], claims)
        if database.outage is not None:  # the last batch met it
            logger.error("database unreachable: %s", database.outage)
            self.report.unreachable.add(f"database: {database.outage}")

    def batch(self, connection: Connection, batch: Sequence[Orphan], claims: ClaimSession | None) -> None:
        """One batch: claim (not in a dry run), re-check, erase what nothing needs."""
        subjects = [orphan.subject for orphan in batch]
        try:
            held = set(subjects) if claims is None else claims.take(connection, subjects)
        except ConflictLostError:
            held = set()
        except DBAPIError as error:  # nothing of the batch is taken
            self._failed(batch, self._database_reason(error))
            return
        mine = [orphan for orphan in batch if orphan.subject in held]
        self.report.taken_by_other_run += len(batch) - len(mine)
        try:
            needs = run_transaction(connection, lambda current: self._needed(current, mine), what="re-check")
            for orphan in mine:
                reason = needs.get(orphan.piece.key)
                if reason is not None:
                    self.report.pieces.append(PieceResult(orphan, ReclaimResult.BLOCKED, reason))
                    continue
                self._erase(orphan, claims)
        except (DBAPIError, ConflictLostError) as error:
            if isinstance(error, DBAPIError):
                self._failed(mine, self._database_reason(error))
            else:
                self._failed(mine, f"database: {error}", unreachable=False)
        finally:
            if claims is not None and held:
                claims.release(connection, held)

    def _database_reason(self, error: DBAPIError) -> str:
        """``database: WHY``: the outage once the database is given up on (every batch then says the same)."""
        return f"database: {self.database.outage or describe_db_error(error)}"

    def _failed(self, orphans: Sequence[Orphan], reason: str, *, unreachable: bool = True) -> None:
        """Fail those of ``orphans`` without a result yet; ``reason`` names the database when ``unreachable``."""
        if unreachable:
            self.report.unreachable.add(reason)
        done = {id(piece.orphan) for piece in self.report.pieces}
        for orphan in orphans:
            if id(orphan) not in done:
                self.report.pieces.append(PieceResult(orphan, ReclaimResult.FAILED, reason))

    def _needed(self, connection: Connection, batch: Sequence[Orphan]) -> dict[str, str]:
        """Inside the claim: the keys of ``batch`` that a row needs now, with the reason."""
        wanted = {orphan.piece.key for orphan in batch}
        texts = [text for orphan in batch for text in glance_texts(orphan)]
        use = recheck_use(connection, self.keys, wanted, texts, encrypted_rows=self.options.encrypted_rows)
        reasons = dict.fromkeys(use.needed, "a location row needs it now (written since the scan)")
        for orphan in batch:  # never erase what rows were not matched with
            if not self.keys.reads(orphan.scheme):
                reasons.setdefault(orphan.piece.key, f"no inventory matches {orphan.scheme}:// location rows")
        if use.undecryptable:
            for key in wanted:
                reasons.setdefault(key, f"{use.undecryptable} location row(s) cannot be decrypted now")
        statuses = image_statuses(connection, [orphan.image_id for orphan in batch if orphan.image_id])
        for orphan in batch:
            status = statuses.get(orphan.image_id or "")
            if status in IN_FLIGHT or (status is not None and status not in UNPROTECTED_BY_ID):
                reasons.setdefault(orphan.piece.key, f"image {orphan.image_id} is {status} now")
        return reasons

    def _erase(self, orphan: Orphan, claims: ClaimSession | None) -> None:
        dry_run = self.options.dry_run
        fields = {"subject": orphan.subject, "url": orphan.url, "backend": orphan.store.label, "kind": orphan.kind}
        started = False
        try:
            if not isinstance(orphan.deleter, Inventory):
                raise LocationBlocked("no deleter with an inventory for this store")
            if claims is not None and not claims.may_erase(orphan.subject):
                raise LocationFailed("this run's claim could not be renewed in time; not erased")
            if not dry_run:
                self.audit.record("reclaim", {**fields, "result": "started"})
                started = True
            outcome = orphan.deleter.erase_piece(orphan.piece, dry_run=dry_run)
        except (LocationBlocked, LocationFailed, BackendUnavailableError) as error:
            blocked = isinstance(error, LocationBlocked)
            if isinstance(error, BackendUnavailableError):
                self.report.unreachable.add(f"store {orphan.store.label}: {error}")
            if started:
                self.audit.record(
                    "reclaim", {**fields, "result": "blocked" if blocked else "failed", "detail": str(error)}
                )
            result = ReclaimResult.BLOCKED if blocked else ReclaimResult.FAILED
            self.report.pieces.append(PieceResult(orphan, result, str(error)))
            return
        size = outcome.bytes_freed if outcome.bytes_freed is not None else orphan.bytes
        if started:
            self.audit.record(
                "reclaim", {**fields, "result": outcome.outcome.value, "detail": outcome.detail, "bytes": size}
            )
        result = ReclaimResult.WOULD_RECLAIM if outcome.outcome is EraseOutcome.WOULD_ERASE else ReclaimResult.RECLAIMED
        logger.info("%s %s: %s", orphan.url, result.value, outcome.detail)
        self.report.pieces.append(PieceResult(orphan, result, outcome.detail, size))


def glance_texts(orphan: Orphan) -> tuple[str, ...]:
    """The URL texts Glance writes for a piece (its canonical URL and the short forms), as its
    store's inventory names them."""
    if isinstance(orphan.deleter, Inventory):
        return orphan.deleter.location_texts(orphan.piece)
    return (orphan.piece.url,)

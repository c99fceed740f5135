"""Time as Glance keeps it: naive datetimes in UTC, whatever the machine's ``TZ``."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Return the current time as a naive UTC datetime, as Glance stores it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def glance_timestamp(moment: datetime | None = None) -> datetime:
    """Return ``moment`` (default now) as Glance writes it: naive UTC, whole seconds."""
    return (moment or utc_now()).replace(microsecond=0)


def to_naive_utc(moment: datetime) -> datetime:
    """Convert an aware datetime to naive UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def iso_utc(moment: datetime | None) -> str | None:
    """Format a naive UTC datetime as ISO 8601 ending in ``Z`` (``None`` stays ``None``)."""
    if moment is None:
        return None
    if moment.microsecond:
        moment = moment.replace(microsecond=0)
    return moment.isoformat() + "Z"

"""Parse ``--older-than`` values into a cutoff moment (naive UTC).

Accepted forms:

* compact durations: ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` and combinations such as ``1d12h``;
* ISO 8601 durations: ``P7D``, ``PT36H``, ``P1Y2M``, ``P2W``;
* absolute timestamps: ``2026-11-01``, ``2026-11-01T08:00:00Z`` (no zone means UTC), meaning
  "deleted before then".
"""

from __future__ import annotations

import re
from datetime import datetime

from dateutil.parser import isoparse
from dateutil.relativedelta import relativedelta

from scrubctl.errors import BadInputError
from scrubctl.settings.utc import to_naive_utc

ACCEPTED_FORMS = (
    "a duration like 90s, 30m, 12h, 7d, 2w or 1d12h, an ISO 8601 duration like P7D or PT36H, "
    "or a UTC timestamp like 2026-11-01 or 2026-11-01T08:00:00Z"
)

_COMPACT_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_COMPACT_PART = re.compile(r"(\d+)([smhdw])")
_COMPACT_WHOLE = re.compile(r"(?:\d+[smhdw])+")
_ISO_DURATION = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_age(text: str, now: datetime) -> datetime:
    """Return the cutoff (naive UTC) that ``text`` names, relative to ``now`` (naive UTC).

    An image is older than the age when it was deleted at or before the returned moment.
    Raises :class:`BadInputError` naming the accepted forms for anything else.
    """
    value = text.strip()
    duration = _parse_compact(value)
    if duration is None:
        duration = _parse_iso_duration(value)
    if duration is not None:
        try:
            return now - duration
        except (OverflowError, ValueError):
            raise BadInputError(f"age {text!r} is too large") from None
    moment = _parse_timestamp(value)
    if moment is not None:
        return moment
    raise BadInputError(f"invalid age {text!r}: expected {ACCEPTED_FORMS}")


def _parse_compact(value: str) -> relativedelta | None:
    if not _COMPACT_WHOLE.fullmatch(value):
        return None
    amounts: dict[str, int] = {}
    for number, unit in _COMPACT_PART.findall(value):
        name = _COMPACT_UNITS[unit]
        amounts[name] = amounts.get(name, 0) + int(number)
    return _relative(amounts)


def _parse_iso_duration(value: str) -> relativedelta | None:
    match = _ISO_DURATION.fullmatch(value.upper())
    if match is None:
        return None
    seconds_text = match.group("seconds")
    amounts = {name: int(number) for name, number in match.groupdict().items() if number and name != "seconds"}
    result = _relative(amounts)
    if result is not None and seconds_text:
        result += relativedelta(microseconds=round(float(seconds_text) * 1_000_000))
    return result


def _relative(amounts: dict[str, int]) -> relativedelta | None:
    try:
        return relativedelta(**amounts).normalized()  # type: ignore[arg-type]
    except (OverflowError, ValueError):
        raise BadInputError("age is too large") from None


def _parse_timestamp(value: str) -> datetime | None:
    if not value[:4].isdigit():
        return None
    try:
        return to_naive_utc(isoparse(value))
    except (ValueError, OverflowError):
        return None

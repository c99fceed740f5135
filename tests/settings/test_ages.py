from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from scrubctl.errors import BadInputError
from scrubctl.settings.ages import parse_age

NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1d12h", NOW - timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", NOW - timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("P7D", NOW - timedelta(days=7)),
        ("PT36H", NOW - timedelta(hours=36)),
        ("p2w", NOW - timedelta(weeks=2)),
        ("P1M", NOW - relativedelta(months=1)),
        ("P1DT0.5S", NOW - timedelta(days=1, milliseconds=500)),
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T08:00:00Z", datetime(2026, 11, 1, 8)),
        ("2026-11-01T08:00:00", datetime(2026, 11, 1, 8)),
        ("2026-11-01T08:00:00+08:00", datetime(2026, 11, 1, 0)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    assert parse_age(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "7", "7x", "d7", "-7d", "7 d", "P", "PT", "P7", "yesterday", "2026-13-01", "1.5d", "99999999999999d"]
)
def test_rejected_forms_name_what_is_accepted(text: str) -> None:
    with pytest.raises(BadInputError) as raised:
        parse_age(text, NOW)
    message = str(raised.value)
    assert "age" in message
    if "too large" not in message:
        assert "7d" in message and "P7D" in message and "2026-11-01" in message


@given(
    days=st.integers(0, 3000),
    hours=st.integers(0, 100),
    minutes=st.integers(0, 100),
    seconds=st.integers(0, 100),
)
def test_compact_and_iso_agree(days: int, hours: int, minutes: int, seconds: int) -> None:
    compact = f"{days}d{hours}h{minutes}m{seconds}s"
    iso = f"P{days}DT{hours}H{minutes}M{seconds}S"
    expected = NOW - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_age(compact, NOW) == expected
    assert parse_age(iso, NOW) == expected


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_timestamps_round_trip(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_age(moment.isoformat() + "Z", NOW) == moment
    assert parse_age(moment.isoformat(), NOW) == moment

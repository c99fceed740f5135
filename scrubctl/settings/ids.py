"""Validating image ids given on the command line."""

from __future__ import annotations

import re

from scrubctl.errors import BadInputError

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_image_id(text: str) -> str:
    """Return a Glance image id (a UUID, lower-cased), or raise :class:`BadInputError`."""
    candidate = text.strip().lower()
    if not _UUID.fullmatch(candidate):
        raise BadInputError(f"malformed image id {text!r}: expected a UUID like 1b2c3d4e-0000-4000-8000-00000000abcd")
    return candidate

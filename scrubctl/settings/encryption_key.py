"""Glance's ``metadata_encryption_key``: the lengths AES accepts, checked when the settings are read."""

from __future__ import annotations

from scrubctl.errors import ConfigError

VALID_KEY_LENGTHS = (16, 24, 32)


def check_key(key: str) -> bytes:
    """Return the key's bytes, or raise :class:`ConfigError` if AES cannot use it."""
    raw = key.encode("utf-8")
    if len(raw) not in VALID_KEY_LENGTHS:
        raise ConfigError(f"metadata_encryption_key must be 16, 24 or 32 bytes long, not {len(raw)} bytes")
    return raw

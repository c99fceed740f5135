"""The audit trail: one JSON line per action that changed something, durable before the commit.

Each line holds the time (UTC), the host, the action (``erase``, ``trash``, ``mark_deleted``,
``restore``) and its fields (image id, masked location URL, backend, bytes, result). Lines are
written, flushed and fsynced before the database change they describe is committed, so a crash never
loses the record of an erase.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from scrubctl.errors import ConfigError, read_only_message
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import iso_utc, utc_now


class AuditTrail(Protocol):
    """Durable record of every change, written and flushed before the database change commits."""

    def record(self, action: str, fields: Mapping[str, Any]) -> None:
        """Append one action (``erase``, ``mark_deleted``, ``restore``, ``trash``...)."""


class NullAudit:
    """No audit trail."""

    def record(self, action: str, fields: Mapping[str, Any]) -> None:
        """Ignore."""


class JsonLinesAudit:
    """Appends audit records to a file (created with mode 0600 when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            if error.errno == errno.EROFS:
                raise ConfigError(read_only_message(f"the audit log {path}")) from None
            raise ConfigError(f"audit log {path} cannot be opened for appending: {error.strerror}") from None
        self._file = os.fdopen(descriptor, "a", encoding="utf-8")

    def record(self, action: str, fields: Mapping[str, Any]) -> None:
        """Write one action and make it durable before returning."""
        line = mask_url(json.dumps({"time": iso_utc(utc_now()), "host": self._host, "action": action, **fields}))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()

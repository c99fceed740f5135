"""The audit trail: one JSON line per action that changed something, durable before the commit.

Each line holds the time (UTC), the host, the action (``erase``, ``trash``, ``mark_deleted``,
``restore``) and its fields (image id, masked location URL, backend, bytes, result). Lines are
written, flushed and fsynced before the database change they describe is committed, so a crash never
loses the record of an erase. A line that cannot be written (a full disk) raises
:class:`AuditLogError`, naming the file; nothing stays buffered to fail again when the file is closed.
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

from scrubctl.errors import ConfigError, ScrubctlError, read_only_message
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import iso_utc, utc_now


class AuditLogError(ScrubctlError):
    """The audit log cannot be written: nothing that needs its record may be done (exit 3)."""


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
            self._descriptor: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            if error.errno == errno.EROFS:
                raise ConfigError(read_only_message(f"the audit log {path}")) from None
            raise ConfigError(f"audit log {path} cannot be opened for appending: {error.strerror}") from None

    def record(self, action: str, fields: Mapping[str, Any]) -> None:
        """Write one action and make it durable before returning; raise :class:`AuditLogError` when
        it cannot be written."""
        line = mask_url(json.dumps({"time": iso_utc(utc_now()), "host": self._host, "action": action, **fields}))
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._descriptor is None:
                raise AuditLogError(f"audit log {self.path} is closed")
            try:
                while data:  # an append writes the whole line but for a signal or a full disk
                    data = data[os.write(self._descriptor, data) :]
                os.fsync(self._descriptor)
            except OSError as error:
                raise AuditLogError(f"audit log {self.path} cannot be written: {error.strerror}") from None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None

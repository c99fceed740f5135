"""The Ceph bindings (Debian's python3-rados and python3-rbd), their errors and librbd's progress in our
vocabulary."""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from scrubctl.backends.base import EraseProgress, ProgressCallback
from scrubctl.errors import BackendUnavailableError

BINDINGS_HINT = (
    "python3-rados and python3-rbd are not importable: apt install python3-rados python3-rbd "
    "(a virtualenv needs --system-site-packages on the system Python)"
)
SHOWN_AT_MOST = 3
# librados writes its own log lines from C straight to stderr when the Ceph configuration asks for it
# (``log_to_stderr``, ``err_to_stderr``: ``monclient(hunting): authenticate timed out after 30``...),
# past scrubctl's log formatter. A client handle keeps them off stderr, unless ``--debug``: what
# failed is reported in scrubctl's own line. A ``log_file`` the configuration names still gets them.
QUIET_CLIENT_OPTIONS = {"log_to_stderr": "false", "err_to_stderr": "false"}


@dataclass(frozen=True)
class Bindings:
    """The ``rados`` and ``rbd`` modules (Debian's python3-rados and python3-rbd)."""

    rados: Any
    rbd: Any


def load_bindings() -> Bindings | None:
    """Import the Ceph bindings, or return ``None`` when they are not installed."""
    try:
        return Bindings(import_module("rados"), import_module("rbd"))
    except ImportError:
        return None


def client_log_options(options: Mapping[str, str]) -> dict[str, str]:
    """The logging options of a client handle for a run with these run-wide ``options``: librados'
    own lines off stderr, unless the run was started with ``--debug`` (``debug`` true)."""
    return {} if options.get("debug", "").lower() == "true" else dict(QUIET_CLIENT_OPTIONS)


def describe(error: BaseException) -> str:
    """``ENOENT: RBD image not found (...)`` for a native error (no keys or secrets are in these)."""
    number = getattr(error, "errno", None)
    name = errno.errorcode.get(abs(number), f"errno {number}") if isinstance(number, int) else type(error).__name__
    text = str(error)
    if text.startswith("[errno"):
        text = text.partition("] ")[2] or text
    return f"{name}: {text}" if text else name


def is_timeout(error: BaseException, bindings: Bindings) -> bool:
    """``rbd.Timeout`` and ``rados.TimedOut`` are different classes; both mean ETIMEDOUT."""
    return isinstance(error, (bindings.rbd.Timeout, bindings.rados.TimedOut)) or getattr(error, "errno", None) in (
        errno.ETIMEDOUT,
        -errno.ETIMEDOUT,
    )


def is_permission(error: BaseException) -> bool:
    """EPERM or EACCES, whichever class the bindings chose."""
    return abs(getattr(error, "errno", 0) or 0) in (errno.EPERM, errno.EACCES)


def connection_error(
    error: BaseException, bindings: Bindings, *, where: str, timeout: float
) -> BackendUnavailableError:
    """Explain in one line why connecting to the cluster failed."""
    rados = bindings.rados
    if is_timeout(error, bindings):
        reason = f"no answer from the Ceph monitors within {timeout:g} s"
    elif isinstance(error, rados.PermissionDeniedError) or is_permission(error):
        reason = "authentication refused (wrong key, or unknown user)"
    elif isinstance(error, rados.ObjectNotFound):
        reason = "configuration file, keyring or key not found"
    else:
        reason = "cannot connect"
    return BackendUnavailableError(f"Ceph cluster {where}: {reason} ({describe(error)})")


def listed(items: Sequence[str]) -> str:
    """``a, b, c and 2 more``."""
    shown = ", ".join(items[:SHOWN_AT_MOST])
    return shown + (f" and {len(items) - SHOWN_AT_MOST} more" if len(items) > SHOWN_AT_MOST else "")


def child_name(child: Mapping[str, Any]) -> str:
    """``pool/image`` (``pool/namespace/image`` in a namespace), marked when it is in the RBD trash."""
    parts = [child.get("pool"), child.get("pool_namespace"), child.get("image")]
    name = "/".join(str(part) for part in parts if part)
    return name + " (in the RBD trash)" if child.get("trash") else name


def clone_v2_enabled(release: str) -> bool:
    """Clone v2 needs ``require_min_compat_client`` mimic or later (Ceph names releases alphabetically)."""
    return release.strip().lower() >= "mimic"


def objects_progress(progress: ProgressCallback | None, size: int) -> Callable[[int, int], int] | None:
    """librbd's ``on_progress(done, total)`` (objects removed, from librbd's threads) as scrubctl's
    progress, with the bytes those objects held in proportion."""
    if progress is None:
        return None

    def report(done: int, total: int) -> int:
        progress(EraseProgress(done, total, "objects", size * done // total if total else None))
        return 0  # librbd: go on

    return report

"""scrubctl's exception hierarchy; each kind carries the exit code it ends a run with.

The exit codes are a contract with operators' scripts and monitoring:

====  ==============================================================
0     everything selected was done (or would be, or nothing was due)
1     at least one image failed or was not found (or, outside ``scrub``, was blocked)
2     usage or bad input (malformed id, age, option)
3     configuration, database or backend unreachable or unusable (credentials a store refuses,
      a file it must write on a read-only file system included)
4     ``scrub``: done, but images were left blocked; nothing failed (a stable state: the generated
      systemd service lists it in ``SuccessExitStatus=``)
130   interrupted by SIGINT (after finishing the images in flight)
141   the output was closed early (a pipe such as ``| head``), as SIGPIPE ends other tools
143   terminated by SIGTERM (likewise)
====  ==============================================================
"""

from __future__ import annotations

import os
from pathlib import Path

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_BLOCKED = 4
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141
EXIT_SIGTERM = 143


class ScrubctlError(Exception):
    """Base of every error scrubctl reports as one line on stderr.

    A kind ends the run with its ``exit_code``: the base's, 3 (the environment: configuration,
    database, a store), unless the kind sets its own."""

    exit_code = EXIT_ENVIRONMENT


class BadInputError(ScrubctlError):
    """The operator gave a value scrubctl cannot use (an id, an age, an option)."""

    exit_code = EXIT_USAGE


class NotFoundError(ScrubctlError):
    """An image the operator named does not exist or is not in the state asked for."""

    exit_code = EXIT_INCOMPLETE


class RefusedError(ScrubctlError):
    """scrubctl refused to start (for example a plan larger than ``--max-delete``)."""

    exit_code = EXIT_INCOMPLETE


# The environment's kinds: exit 3, the base's.


class ConfigError(ScrubctlError):
    """A configuration file is missing, unreadable, or holds a value scrubctl cannot use."""


class DatabaseError(ScrubctlError):
    """The database cannot be reached, or is not a Glance database."""


class BackendUnavailableError(ScrubctlError):
    """A storage backend (a Ceph cluster, a data directory) cannot be reached at all."""


def on_read_only_file_system(path: Path) -> bool:
    """Whether ``path`` (its directory when it does not exist) lies on a file system mounted
    read-only, as everything outside ``ReadWritePaths`` is under systemd's ``ProtectSystem=strict``."""
    probe = path if path.exists() else path.parent
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def read_only_message(subject: str) -> str:
    """The one line for a write the file system refused: ``subject`` names what and where (a path).

    Under systemd (``INVOCATION_ID`` set) the likely cause is named: the unit's ``ReadWritePaths``."""
    if os.environ.get("INVOCATION_ID"):
        return f"read-only file system: {subject} is not in the unit's ReadWritePaths"
    return f"read-only file system: {subject} cannot be written"

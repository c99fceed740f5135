"""systemd units for unattended runs: a hardened oneshot service and a persistent timer.

``contrib/systemd/`` holds the units rendered with the defaults below; ``scrubctl systemd-units``
renders them for the local install (the scrubctl executable, the configuration files given, and the
SQLite database, data directories, audit log and metrics file it must be able to write). Every
value is checked and quoted by :mod:`scrubctl.unattended.unit_values`.

The service is hardened: the whole file system is read-only for it except ``ReadWritePaths``,
``/home`` and ``/root`` are hidden (read-only when the install lives there), ``/tmp`` is private.
It exits 4 when the only problems were blocked images (a stable state, listed in
``SuccessExitStatus=``), and is stopped with SIGTERM when a run takes longer than ``TimeoutStartSec=``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scrubctl.backends.file import data_directories
from scrubctl.errors import EXIT_BLOCKED
from scrubctl.glance.database import normalize_url
from scrubctl.settings.config import Settings
from scrubctl.unattended import unit_values
from scrubctl.unattended.unit_values import DEFAULT_TIMEOUT_START

DEFAULT_EXECUTABLE = Path("/usr/local/bin/scrubctl")
DEFAULT_WRITABLE = (Path("/var/lib/glance/images"),)
HOME_DIRECTORIES = (Path("/home"), Path("/root"), Path("/run/user"))  # hidden by ProtectHome=yes
# Replaced by PrivateTmp=yes (named, never written to).
PRIVATE_TMP_DIRECTORIES = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108


@dataclass(frozen=True)
class UnitOptions:
    """What the units depend on."""

    executable: Path = DEFAULT_EXECUTABLE
    config_files: Sequence[Path] = ()
    writable_paths: Sequence[Path] = DEFAULT_WRITABLE
    user: str = "glance"
    group: str | None = None  # the user's name when None
    on_calendar: str = "hourly"
    randomized_delay: str = "15min"
    timeout_start: str = DEFAULT_TIMEOUT_START

    @property
    def read_paths(self) -> list[Path]:
        """Every path the service must reach: the executable, the configuration, what it writes."""
        return [self.executable, *self.config_files, *self.writable_paths]

    @property
    def in_home(self) -> bool:
        """Whether a path the service needs lies under ``/home``, ``/root`` or ``/run/user``."""
        return any(_under(path, HOME_DIRECTORIES) for path in self.read_paths)


def _under(path: Path, directories: Sequence[Path]) -> bool:
    return any(path == directory or directory in path.parents for directory in directories)


def unit_warnings(options: UnitOptions) -> list[str]:
    """What the operator must know before installing these units: paths the sandbox hides, or
    exposes differently from the defaults (one warning for each kind)."""
    warnings: list[str] = []
    in_tmp = _listed(path for path in options.read_paths if _under(path, PRIVATE_TMP_DIRECTORIES))
    if in_tmp:
        warnings.append(
            f"{in_tmp} under /tmp or /var/tmp, which the service's PrivateTmp=yes replaces with an empty "
            "directory: the service will not find it there (install or move it elsewhere)"
        )
    if options.in_home:
        in_home = _listed(path for path in options.read_paths if _under(path, HOME_DIRECTORIES))
        warnings.append(
            f"{in_home} in a home directory: the service gets ProtectHome=read-only (instead of yes, "
            "which would hide it)"
        )
    return warnings


def _listed(paths: Iterable[Path]) -> str:
    """``A lies`` or ``A, B lie``: the paths, each once, and the verb."""
    names = list(dict.fromkeys(str(path) for path in paths))
    if not names:
        return ""
    return f"{', '.join(names)} {'lies' if len(names) == 1 else 'lie'}"


def this_executable() -> Path:
    """The ``scrubctl`` executable of this install: the one on ``PATH``; else the console script
    beside this interpreter (a virtualenv's ``bin``, when run as ``python -m scrubctl`` or with the
    virtualenv not activated); else the program this process was started as, when it can be run."""
    found = shutil.which("scrubctl")
    if found:
        return Path(found).resolve()
    candidates = [Path(sys.executable).with_name("scrubctl"), Path(sys.argv[0])]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    return DEFAULT_EXECUTABLE


def writable_paths(settings: Settings) -> list[Path]:
    """Directories a run writes: a SQLite database's (its journal is written beside it), file stores'
    data directories, the audit log's and metrics' folders; absolute, as the unit needs them."""
    paths: list[Path] = []
    database = sqlite_file(settings.database_url.reveal())
    if database is not None:
        paths.append(database.parent)
    for store in settings.configured_stores():
        if store.driver == "file":
            paths.extend(data_directories(store))
    paths.extend(path.parent for path in (settings.audit_log, settings.metrics_file) if path is not None)
    return list(dict.fromkeys(path.absolute() for path in paths))


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (``sqlite:///PATH``, or an SQLite URI ``file:PATH``); else None."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        return None
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name.removeprefix("file:").split("?", 1)[0])


def service_unit(options: UnitOptions) -> str:
    """The ``scrubctl.service`` text (:class:`~scrubctl.errors.BadInputError` for a value that
    does not fit in a unit)."""
    # The executable is not subject to $VARIABLE expansion (its arguments are).
    command = [unit_values.path(options.executable, "the scrubctl executable")]
    for config_file in options.config_files:
        command += ["--config-file", unit_values.path(config_file, "the configuration file", command=True)]
    command += ["scrub", "--yes"]
    # "-": a path that does not exist is left out, and scrubctl itself says what is missing
    # (systemd would refuse to start the service, naming no path).
    writable = " ".join("-" + unit_values.path(path, "the writable path") for path in options.writable_paths)
    user = unit_values.name(options.user, "--user")
    group = unit_values.name(options.user if options.group is None else options.group, "--group")
    timeout = unit_values.timespan(options.timeout_start, "--timeout-start")
    protect_home = "read-only" if options.in_home else "yes"
    return f"""\
[Unit]
Description=Erase the data of Glance images left in pending_delete (scrubctl)
Wants=network-online.target
After=network-online.target mariadb.service mysql.service

[Service]
Type=oneshot
ExecStart={" ".join(command)}
# 4: done, but images were left blocked (shared data, clones): a stable state, not a failure.
SuccessExitStatus={EXIT_BLOCKED}
# A run still going after this long is stopped with SIGTERM (and the unit fails).
TimeoutStartSec={timeout}
User={user}
Group={group}
# Hardening: no new privileges, read-only system except the database, stores and files it must
# write, private /tmp.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome={protect_home}
ReadWritePaths={writable}
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0077
# SIGTERM lets the images in flight finish; the run then exits 143.
KillSignal=SIGTERM
TimeoutStopSec=300
Nice=10
IOSchedulingClass=idle
"""


def timer_unit(options: UnitOptions) -> str:
    """The ``scrubctl.timer`` text."""
    return f"""\
[Unit]
Description=Run scrubctl scrub periodically

[Timer]
OnCalendar={unit_values.calendar(options.on_calendar)}
RandomizedDelaySec={unit_values.timespan(options.randomized_delay, "the randomized delay")}
Persistent=true
AccuracySec=1min

[Install]
WantedBy=timers.target
"""

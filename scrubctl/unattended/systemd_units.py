"""systemd units for unattended runs: a hardened oneshot service and a persistent timer.

``contrib/systemd/`` holds the units rendered with the defaults below; ``scrubctl systemd-units``
renders them for the local install (the scrubctl executable, the configuration files given, and the
data directories, audit log and metrics file it must be able to write).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scrubctl.backends.file import data_directories
from scrubctl.settings.config import Settings

DEFAULT_EXECUTABLE = Path("/usr/local/bin/scrubctl")
DEFAULT_WRITABLE = (Path("/var/lib/glance/images"),)


@dataclass(frozen=True)
class UnitOptions:
    """What the units depend on."""

    executable: Path = DEFAULT_EXECUTABLE
    config_files: Sequence[Path] = ()
    writable_paths: Sequence[Path] = DEFAULT_WRITABLE
    user: str = "glance"
    on_calendar: str = "hourly"
    randomized_delay: str = "15min"


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
    """Directories a run writes: file stores' data directories, the audit log's and metrics' folders."""
    paths: list[Path] = []
    for store in settings.configured_stores():
        if store.driver == "file":
            paths.extend(data_directories(store))
    paths.extend(path.parent for path in (settings.audit_log, settings.metrics_file) if path is not None)
    return list(dict.fromkeys(paths))


def service_unit(options: UnitOptions) -> str:
    """The ``scrubctl.service`` text."""
    command = [str(options.executable)]
    for path in options.config_files:
        command += ["--config-file", str(path)]
    command += ["scrub", "--yes"]
    writable = " ".join(shlex.quote(str(path)) for path in options.writable_paths)
    return f"""\
[Unit]
Description=Erase the data of Glance images left in pending_delete (scrubctl)
Wants=network-online.target
After=network-online.target mariadb.service mysql.service

[Service]
Type=oneshot
ExecStart={shlex.join(command)}
User={options.user}
Group={options.user}
# Hardening: no new privileges, read-only system except the stores it must write, private /tmp.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
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
OnCalendar={options.on_calendar}
RandomizedDelaySec={options.randomized_delay}
Persistent=true
AccuracySec=1min

[Install]
WantedBy=timers.target
"""

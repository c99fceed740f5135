"""systemd units that run scrubctl's container image on a kolla-ansible controller.

``deploy/kolla/`` holds the units rendered with the defaults below; ``scrubctl systemd-units
--container IMAGE`` renders them for another image or container engine. The container sees what
kolla's glance-api container sees, read-only: ``/etc/kolla/glance-api/`` as ``/etc/glance`` (its
``glance-api.conf`` and, where Swift is used, ``glance-swift.conf``) and ``/etc/kolla/glance-api/ceph/``
as ``/etc/ceph``; the ``glance`` volume for file stores; and it writes only the audit log's and the
metrics file's folders.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from scrubctl import __version__
from scrubctl.errors import EXIT_BLOCKED
from scrubctl.unattended import unit_values
from scrubctl.unattended.logs import RELAYED_JOURNAL_VARIABLE
from scrubctl.unattended.systemd_units import UnitOptions, timer_unit
from scrubctl.unattended.unit_values import CONTAINER_ENGINES, DEFAULT_TIMEOUT_START

DEFAULT_IMAGE = f"localhost/scrubctl:{__version__}"
KOLLA_UID = 42415  # the glance user of kolla's images, and of scrubctl's
AUDIT_DIRECTORY = "/var/log/kolla/scrubctl"
METRICS_DIRECTORY = "/var/lib/node_exporter/textfile_collector"


@dataclass(frozen=True)
class Mount:
    """One volume of the container: a host path or a named volume, where it appears, and how."""

    source: str
    target: str
    read_only: bool

    def flag(self) -> str:
        """The ``--volume`` value podman and docker both take."""
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


KOLLA_MOUNTS = (
    Mount("/etc/kolla/glance-api", "/etc/glance", read_only=True),
    Mount("/etc/kolla/glance-api/ceph", "/etc/ceph", read_only=True),
    Mount("glance", "/var/lib/glance", read_only=False),
    Mount(AUDIT_DIRECTORY, AUDIT_DIRECTORY, read_only=False),
    Mount(METRICS_DIRECTORY, METRICS_DIRECTORY, read_only=False),
)


@dataclass(frozen=True)
class ContainerUnitOptions:
    """What the container units depend on."""

    image: str = DEFAULT_IMAGE
    engine: str = "podman"
    on_calendar: str = "hourly"
    timeout_start: str = DEFAULT_TIMEOUT_START


def _command_lines(options: ContainerUnitOptions) -> list[list[str]]:
    """The ``podman run`` (or ``docker run``) command line, in the lines the unit shows it on."""
    engine = CONTAINER_ENGINES[options.engine]
    lines = [
        [engine, "run", "--rm", "--log-driver", "none", "--network", "host", "--uts", "host"],
        ["--env", f"{RELAYED_JOURNAL_VARIABLE}=1"],
        ["--read-only", "--user", f"{KOLLA_UID}:{KOLLA_UID}", "--group-add", "0"],
        ["--cap-drop", "all", "--security-opt", "no-new-privileges"],
    ]
    lines += [["--volume", mount.flag()] for mount in KOLLA_MOUNTS]
    lines += [
        [options.image, "scrub", "--yes"],
        ["--audit-log", f"{AUDIT_DIRECTORY}/audit.jsonl"],
        ["--metrics-file", f"{METRICS_DIRECTORY}/scrubctl.prom"],
    ]
    return lines


def container_service_unit(options: ContainerUnitOptions) -> str:
    """The ``scrubctl.service`` text for a kolla-ansible controller."""
    daemon = "\nRequires=docker.service\nAfter=docker.service" if options.engine == "docker" else ""
    command = " \\\n    ".join(shlex.join(line) for line in _command_lines(options))
    timeout = unit_values.timespan(options.timeout_start, "--timeout-start")
    unit_values.plain(options.image, "the image")  # refused when it would add a line to the unit
    return f"""\
[Unit]
Description=Erase the data of Glance images left in pending_delete (scrubctl, in a container)
Wants=network-online.target
After=network-online.target{daemon}

[Service]
Type=oneshot
# The folders the run writes, made writable for the container's user: podman and docker refuse to
# mount a path that does not exist. node_exporter reads *.prom files from the second one
# (--collector.textfile.directory).
ExecStartPre=/usr/bin/install -d -o {KOLLA_UID} -g {KOLLA_UID} -m 0750 {AUDIT_DIRECTORY}
ExecStartPre=/usr/bin/install -d -g {KOLLA_UID} -m 0775 {METRICS_DIRECTORY}
# scrubctl runs as glance (uid {KOLLA_UID}, as in kolla's images). kolla-ansible leaves
# /etc/kolla/glance-api/ and its ceph/ folder mode 0770 and their files 0660, owned by root: the
# container adds root's group (--group-add 0), whose bits let it read them, and mounts them
# read-only, so that group's write bit gives nothing. kolla's files keep their modes.
# {RELAYED_JOURNAL_VARIABLE}=1: the engine relays the container's output to the journal, which
# JOURNAL_STREAM cannot tell the container: one line per image with its priority and one summary
# line, no table.
ExecStart={command}
# Exit {EXIT_BLOCKED}: done, only images left blocked (shared data, clones), which an operator resolves: not
# a failure. A run still going after TimeoutStartSec is stopped with SIGTERM, which reaches the
# container through the engine: the images in flight finish, the run exits 143.
SuccessExitStatus={EXIT_BLOCKED}
TimeoutStartSec={timeout}
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=330
Nice=10
IOSchedulingClass=idle
"""


def container_timer_unit(options: ContainerUnitOptions) -> str:
    """The ``scrubctl.timer`` text (the same timer as for an install on the host)."""
    return timer_unit(UnitOptions(on_calendar=options.on_calendar))

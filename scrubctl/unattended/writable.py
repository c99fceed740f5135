"""Whether this process could write a file, found out without writing anything: the audit log, the
metrics file, a SQLite database.

Nothing is created, opened for writing or changed. ``os.access`` (with the effective user) answers
for permissions, immutable files and read-only mounts, but it grants root everything else: root
passes it on ``/proc`` and ``/sys``, where no file can be created. So the file system holding the
path is looked up in ``/proc/self/mountinfo`` too, and a kernel pseudo file system is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# File systems that hold no files a process can create or append to.
PSEUDO_FILE_SYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "proc",
        "pstore",
        "securityfs",
        "sysfs",
        "tracefs",
    }
)
MOUNT_TABLE = Path("/proc/self/mountinfo")


def appendable_problem(path: Path) -> str | None:
    """Why ``path`` could not be appended to (created in its directory when missing), or None."""
    if path.exists() or path.is_symlink():
        return _existing_file_problem(path)
    return _directory_problem(path.parent, f"{path} would be created there")


def replaceable_problem(path: Path) -> str | None:
    """Why ``path`` could not be replaced through a temporary file and a rename in its directory, or None."""
    if path.is_dir():
        return f"{path} is a directory"
    return _directory_problem(path.parent, f"{path} is replaced through a new file there")


def database_file_problem(path: Path) -> str | None:
    """Why a SQLite database at ``path`` could not be written (the file, and its directory for the
    journal SQLite creates beside it), or None."""
    return _existing_file_problem(path) or _directory_problem(
        path.parent, "SQLite writes its journal beside the database file"
    )


def _existing_file_problem(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return f"{path}: {error.strerror}"
    if stat.S_ISDIR(mode):
        return f"{path} is a directory"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    return _write_problem(path, os.W_OK)


def _directory_problem(directory: Path, why: str) -> str | None:
    if not directory.exists():
        return f"directory {directory} does not exist ({why})"
    if not directory.is_dir():
        return f"{directory} is not a directory ({why})"
    problem = _write_problem(directory, os.W_OK | os.X_OK)
    return f"{problem} ({why})" if problem else None


def _write_problem(path: Path, mode: int) -> str | None:
    kind = file_system_type(path)
    if kind in PSEUDO_FILE_SYSTEMS:
        return f"{path} is on a {kind} file system, which holds no files"
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return f"{path} is on a read-only file system"
    except OSError as error:
        return f"{path}: {error.strerror}"
    if not os.access(path, mode, effective_ids=os.access in os.supports_effective_ids):
        return f"{path} is not writable by this user"
    return None


def file_system_type(path: Path) -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``proc``...), None when unknown."""
    try:
        lines = MOUNT_TABLE.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    found: tuple[int, str] | None = None
    for line in lines:
        mount, separator, rest = line.partition(" - ")
        fields, described = mount.split(), rest.split()
        if not separator or len(fields) < 5 or not described:
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (found is None or len(point) >= found[0]):  # later mounts cover earlier ones
            found = (len(point), described[0])
    return found[1] if found else None


def _unescape(field: str) -> str:
    """A mount point as /proc/self/mountinfo writes it (space, tab, newline and backslash as octal)."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field

"""Run the real ``glance-scrubber`` (Glance 33.0.0) as a reference for benchmarks.

This module installs Glance 33.0.0 from PyPI into a separate virtual
environment (never into the caller's), runs one pass of its scrubber against
a MySQL/MariaDB database and a file store, and times it.  It is meant to be
imported by a benchmark that runs scrubctl and Glance's scrubber on the same
data set and prints a throughput ratio::

    from tests.support import glance_reference as gr

    install = gr.ensure_glance(Path("/tmp/scrubctl-bench/glance-33.0.0-venv"))
    if install is not None:
        seconds = gr.run_glance_scrubber(
            install, db_url="mysql+pymysql://root@127.0.0.1/glance",
            datadir=datadir, workdir=workdir)

It can also seed a database the way Glance writes images after
``DELETE /v2/images/{id}`` with ``delayed_delete = True``
(:func:`create_database`, :func:`seed_pending_delete_images`) and check the
result (:func:`verify_scrubbed`).  Those helpers need PyMySQL in the calling
interpreter; the install and run functions only need the standard library.

``python tests/support/glance_reference.py --selftest [--images N]`` proves the whole
chain end to end on a throw-away database.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

GLANCE_VERSION = "33.0.0"
"""The Glance release whose scrubber is the reference."""

PIP_REQUIREMENTS: tuple[str, ...] = (f"glance=={GLANCE_VERSION}", "PyMySQL")
"""What goes into the venv: Glance pulls glance_store, oslo.db, SQLAlchemy.

PyMySQL is the only extra needed for ``mysql+pymysql://`` URLs; the file store
driver needs nothing beyond glance_store itself.
"""

SUPPORTED_PYTHONS: tuple[tuple[int, int], ...] = ((3, 11), (3, 12), (3, 13), (3, 14))
"""Glance 33.0.0 declares ``Requires-Python >= 3.11`` (classifiers 3.11-3.14)."""

INSTALL_TIMEOUT_S = 1800.0
VENV_TIMEOUT_S = 300.0
SCRUBBER_TIMEOUT_S = 3600.0
DB_CHECK_TIMEOUT_S = 120.0

_STAMP_NAME = ".scrubctl-glance-reference"
_DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "scrubctl" / "glance" / "sql" / "schema-mysql.sql"
_SCHEMA_HEAD = "2024_1_contract01"

# oslo.log default line: "2026-11-21 10:00:00.123 4242 INFO glance.scrubber [-] msg"
_LOG_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \d+ (?P<level>[A-Z]+) (?P<logger>\S+)")
_SCRUBBED_OK = "has been scrubbed successfully"


class GlanceReferenceError(RuntimeError):
    """The reference scrubber failed, logged errors, or did not scrub.

    ``stderr_tail`` holds the last lines of its output for the report.
    """

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        """Build the error; the tail is appended to the message when given."""
        full = f"{message}\n--- glance-scrubber stderr (tail) ---\n{stderr_tail}" if stderr_tail else message
        super().__init__(full)
        self.stderr_tail = stderr_tail


@dataclasses.dataclass(frozen=True)
class GlanceInstall:
    """A working Glance install in its own virtual environment."""

    venv_dir: Path
    python: Path
    """The venv's interpreter (has Glance, SQLAlchemy and PyMySQL)."""
    scrubber: Path
    """The ``glance-scrubber`` console script."""
    glance_version: str
    python_version: str


@dataclasses.dataclass(frozen=True)
class ScrubberRun:
    """What one pass of ``glance-scrubber`` did and cost."""

    seconds: float
    """Wall time from process start to exit (includes ~1-2 s of imports)."""
    scrub_seconds: float | None
    """From its "Initializing scrubber" log line to its exit; None if absent."""
    images_before: int
    """Scrubbable images (pending_delete, deleted=1, non-community, past scrub_time) before."""
    images_after: int
    """Same count after the run; 0 when everything was scrubbed."""
    images_logged_ok: int
    """"has been scrubbed successfully" log lines."""
    max_rss_kib: int
    """Peak resident set size of the scrubber process (wait4 ru_maxrss, KiB)."""
    workdir: Path
    log_path: Path
    """Its combined stdout/stderr."""


# ---------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------


def _warn(message: str) -> None:
    """Print one diagnostic line on stderr."""
    print(f"glance_reference: {message}", file=sys.stderr, flush=True)


def _last_line(text: str) -> str:
    """Return the last non-blank line of ``text`` (or a placeholder)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR:") or "error" in line.lower():
            return line
    return lines[-1] if lines else "no output"


def _python_version(python: str | Path) -> tuple[int, int, int] | None:
    """Return the version of interpreter ``python``, or None if it does not run."""
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1]), int(out[2])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _candidate_pythons() -> Iterator[str]:
    """Yield interpreters that may build the venv, most preferred first.

    The caller's interpreter first (if Glance supports it), then ``python3.11``
    and friends from PATH (pyenv shims included), then Debian's.
    """
    seen: set[str] = set()
    names = [sys.executable, "python3.11", "python3", "/usr/bin/python3", "python3.12", "python3.13", "python3.14"]
    for name in names:
        path = shutil.which(name) if name else None
        if path and path not in seen:
            seen.add(path)
            yield path


def _read_stamp(venv_dir: Path) -> dict[str, Any] | None:
    """Return the stamp written after a verified install, or None."""
    try:
        data = json.loads((venv_dir / _STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _probe_install(venv_dir: Path) -> GlanceInstall | None:
    """Check that ``venv_dir`` holds Glance 33.0.0 with PyMySQL; None if not."""
    python = venv_dir / "bin" / "python"
    scrubber = venv_dir / "bin" / "glance-scrubber"
    if not (python.exists() and scrubber.exists()):
        return None
    code = (
        "import sys, importlib.metadata as m; import pymysql, glance.scrubber, glance_store; "
        "print(m.version('glance'), '%d.%d.%d' % sys.version_info[:3])"
    )
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 2 or fields[0] != GLANCE_VERSION:
        return None
    return GlanceInstall(
        venv_dir=venv_dir, python=python, scrubber=scrubber, glance_version=fields[0], python_version=fields[1]
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (so two benchmarks do not install at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_glance(venv_dir: Path) -> GlanceInstall | None:
    """Make sure ``venv_dir`` is a venv holding Glance 33.0.0 and PyMySQL.

    The venv is built with a Python that Glance 33.0.0 supports (3.11+), which
    need not be the caller's.  The install command is
    ``<venv>/bin/python -m pip install glance==33.0.0 PyMySQL``.  A stamp file
    records a verified install, so later calls only re-check imports (about a
    second).  Returns None, after printing one line on stderr, when the venv
    cannot be built or the install fails (no network, no wheel, build error);
    it never raises for that.
    """
    venv_dir = Path(venv_dir).absolute()
    try:
        with _locked(venv_dir.with_name(venv_dir.name + ".lock")):
            return _ensure_glance_locked(venv_dir)
    except Exception as exc:  # noqa: BLE001 - documented: never raise for install failures
        _warn(f"cannot install glance=={GLANCE_VERSION} into {venv_dir}: {type(exc).__name__}: {exc}")
        return None


def _ensure_glance_locked(venv_dir: Path) -> GlanceInstall | None:
    """Body of :func:`ensure_glance`, run under its lock."""
    stamp = _read_stamp(venv_dir)
    if stamp is not None and stamp.get("requirements") == list(PIP_REQUIREMENTS):
        install = _probe_install(venv_dir)
        if install is not None:
            return install
    (venv_dir / _STAMP_NAME).unlink(missing_ok=True)

    python = venv_dir / "bin" / "python"
    version = _python_version(python) if python.exists() else None
    if version is None or version[:2] not in SUPPORTED_PYTHONS:
        if venv_dir.exists():
            # Only ever delete something that is a venv (or nothing at all).
            if not (venv_dir / "pyvenv.cfg").exists() and any(venv_dir.iterdir()):
                _warn(f"{venv_dir} exists and is not a virtual environment; not touching it")
                return None
            shutil.rmtree(venv_dir)
        reasons: list[str] = []
        for candidate in _candidate_pythons():
            cand_version = _python_version(candidate)
            if cand_version is None or cand_version[:2] not in SUPPORTED_PYTHONS:
                reasons.append(f"{candidate}: {cand_version or 'does not run'}")
                continue
            proc = subprocess.run(
                [candidate, "-m", "venv", str(venv_dir)],
                capture_output=True,
                text=True,
                timeout=VENV_TIMEOUT_S,
                check=False,
            )
            if proc.returncode == 0 and python.exists():
                break
            reasons.append(f"{candidate}: venv failed: {_last_line(proc.stderr + proc.stdout)}")
            shutil.rmtree(venv_dir, ignore_errors=True)
        else:
            _warn(f"no Python 3.11+ able to create a venv for glance=={GLANCE_VERSION}: " + "; ".join(reasons))
            return None

    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *PIP_REQUIREMENTS]
    log_path = venv_dir / "pip-install.log"
    with open(log_path, "w") as log:
        try:
            pip_proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            _warn(f"pip install glance=={GLANCE_VERSION} timed out after {INSTALL_TIMEOUT_S:.0f} s (log: {log_path})")
            return None
    if pip_proc.returncode != 0:
        _warn(f"pip install glance=={GLANCE_VERSION} failed: {_last_line(log_path.read_text())} (log: {log_path})")
        return None

    install = _probe_install(venv_dir)
    if install is None:
        _warn(f"glance=={GLANCE_VERSION} installed into {venv_dir} but does not import (log: {log_path})")
        return None
    (venv_dir / _STAMP_NAME).write_text(
        json.dumps({"requirements": list(PIP_REQUIREMENTS), "python": install.python_version}) + "\n"
    )
    return install


# ---------------------------------------------------------------------------
# Running the scrubber
# ---------------------------------------------------------------------------


def _oslo_escape(value: str) -> str:
    """Escape a value for oslo.config: ``$`` interpolates, so write ``$$``."""
    if "\n" in value:
        raise ValueError(f"config value may not contain a newline: {value!r}")
    return value.replace("$", "$$")


def write_scrubber_config(*, db_url: str, datadir: Path, workdir: Path, pool_size: int = 1) -> Path:
    """Write ``glance-scrubber.conf`` for a single file store into ``workdir``.

    Nothing from glance-api.conf is needed: the scrubber reads its own file
    only.  Returns the path of the file.
    """
    if pool_size < 1:
        raise ValueError("pool_size must be >= 1")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "glance-scrubber.conf"
    conf.write_text(
        "[DEFAULT]\n"
        "delayed_delete = True\n"
        "scrub_time = 0\n"
        f"scrub_pool_size = {pool_size}\n"
        "debug = False\n"
        "use_stderr = True\n"
        "\n"
        "[database]\n"
        f"connection = {_oslo_escape(db_url)}\n"
        "\n"
        "[glance_store]\n"
        "stores = file\n"
        "default_store = file\n"
        f"filesystem_store_datadir = {_oslo_escape(str(Path(datadir).absolute()))}\n"
    )
    return conf


# Run inside the Glance venv: counts images the scrubber should pick up, with
# the same filters it uses (deleted=1, pending_delete, not community, past
# scrub_time).  SQLAlchemy and PyMySQL are there, so the caller needs neither.
_COUNT_PENDING = r"""
import sys, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    n = conn.execute(sa.text(
        "SELECT COUNT(*) FROM images WHERE deleted = 1 AND status = 'pending_delete' "
        "AND visibility != 'community' AND deleted_at <= :cutoff"),
        {"cutoff": sys.argv[2]}).scalar()
print(int(n))
"""


def _count_scrubbable(install: GlanceInstall, db_url: str, scrub_time: int = 0) -> int:
    """Count the images Glance's scrubber would scrub now (run in the Glance venv)."""
    cutoff = (_utcnow() - dt.timedelta(seconds=scrub_time)).strftime("%Y-%m-%d %H:%M:%S")
    proc = subprocess.run(
        [str(install.python), "-c", _COUNT_PENDING, db_url, cutoff],
        capture_output=True,
        text=True,
        timeout=DB_CHECK_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise GlanceReferenceError("cannot count pending_delete images", _tail(proc.stderr))
    return int(proc.stdout.strip())


def _tail(text: str, lines: int = 30) -> str:
    """Return the last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _is_benign(line: str) -> bool:
    """Tell whether an ERROR line is known start-up noise.

    glance_store asks stevedore to load every store driver it knows, and the
    cinder driver needs os-brick, which Glance does not depend on: two
    ``ERROR stevedore.extension [-] Could not load 'cinder' ...`` lines on
    every run.  Harmless: a missing *file* driver would make the scrubber
    exit non-zero in ``verify_default_store``.
    """
    return " ERROR stevedore.extension " in line and "Could not load" in line and "file" not in line.lower()


def _log_problems(log_text: str) -> list[str]:
    """Return log lines showing a failure: ERROR/CRITICAL, tracebacks, unscrubbed images."""
    problems = []
    for line in log_text.splitlines():
        match = _LOG_LINE.match(line)
        if match and match["level"] in ("ERROR", "CRITICAL"):
            if not _is_benign(line):
                problems.append(line)
        elif "couldn't be scrubbed" in line or line.startswith("Traceback"):
            problems.append(line)
    return problems


def _log_time(line: str) -> float | None:
    """Return the epoch seconds of an oslo.log line (local time), or None."""
    match = _LOG_LINE.match(line)
    if not match:
        return None
    return time.mktime(time.strptime(match["ts"][:19], "%Y-%m-%d %H:%M:%S")) + int(match["ts"][20:]) / 1000


def run_glance_scrubber_detailed(
    install: GlanceInstall, *, db_url: str, datadir: Path, workdir: Path, pool_size: int = 1
) -> ScrubberRun:
    """Run one pass of Glance's scrubber and return timings and checks.

    Writes ``workdir/glance-scrubber.conf`` (see :func:`write_scrubber_config`),
    runs ``glance-scrubber --config-file <it> --config-dir <empty dir>`` (the
    empty config dir keeps any /etc/glance or ~/.glance files out), and logs
    its output to ``workdir/glance-scrubber.log``.  Raises
    :class:`GlanceReferenceError` if there was nothing to scrub, if it exits
    non-zero, logs an error, or leaves scrubbable images behind (it exits 0
    even when images fail, so its exit code alone proves nothing).
    """
    workdir = Path(workdir).absolute()
    conf = write_scrubber_config(db_url=db_url, datadir=datadir, workdir=workdir, pool_size=pool_size)
    conf_dir = workdir / "glance-scrubber.conf.d"
    conf_dir.mkdir(exist_ok=True)
    log_path = workdir / "glance-scrubber.log"

    before = _count_scrubbable(install, db_url)
    if before == 0:
        raise GlanceReferenceError(f"nothing to scrub in {_redact(db_url)}: no pending_delete image is due")

    cmd = [str(install.scrubber), "--config-file", str(conf), "--config-dir", str(conf_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PYTHON"))}
    with open(log_path, "w") as log:
        start = time.monotonic()
        start_wall = time.time()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
        try:
            status, rusage = _wait4(proc, SCRUBBER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise GlanceReferenceError(
                f"glance-scrubber still running after {SCRUBBER_TIMEOUT_S:.0f} s", _tail(log_path.read_text())
            ) from None
        seconds = time.monotonic() - start
        end_wall = start_wall + seconds

    log_text = log_path.read_text(errors="replace")
    tail = _tail(log_text)
    if status != 0:
        raise GlanceReferenceError(f"glance-scrubber exited with status {status}", tail)
    problems = _log_problems(log_text)
    if problems:
        raise GlanceReferenceError(f"glance-scrubber logged {len(problems)} error line(s); first: {problems[0]}", tail)
    after = _count_scrubbable(install, db_url)
    logged_ok = log_text.count(_SCRUBBED_OK)
    if after != 0 or logged_ok < before:
        raise GlanceReferenceError(
            f"glance-scrubber did not scrub everything: {before} due before, {after} left, "
            f"{logged_ok} logged as scrubbed",
            tail,
        )
    init_lines = [line for line in log_text.splitlines() if "Initializing scrubber" in line]
    init_time = _log_time(init_lines[0]) if init_lines else None
    scrub_seconds = max(0.0, end_wall - init_time) if init_time is not None else None
    return ScrubberRun(
        seconds=seconds,
        scrub_seconds=scrub_seconds,
        images_before=before,
        images_after=after,
        images_logged_ok=logged_ok,
        max_rss_kib=rusage.ru_maxrss,
        workdir=workdir,
        log_path=log_path,
    )


def run_glance_scrubber(
    install: GlanceInstall, *, db_url: str, datadir: Path, workdir: Path, pool_size: int = 1
) -> float:
    """Run one pass of Glance's scrubber; return its wall time in seconds.

    ``db_url`` is an SQLAlchemy URL for Glance's database
    (``mysql+pymysql://user:pw@host/glance``), ``datadir`` the file store's
    ``filesystem_store_datadir``, ``workdir`` where the config and log go.
    Raises :class:`GlanceReferenceError` (with the tail of its stderr) on any
    failure; see :func:`run_glance_scrubber_detailed`, which also reports
    peak RSS and the time spent after start-up.
    """
    return run_glance_scrubber_detailed(
        install, db_url=db_url, datadir=datadir, workdir=workdir, pool_size=pool_size
    ).seconds


def _wait4(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, Any]:
    """Wait for ``proc`` with ``os.wait4`` to get its own rusage; return (exit code, rusage)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, wstatus, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(wstatus)
            proc.returncode = code
            return code, rusage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.01)


def _redact(db_url: str) -> str:
    """Hide the password of a database URL."""
    parts = urllib.parse.urlsplit(db_url)
    if parts.password is None:
        return db_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------------
# Seeding a database as Glance writes it (needs PyMySQL in the caller)
# ---------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    """Naive UTC now without fractional seconds, as Glance stores it."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _connect(server_url: str, database: str | None = None, **extra: Any) -> Any:
    """Open a PyMySQL connection from a ``mysql+pymysql://`` URL."""
    import pymysql

    parts = urllib.parse.urlsplit(server_url)
    query = urllib.parse.parse_qs(parts.query)
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": urllib.parse.unquote(parts.username or "root"),
        "password": urllib.parse.unquote(parts.password or ""),
        "charset": query.get("charset", ["utf8mb4"])[0],
        "autocommit": True,
    }
    if database is None:
        database = parts.path.lstrip("/") or None
    if database:
        kwargs["database"] = database
    kwargs.update(extra)
    return pymysql.connect(**kwargs)


def database_url(server_url: str, database: str) -> str:
    """Return ``server_url`` with its path replaced by ``/database``."""
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def create_database(server_url: str, database: str, schema_sql: Path = _DEFAULT_SCHEMA) -> str:
    """Drop and recreate ``database``, load Glance's schema dump, stamp its head.

    ``schema_sql`` is a mysqldump of a freshly synced Glance database (no
    rows); ``alembic_version`` gets ``2024_1_contract01``.  Returns the URL
    of the new database.
    """
    from pymysql.constants import CLIENT

    if not re.fullmatch(r"[A-Za-z0-9_]+", database):
        raise ValueError(f"unsafe database name: {database!r}")
    conn = _connect(server_url, database="", client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            cur.execute(f"USE `{database}`")
            cur.execute(Path(schema_sql).read_text())
            while cur.nextset():
                pass
            cur.execute("INSERT INTO alembic_version (version_num) VALUES (%s)", (_SCHEMA_HEAD,))
    finally:
        conn.close()
    return database_url(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    """Drop ``database`` if it exists."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", database):
        raise ValueError(f"unsafe database name: {database!r}")
    conn = _connect(server_url, database="")
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        conn.close()


def seed_pending_delete_images(
    db_url: str,
    datadir: Path,
    count: int,
    *,
    deleted_at: dt.datetime | None = None,
    file_size: int = 4096,
    owner: str | None = None,
) -> list[str]:
    """Insert ``count`` images as Glance 33.0.0 leaves them after a delayed delete.

    Each image: ``status='pending_delete'``, ``deleted=1``, ``deleted_at =
    updated_at = T_del`` (naive UTC, whole seconds), private, raw/bare, with
    checksum and sha512 of its data; one location row ``file://<datadir>/<id>``,
    ``meta_data='{}'``, ``status='pending_delete'``, ``deleted=1``,
    ``deleted_at = updated_at = T_del``; and a real ``file_size``-byte file.
    ``T_del`` defaults to an hour ago.  Returns the image ids.
    """
    datadir = Path(datadir).absolute()
    datadir.mkdir(parents=True, exist_ok=True)
    t_del = deleted_at or (_utcnow() - dt.timedelta(hours=1))
    t_del = t_del.replace(microsecond=0, tzinfo=None)
    owner = owner or uuid.uuid4().hex
    images: list[tuple[Any, ...]] = []
    locations: list[tuple[Any, ...]] = []
    ids: list[str] = []
    for i in range(count):
        image_id = str(uuid.uuid4())
        data = os.urandom(file_size)
        (datadir / image_id).write_bytes(data)
        created = t_del - dt.timedelta(days=1, seconds=count - i)
        images.append(
            (
                image_id,
                f"bench-{i:06d}",
                file_size,
                "pending_delete",
                created,
                t_del,
                t_del,
                1,
                "raw",
                "bare",
                hashlib.md5(data, usedforsecurity=False).hexdigest(),
                owner,
                0,
                0,
                0,
                file_size,
                "private",
                0,
                "sha512",
                hashlib.sha512(data).hexdigest(),
            )
        )
        locations.append((image_id, f"file://{datadir}/{image_id}", created, t_del, t_del, 1, "{}", "pending_delete"))
        ids.append(image_id)
    conn = _connect(db_url, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, deleted,"
                " disk_format, container_format, checksum, owner, min_disk, min_ram, protected,"
                " virtual_size, visibility, os_hidden, os_hash_algo, os_hash_value)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                images,
            )
            cur.executemany(
                "INSERT INTO image_locations (image_id, value, created_at, updated_at, deleted_at, deleted,"
                " meta_data, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                locations,
            )
        conn.commit()
    finally:
        conn.close()
    return ids


def verify_scrubbed(db_url: str, datadir: Path, image_ids: Sequence[str]) -> list[str]:
    """Check that Glance's scrubber finished ``image_ids``; return problems (empty = OK).

    Every image must be ``status='deleted'``, ``deleted=1``; every one of its
    location rows ``status='deleted'``, ``deleted=1``; every file gone.
    """
    problems: list[str] = []
    wanted = set(image_ids)
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, status, deleted FROM images")
            images = {row[0]: (row[1], row[2]) for row in cur.fetchall() if row[0] in wanted}
            cur.execute("SELECT image_id, status, deleted FROM image_locations")
            locations = [row for row in cur.fetchall() if row[0] in wanted]
    finally:
        conn.close()
    missing = wanted - images.keys()
    if missing:
        problems.append(f"{len(missing)} image rows missing")
    bad_images = [i for i, (status, deleted) in images.items() if status != "deleted" or deleted != 1]
    if bad_images:
        problems.append(f"{len(bad_images)} images not deleted, e.g. {bad_images[0]}: {images[bad_images[0]]}")
    if len({row[0] for row in locations}) != len(wanted):
        problems.append(f"location rows cover {len({row[0] for row in locations})} of {len(wanted)} images")
    bad_locs = [row for row in locations if row[1] != "deleted" or row[2] != 1]
    if bad_locs:
        problems.append(f"{len(bad_locs)} location rows not deleted, e.g. {bad_locs[0]}")
    left = [i for i in image_ids if (Path(datadir) / i).exists()]
    if left:
        problems.append(f"{len(left)} image files still present, e.g. {Path(datadir) / left[0]}")
    return problems


# ---------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------


def default_venv_dir() -> Path:
    """Where the self-test keeps the Glance venv (``$SCRUBCTL_GLANCE_VENV`` overrides)."""
    env = os.environ.get("SCRUBCTL_GLANCE_VENV")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / "scrubctl-bench" / f"glance-{GLANCE_VERSION}-venv"


def _selftest(args: argparse.Namespace, install: GlanceInstall) -> int:
    """Seed ``args.images`` pending_delete images, scrub them with Glance, verify, report."""
    workroot = Path(tempfile.mkdtemp(prefix="glance-ref-selftest-"))
    datadir = workroot / "images"
    db_url = ""
    ok = False
    try:
        t0 = time.monotonic()
        db_url = create_database(args.server_url, args.database, args.schema)
        ids = seed_pending_delete_images(db_url, datadir, args.images)
        print(
            f"seeded {len(ids)} pending_delete images with 4096-byte files in {time.monotonic() - t0:.1f} s "
            f"(database {args.database}, datadir {datadir})",
            flush=True,
        )
        run = run_glance_scrubber_detailed(
            install, db_url=db_url, datadir=datadir, workdir=workroot / "scrubber", pool_size=args.pool_size
        )
        problems = verify_scrubbed(db_url, datadir, ids)
        if problems:
            print("FAIL: " + "; ".join(problems), file=sys.stderr)
            return 1
        children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        after_init = (
            f", {len(ids) / run.scrub_seconds:.1f} images/s after start-up ({run.scrub_seconds:.2f} s)"
            if run.scrub_seconds
            else ""
        )
        print(
            f"OK: glance-scrubber {install.glance_version} (Python {install.python_version}, "
            f"scrub_pool_size={args.pool_size}) scrubbed {len(ids)} images in {run.seconds:.2f} s: "
            f"{len(ids) / run.seconds:.1f} images/s wall{after_init}; "
            f"peak RSS {run.max_rss_kib / 1024:.0f} MiB (RUSAGE_CHILDREN max {children_rss / 1024:.0f} MiB); "
            "all images and locations 'deleted', all files gone",
            flush=True,
        )
        ok = True
        return 0
    except GlanceReferenceError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    finally:
        if db_url and not args.keep:
            drop_database(args.server_url, args.database)
        if ok and not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
        else:
            print(f"kept {workroot}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--selftest [--images N]`` runs Glance's scrubber end to end."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selftest", action="store_true", help="seed, scrub with glance-scrubber, verify")
    parser.add_argument("--images", type=int, default=200, help="images to seed (default 200)")
    parser.add_argument("--pool-size", type=int, default=1, help="scrub_pool_size (default 1)")
    parser.add_argument("--venv", type=Path, default=default_venv_dir(), help="Glance venv (default %(default)s)")
    parser.add_argument(
        "--server-url", default="mysql+pymysql://root@127.0.0.1:3306", help="MariaDB server URL (default %(default)s)"
    )
    parser.add_argument("--database", default="glance_ref_selftest", help="scratch database (dropped, recreated)")
    parser.add_argument("--schema", type=Path, default=_DEFAULT_SCHEMA, help="Glance schema dump (mysqldump)")
    parser.add_argument("--keep", action="store_true", help="keep the database and work directory")
    args = parser.parse_args(argv)
    if not args.selftest:
        parser.error("nothing to do: pass --selftest")
    if args.images < 1:
        parser.error("--images must be >= 1")

    t0 = time.monotonic()
    install = ensure_glance(args.venv)
    if install is None:
        return 2
    if not os.environ.get("_GLANCE_REFERENCE_REEXEC"):
        print(
            f"glance {install.glance_version} ready in {install.venv_dir} (Python {install.python_version}) "
            f"in {time.monotonic() - t0:.1f} s",
            flush=True,
        )
    try:
        import pymysql  # noqa: F401
    except ImportError:
        # Seeding needs PyMySQL; the Glance venv has it, so continue there.
        if os.environ.get("_GLANCE_REFERENCE_REEXEC"):
            print("FAIL: PyMySQL missing even in the Glance venv", file=sys.stderr)
            return 2
        os.environ["_GLANCE_REFERENCE_REEXEC"] = "1"
        argv_list = list(sys.argv[1:] if argv is None else argv)
        os.execv(str(install.python), [str(install.python), str(Path(__file__).absolute()), *argv_list])
    return _selftest(args, install)


if __name__ == "__main__":
    sys.exit(main())

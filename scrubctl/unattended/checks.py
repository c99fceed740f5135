"""``scrubctl check``: everything a run needs, one check at a time, found out without changing anything."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from scrubctl.backends import DeleterPool, DeleterRegistry, scheme_for_driver
from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.inventory import Inventory
from scrubctl.coordination.claims import TABLE_NAME as CLAIMS_TABLE
from scrubctl.coordination.claims import claims_table_exists
from scrubctl.errors import ScrubctlError
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.grants import Need, describe_needs, missing_privileges, read_grants
from scrubctl.glance.opening import open_database
from scrubctl.glance.servers import server_kind
from scrubctl.glance.topology import read_topology
from scrubctl.settings.config import Settings, default_config_files, load_settings
from scrubctl.unattended.writable import appendable_problem, database_file_problem, replaceable_problem

# Glance drivers whose locations are references to data scrubctl must never erase.
READ_ONLY_DRIVERS = frozenset({"http"})
# What a scrub writes in Glance's tables: the columns its guarded updates set (scrubctl.engine.records).
# What it reads is proven by the schema check, which reads every column scrubctl uses.
SCRUB_UPDATES = (
    Need("UPDATE", "images", ("status", "deleted", "updated_at")),
    Need("UPDATE", "image_locations", ("status", "deleted", "deleted_at", "updated_at")),
)
# Its claims (scrubctl.coordination.claims): the table is created by the first run that needs it.
CLAIMS_CREATE = (Need("CREATE", CLAIMS_TABLE), Need("SELECT", CLAIMS_TABLE))
CLAIMS_USE = tuple(Need(privilege, CLAIMS_TABLE) for privilege in ("INSERT", "UPDATE", "DELETE"))


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str


def run_checks(
    config_files: Sequence[Path],
    database_url: str | None,
    registry: DeleterRegistry,
    *,
    audit_log: Path | None = None,
    metrics_file: Path | None = None,
) -> Iterator[Check]:
    """Yield each check in order; later checks are skipped when the configuration cannot be read.
    ``audit_log`` and ``metrics_file`` replace the configured paths (as scrub's options do)."""
    paths = list(config_files) or default_config_files()
    try:
        settings = load_settings(paths, database_url)
    except ScrubctlError as error:
        yield Check("configuration", False, str(error))
        return
    yield Check("configuration", True, "read " + (", ".join(map(str, settings.config_files)) or "no file (--db-url)"))
    yield from _database(settings)
    yield from _stores(settings, registry)
    yield from _outputs(audit_log or settings.audit_log, metrics_file or settings.metrics_file)


def _database(settings: Settings) -> Iterator[Check]:
    database = None
    try:
        database = open_database(
            settings.database_url,
            read_only=True,
            wsrep_sync_wait=settings.wsrep_sync_wait,
            timeout=settings.database_timeout,
        )
        revision = database.verify()
        with database.connect() as connection:
            topology = read_topology(connection)
            writes = _database_writes(connection)
    except ScrubctlError as error:
        yield Check("database", False, str(error))
        return
    except DBAPIError as error:
        yield Check("database", False, f"cannot read the server's state: {describe_db_error(error)}")
        return
    finally:
        if database is not None:
            database.dispose()
    yield Check("database", True, f"{database.shown_url}: Glance schema, alembic revision {revision or 'unknown'}")
    yield Check("database server", topology.problem is None, topology.problem or topology.describe())
    yield writes


def _database_writes(connection: Connection) -> Check:
    """Whether a scrub could write what it writes: the SQLite file and its directory, or the MySQL
    account's grants (read, not tried)."""
    name = "database writes"
    if server_kind(connection).local_file:
        files = [str(row[2]) for row in connection.exec_driver_sql("PRAGMA database_list") if row[1] == "main"]
        if not files or not files[0]:
            return Check(name, True, "an in-memory database")
        problem = database_file_problem(Path(files[0]))
        return Check(name, problem is None, problem or f"{files[0]} and its directory are writable")
    exists = claims_table_exists(connection)
    account = connection.exec_driver_sql("SELECT CURRENT_USER()").scalar()
    try:
        database, grants = read_grants(connection)
    except DBAPIError as error:
        return Check(name, False, f"cannot read the grants of {account}: {describe_db_error(error)}")
    needs = [*SCRUB_UPDATES, *(CLAIMS_USE if exists else CLAIMS_CREATE + CLAIMS_USE)]
    missing = missing_privileges(grants, database, needs)
    claims = f"{CLAIMS_TABLE} exists" if exists else f"{CLAIMS_TABLE} does not exist yet: scrub creates it"
    if missing:
        return Check(name, False, f"{account} lacks {describe_needs(missing, database)} ({claims})")
    return Check(name, True, f"{account} may update images and image_locations and use its claims ({claims})")


def _stores(settings: Settings, registry: DeleterRegistry) -> Iterator[Check]:
    pool = DeleterPool(registry)
    try:
        for store in settings.configured_stores():
            name = f"store {store.label} ({store.driver})"
            if store.driver in READ_ONLY_DRIVERS:
                yield Check(name, True, "read-only store: its locations are references, nothing to erase")
                continue
            scheme = scheme_for_driver(store.driver)
            scanned = ""
            try:
                deleter = pool.get(scheme, store)
                problems = deleter.check()
                scanned = "; listed by orphans and broken" if isinstance(deleter, Inventory) else ""
            except LocationBlocked as blocked:
                problems = [str(blocked)]
            except ScrubctlError as error:
                problems = [str(error)]
            yield Check(name, not problems, "; ".join(problems) or f"reachable{scanned}")
        for staging, directory in settings.staging_directories():
            found = directory.is_dir()
            detail = f"{directory} listed by orphans" if found else f"{directory} does not exist on this node"
            yield Check(f"staging {staging.label}", found, detail)
    finally:
        pool.close()


def _outputs(audit_log: Path | None, metrics_file: Path | None) -> Iterator[Check]:
    outputs = (
        ("audit log", audit_log, appendable_problem, "appended to"),
        ("metrics file", metrics_file, replaceable_problem, "written"),
    )
    for name, path, problem_of, verb in outputs:
        if path is None:
            continue
        problem = problem_of(path)
        shown = f"{path} cannot be {verb}: {problem}" if problem else f"{path} can be {verb}"
        yield Check(name, problem is None, shown)

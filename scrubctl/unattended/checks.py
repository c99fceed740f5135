"""``scrubctl check``: everything a run needs, one check at a time."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from scrubctl.backends import DeleterPool, DeleterRegistry
from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.inventory import Inventory
from scrubctl.errors import ScrubctlError
from scrubctl.glance.database import describe_db_error
from scrubctl.glance.opening import open_database
from scrubctl.glance.topology import read_topology
from scrubctl.orphans.stores import staging_directories
from scrubctl.settings.config import SCHEME_DRIVERS, Settings, default_config_files, load_settings

# Glance drivers whose locations are references to data scrubctl must never erase.
READ_ONLY_DRIVERS = frozenset({"http"})


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str


def run_checks(config_files: Sequence[Path], database_url: str | None, registry: DeleterRegistry) -> Iterator[Check]:
    """Yield each check in order; later checks are skipped when the configuration cannot be read."""
    paths = list(config_files) or default_config_files()
    try:
        settings = load_settings(paths, database_url)
    except ScrubctlError as error:
        yield Check("configuration", False, str(error))
        return
    yield Check("configuration", True, "read " + (", ".join(map(str, settings.config_files)) or "no file (--db-url)"))
    yield from _database(settings)
    yield from _stores(settings, registry)
    yield from _outputs(settings)


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


def _stores(settings: Settings, registry: DeleterRegistry) -> Iterator[Check]:
    pool = DeleterPool(registry)
    try:
        for store in settings.configured_stores():
            name = f"store {store.label} ({store.driver})"
            if store.driver in READ_ONLY_DRIVERS:
                yield Check(name, True, "read-only store: its locations are references, nothing to erase")
                continue
            scheme = next((scheme for scheme, driver in SCHEME_DRIVERS.items() if driver == store.driver), store.driver)
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
        for staging, directory in staging_directories(settings):
            found = directory.is_dir()
            detail = f"{directory} listed by orphans" if found else f"{directory} does not exist on this node"
            yield Check(f"staging {staging.label}", found, detail)
    finally:
        pool.close()


def _outputs(settings: Settings) -> Iterator[Check]:
    for label, path in (("audit log", settings.audit_log), ("metrics file", settings.metrics_file)):
        if path is None:
            continue
        directory = path.parent
        writable = directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)
        if path.exists():
            writable = writable and os.access(path, os.W_OK)
        yield Check(label, writable, f"{path} is writable" if writable else f"{path} cannot be written")

"""scrubctl's settings, read from Glance's own configuration files.

By default ``/etc/glance/glance-api.conf`` then ``/etc/glance/glance-scrubber.conf`` are read when
present (later files override earlier ones), like ``glance-manage`` does. scrubctl's own options live
in a ``[scrubctl]`` group of the same files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from scrubctl.errors import BadInputError, ConfigError
from scrubctl.settings.encryption_key import check_key
from scrubctl.settings.oslo_syntax import DEFAULT_GROUP, OsloConfig
from scrubctl.settings.secrets import Secret

N = TypeVar("N", int, float)

DEFAULT_CONFIG_FILES = (
    Path("/etc/glance/glance-api.conf"),
    Path("/etc/glance/glance-scrubber.conf"),
)
SINGLE_STORE_GROUP = "glance_store"
BACKEND_DEFAULTS_GROUP = "backend_defaults"
RESERVED_STORES = ("os_glance_staging_store", "os_glance_tasks_store")
NODE_STAGING_URI = "node_staging_uri"
SCRUBCTL_GROUP = "scrubctl"
DEFAULT_CLAIM_TIMEOUT_SECONDS = 300
# The largest values scrubctl takes (beyond them dates, timers and sockets overflow): scrub_time up
# to a century, a claim's life up to a day, a store's timeouts up to a year.
LARGEST_SCRUB_TIME_SECONDS = 100 * 365 * 86400
LARGEST_DATABASE_TIMEOUT_SECONDS = 86_400  # a day: a socket wait longer than that is a mistake
LARGEST_CLAIM_TIMEOUT_SECONDS = 86400
LARGEST_TIMEOUT_SECONDS = 365 * 86400

# Glance driver serving each location URL scheme; an unlisted scheme is its own driver name.
SCHEME_DRIVERS = {
    "file": "file",
    "rbd": "rbd",
    "http": "http",
    "https": "http",
    "swift": "swift",
    "swift+http": "swift",
    "swift+https": "swift",
    "swift+config": "swift",
    "s3": "s3",
    "s3+http": "s3",
    "s3+https": "s3",
    "cinder": "cinder",
    "vsphere": "vmware",
}


# Options that show a driver is configured in [glance_store] (the fallback of rows without a store).
LEGACY_STORE_KEYS = {
    "file": ("filesystem_store_datadir", "filesystem_store_datadirs"),
    "rbd": ("rbd_store_pool", "rbd_store_ceph_conf"),
    "swift": ("swift_store_config_file", "default_swift_reference"),
    "s3": ("s3_store_host",),
}


def driver_for_scheme(scheme: str) -> str:
    """Return the Glance driver name that writes URLs of ``scheme``."""
    return SCHEME_DRIVERS.get(scheme, scheme)


@dataclass(frozen=True)
class StoreConfig:
    """The settings one backend reads: a multi-store backend section, or ``[glance_store]``."""

    name: str | None
    driver: str
    group: str
    config: OsloConfig = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """The store's name for messages: the backend name, or the driver in single-store mode."""
        return self.name or self.driver

    def get(self, key: str, default: str | None = None) -> str | None:
        """Return an option of this store, falling back to ``[backend_defaults]`` in multi-store."""
        value = self.config.get(self.group, key)
        if value is None and self.name is not None:
            value = self.config.get(BACKEND_DEFAULTS_GROUP, key)
        return default if value is None else value

    def get_all(self, key: str) -> list[str]:
        """Return every value of a multi-valued option of this store."""
        values = self.config.get_all(self.group, key)
        if not values and self.name is not None:
            values = self.config.get_all(BACKEND_DEFAULTS_GROUP, key)
        return values

    def get_float(self, key: str, default: float, maximum: float = LARGEST_TIMEOUT_SECONDS) -> float:
        """Return a numeric option (at most ``maximum``), or raise :class:`ConfigError` naming it."""
        text = self.get(key)
        value = _number(text, float, f"[{self.group}] {key} must be a number")
        if value is None:
            return default
        if not math.isfinite(value) or value > maximum:
            raise ConfigError(f"[{self.group}] {key} must be a number no larger than {maximum:g}, not {text!r}")
        return value


@dataclass(frozen=True)
class Settings:
    """Everything scrubctl reads from configuration, validated."""

    config: OsloConfig = field(repr=False)
    config_files: tuple[Path, ...]
    database_url: Secret
    scrub_time: int
    encryption_key: Secret | None
    enabled_backends: dict[str, str]
    default_backend: str | None
    audit_log: Path | None
    metrics_file: Path | None
    claim_timeout: int = DEFAULT_CLAIM_TIMEOUT_SECONDS
    wsrep_sync_wait: int | None = None
    database_timeout: int | None = None

    @property
    def multi_store(self) -> bool:
        """Whether Glance runs with ``enabled_backends`` (multi-store)."""
        return bool(self.enabled_backends)

    def store(self, name: str | None, scheme: str) -> StoreConfig:
        """Return the store settings for a location.

        ``name`` is the location's ``store`` (or legacy ``backend``) metadata; without it, the
        single-store ``[glance_store]`` settings apply (rows written before multi-store). Raises
        :class:`LookupError` with the reason when the store is unknown or does not serve ``scheme``.
        """
        driver = driver_for_scheme(scheme)
        if name is None or not self.multi_store:
            return StoreConfig(name=None, driver=driver, group=SINGLE_STORE_GROUP, config=self.config)
        configured = self.enabled_backends.get(name)
        if configured is None:
            raise LookupError(f"unknown store {name!r} (not in enabled_backends)")
        if configured != driver:
            raise LookupError(f"store {name!r} is a {configured} store, but the URL is {scheme}://")
        return StoreConfig(name=name, driver=configured, group=name, config=self.config)

    def configured_stores(self) -> list[StoreConfig]:
        """Return every store the configuration declares (for ``check`` and the systemd units).

        In multi-store mode that is every enabled backend, plus the ``[glance_store]`` settings that
        location rows without a store name fall back to, when that group configures a driver.
        """
        if self.multi_store:
            stores = [
                StoreConfig(name=name, driver=driver, group=name, config=self.config)
                for name, driver in self.enabled_backends.items()
            ]
            for driver, keys in LEGACY_STORE_KEYS.items():
                if any(self.config.get(SINGLE_STORE_GROUP, key) for key in keys):
                    stores.append(StoreConfig(name=None, driver=driver, group=SINGLE_STORE_GROUP, config=self.config))
            return stores
        names = self.config.get(SINGLE_STORE_GROUP, "stores") or self.config.get(SINGLE_STORE_GROUP, "default_store")
        drivers = [item.strip() for item in (names or "file").split(",") if item.strip()]
        return [
            StoreConfig(name=None, driver=driver, group=SINGLE_STORE_GROUP, config=self.config)
            for driver in dict.fromkeys(drivers)
        ]

    def staging_directories(self) -> list[tuple[StoreConfig, Path]]:
        """Glance's staging and tasks directories as configured: ``[os_glance_staging_store]`` and
        ``[os_glance_tasks_store]`` ``filesystem_store_datadir`` (multi-store), or ``[DEFAULT]
        node_staging_uri`` when it is set to a ``file://`` URL. Per node: each node has its own."""
        found: list[tuple[StoreConfig, Path]] = []
        for group in RESERVED_STORES:
            directory = self.config.get(group, "filesystem_store_datadir")
            if directory:
                found.append((StoreConfig(name=group, driver="file", group=group, config=self.config), Path(directory)))
        uri = self.config.get(DEFAULT_GROUP, NODE_STAGING_URI)
        if not found and uri and uri.startswith("file://"):
            store = StoreConfig(name="staging", driver="file", group=DEFAULT_GROUP, config=self.config)
            found.append((store, Path(uri[len("file://") :])))
        return found

    def store_names(self) -> list[str]:
        """The names a location's store goes by (``--store``): every configured backend, and the
        driver for rows without a store name (``[glance_store]``)."""
        return list(dict.fromkeys(store.label for store in self.configured_stores()))

    def known_store(self, name: str | None) -> str | None:
        """Return ``name`` when it names a configured store (or is ``None``); raise
        :class:`BadInputError` naming the configured stores otherwise."""
        if name is None or name in self.store_names():
            return name
        raise BadInputError(f"unknown store {name!r}; the configured stores are {', '.join(self.store_names())}")


def default_config_files() -> list[Path]:
    """Return the default files that exist on this machine, in reading order."""
    return [path for path in DEFAULT_CONFIG_FILES if path.exists()]


def load_settings(config_files: Sequence[Path] | None, database_url: str | None) -> Settings:
    """Read and validate the configuration.

    ``config_files`` are read in order (``None`` means the defaults that exist); ``database_url``
    (from ``--db-url`` or ``SCRUBCTL_DB_URL``) overrides ``[database] connection``.
    """
    paths = list(config_files) if config_files else default_config_files()
    config = OsloConfig.from_files(paths)
    url = database_url or config.get("database", "connection")
    if not url:
        where = ", ".join(str(path) for path in paths) or "no configuration file found"
        raise ConfigError(f"no database URL: set [database] connection ({where}), --db-url or SCRUBCTL_DB_URL")
    key = config.get(DEFAULT_GROUP, "metadata_encryption_key")
    if key:
        check_key(key)
    backends = parse_enabled_backends(config.get(DEFAULT_GROUP, "enabled_backends"))
    default_backend = config.get(SINGLE_STORE_GROUP, "default_backend")
    if backends and default_backend and default_backend not in backends:
        raise ConfigError(f"[glance_store] default_backend {default_backend!r} is not in enabled_backends")
    return Settings(
        config=config,
        config_files=tuple(paths),
        database_url=Secret(url),
        scrub_time=_non_negative_int(
            config, DEFAULT_GROUP, "scrub_time", default=0, maximum=LARGEST_SCRUB_TIME_SECONDS
        ),
        encryption_key=Secret(key) if key else None,
        enabled_backends=backends,
        default_backend=default_backend,
        audit_log=_optional_path(config.get(SCRUBCTL_GROUP, "audit_log")),
        metrics_file=_optional_path(config.get(SCRUBCTL_GROUP, "metrics_file")),
        claim_timeout=_claim_timeout(config),
        wsrep_sync_wait=_wsrep_sync_wait(config),
        database_timeout=_database_timeout(config),
    )


def parse_enabled_backends(text: str | None) -> dict[str, str]:
    """Parse ``enabled_backends = fast:file, cheap:rbd`` into ``{"fast": "file", "cheap": "rbd"}``."""
    backends: dict[str, str] = {}
    if not text:
        return backends
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, separator, driver = item.partition(":")
        name, driver = name.strip(), driver.strip()
        if not separator or not name or not driver:
            raise ConfigError(f"enabled_backends entry {item!r} is not NAME:DRIVER")
        if name in backends:
            raise ConfigError(f"enabled_backends names {name!r} twice")
        if name in RESERVED_STORES:
            raise ConfigError(f"enabled_backends uses the reserved store name {name!r}")
        backends[name] = driver
    return backends


def _number(text: str | None, parse: Callable[[str], N], invalid: str) -> N | None:
    """An option's value read by ``parse`` (``int``, ``float``); ``None`` when the option is unset or
    empty, :class:`ConfigError` with the message ``invalid`` when it is not a number."""
    if text is None or text == "":
        return None
    try:
        return parse(text)
    except ValueError:
        raise ConfigError(invalid) from None


def _non_negative_int(config: OsloConfig, group: str, key: str, default: int, maximum: int) -> int:
    text = config.get(group, key)
    value = _number(text, int, f"[{group}] {key} must be a whole number of seconds, not {text!r}")
    if value is None:
        return default
    if value < 0:
        raise ConfigError(f"[{group}] {key} must not be negative")
    if value > maximum:
        raise ConfigError(f"[{group}] {key} must be at most {maximum} seconds, not {text!r}")
    return value


def _claim_timeout(config: OsloConfig) -> int:
    """``[scrubctl] claim_timeout``: seconds after which a claim whose holder stopped renewing it expires."""
    value = _non_negative_int(
        config,
        SCRUBCTL_GROUP,
        "claim_timeout",
        default=DEFAULT_CLAIM_TIMEOUT_SECONDS,
        maximum=LARGEST_CLAIM_TIMEOUT_SECONDS,
    )
    if value < 1:
        raise ConfigError(f"[{SCRUBCTL_GROUP}] claim_timeout must be at least 1 second")
    return value


def _database_timeout(config: OsloConfig) -> int | None:
    """``[scrubctl] database_timeout``: seconds a read or write on the database's socket may wait
    (unset: the URL's ``read_timeout``/``write_timeout``, else 60)."""
    if config.get(SCRUBCTL_GROUP, "database_timeout") in (None, ""):
        return None
    value = _non_negative_int(
        config, SCRUBCTL_GROUP, "database_timeout", default=0, maximum=LARGEST_DATABASE_TIMEOUT_SECONDS
    )
    if value < 1:
        raise ConfigError(f"[{SCRUBCTL_GROUP}] database_timeout must be at least 1 second")
    return value


def _wsrep_sync_wait(config: OsloConfig) -> int | None:
    """oslo.db's ``[database] mysql_wsrep_sync_wait`` (a bitmask 0-15), when the operator set it."""
    text = config.get("database", "mysql_wsrep_sync_wait")
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) > 15:
        raise ConfigError(f"[database] mysql_wsrep_sync_wait must be a number from 0 to 15, not {text!r}")
    return int(text)


def _optional_path(text: str | None) -> Path | None:
    return Path(text) if text else None

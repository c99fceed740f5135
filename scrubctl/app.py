"""The application object every command receives: settings, database, deleters, renderer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scrubctl.settings.secrets import mask_text, url_password

# What a command needs is imported when it first asks for it: --help, --version and completion import
# neither SQLAlchemy nor rich.
if TYPE_CHECKING:
    from sqlalchemy import Connection

    from scrubctl.backends import DeleterRegistry
    from scrubctl.glance.database import GlanceDatabase
    from scrubctl.glance.locations import LocationDecoder
    from scrubctl.glance.pending import PendingQueue
    from scrubctl.output.renderer import Renderer
    from scrubctl.settings.config import Settings
    from scrubctl.unattended.audit import AuditTrail


@dataclass
class Application:
    """Built once by the root command and handed to every command through ``ctx.obj``."""

    config_files: tuple[Path, ...] = ()
    database_url: str | None = None
    verbosity: int = 0
    debug: bool = False
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _database: GlanceDatabase | None = field(default=None, init=False, repr=False)
    _read_only: bool = field(default=False, init=False, repr=False)
    _registry: DeleterRegistry | None = field(default=None, init=False, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)

    def override(
        self,
        *,
        config_files: tuple[Path, ...] | None = None,
        database_url: str | None = None,
        verbosity: int | None = None,
        debug: bool | None = None,
    ) -> None:
        """Change a global option given after the command name (before anything was read)."""
        if self._settings is not None:
            raise RuntimeError("global options changed after the configuration was read")
        if config_files is not None:
            self.config_files = config_files
        if database_url is not None:
            self.database_url = database_url
        if verbosity is not None:
            self.verbosity = verbosity
        if debug is not None:
            self.debug = debug

    @property
    def settings(self) -> Settings:
        """The configuration, read and validated on first use."""
        if self._settings is None:
            from scrubctl.settings.config import load_settings

            self._settings = load_settings(self.config_files or None, self.database_url)
        return self._settings

    @property
    def registry(self) -> DeleterRegistry:
        """The deleters available, by URL scheme."""
        if self._registry is None:
            from scrubctl.backends import DeleterRegistry

            self._registry = DeleterRegistry(options={"debug": "true"} if self.debug else None)
        return self._registry

    def database(self, pool_size: int = 5, *, read_only: bool = False) -> GlanceDatabase:
        """The Glance database, checked to be one on first use.

        A command that only reads (or runs ``--dry-run``) asks for it ``read_only``: SQLite is then
        opened read-only and MySQL/MariaDB sessions are read-only, so nothing can be written by
        mistake. A missing SQLite file is never created (:class:`~scrubctl.errors.DatabaseError`).
        """
        if self._database is None:
            from scrubctl.glance.opening import open_database

            database = open_database(
                self.settings.database_url,
                pool_size=pool_size,
                read_only=read_only,
                wsrep_sync_wait=self.settings.wsrep_sync_wait,
                timeout=self.settings.database_timeout,
            )
            database.verify()
            self._database, self._read_only = database, read_only
        elif self._read_only and not read_only:
            raise RuntimeError("the database was opened read-only for this command")
        return self._database

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[Connection]:
        """A connection to the verified Glance database (read-only: see :meth:`database`)."""
        with self.database(read_only=read_only).connect() as connection:
            yield connection

    def decoder(self) -> LocationDecoder:
        """A location decoder for this configuration and these deleters."""
        from scrubctl.glance.locations import LocationDecoder

        return LocationDecoder(self.settings, set(self.registry.schemes))

    def pending_queue(self) -> PendingQueue:
        """The pending queue, read with the configured ``scrub_time``."""
        from scrubctl.glance.pending import PendingQueue

        return PendingQueue(self.decoder(), self.settings.scrub_time)

    def audit_trail(self, path: Path | None = None) -> AuditTrail:
        """Where every change is recorded before it is committed: ``path`` (``--audit-log``), else
        ``[scrubctl] audit_log``, else nowhere."""
        from scrubctl.unattended.audit import JsonLinesAudit, NullAudit

        chosen = path or self.settings.audit_log
        if chosen is None:
            return NullAudit()
        trail = JsonLinesAudit(chosen)
        self._closers.append(trail.close)
        return trail

    def metrics_file(self, path: Path | None = None) -> Path | None:
        """Where to write Prometheus metrics: ``--metrics-file``, else ``[scrubctl] metrics_file``."""
        return path or self.settings.metrics_file

    def renderer(self, output_format: str = "table", columns: Sequence[str] = ()) -> Renderer:
        """A renderer for this command's chosen output."""
        from scrubctl.output.renderer import Renderer

        return Renderer(output_format=output_format, columns=columns)

    def mask(self, text: str) -> str:
        """Remove every known secret from ``text``."""
        secrets: list[str] = []
        if self.database_url:
            secrets.append(url_password(self.database_url))
        if self._settings is not None:
            secrets.append(url_password(self._settings.database_url.reveal()))
            if self._settings.encryption_key is not None:
                secrets.append(self._settings.encryption_key.reveal())
        return mask_text(text, [secret for secret in secrets if len(secret) >= 3])

    def close(self) -> None:
        """Release the database connections and close the audit trail."""
        for closer in self._closers:
            closer()
        if self._database is not None:
            self._database.dispose()

"""A third party's store, written only against scrubctl's public protocols (``Deleter`` and
``Inventory``) and registered as a third party registers one, through the ``scrubctl.deleters``
entry points: ``memo://<bucket>/<name>`` locations, each a file named ``<name>`` in the store's
``memo_directory``. The tests show that ``orphans`` matches its rows without knowing it."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked
from scrubctl.backends.inventory import DATA, Examined, StoredPiece, last_component
from scrubctl.errors import BackendUnavailableError
from scrubctl.settings.config import StoreConfig

SCHEME = "memo"


class MemoDeleter:
    """Files of one directory, named by ``memo://<bucket>/<name>`` URLs."""

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.directory = Path(store.get("memo_directory") or "/nonexistent/memo")
        self.bucket = store.get("memo_bucket") or "memo"

    def url(self, name: str) -> str:
        """The URL this store's writer records for ``name``."""
        return f"{SCHEME}://{self.bucket}/{name}"

    def _name(self, url: str) -> str | None:
        """The name a URL gives in this store's bucket, or ``None`` for another bucket or scheme."""
        scheme, separator, rest = url.partition("://")
        bucket, slash, name = rest.partition("/")
        if not separator or scheme.lower() != SCHEME or bucket != self.bucket or not slash:
            return None
        return name if name and "/" not in name and name not in (".", "..") else None

    def _path(self, url: str) -> Path:
        name = self._name(url)
        if name is None:
            raise LocationBlocked(f"{url} is not in memo bucket {self.bucket}")
        if not self.directory.is_dir():
            raise BackendUnavailableError(f"memo directory {self.directory} is missing")
        return self.directory / name

    # -- Deleter ------------------------------------------------------------------------------

    def erase(self, url: str, *, dry_run: bool) -> EraseResult:
        path = self._path(url)
        if not path.exists():
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{path} already gone", 0)
        size = path.stat().st_size
        if dry_run:
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would remove {path}", size)
        path.unlink()
        return EraseResult(EraseOutcome.ERASED, f"removed {path}", size)

    def exists(self, url: str) -> bool:
        return self._path(url).exists()

    def blockers(self, url: str) -> list[str]:
        try:
            self._path(url)
        except LocationBlocked as blocked:
            return [str(blocked)]
        return []

    def check(self) -> list[str]:
        return [] if self.directory.is_dir() else [f"memo directory {self.directory} is missing"]

    def close(self) -> None:
        pass

    # -- Inventory ----------------------------------------------------------------------------

    def inventory(self) -> Iterator[StoredPiece]:
        if not self.directory.is_dir():
            raise BackendUnavailableError(f"memo directory {self.directory} is missing")
        for entry in sorted(os.scandir(self.directory), key=lambda entry: entry.name):
            yield StoredPiece(self.url(entry.name), self._key(entry.name), entry.name, DATA)

    def _key(self, name: str) -> str:
        return f"{SCHEME}:{self.bucket}/{name}"

    def examine(self, piece: StoredPiece) -> Examined:
        path = self.directory / piece.name
        if not path.exists():
            return Examined(exists=False)
        modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None)
        return Examined(exists=True, bytes=path.stat().st_size, created_at=modified, last_activity=modified)

    def read_chunks(self, url: str) -> Iterator[bytes]:
        yield self._path(url).read_bytes()

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        return self.erase(piece.url, dry_run=dry_run)

    def scope(self) -> tuple[str, ...]:
        return (f"{SCHEME}:{self.bucket}/",) if self.directory.is_dir() else ()

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        name = self._name(url)
        return () if name is None else (self._key(name),)

    def needs_store(self, url: str) -> bool:
        return False

    def named_by_last_component(self) -> tuple[str, ...]:
        return (f"{SCHEME}://",)

    def may_name(self, url: str, names: Collection[str]) -> bool:
        return last_component(url) in names

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        return (piece.url,)

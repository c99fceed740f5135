"""The files of Glance's image cache on this node (``[DEFAULT] image_cache_dir`` and its
``incomplete/``, ``invalid/`` and ``queue/``), listed and erased as an inventory no location row
matches; which of them are orphans is :mod:`scrubctl.orphans.cache`'s to judge."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import Examined, StoredPiece
from scrubctl.glance.image_cache import CACHE_DIR_OPTION, NODE_OPTION, forget_cached
from scrubctl.orphans.model import CACHE_KIND, StoreScan
from scrubctl.settings.config import Settings, StoreConfig

CACHE_STORE = "image_cache"
SUBDIRECTORIES = ("incomplete", "invalid", "queue")
READ_CHUNK = 1024 * 1024


class CacheInventory:
    """Lists and erases the files of this node's image cache (an inventory no location row matches)."""

    def __init__(self, store: StoreConfig, directory: Path, node_url: str | None) -> None:
        self.store = store
        self.directory = directory
        self.node_url = node_url
        self.node: int | None = None
        self.engine: Engine | None = None

    def inventory(self) -> Iterator[StoredPiece]:
        """Every regular file of the cache directory (not the SQLite driver's ``*.db``) and of its
        ``incomplete/``, ``invalid/`` and ``queue/``; ``trash_id`` names the subdirectory (``""``)."""
        for sub in ("", *SUBDIRECTORIES):
            folder = self.directory / sub if sub else self.directory
            try:
                entries = os.scandir(folder)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise LocationFailed(f"cannot list the image cache {folder}: {error.strerror}") from None
            with entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".db"):
                        path = os.path.join(folder, entry.name)
                        yield StoredPiece(f"file://{path}", f"cache:{path}", entry.name, CACHE_KIND, trash_id=sub)

    def _path(self, piece: StoredPiece) -> Path:
        sub = piece.trash_id or ""
        if sub not in ("", *SUBDIRECTORIES) or "/" in piece.name or piece.name in ("", ".", ".."):
            raise LocationBlocked(f"{piece.url} is not a file of the image cache {self.directory}")
        return (self.directory / sub if sub else self.directory) / piece.name

    def examine(self, piece: StoredPiece) -> Examined:
        """Size and modification time of one file."""
        try:
            status = os.lstat(self._path(piece))
        except FileNotFoundError:
            return Examined(exists=False)
        except OSError as error:
            return Examined(exists=True, blockers=(f"cannot inspect {piece.url}: {error.strerror}",))
        if not stat.S_ISREG(status.st_mode):
            return Examined(exists=True, blockers=(f"{piece.url} is not a regular file",))
        modified = datetime.fromtimestamp(status.st_mtime, timezone.utc).replace(tzinfo=None, microsecond=0)
        return Examined(exists=True, bytes=status.st_size, created_at=modified, last_activity=modified)

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """Unlink the file, then delete this node's ``cached_images`` row of a cached copy."""
        path = self._path(piece)
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            status = None
        if status is not None and not stat.S_ISREG(status.st_mode):
            raise LocationBlocked(f"{path} is not a regular file")
        size = 0 if status is None else status.st_size
        if dry_run:
            if status is None:
                return EraseResult(EraseOutcome.ALREADY_GONE, f"{path} already gone", 0)
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would unlink {path}", size)
        removed = True
        try:
            os.unlink(path)
        except FileNotFoundError:
            removed = False
        except OSError as error:
            raise LocationFailed(f"cannot unlink {path}: {error.strerror}") from None
        rows = 0
        if not piece.trash_id and self.engine is not None and self.node is not None:
            with self.engine.begin() as connection:
                rows = forget_cached(connection, self.node, piece.name)
        detail = f"unlinked {path}" if removed else f"{path} already gone"
        detail += "; removed this node's cached_images row" if rows else ""
        outcome = EraseOutcome.ERASED if removed or rows else EraseOutcome.ALREADY_GONE
        return EraseResult(outcome, detail, size if removed else 0)

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """Read a cached file in chunks of 1 MiB."""
        with open(url.removeprefix("file://"), "rb") as data:
            while chunk := data.read(READ_CHUNK):
                yield chunk

    def scope(self) -> tuple[str, ...]:
        """None: no location row names a cached copy."""
        return ()

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """None: a location row never names a cached copy."""
        return ()

    def needs_store(self, url: str) -> bool:
        """Never."""
        return False

    def named_by_last_component(self) -> tuple[str, ...]:
        """``file:///`` (trivially: no row names a cached copy), so that the file stores' rows are still
        passed over by their last component."""
        return ("file:///",)

    def may_name(self, url: str, names: object) -> bool:
        """Never: no location row names a cached copy."""
        return False

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """None."""
        return ()

    # -- the Deleter side: erasing goes through erase_piece only --------------------------------

    def erase(self, url: str, *, dry_run: bool) -> EraseResult:
        """Refused: a cached copy is erased by ``orphans --reclaim`` (its row goes with it)."""
        raise LocationBlocked("a cached copy is erased by `scrubctl orphans --reclaim` only")

    def exists(self, url: str) -> bool:
        """Whether the file is there."""
        return Path(url.removeprefix("file://")).is_file()

    def blockers(self, url: str) -> list[str]:
        """Nothing beyond what the scan says."""
        return []

    def check(self) -> list[str]:
        """The cache directory must be writable to reclaim in it."""
        writable = os.access(self.directory, os.W_OK | os.X_OK)
        return [] if writable else [f"image cache {self.directory} is not writable by this user"]

    def close(self) -> None:
        """Nothing to release."""


def cache_location(settings: Settings, only: str | None) -> tuple[StoreConfig, CacheInventory] | StoreScan | None:
    """This node's image cache to scan when ``image_cache_dir`` is set (or why not: no such directory here)."""
    directory = settings.config.get("DEFAULT", CACHE_DIR_OPTION)
    if not directory or (only is not None and only != CACHE_STORE):
        return None
    store = StoreConfig(name=CACHE_STORE, driver="file", group="DEFAULT", config=settings.config)
    if not Path(directory).is_dir():
        return StoreScan(CACHE_STORE, "file", False, f"image cache {directory} does not exist on this node")
    return store, CacheInventory(store, Path(directory), settings.config.get("DEFAULT", NODE_OPTION) or None)

"""The ``file`` deleter: erases the files of Glance's filesystem store, and nothing else.

URLs are read as glance_store writes them: ``file://`` followed by the path verbatim (no
unquoting). Unlike glance_store, which unlinks any path it is handed, only a regular file whose real
location lies inside one of the store's configured data directories is erased; ``..``, symbolic
links, directories, devices and paths outside the store are refused with the reason.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

from scrubctl.backends.base import EraseOutcome, EraseResult, LocationBlocked, LocationFailed
from scrubctl.backends.inventory import DATA, Examined, StoredPiece, last_component
from scrubctl.errors import BackendUnavailableError, read_only_message
from scrubctl.settings.config import StoreConfig

DEFAULT_DATADIR = "/var/lib/glance/images"
READ_CHUNK = 1024 * 1024


def data_directories(store: StoreConfig) -> list[Path]:
    """Return the store's data directories: ``filesystem_store_datadir`` and every
    ``filesystem_store_datadirs = PATH[:PRIORITY]`` entry (split on the last ``:``)."""
    directories: list[str] = []
    single = store.get("filesystem_store_datadir")
    if single:
        directories.append(single)
    for entry in store.get_all("filesystem_store_datadirs"):
        path, separator, priority = entry.strip().rpartition(":")
        directories.append(path if separator and priority.strip().isdigit() else entry.strip())
    if not directories:
        directories.append(DEFAULT_DATADIR)
    return [Path(directory) for directory in dict.fromkeys(directories) if directory]


def path_from_url(url: str) -> str:
    """Return the filesystem path of a ``file://`` URL, exactly as glance_store reads it."""
    if not url.startswith("file://"):
        raise LocationBlocked(f"not a file:// URL: {url}")
    path = url[len("file://") :]
    if not path.startswith("/"):
        raise LocationBlocked(f"file URL does not name an absolute path: {url}")
    return path


@functools.lru_cache(maxsize=4096)
def real_directory(directory: str) -> str:
    """The real path of a directory (cached: location rows share a handful of directories)."""
    return os.path.realpath(directory)


def file_key(path: str) -> str:
    """``file:<real directory>/<name>``: the file a path names, whatever symlinked alias of its
    directory, doubled slash or ``.`` the row was written with."""
    directory, _, name = path.rpartition("/")
    return f"file:{real_directory(directory or '/')}/{name}"


class FileDeleter:
    """Erases files inside the data directories of one filesystem store."""

    erases_locally = True  # an unlink: a scrub may claim larger batches of such images

    def __init__(self, store: StoreConfig, options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.directories = data_directories(store)
        # Real paths resolved once per run: every later erase acts on the path resolved here, so a
        # directory replaced by a link meanwhile cannot lead it outside the store.
        self._real_parents: dict[str, Path] = {}
        self._real_directories: dict[Path, Path] = {}
        self.area = DATA  # what inventory() calls its files (a staging directory's are STAGING)
        self._key_prefixes: tuple[str, ...] | None = None

    def _resolve(self, url: str) -> tuple[Path, Path]:
        """Return ``(data directory, checked path)`` or raise :class:`LocationBlocked`."""
        raw = path_from_url(url)
        if "\0" in raw:
            raise LocationBlocked("file path contains a NUL byte")
        if ".." in raw.split("/"):
            raise LocationBlocked(f"file path {raw} contains '..'")
        parent, _, name = raw.rpartition("/")
        real_parent = self._real_parents.get(parent)
        if real_parent is None:
            real_parent = self._real_parents.setdefault(parent, Path(os.path.realpath(parent or "/")))
        for directory in self.directories:
            real_directory = self._real_directory(directory)
            if real_parent == real_directory or real_directory in real_parent.parents:
                return real_directory, real_parent / name
        stores = ", ".join(str(directory) for directory in self.directories)
        raise LocationBlocked(f"file {raw} lies outside the data directories of store {self.store.label} ({stores})")

    def _real_directory(self, directory: Path) -> Path:
        real = self._real_directories.get(directory)
        if real is None:
            if not directory.is_dir():
                raise BackendUnavailableError(
                    f"data directory {directory} of store {self.store.label} does not exist or is not a directory"
                )
            real = self._real_directories.setdefault(directory, Path(os.path.realpath(directory)))
        return real

    def _still_there(self, directory: Path) -> None:
        """A file is missing: make sure its data directory did not vanish (never "already gone" then)."""
        if not directory.is_dir():
            raise BackendUnavailableError(f"data directory {directory} of store {self.store.label} has disappeared")

    def _regular_file(self, path: Path) -> os.stat_result | None:
        """Return the file's status, ``None`` if it is gone, or refuse anything but a regular file."""
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise LocationFailed(f"cannot inspect {path}: {error.strerror}") from None
        if stat.S_ISLNK(status.st_mode):
            raise LocationBlocked(f"{path} is a symbolic link, not the image's data file")
        if stat.S_ISDIR(status.st_mode):
            raise LocationBlocked(f"{path} is a directory")
        if not stat.S_ISREG(status.st_mode):
            raise LocationBlocked(f"{path} is not a regular file (device, socket or pipe)")
        return status

    def erase(self, url: str, *, dry_run: bool) -> EraseResult:
        """Unlink the image file; a file already gone counts as erased."""
        directory, path = self._resolve(url)
        status = self._regular_file(path)
        if status is None:
            self._still_there(directory)
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{path} already gone", 0)
        if dry_run:
            return EraseResult(EraseOutcome.WOULD_ERASE, f"would unlink {path}", status.st_size)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return EraseResult(EraseOutcome.ALREADY_GONE, f"{path} already gone", 0)
        except OSError as error:
            if error.errno == errno.EROFS:  # the whole store: outside a unit's ReadWritePaths, a read-only mount
                subject = f"the data directory {directory} of store {self.store.label}"
                raise BackendUnavailableError(read_only_message(subject)) from None
            raise LocationFailed(f"cannot unlink {path}: {error.strerror}") from None
        return EraseResult(EraseOutcome.ERASED, f"unlinked {path}", status.st_size)

    def exists(self, url: str) -> bool:
        """Tell whether the image file is still there."""
        directory, path = self._resolve(url)
        if self._regular_file(path) is not None:
            return True
        self._still_there(directory)
        return False

    def blockers(self, url: str) -> list[str]:
        """Name what forbids erasing this URL (a path outside the store, a link, a directory...)."""
        try:
            _directory, path = self._resolve(url)
            self._regular_file(path)
        except (LocationBlocked, LocationFailed) as problem:
            return [str(problem)]
        return []

    def check(self) -> list[str]:
        """Every data directory must exist and be writable (erasing needs write access to it)."""
        problems = []
        for directory in self.directories:
            if not directory.is_dir():
                problems.append(f"data directory {directory} does not exist or is not a directory")
            elif not os.access(directory, os.W_OK | os.X_OK):
                problems.append(f"data directory {directory} is not writable by this user")
        return problems

    def close(self) -> None:
        """Nothing to release."""

    # -- the optional Inventory (scrubctl.backends.inventory) ----------------------------------

    def inventory(self) -> Iterator[StoredPiece]:
        """Every regular file directly in the store's data directories (one listing each, no stat)."""
        for directory in self.directories:
            real = self._real_directory(directory)
            try:
                entries = os.scandir(directory)
            except OSError as error:
                raise BackendUnavailableError(f"cannot list {directory} of store {self.store.label}: {error}") from None
            url_prefix, key_prefix = "file://" + os.path.join(str(directory), ""), f"file:{real}/"
            area = self.area
            with entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        name = entry.name
                        yield StoredPiece(url_prefix + name, key_prefix + name, name, area)

    def examine(self, piece: StoredPiece) -> Examined:
        """Size and modification time of one file, and what forbids erasing it."""
        try:
            _directory, path = self._resolve(piece.url)
            status = self._regular_file(path)
        except (LocationBlocked, LocationFailed) as problem:
            return Examined(exists=True, blockers=(str(problem),))
        if status is None:
            return Examined(exists=False)
        modified = datetime.fromtimestamp(status.st_mtime, timezone.utc).replace(tzinfo=None)
        return Examined(exists=True, bytes=status.st_size, created_at=modified, last_activity=modified)

    def erase_piece(self, piece: StoredPiece, *, dry_run: bool) -> EraseResult:
        """Erase a listed file exactly as :meth:`erase` does."""
        return self.erase(piece.url, dry_run=dry_run)

    def scope(self) -> tuple[str, ...]:
        """``file:<real data directory>/`` of each data directory that exists."""
        return tuple(f"file:{os.path.realpath(directory)}/" for directory in self.directories if directory.is_dir())

    def read_chunks(self, url: str) -> Iterator[bytes]:
        """Read a file of the store in chunks of 1 MiB."""
        _directory, path = self._resolve(url)
        if self._regular_file(path) is None:
            raise LocationFailed(f"{path} is gone")
        with open(path, "rb") as data:
            while chunk := data.read(READ_CHUNK):
                yield chunk

    # -- matching -----------------------------------------------------------------------------

    def location_keys(self, url: str, store: StoreConfig | None) -> tuple[str, ...]:
        """``file:<real directory>/<name>`` of a ``file://`` URL whose path lies in one of this store's
        data directories (the path as glance_store reads it, whatever the scheme's case)."""
        scheme, separator, path = url.partition("://")
        if not separator or scheme.lower() != "file" or not path.startswith("/"):
            return ()
        key = file_key(path)
        if self._key_prefixes is None:  # resolved once per run, as the erases' directories are
            self._key_prefixes = tuple(f"file:{os.path.realpath(directory)}/" for directory in self.directories)
        return (key,) if key.startswith(self._key_prefixes) else ()

    def needs_store(self, url: str) -> bool:
        """Never: a ``file://`` URL holds its whole path."""
        return False

    def named_by_last_component(self) -> tuple[str, ...]:
        """``file:///``: a path names the file of its last component."""
        return ("file:///",)

    def may_name(self, url: str, names: Collection[str]) -> bool:
        """Its last component is a listed name."""
        return last_component(url) in names

    def location_texts(self, piece: StoredPiece) -> tuple[str, ...]:
        """The URL under the configured directory, and under its real path."""
        real = "file://" + piece.key[len("file:") :]
        return (piece.url,) if real == piece.url else (piece.url, real)

"""The Swift deleter itself, as the entry points name it: its erasing and listing, the probe of
``scrubctl check`` (the store's container, through its default reference), closing its sessions."""

from __future__ import annotations

import logging

from scrubctl.backends.swift.auth import default_reference, reference_credentials
from scrubctl.backends.swift.inventory import SwiftInventory
from scrubctl.backends.swift.objects import SwiftHttpError
from scrubctl.backends.swift.urls import truthy

logger = logging.getLogger(__name__)


class SwiftDeleter(SwiftInventory):
    """Erases the objects behind the locations of one Swift store (see the package docstring) as
    :class:`~scrubctl.backends.swift.erasing.SwiftErasing`; lists it as
    :class:`~scrubctl.backends.swift.inventory.SwiftInventory`."""

    def _probe(self) -> list[str]:
        """Authenticate with the store's default reference and HEAD its container."""
        reference = default_reference(self.store)
        if reference is None:
            logger.info("store %s: no default_swift_reference; locations carry their credentials", self.store.label)
            return []
        credentials = reference_credentials(self.store, reference)
        storage_url, token = self._authenticate(credentials)
        with self._native(f"reading container {self.container}"):
            try:
                self._connection(storage_url, token).head_container(self.container)
            except SwiftHttpError as error:
                if error.status == 404 and not truthy(self.store.get("swift_store_multi_tenant")):
                    return [f"container {self.container} of store {self.store.label} does not exist"]
                if error.status != 404:
                    raise
        return []

    def close(self) -> None:
        """Forget the sessions; this thread's connections are closed (the others' die with them)."""
        for connection in self._local.__dict__.get("connections", {}).values():
            try:
                connection.close()
            except OSError:  # closing must reach every connection
                logger.debug("closing a Swift connection failed", exc_info=True)
        self._local.__dict__.pop("connections", None)
        with self._lock:
            self._sessions.clear()

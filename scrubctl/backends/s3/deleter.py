"""The S3 deleter itself, as the entry points name it: its erasing and its listing, and the probe of
``scrubctl check`` (the store's bucket, with the store's keys)."""

from __future__ import annotations

import logging
from typing import Any

from scrubctl.backends.s3.inventory import S3Inventory
from scrubctl.backends.s3.urls import S3Url, host_of

logger = logging.getLogger(__name__)


class S3Deleter(S3Inventory):
    """Erases the objects behind the locations of one S3 store (see the package docstring) as
    :class:`~scrubctl.backends.s3.erasing.S3Erasing`; lists it as
    :class:`~scrubctl.backends.s3.inventory.S3Inventory`."""

    def _probe(self) -> list[str]:
        """The credentials work and the store's bucket exists (HEAD bucket)."""
        if not self.bucket:
            return [f"store {self.store.label} sets no s3_store_bucket"]
        if not (self.access_key and self._secret_key):
            logger.info("store %s: no s3_store_access_key/secret_key; locations carry their keys", self.store.label)
            return []
        probe = S3Url(scheme="s3", host=host_of(self.endpoint), bucket=self.bucket, key="")
        errors: Any = self._errors
        client = self._client(probe)
        with self._native(f"reading bucket {self.bucket}"):
            try:
                client.head_bucket(Bucket=self.bucket)
            except errors.ClientError as error:
                if self._missing(error):
                    return [f"bucket {self.bucket} of store {self.store.label} does not exist"]
                raise
        logger.info("store %s: bucket %s at %s answers", self.store.label, self.bucket, self.endpoint)
        return []

    def close(self) -> None:
        """Close the clients' connection pools."""
        with self._lock:
            for client in self._clients.values():
                try:
                    client.close()
                except Exception:  # closing must reach every client
                    logger.debug("closing an S3 client failed", exc_info=True)
            self._clients.clear()

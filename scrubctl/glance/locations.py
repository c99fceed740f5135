"""Turning stored location rows into URLs, stores and problems."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from scrubctl.glance.encryption import UndecryptableError, decrypt_url, looks_like_url
from scrubctl.settings.config import Settings, StoreConfig
from scrubctl.settings.secrets import mask_url

STORE_KEYS = ("store", "backend")  # "backend" is the pre-Train spelling, still found after skipped upgrades


@dataclass(frozen=True, slots=True)
class Location:
    """One location row, decoded.

    ``url`` is the plaintext URL (``None`` when it could not be decrypted); ``problem`` says why
    the location cannot be erased as it stands (``None`` when nothing is known to block it).
    """

    id: int
    image_id: str
    url: str | None
    store_name: str | None
    scheme: str | None
    status: str
    deleted_at: datetime | None
    store: StoreConfig | None
    problem: str | None
    encrypted: bool

    @property
    def shown_url(self) -> str:
        """The URL fit to print: userinfo masked; a placeholder when undecryptable."""
        return mask_url(self.url) if self.url is not None else "<undecryptable>"

    @property
    def store_label(self) -> str | None:
        """The store name, or the driver when the row names no store (single-store settings)."""
        if self.store_name:
            return self.store_name
        return self.store.label if self.store is not None else self.scheme


class LocationDecoder:
    """Decodes location rows with one configuration and one set of available deleters."""

    def __init__(self, settings: Settings, supported_schemes: set[str]) -> None:
        self._settings = settings
        self._key = settings.encryption_key.reveal() if settings.encryption_key else None
        self._supported = supported_schemes
        self._stores: dict[tuple[str | None, str], StoreConfig | str] = {}

    def decode_row(self, row: Mapping[Any, Any], image_id: str) -> Location:
        """Decode one ``image_locations`` row read as a mapping (its id, value, meta_data, status and
        deleted_at)."""
        return self.decode(
            location_id=row["id"],
            image_id=image_id,
            value=row["value"],
            meta_data=row["meta_data"],
            status=row["status"],
            deleted_at=row["deleted_at"],
        )

    def decode(
        self,
        *,
        location_id: int,
        image_id: str,
        value: str,
        meta_data: str | None,
        status: str,
        deleted_at: datetime | None,
    ) -> Location:
        """Decode one row: decrypt its URL, find its store, and name what blocks it."""
        problems: list[str] = []
        store_name, meta_problem = store_name_from_metadata(meta_data)
        if meta_problem:
            problems.append(meta_problem)
        url, encrypted, url_problem = self.decrypt(value)
        if url_problem:
            problems.append(url_problem)
        scheme = url_scheme(url) if url is not None else None
        store: StoreConfig | None = None
        if url is not None and scheme is None:
            problems.append("location URL has no scheme")
        if scheme is not None:
            resolved = self._store(store_name, scheme)
            if isinstance(resolved, str):
                problems.append(resolved)
            else:
                store = resolved
            if scheme not in self._supported:
                problems.append(f"no deleter for {scheme}:// locations")
        return Location(
            id=location_id,
            image_id=image_id,
            url=url,
            store_name=store_name,
            scheme=scheme,
            status=status,
            deleted_at=deleted_at,
            store=store,
            problem="; ".join(problems) or None,
            encrypted=encrypted,
        )

    def _store(self, store_name: str | None, scheme: str) -> StoreConfig | str:
        """The store for a location (cached per run), or the reason it is unknown."""
        key = (store_name, scheme)
        if key not in self._stores:
            try:
                self._stores[key] = self._settings.store(store_name, scheme)
            except LookupError as error:
                self._stores[key] = str(error)
        return self._stores[key]

    def decrypt(self, value: str) -> tuple[str | None, bool, str | None]:
        """Return ``(url, was_encrypted, problem)`` for a stored value, row by row.

        A plaintext URL is used as it is, even when a key is configured (rows written before the key
        was set); ciphertext without a key, or with the wrong one, is a problem for that row only.
        """
        if looks_like_url(value):
            return value, False, None
        if self._key is None:
            return None, True, "location URL is encrypted and no metadata_encryption_key is configured"
        try:
            return decrypt_url(self._key, value), True, None
        except UndecryptableError as error:
            return None, True, f"location URL cannot be decrypted: {error}"


@functools.lru_cache(maxsize=1024)
def store_name_from_metadata(meta_data: str | None) -> tuple[str | None, str | None]:
    """Return ``(store name, problem)`` from a location's ``meta_data`` JSON."""
    if not meta_data:
        return None, None
    try:
        parsed = json.loads(meta_data)
    except ValueError:
        return None, "location meta_data is not valid JSON"
    if not isinstance(parsed, dict):
        return None, "location meta_data is not a JSON object"
    for key in STORE_KEYS:
        name = parsed.get(key)
        if isinstance(name, str) and name:
            return name, None
    return None, None


_PLAIN_URL = re.compile(r"(file|rbd)://[^\[\]\s]*\Z")


def url_scheme(url: str) -> str | None:
    """Return the lower-cased scheme of a URL, or ``None``."""
    plain = _PLAIN_URL.match(url)
    if plain is not None:  # the common case, exactly what urlsplit says, much faster
        return sys.intern(plain.group(1))
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return None
    return scheme.lower() or None

"""Reading ``s3://``, ``s3+http://`` and ``s3+https://`` location URLs as glance_store writes them."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.object_urls import split_object_url

SCHEMES = ("s3", "s3+http", "s3+https")


@dataclass(frozen=True)
class S3Url:
    """One S3 location: the host it names, its bucket and key, and the keys it carries (up to
    glance_store 5.5, unquoted; ``None`` for the key-less form of 5.6 and later)."""

    scheme: str
    host: str
    bucket: str
    key: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``bucket/key``, for messages."""
        return f"{self.bucket}/{self.key}"


def parse_url(url: str) -> S3Url:
    """Split a location URL into host, bucket and key (the last two path parts), and the keys of
    ``access:secret@`` when present; raise :class:`LocationBlocked` for anything else.

    The keys are not percent-decoded, as glance_store never encoded them: a ``/`` or ``+`` in the
    secret is part of it, while an ``@`` or ``:`` in a key makes the URL ambiguous and is refused."""
    parts = split_object_url(
        url,
        SCHEMES,
        store="S3",
        named="an s3:// URL",
        layout="HOST/BUCKET/KEY",
        at_note=" (a key containing '@' cannot be read)",
    )
    access_key = secret_key = None
    if parts.credentials is not None:
        keys = parts.credentials.split(":")
        if len(keys) != 2 or not keys[0] or not keys[1]:
            raise LocationBlocked("S3 URL credentials are not ACCESS:SECRET")
        access_key, secret_key = keys
    pieces = parts.pieces
    return S3Url(
        scheme=parts.scheme,
        host="/".join(pieces[:-2]),
        bucket=pieces[-2],
        key=pieces[-1],
        access_key=access_key,
        secret_key=secret_key,
    )


def host_of(endpoint: str) -> str:
    """The host part Glance writes into URLs for an ``s3_store_host``: no scheme, no trailing ``/``."""
    _scheme, separator, rest = endpoint.partition("://")
    return (rest if separator else endpoint).strip("/").lower()

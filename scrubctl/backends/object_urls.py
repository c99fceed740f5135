"""The shape the object stores' location URLs share: ``SCHEME://[CREDENTIALS@]HOST[/PATH]/CONTAINER/NAME``
(Swift's container and object, S3's bucket and key), split once for both parsers."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from scrubctl.backends.base import LocationBlocked


@dataclass(frozen=True)
class ObjectUrlParts:
    """A location URL split: the scheme (lower case), the credentials before ``@`` as written (or
    ``None``), and the ``/``-separated parts after them, the last two the container and the name."""

    scheme: str
    credentials: str | None
    pieces: list[str]


def split_object_url(
    url: str, schemes: Collection[str], *, store: str, named: str, layout: str, at_note: str = ""
) -> ObjectUrlParts:
    """Split ``url`` of a ``store`` ("Swift", "S3") whose schemes are ``schemes``, or raise
    :class:`LocationBlocked` naming what is wrong (``named``: what such a URL is called, "a swift://
    URL"; ``layout``: the form its parts must have; the credentials are never repeated)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in schemes:
        raise LocationBlocked(f"not {named}")
    if "://" in rest:
        raise LocationBlocked(f"{store} URL holds '://' twice")
    credentials = None
    if "@" in rest:
        credentials, *after = rest.split("@")
        if len(after) != 1:
            raise LocationBlocked(f"{store} URL holds more than one '@'{at_note}")
        rest = after[0]
    pieces = rest.strip("/").split("/")
    if len(pieces) < 3 or not all(pieces[-2:]) or not pieces[0]:
        raise LocationBlocked(f"{store} URL must be {layout}")
    return ObjectUrlParts(scheme.lower(), credentials, pieces)

"""Reading ``rbd://`` location URLs exactly as glance_store does."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from scrubctl.backends.base import LocationBlocked

# The pool of an ``rbd://<image>`` location whose store sets no ``rbd_store_pool`` (glance_store's default).
DEFAULT_POOL = "images"


@dataclass(frozen=True)
class RbdUrl:
    """An ``rbd://`` location: the image, and for the four-component form its cluster, pool and snapshot."""

    image: str
    fsid: str | None = None
    pool: str | None = None
    snapshot: str | None = None


def parse_url(url: str) -> RbdUrl:
    """Parse a location URL exactly as glance_store does, or raise :class:`LocationBlocked`."""
    prefix = "rbd://"
    if not url.startswith(prefix):
        raise LocationBlocked(f"not an rbd:// URL: {url}")
    pieces = url[len(prefix) :].split("/")
    if len(pieces) not in (1, 4):
        raise LocationBlocked(f"RBD URL must have exactly 1 or 4 components, not {len(pieces)}: {url}")
    if any(piece == "" for piece in pieces):
        raise LocationBlocked(f"RBD URL has an empty component: {url}")
    if len(pieces) == 1:
        return RbdUrl(image=pieces[0])
    fsid, pool, image, snapshot = (unquote(piece) for piece in pieces)
    if "\0" in fsid + pool + image + snapshot:
        raise LocationBlocked(f"RBD URL decodes to a NUL byte (librbd would cut the name there): {url}")
    return RbdUrl(image=image, fsid=fsid, pool=pool, snapshot=snapshot)

"""Reading ``swift``, ``swift+http``, ``swift+https`` and ``swift+config`` location URLs as glance_store does."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.object_urls import split_object_url

SCHEMES = ("swift", "swift+http", "swift+https", "swift+config")
TRUE_WORDS = ("1", "true", "yes", "on")


def truthy(text: str | None) -> bool:
    """A boolean option as oslo.config reads it (``1``, ``true``, ``yes``, ``on``)."""
    return (text or "").strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class SwiftUrl:
    """One Swift location.

    ``reference`` names a section of ``swift_store_config_file`` (``swift+config``); otherwise
    ``address`` is the auth URL (credentials in the URL) or, with no credentials, the storage URL of
    the owner's account (multi-tenant). The last two path parts are the container and the object."""

    scheme: str
    container: str
    obj: str
    address: str = ""
    reference: str | None = None
    user: str | None = None
    key: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``container/object``, for messages."""
        return f"{self.container}/{self.obj}"

    @property
    def multi_tenant(self) -> bool:
        """A storage URL of the owner's account, with no credentials (``swift_store_multi_tenant``)."""
        return self.reference is None and self.user is None

    def http_address(self, secure_default: bool = True) -> str:
        """The address with its scheme: ``swift+http`` means http, ``swift``/``swift+https`` https."""
        if self.address.startswith(("http://", "https://")):
            return self.address
        secure = self.scheme in ("swift", "swift+https") or (self.scheme == "swift+config" and secure_default)
        return ("https://" if secure else "http://") + self.address


def parse_url(url: str) -> SwiftUrl:
    """Split a Swift location URL as glance_store does, or raise :class:`LocationBlocked`.

    Credentials ``user:key@`` are percent-decoded and split on the last ``:`` (the user is
    ``project:user``); the messages never repeat them."""
    parts = split_object_url(url, SCHEMES, store="Swift", named="a swift:// URL", layout="HOST[/PATH]/CONTAINER/OBJECT")
    scheme, pieces = parts.scheme, parts.pieces
    user = key = None
    if parts.credentials is not None:
        user, colon, key = unquote(parts.credentials).rpartition(":")
        if not colon or not user or not key:
            raise LocationBlocked("Swift URL credentials are not USER:KEY")
    container, obj = pieces[-2], pieces[-1]
    head = "/".join(pieces[:-2])
    if scheme == "swift+config":
        if user is not None or len(pieces) != 3:
            raise LocationBlocked("swift+config URL must be swift+config://REFERENCE/CONTAINER/OBJECT")
        return SwiftUrl(scheme=scheme, container=container, obj=obj, reference=head)
    return SwiftUrl(scheme=scheme, container=container, obj=obj, address=head, user=user, key=key)


def glance_storage_url(storage_url: str) -> str:
    """A storage URL as a multi-tenant store writes it into a location: ``swift+http://`` for an
    ``http://`` URL, ``swift+https://`` for any other."""
    address = storage_url.split("://", 1)[-1].rstrip("/")
    return ("swift+http://" if storage_url.startswith("http://") else "swift+https://") + address

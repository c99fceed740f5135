"""Keep secrets out of output: masked database URLs, location URLs and key values."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/@\s]*@)")
# glance_store wrote S3 keys unquoted: a secret may hold '/' (but never '@').
_S3_USERINFO = re.compile(r"(?P<scheme>\bs3(?:\+https?)?://)(?P<userinfo>[^@\s]*@)", re.IGNORECASE)


class Secret:
    """A string that never shows itself in ``str``, ``repr`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_url(url: str) -> str:
    """Mask the password (or whole userinfo) of every URL in ``url``.

    ``mysql+pymysql://glance:pw@db/glance`` becomes ``mysql+pymysql://glance:***@db/glance``;
    ``swift://account:key@auth/container/obj`` becomes ``swift://account:***@auth/...``.
    """

    def _replace(match: re.Match[str]) -> str:
        userinfo = match.group("userinfo")[:-1]
        user, _, _password = userinfo.partition(":")
        return f"{match.group('scheme')}{user}:{MASK}@" if user else f"{match.group('scheme')}{MASK}@"

    if "@" not in url:
        return url
    return _USERINFO.sub(_replace, _S3_USERINFO.sub(_replace, url))


def mask_text(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret value in ``text``, then mask URL userinfo."""
    for value in secrets:
        if value:
            text = text.replace(value, MASK)
    return mask_url(text)


def redact_database_url(url: str) -> str:
    """Return a database URL fit to print: the password masked, the rest kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_url(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:{MASK}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_password(url: str) -> str:
    """The password of a URL's userinfo ('' when none), to be masked wherever it might appear."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""

"""Keep secrets out of output: masked database URLs, location URLs and key values."""

from __future__ import annotations

import re

MASK = "***"

# The userinfo of a URL, whatever it holds: a user (no "/", ":" or "@"), then optionally ":" and a
# secret that may hold anything but whitespace and quotes, up to the last "@" of the URL. AWS secret
# keys hold "/" and "+", Swift users "tenant:user", and glance_store never percent-encoded them. A
# "/" right after "://" (file:///...) starts a path: there is no userinfo to mask.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s'\"<>/@:]*)(?P<secret>:[^\s'\"<>]*)?@")


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
    """Mask the userinfo of every URL in ``url`` (a URL or a line of text), whatever it holds.

    ``mysql+pymysql://glance:pw@db/glance`` becomes ``mysql+pymysql://glance:***@db/glance``;
    ``s3://AKIA...:wJal/K7+x@host/glance/ID`` becomes ``s3://AKIA...:***@host/glance/ID``;
    ``swift+http://tenant:user:key@auth/...`` becomes ``swift+http://tenant:***@auth/...``. When in
    doubt (an ``@`` later in the path), more is masked, never less.
    """
    if "@" not in url:
        return url
    return _USERINFO.sub(_replace, url)


def _replace(match: re.Match[str]) -> str:
    user = match.group("user")
    return f"{match.group('scheme')}{user}:{MASK}@" if user else f"{match.group('scheme')}{MASK}@"


def mask_text(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret value in ``text``, then mask URL userinfo."""
    for value in secrets:
        if value:
            text = text.replace(value, MASK)
    return mask_url(text)


def redact_database_url(url: str) -> str:
    """Return a database URL fit to print: the password masked (whatever it holds), the rest kept."""
    return mask_url(url) if url_password(url) else url


def url_password(url: str) -> str:
    """The password of a URL's userinfo ('' when none), to be masked wherever it might appear."""
    match = _USERINFO.match(url)
    if match is None or match.group("secret") is None:
        return ""
    return match.group("secret")[1:]

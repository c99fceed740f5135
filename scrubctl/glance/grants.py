"""What a MySQL/MariaDB account may do, read from ``SHOW GRANTS`` rather than found out by trying.

``SHOW GRANTS`` (without ``FOR``) lists the session's own grants and, on MariaDB, those of its active
role. Each line is parsed into a :class:`Grant`: privileges on the whole object, privileges on some
columns, and the object: every database (``*.*``), the databases a name pattern matches
(``` `glance`.* ```, ``%`` and ``_`` wildcards, ``\\`` escaping them), or one table.

A privilege is granted when one grantee (the account, or its active role) holds it globally, on the
table, on every column needed, or on the database through the one database-level grant the server
uses: like MariaDB, only the most specific pattern that matches counts (an exact name before
``glance%``, ``gl%`` after both; see :func:`generality`), not the union of every pattern that
matches. Where two patterns are equally specific the server's choice is not known, so both must
hold the privilege.

A line may carry a password hash (``IDENTIFIED BY PASSWORD``): lines are parsed, never shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

ALL = "ALL PRIVILEGES"
NAME_LENGTH = 64  # the longest database name, in characters
_NAME = re.compile(r"\s*([A-Z][A-Z_ ]*?)\s*(?=[(,]|\sON\s)")
_BARE_IDENTIFIER = re.compile(r"[A-Za-z0-9_$]+")
_GRANTEE = re.compile(r"\s+TO\s+(.+?)(?:\s+IDENTIFIED\s.*|\s+REQUIRE\s.*|\s+WITH\s.*)?$")
_ROUTINES = ("FUNCTION ", "PROCEDURE ", "PACKAGE ")


@dataclass(frozen=True)
class Grant:
    """One ``GRANT ... ON ... TO ...`` line of ``SHOW GRANTS``."""

    grantee: str
    privileges: frozenset[str]
    columns: Mapping[str, frozenset[str]] = field(default_factory=dict)
    database: str | None = None  # None: every database (*.*); else a name (a pattern for db.*)
    table: str | None = None  # None: every table of the database(s)

    def holds(self, privilege: str) -> bool:
        """Whether this grant gives ``privilege`` on its whole object."""
        return privilege in self.privileges or ALL in self.privileges


@dataclass(frozen=True)
class Need:
    """A privilege a run needs on one table (on these columns only, when ``columns`` is not empty)."""

    privilege: str
    table: str
    columns: tuple[str, ...] = ()

    def describe(self, database: str) -> str:
        """The need as an operator would grant it: ``UPDATE (status, deleted) ON glance.images``."""
        columns = f" ({', '.join(self.columns)})" if self.columns else ""
        return f"{self.privilege}{columns} ON {database}.{self.table}"


def describe_needs(needs: Iterable[Need], database: str) -> str:
    """Needs as one would grant them, the privileges on one table (or the same columns) together:
    ``CREATE, INSERT ON glance.scrubctl_claims``."""
    together: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for need in needs:
        together.setdefault((need.table, need.columns), []).append(need.privilege)
    return ", ".join(
        Need(", ".join(privileges), table, columns).describe(database)
        for (table, columns), privileges in together.items()
    )


def read_grants(connection: Connection) -> tuple[str, list[Grant]]:
    """The current database's name and the session's grants (``SHOW GRANTS``)."""
    database = connection.exec_driver_sql("SELECT DATABASE()").scalar()
    lines = [str(row[0]) for row in connection.exec_driver_sql("SHOW GRANTS")]
    grants = [grant for grant in map(parse_grant, lines) if grant is not None]
    return str(database or ""), grants


def missing_privileges(grants: Sequence[Grant], database: str, needs: Iterable[Need]) -> list[Need]:
    """The needs that no grantee's grants satisfy, in the order given."""
    by_grantee: dict[str, list[Grant]] = {}
    for grant in grants:
        by_grantee.setdefault(grant.grantee, []).append(grant)
    return [need for need in needs if not any(_allows(own, database, need) for own in by_grantee.values())]


def _allows(grants: Sequence[Grant], database: str, need: Need) -> bool:
    """Whether one grantee's grants give ``need`` in ``database``."""
    if any(grant.database is None and grant.holds(need.privilege) for grant in grants):
        return True
    patterns = [
        grant
        for grant in grants
        if grant.database is not None and grant.table is None and database_matches(grant.database, database)
    ]
    if patterns:
        best = min(generality(grant.database or "") for grant in patterns)
        chosen = [grant for grant in patterns if generality(grant.database or "") == best]
        if all(grant.holds(need.privilege) for grant in chosen):
            return True
    tables = [grant for grant in grants if grant.database == database and grant.table == need.table]
    if any(grant.holds(need.privilege) for grant in tables):
        return True
    covered = {column for grant in tables for column in grant.columns.get(need.privilege, frozenset())}
    return bool(need.columns) and {column.lower() for column in need.columns} <= covered


def database_matches(pattern: str, name: str) -> bool:
    """Whether a database-level grant's name pattern matches ``name`` (``%``: any run of characters,
    ``_``: any one character, a backslash makes the next character literal)."""
    expression: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if character == "\\" and index + 1 < len(pattern):
            expression.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        expression.append(".*" if character == "%" else "." if character == "_" else re.escape(character))
        index += 1
    return re.fullmatch("".join(expression), name, re.DOTALL) is not None


def generality(pattern: str) -> int:
    """How general a database pattern is, as MariaDB ranks them (the lowest matching one is used): 0
    for a name without wildcards; otherwise growing with the names the pattern could match (its
    ``%`` runs, what they leave of the 64 characters a name may have, its ``_``), and then with the
    length of the literal prefix before the first wildcard."""
    literal = one = many = prefix = 0
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if character in "%_":
            if not many and not one:
                prefix = literal
            if character == "%":
                many += 1
                while pattern.startswith("%", index + 1):
                    index += 1
            else:
                one += 1
        else:
            if character == "\\" and index + 1 < len(pattern):
                index += 1
            literal += 1
        index += 1
    many, one = min(many, 31), min(one, 31)
    free = NAME_LENGTH - literal - one if many else 0
    base, small = NAME_LENGTH + 1, min(NAME_LENGTH + 1, 32)
    if free > one:
        return (((free * 2 + 1) * base + many) * small + one) * base + prefix
    return (((one * 2) * base + free) * small + many) * base + prefix


def parse_grant(line: str) -> Grant | None:
    """Parse one line of ``SHOW GRANTS``; None for lines that grant no table privileges (roles,
    proxies, routines, ``SET DEFAULT ROLE``)."""
    if not line.startswith("GRANT "):
        return None
    privileges: set[str] = set()
    columns: dict[str, set[str]] = {}
    position = len("GRANT ")
    while True:
        match = _NAME.match(line, position)
        if match is None:
            return None  # a role granted to the account (GRANT `role` TO ...)
        name, position = " ".join(match.group(1).split()), match.end()
        if line.startswith("(", position):
            names, position = _identifier_list(line, position + 1)
            if names is None:
                return None
            columns.setdefault(name, set()).update(column.lower() for column in names)
        else:
            privileges.add(ALL if name == "ALL" else name)
        while line.startswith(" ", position):
            position += 1
        if line.startswith(",", position):
            position += 1
            continue
        if line.startswith("ON ", position):
            position += len("ON ")
            break
        return None
    return _with_object(line, position, privileges, columns)


def _with_object(line: str, position: int, privileges: set[str], columns: dict[str, set[str]]) -> Grant | None:
    """The rest of a grant line from its object (``*.*``, ``db.*``, ``db.table``) on."""
    if line.startswith("TABLE ", position):
        position += len("TABLE ")
    if line.startswith(_ROUTINES, position):
        return None
    database: str | None
    table: str | None
    if line.startswith("*.*", position):
        database, table, position = None, None, position + 3
    else:
        database, position = _identifier(line, position)
        if database is None or not line.startswith(".", position):
            return None
        if line.startswith(".*", position):
            table, position = None, position + 2
        else:
            table, position = _identifier(line, position + 1)
            if table is None:
                return None
    grantee = _GRANTEE.match(line, position)
    if grantee is None:
        return None
    return Grant(
        grantee=grantee.group(1),
        privileges=frozenset(privileges),
        columns={name: frozenset(names) for name, names in columns.items()},
        database=database,
        table=table,
    )


def _identifier(text: str, position: int) -> tuple[str | None, int]:
    """An identifier at ``position`` (quoted with backticks or double quotes, quotes doubled inside,
    or bare) and the position after it."""
    if position < len(text) and text[position] in '`"':
        quote, index = text[position], position + 1
        parts: list[str] = []
        while index < len(text):
            if text[index] == quote:
                if text.startswith(quote * 2, index):
                    parts.append(quote)
                    index += 2
                    continue
                return "".join(parts), index + 1
            parts.append(text[index])
            index += 1
        return None, position
    match = _BARE_IDENTIFIER.match(text, position)
    return (match.group(0), match.end()) if match else (None, position)


def _identifier_list(text: str, position: int) -> tuple[list[str] | None, int]:
    """The identifiers of a column list after its ``(``, and the position after its ``)``."""
    names: list[str] = []
    while True:
        while text.startswith(" ", position):
            position += 1
        name, position = _identifier(text, position)
        if name is None:
            return None, position
        names.append(name)
        while text.startswith(" ", position):
            position += 1
        if text.startswith(",", position):
            position += 1
        elif text.startswith(")", position):
            return names, position + 1
        else:
            return None, position

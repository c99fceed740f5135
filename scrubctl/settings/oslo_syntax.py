"""Read configuration files in oslo.config syntax, the way Glance's own services read them.

Rules honoured: ``key = value`` or ``key: value`` (whichever separator comes first); ``#`` and
``;`` comment lines; an inline ``#`` is part of the value; a value wholly wrapped in matching quotes
is unquoted; an indented line continues the previous value; a blank line ends it; group names other
than ``DEFAULT`` are case-insensitive; a repeated key keeps every value (single-valued options take
the last, multi-valued options take all); ``$name`` and ``${group.name}`` interpolate and ``$$`` is a
literal ``$``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from scrubctl.errors import ConfigError

DEFAULT_GROUP = "DEFAULT"

_REFERENCE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class OsloConfig:
    """The merged content of one or more files; later files override earlier ones."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, list[str]]] = {}
        self.files: list[Path] = []

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> OsloConfig:
        """Parse ``paths`` in order; raise :class:`ConfigError` for a missing or malformed file."""
        config = cls()
        for path in paths:
            config.read(path)
        return config

    def read(self, path: Path) -> None:
        """Parse one file into this configuration."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"configuration file {path} is a directory") from None
        except PermissionError:
            raise ConfigError(f"configuration file {path} is not readable (permission denied)") from None
        except UnicodeDecodeError:
            raise ConfigError(f"configuration file {path} is not UTF-8 text") from None
        except OSError as error:
            raise ConfigError(f"configuration file {path} cannot be read: {error.strerror}") from None
        self._parse(path, text.splitlines())
        self.files.append(path)

    def _parse(self, path: Path, lines: Sequence[str]) -> None:
        group: str | None = None
        key: str | None = None
        value: list[str] = []
        file_values: dict[str, dict[str, list[str]]] = {}

        def flush() -> None:
            nonlocal key, value
            if key is not None and group is not None:
                file_values.setdefault(group, {}).setdefault(key, []).append("\n".join(value))
            key, value = None, []

        for number, raw_line in enumerate(lines, start=1):
            line = raw_line.rstrip()
            where = f"{path}:{number}"
            if not line:
                flush()
                continue
            if line[0] in " \t":
                if key is None:
                    if line.lstrip().startswith(("#", ";")):
                        continue
                    raise ConfigError(f"{where}: indented line continues no option")
                value.append(line.lstrip())
                continue
            flush()
            if line.startswith("["):
                if not line.endswith("]") or len(line) < 3:
                    raise ConfigError(f"{where}: malformed group header")
                group = _normalize_group(line[1:-1].strip())
            elif line.startswith(("#", ";")):
                continue
            else:
                if group is None:
                    raise ConfigError(f"{where}: option outside of any [group]")
                key, first = _split_assignment(line, where)
                value = [first]
        flush()
        for group_name, options in file_values.items():
            merged = self._values.setdefault(group_name, {})
            for option, values in options.items():
                merged.setdefault(option, []).extend(values)

    def has_group(self, group: str) -> bool:
        """Tell whether any file had a ``[group]`` with at least one option."""
        return _normalize_group(group) in self._values

    def get(self, group: str, key: str, default: str | None = None) -> str | None:
        """Return the last value of a single-valued option, interpolated."""
        values = self._raw(group, key)
        if not values:
            return default
        return self._interpolate(values[-1], _normalize_group(group), key, depth=0)

    def get_all(self, group: str, key: str) -> list[str]:
        """Return every value of a multi-valued option, interpolated, in file order."""
        normalized = _normalize_group(group)
        return [self._interpolate(item, normalized, key, depth=0) for item in self._raw(group, key)]

    def _raw(self, group: str, key: str) -> list[str]:
        return self._values.get(_normalize_group(group), {}).get(key, [])

    def _interpolate(self, text: str, group: str, key: str, depth: int) -> str:
        if "$" not in text:
            return text
        if depth > 10:
            raise ConfigError(f"[{group}] {key}: interpolation nests too deeply")

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            reference = match.group("braced") or match.group("plain") or ""
            ref_group, _, ref_key = reference.rpartition(".")
            lookup_groups = [_normalize_group(ref_group)] if ref_group else [group, DEFAULT_GROUP]
            for candidate in lookup_groups:
                values = self._values.get(candidate, {}).get(ref_key)
                if values:
                    return self._interpolate(values[-1], candidate, ref_key, depth + 1)
            raise ConfigError(f"[{group}] {key} refers to ${reference}, which is not set (write $$ for a literal $)")

        return _REFERENCE.sub(substitute, text)


def _normalize_group(name: str) -> str:
    return name if name == DEFAULT_GROUP else name.lower()


def _split_assignment(line: str, where: str) -> tuple[str, str]:
    colon = line.find(":")
    equal = line.find("=")
    if colon < 0 and equal < 0:
        raise ConfigError(f"{where}: expected 'key = value'")
    if colon < 0 or (0 <= equal < colon):
        key, value = line[:equal], line[equal + 1 :]
    else:
        key, value = line[:colon], line[colon + 1 :]
    key, value = key.strip(), value.strip()
    if not key:
        raise ConfigError(f"{where}: option with an empty name")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value

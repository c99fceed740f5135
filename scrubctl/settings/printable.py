"""Text from the database or a store, made safe to show: every invisible or controlling character
escaped visibly.

Image names, owners, properties and location URLs are written by tenants; object names and server
messages come from the stores. Shown raw, an escape sequence in them would drive the operator's
terminal (set its title, write its clipboard, move the cursor over lines already printed) and a
bidirectional override would reorder what is read. :func:`printable` is the one function every
output path (the renderer, the log formatters, the error line) puts such text through. It lives
here, among the basics, so that the log formatter below ``output/`` can use it too.
"""

from __future__ import annotations

import unicodedata

# Unicode's control characters (C0, DEL, C1), format characters (bidirectional controls such as
# U+202E, zero-width joiners and spaces, the byte order mark, tag characters), line and paragraph
# separators, and lone surrogates (a file name that is not UTF-8; they cannot even be written out).
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_character(character: str) -> str:
    """The visible form of one character: ``\\n``, ``\\t``, ``\\r``, ``\\x1b``, ``\\u202e`` or
    ``\\U000e0041``."""
    named = NAMED_ESCAPES.get(character)
    if named is not None:
        return named
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class _Translation(dict[int, str]):
    """``str.translate``'s table, filled on first sight of each character of a text that needs it."""

    def __missing__(self, code: int) -> str:
        character = chr(code)
        shown = escape_character(character) if unicodedata.category(character) in ESCAPED_CATEGORIES else character
        self[code] = shown
        return shown


_TRANSLATION = _Translation()


def printable(text: str) -> str:
    """``text`` with every control, format, separator and surrogate character escaped visibly
    (``\\x1b``, ``\\n``, ``\\u202e``): one line, no escape sequence, nothing hidden or reordered.

    Console markup (``[bold]``) is no concern here: the renderer never parses data as markup.
    """
    if text.isprintable():  # most text: nothing to do, checked in C
        return text
    return text.translate(_TRANSLATION)

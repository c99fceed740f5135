"""The one escaping rule for text from tenants and stores: every control character shown visibly."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from scrubctl.settings.printable import printable


def test_controls_are_escaped_visibly() -> None:
    assert printable("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert printable("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"  # OSC: the window title
    assert printable("\x1b[2J\x00\x7f\x85\x9b") == "\\x1b[2J\\x00\\x7f\\x85\\x9b"  # C0, DEL, C1 (NEL, CSI)
    assert printable("abc\u202eevil\u2066x\u200ey\u061c") == "abc\\u202eevil\\u2066x\\u200ey\\u061c"  # bidi
    assert printable("z\u200bw\u200cj\u200dn\u2060b\ufeff") == "z\\u200bw\\u200cj\\u200dn\\u2060b\\ufeff"
    assert printable("l\u2028p\u2029") == "l\\u2028p\\u2029"  # line and paragraph separators
    assert printable("tag\U000e0041") == "tag\\U000e0041"  # invisible tag characters
    assert printable("not utf-8 \udcff") == "not utf-8 \\udcff"  # a file name's undecodable byte


def test_visible_text_is_left_alone() -> None:
    for text in ("", "debian-12", "[bold red]markup[/]", "C:\\path", "été 東京 🙂", "nbsp\xa0here", "a b"):
        assert printable(text) == text


def test_every_control_and_format_character_of_this_python_is_escaped() -> None:
    escaped = {"Cc", "Cf", "Zl", "Zp", "Cs"}
    characters = [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in escaped]
    assert len(characters) > 2000
    shown = printable("".join(characters))
    assert all(unicodedata.category(character) not in escaped for character in shown)
    assert shown.count("\\") == len(characters)  # one escape for each


@given(st.text())
def test_the_result_is_one_printable_line(text: str) -> None:
    shown = printable(text)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert all(unicodedata.category(character) not in {"Cc", "Cf", "Zl", "Zp", "Cs"} for character in shown)
    shown.encode("utf-8")  # never a lone surrogate that cannot be written out

"""stratix_queue.literal: stored text shown as text (escapes for what a terminal would obey),
and JSON that is exact yet holds no such character raw."""

from __future__ import annotations

import io
import json
import unicodedata

import pytest

from stratix_queue.literal import block, json_text, make_console, styled, visible

NASTY = [
    "\x1b[2J",  # clear screen
    "\x1b]0;pwned\x07",  # window title
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31m",  # C1 CSI
    "\x7f",  # DEL
    "\u202eabc",  # right-to-left override
    "\u2066x\u2069",  # bidi isolates
    "zero\u200bwidth",
    "line\u2028sep",
    "tag\U000e0041",  # an invisible Unicode tag character
    "lone \udcff surrogate",
    "a\nb\r\tc",
]
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def raw_unsafe(text: str, allowed: str = "") -> list[str]:
    return [c for c in text if unicodedata.category(c) in UNSAFE and c not in allowed]


@pytest.mark.parametrize("text", NASTY)
def test_visible_escapes_every_control_format_and_separator_character(text: str) -> None:
    shown = visible(text)
    assert raw_unsafe(shown) == []
    assert shown.encode("utf-8")  # a lone surrogate cannot break the output's encoding


def test_visible_spelling() -> None:
    assert visible("\x1b[2J") == "\\x1b[2J"
    assert visible("\x9b\x7f") == "\\x9b\\x7f"
    assert visible("\u202eabc") == "\\u202eabc"
    assert visible("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert visible("tag\U000e0041") == "tag\\U000e0041"
    assert visible("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"
    plain = "[link=http://x/]é ünïcode 日本 emoji 🎉 [/link]"
    assert visible(plain) is plain  # printable text is left alone (markup is the console's job)


def test_json_text_is_exact_and_escaped() -> None:
    value = {"k": NASTY, "n": None, "nested": {"\u202ekey": ["\x85", 1.5]}}
    text = json_text(value)
    assert json.loads(text) == value
    assert raw_unsafe(text, allowed="\n") == []
    assert "\\u009b" in text and "\\u202e" in text and "\\udb40\\udc41" in text


def test_console_parses_no_markup_and_escapes_every_string() -> None:
    out = io.StringIO()
    console = make_console(file=out, force_terminal=True, width=200, color_system="truecolor")
    console.print("[link=http://evil.example/]click[/link] [blink]x[/blink] :smile: \x1b[2J")
    console.print(styled("ok ", ("3", "bold")))
    console.print(block("Traceback\n  \x1b]0;t\x07"))
    printed = out.getvalue()
    assert "[link=http://evil.example/]click[/link] [blink]x[/blink] :smile: \\x1b[2J" in printed
    assert "\x1b]8;" not in printed and "\x1b[5m" not in printed and "\x1b[2J" not in printed
    assert "\x1b[1m3" in printed  # our own style still applies
    assert "Traceback\n  \\x1b]0;t\\x07" in printed

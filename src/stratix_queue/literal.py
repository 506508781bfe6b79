"""What the database holds (or a user typed) is shown as text, never interpreted.

A task name, error message or group may hold Rich markup (``[link=...]``), terminal escapes
(``\\x1b[2J``, OSC 8 links, C1 controls such as ``\\x9b``), bidi overrides (U+202E) or newlines
that could fake a line of our own. Every CLI command prints through this module (and the log
lines of the processes the CLI runs, through logformat.Formatter):

- ``visible`` turns control, format and separator characters into escapes (``\\x1b``, ``\\n``,
  ``\\u202e``) so they are seen, not obeyed;
- ``make_console`` is the CLI's Rich console: no markup, no emoji codes, and every string it is
  given passes through ``visible`` (styled output of our own is built as ``Text``);
- ``block`` keeps the lines of a multi-line text (an error stack) and escapes the rest;
- ``json_text`` is exact JSON with the characters ``json.dumps(ensure_ascii=False)`` leaves raw
  (DEL, C1, bidi, separators, lone surrogates) written as ``\\uXXXX``.

Rich is imported only when something is printed: a worker process never loads it.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# Controls (C0, DEL, C1), format characters (bidi overrides, zero-width, tags), lone surrogates,
# and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _python_escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes a character beyond the BMP as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class _Table(dict[int, str]):
    """A ``str.translate`` table filled in per code point on first sight."""

    def __init__(self, escape: Callable[[str], str], keep: str) -> None:
        super().__init__()
        self._escape = escape
        self._keep = keep

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = self._escape(char) if _unsafe(char) and char not in self._keep else char
        return self[code]


_ONE_LINE = _Table(_python_escape, keep="")
_LINES = _Table(_python_escape, keep="\n")
_JSON = _Table(_json_escape, keep="\n")  # json.dumps escapes every newline inside a string


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format or separator character written as an escape."""
    if text.isprintable():  # the common case, checked in C
        return text
    return text.translate(_LINES if keep_newlines else _ONE_LINE)


def json_text(value: Any) -> str:
    """``value`` as indented JSON that decodes to exactly ``value``, and holds no character a
    terminal would act on."""
    return json.dumps(value, indent=2, ensure_ascii=False).translate(_JSON)


def literal(value: object) -> Text:
    """A value as one line of Rich ``Text``: no markup, controls escaped."""
    from rich.text import Text

    return Text(visible("" if value is None else str(value)))


def block(text: str) -> Text:
    """A multi-line text (an error stack) as Rich ``Text``: its lines kept, controls escaped."""
    from rich.text import Text

    return Text(visible(text, keep_newlines=True))


def styled(*parts: str | tuple[str, str]) -> Text:
    """Our own line with styled parts, ``("163", "bold")``; every part is shown literally."""
    from rich.text import Text

    return Text.assemble(
        *(visible(p) if isinstance(p, str) else (visible(p[0]), p[1]) for p in parts)
    )


def make_console(**options: Any) -> Console:
    """The CLI's Rich console: strings it prints are shown literally (see the module doc)."""
    return _console_class()(markup=False, emoji=False, highlight=False, **options)


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class LiteralConsole(Console):
        def render_str(self, text: str, **options: Any) -> Text:
            # Table cells, titles and printed strings all come through here.
            options.update(markup=False, emoji=False, highlight=False)
            return super().render_str(visible(text), **options)

    return LiteralConsole

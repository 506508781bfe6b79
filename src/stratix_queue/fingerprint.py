"""Fingerprints: the failures that are one error share one short key (docs/triage.md).

A fingerprint hashes four things of a failure: the exception type (the last line of the stack,
or the code when there is no stack), the error code, the message with its variable parts
replaced by placeholders, and the innermost frame of the application's own code (its file,
function and source line; frames of the standard library, of installed packages and of
stratix_queue are passed over). "no exchange rate for GBP" and "no exchange rate for JPY"
share a fingerprint; the same message raised on another line, or by another exception type,
does not. It is computed from the recorded texts, so a failure recorded by hand
(``repository.mark_as_failed``) or in a child process gets one the same way.
"""

from __future__ import annotations

import hashlib
import re

FINGERPRINT_LENGTH = 16  # hex digits: 64 bits

# Applied in order; each replaces what it matches with its placeholder. Quoted text first (it
# may hold anything), then the shapes that hold digits, then codes in capitals.
_VARIABLE_PARTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), placeholder)
    for pattern, placeholder in (
        (r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`", "<str>"),
        (r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b", "<uuid>"),
        (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+", "<url>"),
        (r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b", "<email>"),
        (r"(?:\b[A-Za-z]:)?(?:[\\/][\w.@~+-]+){2,}[\\/]?|~[\\/][\w.\\/+-]*", "<path>"),
        (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
        (
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?",
            "<time>",
        ),
        (r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b", "<time>"),
        (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
        (r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b", "<hex>"),
        (r"\b\w*\d\w*\b", "<n>"),
        (r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", "<code>"),
    )
)
_SPACES = re.compile(r"\s+")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
_NOT_APPLICATION = re.compile(
    r"[\\/](?:site-packages|dist-packages|lib[\\/]python\d[\d.]*|stratix_queue)[\\/]|^<frozen "
)
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::|$)")


def normalise_message(message: str | None) -> str:
    """The message with its variable parts replaced by placeholders.

    >>> normalise_message("no exchange rate for GBP")
    'no exchange rate for <code>'
    >>> normalise_message("order 1234 of user 'ann' not found at /srv/app/data.json")
    'order <n> of user <str> not found at <path>'
    >>> normalise_message("object 0x7f3a2c1e9d40, request 3fa85f64-5717-4562-b3fc-2c963f66afa6")
    'object <hex>, request <uuid>'
    """
    text = message or ""
    for pattern, placeholder in _VARIABLE_PARTS:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text).strip()


def application_frame(stack: str | None) -> str:
    """The innermost frame of the application's code in a formatted traceback, as
    ``file:function:source line`` (the file's last two path parts, so the same code deployed
    elsewhere matches); '' when there is none."""
    lines = (stack or "").splitlines()
    found = ""
    for index, line in enumerate(lines):
        match = _FRAME.match(line)
        if match is None or _NOT_APPLICATION.search(match["file"]):
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        source = following.strip()  # the source line is indented deeper than "File ..."
        if not following.startswith("    ") or _FRAME.match(following) or not source:
            source = f"line {match['line']}"
        tail = "/".join(re.split(r"[\\/]", match["file"])[-2:])
        found = f"{tail}:{match['func'].strip()}:{source}"
    return found


def exception_type(stack: str | None, code: str | None) -> str:
    """The exception's type name: the last line of the traceback, else the code."""
    for line in reversed((stack or "").strip().splitlines()):
        if line and not line.startswith((" ", "\t")):
            match = _EXCEPTION_LINE.match(line)
            return match["type"] if match else (code or "")
    return code or ""


def fingerprint(code: str | None, message: str | None, stack: str | None) -> str:
    """The fingerprint of a failure: 16 hex digits."""
    parts = (exception_type(stack, code), code or "", normalise_message(message))
    key = "\x1f".join((*parts, application_frame(stack)))
    return hashlib.blake2b(key.encode("utf-8"), digest_size=FINGERPRINT_LENGTH // 2).hexdigest()

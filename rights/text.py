"""Free text from outside (titles, licensee and platform names) that the registry keeps and prints."""

from __future__ import annotations

import unicodedata

__all__ = [
    "has_control_characters",
    "has_controls_besides_breaks",
    "has_lone_surrogates",
    "readable",
    "shown_controls",
    "title_from_file_name",
]

# Cc: NUL, newlines, escapes; Zl/Zp: U+2028/U+2029, line breaks to JSON Lines readers and browsers.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds NUL, line breaks, escapes or other control characters. Such text
    breaks the log's entries, the notices' Markdown and the terminal a reviewer reads it in."""
    return any(unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in value)


def has_controls_besides_breaks(value: str) -> bool:
    """:func:`has_control_characters` for free text that may run over lines (notes, contact details):
    line breaks (a web form's CRLF too) and tabs are allowed there."""
    return has_control_characters(value.replace("\r\n", "").replace("\n", "").replace("\t", ""))


def has_lone_surrogates(value: str) -> bool:
    """Whether ``value`` is not Unicode text that UTF-8 can hold: a JSON ``"\\ud800"`` escape, or
    the stand-ins Python puts for undecodable bytes in file names and arguments."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def readable(value: str) -> str:
    """``value`` with any undecodable bytes (from a file name or argument) shown as U+FFFD."""
    if not has_lone_surrogates(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte: a JSON "\ud800" escape
        raw = value.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def title_from_file_name(stem: str, max_length: int) -> str | None:
    """A title for a work registered without one, from its file's name: made readable, control
    characters as spaces, cut to ``max_length``. The name was not chosen as a title, so nothing in
    it should refuse the work (a 600-character name, a tab, bytes that are not UTF-8)."""
    text = "".join(" " if unicodedata.category(ch) in _CONTROL_CATEGORIES else ch for ch in readable(stem))
    return text.strip()[:max_length].strip() or None


# Bidirectional controls (embeddings, overrides, isolates, marks): U+202E shows "gnp.exe" for
# "exe.png", so text a stranger wrote is printed with them as visible escapes.
_BIDI_SHOWN = {
    c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
}


# Control characters other than tab and line feed (C0, DEL, C1): ESC and BEL in a listing title
# cleared the terminal that printed its notice and retitled its window (an audit).
_CONTROLS_SHOWN = {
    c: f"\\u{c:04x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))
} | _BIDI_SHOWN


def shown_controls(value: str) -> str:
    """``value`` with its control characters (but tabs and line feeds) and bidirectional controls
    written out as ``\\u001b`` escapes: text a stranger wrote, made safe to print and to read."""
    return value.translate(_CONTROLS_SHOWN)

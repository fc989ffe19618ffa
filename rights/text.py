"""Free text from outside (titles, licensee and platform names) that the registry keeps and prints."""

from __future__ import annotations

import unicodedata

__all__ = ["has_control_characters"]


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds NUL, newlines, escapes or other control characters. Such text
    breaks the log's entries, the notices' Markdown and the terminal a reviewer reads it in."""
    return any(unicodedata.category(ch) == "Cc" for ch in value)

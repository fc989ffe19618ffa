"""JSON from outside (request bodies, feed lines, metadata, receipts), with a nesting limit.

Python's parser recurses once per nesting level, so ``[[[...]]]`` 100,000 deep raises
``RecursionError``, which is not a ``ValueError``: callers that caught bad JSON answered 500 or
stopped a whole scan. Nothing real nests deeper than a few levels, so deeper values are refused as
bad input, also those the parser could still read: stored, they could fail when written out later.
Strings holding a lone surrogate (``"\\ud800"``) are refused too: they are not Unicode text, and
writing them out as UTF-8 (the store, a findings file) would fail later. So are ``NaN`` and
``Infinity``, which Python reads but JSON lacks: copied into findings, strict readers rejected them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rights.text import has_lone_surrogates

__all__ = ["MAX_DEPTH", "DuplicateKey", "NotJson", "NotText", "TooDeep", "loads"]

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON value nests objects or arrays more than ``MAX_DEPTH`` levels deep."""


class NotText(ValueError):
    """A string in the JSON value holds a lone surrogate escape."""


class NotJson(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's parser reads them, JSON has no such values."""


def loads(text: str | bytes, *, unique_keys: bool = False) -> Any:
    """``json.loads``, raising ``ValueError`` (``TooDeep``, ``NotText``) instead of
    ``RecursionError`` or a value that cannot be written out again. ``unique_keys`` refuses an
    object naming a key twice, where readers disagree on which value counts (a signed receipt, a
    feed line's image, a work's metadata)."""
    try:
        hook = _unique_object if unique_keys else None
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=hook)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    _check(value, MAX_DEPTH)
    return value


class DuplicateKey(ValueError):
    """A JSON object names the same key twice (refused where ``unique_keys`` is asked for)."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(f"JSON object names the key {key!r} twice")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    # Python reads NaN and Infinity, which JSON lacks; passed through to findings, they broke strict readers.
    raise NotJson(f"{name} is not a JSON value")


def _check(value: Any, limit: int) -> None:
    # Iterative, so that checking a deep value cannot itself overflow the stack.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogates(item):
                raise NotText("JSON holds a lone surrogate escape (such as \\ud800): not Unicode text")
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise NotJson("JSON holds a number too large for a double (such as 1e999)")
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)

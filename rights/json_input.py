"""JSON from outside (request bodies, feed lines, metadata, receipts), with a nesting limit.

Python's parser recurses once per nesting level, so ``[[[...]]]`` 100,000 deep raises
``RecursionError``, which is not a ``ValueError``: callers that caught bad JSON answered 500 or
stopped a whole scan. Nothing real nests deeper than a few levels, so deeper values are refused as
bad input, also those the parser could still read: stored, they could fail when written out later.
They are refused before the parser sees them: letting it recurse until ``RecursionError`` left the
thread with no stack, and the cyclic GC, which runs whenever the parser's lists make it due, then
ran every finalizer in the process (``__del__``, ``WeakSet`` and ``weakref.finalize`` callbacks:
distributed's, asyncio's) at that depth, where each failed with ``RecursionError`` ("Exception
ignored in ..."; under pytest, "Failed to process unraisable exception": a flaky Dask scan test).
Strings holding a lone surrogate (``"\\ud800"``) are refused too: they are not Unicode text, and
writing them out as UTF-8 (the store, a findings file) would fail later. So are ``NaN`` and
``Infinity``, which Python reads but JSON lacks: copied into findings, strict readers rejected them.
"""

from __future__ import annotations

import json
import math
import re
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
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")  # as json.loads decodes it
    if _nests_deeper(text, MAX_DEPTH):
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")
    try:
        hook = _unique_object if unique_keys else None
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=hook)
    except RecursionError:  # not reached by the text checked above; kept for a caller already deep
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


# A string (to its closing quote, or to the end of an unterminated one: linear time), or a bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays or objects inside one another, brackets
    within strings aside; found without parsing, so without recursing. The parser never nests
    deeper than this count, whatever comes after a syntax error."""
    if text.count("[") + text.count("{") <= limit:  # every feed line and request body in practice
        return False
    depth = 0
    for token in _STRUCTURE.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in ("]", "}"):
            depth -= 1
    return False


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

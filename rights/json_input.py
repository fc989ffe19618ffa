"""JSON from outside (request bodies, feed lines, metadata, receipts), with a nesting limit.

Python's parser recurses once per nesting level, so ``[[[...]]]`` 100,000 deep raises
``RecursionError``, which is not a ``ValueError``: callers that caught bad JSON answered 500 or
stopped a whole scan. Nothing real nests deeper than a few levels, so deeper values are refused as
bad input, also those the parser could still read: stored, they could fail when written out later.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "loads"]

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON value nests objects or arrays more than ``MAX_DEPTH`` levels deep."""


def loads(text: str | bytes) -> Any:
    """``json.loads``, raising ``ValueError`` (``TooDeep``) instead of ``RecursionError``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    if _deeper_than(value, MAX_DEPTH):
        raise TooDeep(f"JSON nested more than {MAX_DEPTH} levels deep")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    # Iterative, so that checking a deep value cannot itself overflow the stack.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

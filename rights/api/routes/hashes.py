"""Hash lists over HTTP: the registry's works as PDQ hashes for a platform's own matcher (HMA, a
ThreatExchange bank), and a partner's PDQ hashes looked up here (``rights.hash_lists``).

Platforms and admins list every live work; a creator lists its own. Lookups are open to every role,
as ``POST /v1/match`` is. Each exchange hash is computed once from the work's original: a page hashes
those of its works still without one, and a lookup hashes up to ``_FILL_PER_LOOKUP`` more and says
how many live works are not covered yet (``rights hashes export`` on the server covers them all).
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from indexes.hash_exchange import PDQ_EXCHANGE_DISTANCE
from rights import hash_lists
from rights.api.deps import AccountDep, JsonBody, PageCursor, PageLimit, RegistryDep, WorksScope
from rights.api.schemas import ErrorBody
from rights.registry import Registry, parse_cursor

router = APIRouter(
    prefix="/v1/hashes",
    tags=["hashes"],
    responses={401: {"model": ErrorBody, "description": "missing or unknown API key"}},
)

# Originals hashed inside one lookup (~5 ms each): the rest wait for pages, later lookups or the CLI.
_FILL_PER_LOOKUP = 200
MAX_HASHES_PER_LOOKUP = 1000
_EXAMPLE_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


class HashLookup(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"hashes": [_EXAMPLE_PDQ]}]})

    hashes: list[str] = Field(
        min_length=1,
        max_length=MAX_HASHES_PER_LOOKUP,
        description="PDQ: 64 hex digits, bare or as `pdq <hex>`",
    )
    # Strict: true or "5" is no distance (pydantic would read them as 1 and 5).
    max_distance: int = Field(
        default=PDQ_EXCHANGE_DISTANCE, ge=0, le=hash_lists.MAX_LOOKUP_DISTANCE, strict=True
    )
    limit: int = Field(default=10, ge=1, le=hash_lists.MAX_LOOKUP_LIMIT, strict=True)


@router.get(
    "",
    summary="The registry's works as PDQ hashes, oldest first",
    description=(
        "Each live work (registered or contested) with its PDQ as ThreatExchange tools compute it: 64 "
        "hex digits, most significant bit first. Pass `next_cursor` back for the next page; works "
        "registered later come after the last page, so a platform keeps its copy current by asking from "
        "its last cursor. Withdrawn works are left out."
    ),
    responses={403: {"model": ErrorBody, "description": "a creator asking for another creator's works"}},
)
def list_hashes(
    registry: RegistryDep, creator: WorksScope, limit: PageLimit = 50, cursor: PageCursor = None
) -> dict[str, Any]:
    return hash_lists.page(
        registry.db, registry.data_dir, creator=creator, limit=limit, after=parse_cursor(cursor)
    )


@router.post(
    "/match",
    summary="Look up PDQ hashes from another system",
    description=(
        "For each hash, the works whose PDQ is within `max_distance` bits (default 31, ThreatExchange's), "
        "nearest first, or an `error` for a hash that is malformed or of a flat image. A hash names whole "
        "pictures only; crops, captions and screenshots need `POST /v1/match` with the image. "
        "`works_not_yet_hashed` counts live works this lookup could not cover yet (later lookups "
        "hash them), `works_unhashable` those whose stored original could not be read (an operator "
        "restores it and runs `rights hashes export`)."
    ),
    responses={
        400: {"model": ErrorBody, "description": "not JSON, or a key named twice"},
        415: {"model": ErrorBody, "description": "not application/json"},
        422: {"model": ErrorBody, "description": "no hashes, too many, or a limit out of range"},
    },
)
def match_hashes(
    body: HashLookup, registry: RegistryDep, _account: AccountDep, _json: JsonBody
) -> dict[str, Any]:
    never, _ = hash_lists.missing_count(registry.db)
    if never:
        hash_lists.fill_missing(registry.db, registry.data_dir, limit=_FILL_PER_LOOKUP)
    table = _table(registry)
    never, unreadable = hash_lists.missing_count(registry.db)
    return {
        "results": table.look_up(registry.db, body.hashes, body.max_distance, body.limit),
        "works_not_yet_hashed": never,
        "works_unhashable": unreadable,
    }


_tables: dict[str, tuple[tuple[int, int], hash_lists.HashTable]] = {}
_tables_lock = threading.Lock()


def _table(registry: Registry) -> hash_lists.HashTable:
    """The live works' hashes, loaded again only when a work was hashed or the log grew (a withdrawal):
    a million of them take a few seconds to load."""
    version = (
        int(registry.db.execute("SELECT COUNT(*) FROM exchange_hashes WHERE pdq IS NOT NULL").fetchone()[0]),
        registry.log.size(),
    )
    key = str(registry.data_dir)
    with _tables_lock:
        cached = _tables.get(key)
        if cached is None or cached[0] != version:
            cached = (version, hash_lists.HashTable(registry.db))
            _tables[key] = cached
        return cached[1]

"""The transparency log, public: anyone may fetch checkpoints, entries and proofs and check them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rights.api.deps import RegistryDep
from rights.api.schemas import ConsistencyProof, ErrorBody, InclusionProof, LogEntries, SignedCheckpoint
from rights.errors import BadInput, NotFound
from rights.log.merkle import ProofError, leaf_hash
from rights.log.signing import public_key_pem

router = APIRouter(prefix="/v1/log", tags=["log"], responses={400: {"model": ErrorBody}})

MAX_ENTRIES_PER_PAGE = 1000
MAX_TREE_SIZE = 2**63 - 1  # SQLite's integers: larger sizes are a 422, not an overflow


@router.get(
    "/checkpoint",
    response_model=SignedCheckpoint,
    summary="Signed tree head: the latest, or the one signed at a given size",
    responses={404: {"model": ErrorBody, "description": "the log is still empty, or no such size"}},
)
def checkpoint(
    registry: RegistryDep,
    size: Annotated[
        int | None,
        Query(ge=1, le=MAX_TREE_SIZE, description="tree size (every append signed one); default: the latest"),
    ] = None,
) -> dict[str, Any]:
    # Any size: a proof fetched against an older tree can then be checked against that tree's signature.
    cp = registry.log.checkpoint(size)
    if cp is None:
        if size is not None:
            raise NotFound(f"no checkpoint at size {size}: the log has {registry.log.size()} entries")
        raise NotFound("the log is empty: nothing has been registered yet")
    return {
        **cp.to_json(),
        "public_key": public_key_pem(registry.signer.public_key),
        "body": cp.body().decode("utf-8"),
    }


@router.get("/entries", response_model=LogEntries, summary="Entries [start, end)")
def entries(
    registry: RegistryDep,
    start: Annotated[int, Query(ge=0)] = 0,
    end: Annotated[
        int | None, Query(ge=0, description=f"exclusive; at most {MAX_ENTRIES_PER_PAGE} a page")
    ] = None,
) -> dict[str, Any]:
    log = registry.log
    size = log.size()
    stop = min(size, start + MAX_ENTRIES_PER_PAGE, end if end is not None else size)
    if end is not None and end < start:
        raise BadInput("end must not be smaller than start")
    rows = log.entries(start, stop) if stop > start else []
    return {
        "tree_size": size,
        "entries": [{"index": i, "entry": e.decode("utf-8"), "leaf_hash": h.hex()} for i, e, h in rows],
    }


@router.get("/proof/inclusion", response_model=InclusionProof, summary="Inclusion proof (RFC 9162 §2.1.3)")
def inclusion(
    registry: RegistryDep,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1, description="tree size; default the current size")] = None,
) -> dict[str, Any]:
    log = registry.log
    tree_size = _size(size, log.size())
    try:
        path = log.inclusion_proof(index, tree_size)
    except ProofError as exc:
        raise BadInput(str(exc)) from exc
    return {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": leaf_hash(log.entry(index)).hex(),
        "root_hash": log.root(tree_size).hex(),
        "inclusion_path": [h.hex() for h in path],
    }


@router.get(
    "/proof/consistency", response_model=ConsistencyProof, summary="Consistency proof (RFC 9162 §2.1.4)"
)
def consistency(
    registry: RegistryDep,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int | None, Query(ge=0, description="default the current size")] = None,
) -> dict[str, Any]:
    log = registry.log
    second_size = _size(second, log.size())
    if first > second_size:
        raise BadInput(f"first ({first}) must not exceed second ({second_size})")
    return {
        "first": first,
        "second": second_size,
        "first_root": log.root(first).hex(),
        "second_root": log.root(second_size).hex(),
        "consistency_path": [h.hex() for h in log.consistency_proof(first, second_size)],
    }


def _size(requested: int | None, current: int) -> int:
    if requested is None:
        if current == 0:
            raise BadInput("the log is empty")
        return current
    if requested > current:
        raise BadInput(f"the log has only {current} entries")
    return requested

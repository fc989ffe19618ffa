"""Scan routes: submit a listing feed, follow its progress, read its findings.

A submitted feed is stored under ``<data>/scans/`` and run by the injected scan service (``workers``),
so the request returns 202 at once. Feeds sent over HTTP may only name images by http(s) URL: a local
path would let a caller read the server's files.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rights import json_input, scans
from rights.accounts import Account
from rights.api.deps import AccountDep, RegistryDep, SettingsDep, media_type, require_role
from rights.api.schemas import ErrorBody
from rights.db import atomic_write
from rights.errors import BadInput, InvalidBody, NotFound, PayloadTooLarge, RightsError, UnsupportedMedia
from rights.registry import Registry

router = APIRouter(
    prefix="/v1/scans",
    tags=["scans"],
    responses={401: {"model": ErrorBody, "description": "missing or unknown API key"}},
)

PlatformDep = Annotated[Account, Depends(require_role("platform"))]


class ScansUnavailable(RightsError):
    status = 503
    code = "scans_unavailable"


_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["listings"],
                "properties": {"listings": {"type": "array", "items": {"type": "object"}}},
            },
            "example": {
                "listings": [
                    {
                        "listing_id": "123",
                        "platform": "shop",
                        "image": "https://shop.example/123.jpg",
                        "title": "Poster",
                        "seller": "s1",
                    }
                ]
            },
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["feed"],
                "properties": {
                    "feed": {
                        "type": "string",
                        "format": "binary",
                        "description": "JSON Lines, or CSV (*.csv, text/csv, or a CSV header line)",
                    }
                },
            }
        },
    },
}


_CSV_TYPES = ("text/csv", "application/csv")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a listing feed for scanning",
    description=(
        'JSON `{"listings": [listing...]}` or a multipart `feed` file (JSON Lines, or CSV when the file name '
        "ends in .csv, its type is text/csv or its first line is a CSV header naming the columns). "
        "Images must be http(s) URLs. Answers at once with the scan id; poll "
        "`GET /v1/scans/{id}`."
    ),
    openapi_extra={"requestBody": _BODY},
    responses={
        400: {"model": ErrorBody},
        403: {"model": ErrorBody},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
        422: {"model": ErrorBody, "description": "JSON without a non-empty `listings` list"},
        503: {"model": ErrorBody, "description": "this server runs without a scan service"},
    },
)
async def submit_scan(
    request: Request, registry: RegistryDep, settings: SettingsDep, account: PlatformDep
) -> dict[str, str]:
    service: scans.ScanService | None = getattr(request.app.state, "scan_service", None)
    if service is None:
        raise ScansUnavailable("this server was started without a scan service; run it with `rights serve`")
    content_type = media_type(request)
    folder = Path(settings.data) / scans.FEEDS_DIRNAME
    if content_type == "application/json":
        text = _listings_as_jsonl(await request.body())
        feed = await run_in_threadpool(_store_text, folder, text)
    elif content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("feed")
            if not isinstance(upload, UploadFile):
                raise BadInput("multipart field 'feed' (a file) is required")
            as_csv = (upload.filename or "").lower().endswith(".csv") or upload.content_type in _CSV_TYPES
            suffix = ".csv" if as_csv else ".jsonl"
            feed = await run_in_threadpool(_store_upload, folder, upload, suffix, settings.max_upload_bytes)
    else:
        raise UnsupportedMedia(
            'send application/json {"listings": [...]} or multipart/form-data with a feed file'
        )
    scan = await run_in_threadpool(_create, registry, feed, account.name)
    service.submit(registry, scan.id, feed)
    return {"scan_id": scan.id}


@router.get(
    "/{scan_id}",
    summary="Progress and counts of a scan",
    responses={404: {"model": ErrorBody}},
)
def get_scan(scan_id: str, registry: RegistryDep, account: AccountDep) -> dict[str, Any]:
    scan = _visible_scan(registry, scan_id, account)
    body = scan.to_dict()
    body["progress"] = (
        # min: a running CSV scan's total is an estimate from physical lines (exact once done)
        min(1.0, round(scan.done / scan.total, 4)) if scan.total else (1.0 if scan.status == "done" else 0.0)
    )
    return body


@router.get(
    "/{scan_id}/findings",
    summary="Findings of a scan (JSON Lines, feed order)",
    description="One finding per listing done so far, in feed order, as `application/x-ndjson`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, 404: {"model": ErrorBody}},
)
def get_findings(scan_id: str, registry: RegistryDep, account: AccountDep) -> StreamingResponse:
    _visible_scan(registry, scan_id, account)
    return StreamingResponse(_findings_lines(registry, scan_id), media_type="application/x-ndjson")


def _findings_lines(registry: Registry, scan_id: str) -> Iterator[str]:
    # Starlette may run each step on a different thread: take that thread's connection per page.
    seq = 0
    while page := scans.done_findings(registry.db, scan_id, from_seq=seq):
        yield "".join(text + "\n" for _, text in page)
        seq = page[-1][0] + 1


def _visible_scan(registry: Registry, scan_id: str, account: Account) -> scans.Scan:
    scan = scans.get_scan(registry.db, scan_id)
    if account.role != "admin" and scan.submitted_by != account.name:
        raise NotFound(f"no scan {scan_id}", scan_id=scan_id)  # others' scans are not even acknowledged
    return scan


def _listings_as_jsonl(body: bytes) -> str:
    try:
        value = json_input.loads(body, unique_keys=True)
    except ValueError as exc:
        raise BadInput(f"the JSON body is invalid: {exc}") from exc
    listings = value.get("listings") if isinstance(value, dict) else None
    if not isinstance(listings, list) or not listings:
        raise InvalidBody('the JSON body must be {"listings": [listing, ...]} with at least one listing')
    # Each listing becomes one feed line; bad ones turn into error findings, as in a feed file.
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in listings)


def _store_text(folder: Path, text: str) -> Path:
    data = text.encode("utf-8")
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}-{_nonce()}.jsonl"
    atomic_write(path, data)
    return path


def _store_upload(folder: Path, upload: UploadFile, suffix: str, max_bytes: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{_nonce()}{suffix}"
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            copied = _copy_capped(upload.file, out, max_bytes)
        if copied == 0:
            raise BadInput("the feed file is empty")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _copy_capped(src: Any, dst: Any, max_bytes: int) -> int:
    copied = 0
    while block := src.read(1 << 20):
        copied += len(block)
        if copied > max_bytes:
            raise PayloadTooLarge(f"the feed is larger than {max_bytes} bytes")
        dst.write(block)
    return copied


def _create(registry: Registry, feed: Path, submitted_by: str) -> scans.Scan:
    digest = hashlib.sha256(feed.read_bytes()).hexdigest()
    with registry.transaction() as conn:
        return scans.create_scan(
            conn, feed_key=f"upload:{feed.name}", feed_digest=digest, submitted_by=submitted_by
        )


def _nonce() -> str:
    return secrets.token_hex(8)

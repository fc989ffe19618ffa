"""``POST /v1/match``: which registered works appear in this image (an upload, or a URL we fetch)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rights import json_input
from rights.api.deps import AccountDep, RegistryDep, SettingsDep, media_type
from rights.api.limits import read_upload
from rights.api.schemas import ErrorBody, MatchResult
from rights.errors import BadInput, InvalidBody, UnsupportedMedia
from rights.fetch import fetch_image
from rights.limits import MAX_MATCH_LIMIT

router = APIRouter(tags=["match"])

_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary", "description": "query image"}},
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "description": "http(s) URL of the query image"}},
            },
            "example": {"url": "https://shop.example/listing/123.jpg"},
        },
    },
}


@router.post(
    "/v1/match",
    response_model=MatchResult,
    summary="Find registered works in an image",
    description=(
        'Send the image as multipart field `image`, or JSON `{"url": ...}` to have it fetched (private and '
        "cloud-metadata addresses are refused). `licensed` in each match tells whether `seller` (on "
        "`platform`) holds a licence; platform callers are always their own `platform`, and a "
        "creator learns it only of its own works."
    ),
    openapi_extra={"requestBody": _BODY},
    responses={
        400: {"model": ErrorBody, "description": "not an image, or the URL was refused or failed"},
        401: {"model": ErrorBody},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
        422: {"model": ErrorBody, "description": "JSON without a `url` string"},
    },
)
async def match(
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    account: AccountDep,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCH_LIMIT)] = 10,
    seller: Annotated[str | None, Query(max_length=200, description="seller of the listing")] = None,
    platform: Annotated[str | None, Query(max_length=200, description="platform of the listing")] = None,
) -> dict[str, Any]:
    content_type = media_type(request)
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            image = form.get("image")
            if not isinstance(image, UploadFile):
                raise BadInput("multipart field 'image' (a file) is required")
            data = await run_in_threadpool(read_upload, image, settings.max_upload_bytes)
    elif content_type == "application/json":
        url = _url_from_json(await request.body())
        async with request.app.state.fetch_slots:
            data = await run_in_threadpool(partial(fetch_image, url, settings=settings))
    else:
        raise UnsupportedMedia(
            "send multipart/form-data with an 'image' file, or application/json {\"url\": ...}"
        )
    if account.role == "platform":
        platform = account.name
    result = await run_in_threadpool(
        partial(registry.match_image, data, limit, platform=platform or None, seller=seller or None)
    )
    if account.role == "creator":
        # Licences are their creator's business (others get 403 on GET .../licenses): a creator
        # naming any seller and platform learnt who holds a licence to anyone's work.
        for m in result["matches"]:
            m["licensed"] = m["licensed"] and m["creator"] == account.name
    return result


def _url_from_json(body: bytes) -> str:
    try:
        value = json_input.loads(body, unique_keys=True)
    except ValueError as exc:
        raise BadInput(f"the JSON body is invalid: {exc}") from exc
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str) or not url:
        raise InvalidBody('the JSON body must be {"url": "http(s)://..."}')
    return url

"""Works: register (multipart upload), read, list, withdraw, and fetch a registration receipt.

Handlers are plain ``def``: FastAPI runs them in its threadpool, so fingerprinting and SQLite never block
the event loop.
"""

from __future__ import annotations

from pathlib import PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status

from rights import json_input
from rights.accounts import Account
from rights.api.deps import (
    AccountDep,
    CreatorDep,
    FormBody,
    PageCursor,
    PageLimit,
    RegistryDep,
    SettingsDep,
    WorksScope,
)
from rights.api.limits import read_upload
from rights.api.schemas import ErrorBody, Receipt, Registration, WorkOut, WorkPage
from rights.errors import BadInput, Forbidden
from rights.limits import MAX_TITLE_LENGTH
from rights.text import title_from_file_name

router = APIRouter(
    prefix="/v1/works",
    tags=["works"],
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown API key"},
        403: {"model": ErrorBody, "description": "the caller's role or ownership does not allow this"},
        404: {"model": ErrorBody, "description": "no such work"},
    },
)


async def _single_parts(request: Request) -> None:
    """Refuse a repeated part: the route would silently use only the last ``image`` or ``title``."""
    form = await request.form()  # already parsed for the route's parameters: no second read
    if len(form.getlist("image")) > 1:
        raise BadInput("send one 'image' file per registration")
    for field in ("title", "creator", "metadata"):
        if len(form.getlist(field)) > 1:
            raise BadInput(f"send the {field!r} field once")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Registration,
    summary="Register a work",
    description=(
        "Upload an image as a work of the caller (or, for admins, of `creator`). The same bytes by the same "
        "creator return the existing work. A copy of another creator's work is stored as `contested` with "
        "the prior works in `conflicts`. The `receipt` proves the registration is in the signed log."
    ),
    responses={
        400: {"model": ErrorBody, "description": "not an image, or bad form fields"},
        413: {"model": ErrorBody, "description": "upload larger than the limit"},
        415: {"model": ErrorBody, "description": "not multipart/form-data"},
        422: {"model": ErrorBody, "description": "image too plain to identify (low_information)"},
    },
)
def register_work(
    registry: RegistryDep,
    settings: SettingsDep,
    account: CreatorDep,
    _form: FormBody,
    _single: Annotated[None, Depends(_single_parts)],
    image: Annotated[UploadFile, File(description="the artwork (PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF)")],
    title: Annotated[
        str | None,
        Form(
            max_length=MAX_TITLE_LENGTH, description="default: the file's name", examples=["Harbour at dusk"]
        ),
    ] = None,
    creator: Annotated[
        str | None, Form(description="admins only: register on behalf of this creator")
    ] = None,
    metadata: Annotated[str | None, Form(description="a JSON object", examples=['{"year": 2024}'])] = None,
) -> dict[str, Any]:
    owner = _owner(account, creator)
    meta = _parse_metadata(metadata)
    data = read_upload(image, settings.max_upload_bytes)
    # Without a title (or with a blank one), the file's name stands in for it, as on the CLI.
    if not title or not title.strip():  # PureWindowsPath: Windows paths split on / too
        title = title_from_file_name(PureWindowsPath(image.filename or "").stem, MAX_TITLE_LENGTH)
    return registry.register(owner, data, title=title, metadata=meta)


@router.get("", response_model=WorkPage, summary="List works, oldest first")
def list_works(
    registry: RegistryDep,
    _account: CreatorDep,
    creator: WorksScope,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> dict[str, Any]:
    return registry.list_works(creator=creator, limit=limit, cursor=cursor)


@router.get("/{work_id}", response_model=WorkOut, summary="One work")
def get_work(registry: RegistryDep, account: AccountDep, work_id: str) -> dict[str, Any]:
    return registry.get_work(work_id, account)


@router.get("/{work_id}/receipt", response_model=Receipt, summary="The registration receipt of a work")
def get_receipt(registry: RegistryDep, account: AccountDep, work_id: str) -> dict[str, Any]:
    registry.get_work(work_id, account)  # same visibility as the work itself
    return registry.receipt(work_id)


@router.delete(
    "/{work_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Withdraw a work",
    description="Removes the work from matching and logs the withdrawal. Repeating it is harmless.",
)
def withdraw_work(registry: RegistryDep, account: CreatorDep, work_id: str) -> Response:
    registry.withdraw(work_id, account)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _owner(account: Account, creator: str | None) -> str:
    if not creator or creator == account.name:
        return account.name
    if account.role != "admin":
        raise Forbidden("only admins may register on behalf of another creator")
    return creator


def _parse_metadata(metadata: str | None) -> dict[str, Any] | None:
    if metadata is None or metadata == "":
        return None
    try:
        value = json_input.loads(metadata, unique_keys=True)
    except ValueError as exc:
        raise BadInput(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadInput("metadata must be a JSON object")
    return value

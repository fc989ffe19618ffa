"""Licences of a work: its creator (or an admin) grants and lists them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from rights.api.deps import CreatorDep, JsonBody, RegistryDep
from rights.api.schemas import ErrorBody, LicenseIn, LicenseOut

router = APIRouter(
    prefix="/v1/works/{work_id}/licenses",
    tags=["licenses"],
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown API key"},
        403: {"model": ErrorBody, "description": "not the work's creator"},
        404: {"model": ErrorBody, "description": "no such work"},
    },
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LicenseOut,
    summary="Grant a licence",
    description=(
        "Matches of this work found in listings by `licensee` (on `platform`, if given) are reported as "
        "`licensed` until `expires_at`. A licensee that is a platform's account name covers the whole "
        "platform. The grant is recorded in the transparency log."
    ),
    responses={
        400: {"model": ErrorBody},
        409: {"model": ErrorBody, "description": "work withdrawn"},
        415: {"model": ErrorBody, "description": "not application/json"},
    },
)
def add_license(
    registry: RegistryDep, account: CreatorDep, _json: JsonBody, work_id: str, body: LicenseIn
) -> dict[str, Any]:
    expires = body.expires_at.isoformat() if body.expires_at is not None else None
    return registry.add_license(work_id, body.licensee, body.platform, expires, actor=account)


@router.get("", response_model=list[LicenseOut], summary="Licences of a work")
def list_licenses(registry: RegistryDep, account: CreatorDep, work_id: str) -> list[dict[str, Any]]:
    return registry.list_licenses(work_id, account)

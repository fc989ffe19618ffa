"""Case routes: the caller's infringement cases, status changes and takedown notices.

Creators see the cases of their own works; admins see all. Platforms have no cases (they receive the
notices), so they get 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from rights import cases
from rights.accounts import Account
from rights.api.deps import CreatorDep, JsonBody, RegistryDep
from rights.api.schemas import ErrorBody
from rights.case_notice import notice_for
from rights.errors import BadInput, Forbidden, NotFound
from rights.limits import MAX_CONTACT_LENGTH, MAX_HOLDER_NAME_LENGTH
from rights.notices import MEDIA_TYPES, render_notice
from rights.registry import Registry

router = APIRouter(
    prefix="/v1/cases",
    tags=["cases"],
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown API key"},
        403: {"model": ErrorBody, "description": "platform accounts have no cases"},
    },
)

CaseStatus = Literal["open", "notified", "taken_down", "dismissed", "licensed"]


class CaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt "note" must not vanish silently

    status: CaseStatus
    note: str | None = Field(default=None, max_length=2000, description="why, kept in the case history")


@router.get("", summary="Cases of the caller's works")
def list_cases(
    registry: RegistryDep,
    account: CreatorDep,
    status: Annotated[CaseStatus | None, Query()] = None,
    creator: Annotated[str | None, Query(description="admins only: one creator's cases")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    if not account.is_admin and creator not in (None, account.name):
        raise Forbidden("creators may list only their own cases")  # as works; it was ignored
    owner = creator if account.is_admin else account.name
    after = _cursor(cursor)
    page = cases.list_cases(registry.db, creator=owner, status=status, after_id=after, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {
        "cases": [c.to_dict() for c in page],
        "next_cursor": str(page[-1].id) if more and page else None,
    }


def _case_key(case_id: Annotated[str, Path(description="a case id, as `GET /v1/cases` gives it")]) -> int:
    """A case has one id spelling: "1.0", "01" or "+1" read as case 1 (an audit)."""
    if not (case_id.isascii() and case_id.isdigit()) or case_id.startswith("0"):
        raise NotFound(f"no case {case_id}", case_id=case_id)
    return int(case_id)


CaseKey = Annotated[int, Depends(_case_key)]


@router.get(
    "/{case_id}",
    summary="One case, with its evidence images and history",
    responses={404: {"model": ErrorBody}},
)
def get_case(account: CreatorDep, case_id: CaseKey, registry: RegistryDep) -> dict[str, Any]:
    case = _own_case(registry, case_id, account)
    body = case.to_dict(with_images=True)
    body["history"] = cases.case_events(registry.db, case_id)
    return body


@router.patch(
    "/{case_id}",
    summary="Change a case's status",
    description=(
        "open → notified → taken_down; open or notified → dismissed or licensed; notified, taken_down, "
        "dismissed and licensed → open. Other moves answer 409."
    ),
    responses={
        400: {
            "model": ErrorBody,
            "description": "the body is not JSON, or the note holds control characters",
        },
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        415: {"model": ErrorBody},
    },
)
def update_case(
    account: CreatorDep, case_id: CaseKey, body: CaseUpdate, registry: RegistryDep, _json: JsonBody
) -> dict[str, Any]:
    _own_case(registry, case_id, account)
    with registry.transaction() as conn:
        case = cases.change_status(conn, case_id, body.status, actor=account.name, note=body.note)
    return case.to_dict()


@router.get(
    "/{case_id}/notice",
    summary="Takedown notice for a case",
    description=(
        "A draft notice covering 17 U.S.C. §512(c)(3) and PRC 信息网络传播权保护条例 Art. 14: "
        "rights holder and contact, the registered work with its log index and receipt, the listing, "
        "the evidence and the statements. The holder's legal name and contact details come from the "
        "case creator's profile (`PUT /v1/profile`) unless `holder_name` or `contact` is given; what "
        "neither supplies is a placeholder, listed under `missing` in JSON. Check it before sending."
    ),
    response_class=Response,
    responses={
        200: {"content": {"text/markdown": {}, "text/html": {}, "application/json": {}}},
        404: {"model": ErrorBody},
        409: {
            "model": ErrorBody,
            "description": "the work was withdrawn, or the use is licensed or dismissed",
        },
    },
)
def get_notice(
    account: CreatorDep,
    case_id: CaseKey,
    registry: RegistryDep,
    format: Annotated[Literal["md", "html", "json"], Query()] = "md",
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
    contact: Annotated[
        str | None,
        Query(max_length=MAX_CONTACT_LENGTH, description="contact details to print instead of the profile's"),
    ] = None,
    holder_name: Annotated[
        str | None,
        Query(
            max_length=MAX_HOLDER_NAME_LENGTH,
            description="the rights holder's legal name, to sign with, instead of the profile's",
        ),
    ] = None,
) -> Response:
    case = _own_case(registry, case_id, account)
    notice = notice_for(registry, case, lang=lang, contact=contact, holder_name=holder_name)
    return Response(render_notice(notice, format), media_type=MEDIA_TYPES[format])


def _own_case(registry: Registry, case_id: int, account: Account) -> cases.Case:
    case = cases.get_case(registry.db, case_id)
    if not account.is_admin and case.creator != account.name:
        raise NotFound(f"no case {case_id}", case_id=case_id)
    return case


def _cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:  # case ids are SQLite rowids
        raise BadInput(f"cursor {cursor!r} is not one this API returned")
    return int(cursor)

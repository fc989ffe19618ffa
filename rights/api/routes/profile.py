"""The caller's rights-holder profile: the legal name and contact details its takedown notices print.

Creators read and set their own; admins also anyone's with ``?account=``. Platforms send no notices,
so they get 403. The details travel in the body, never the URL, so the access log never sees them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rights import profiles
from rights.accounts import Account
from rights.api.deps import CreatorDep, JsonBody, RegistryDep
from rights.api.schemas import ErrorBody, ProfileIn, ProfileOut
from rights.errors import Forbidden

router = APIRouter(
    prefix="/v1/profile",
    tags=["profile"],
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown API key"},
        403: {
            "model": ErrorBody,
            "description": "a platform key, a creator naming another account, or a platform's profile",
        },
        404: {"model": ErrorBody, "description": "no account of that name"},
    },
)

AccountQuery = Annotated[
    str | None,
    Query(max_length=100, description="admins only: another account's profile (default: the caller's)"),
]


@router.get(
    "",
    response_model=ProfileOut,
    summary="The caller's rights-holder profile",
    description=(
        "The legal name and contact details that the account's takedown notices print. Fields never "
        "set are null, and notices show a placeholder there."
    ),
)
def get_profile(registry: RegistryDep, caller: CreatorDep, account: AccountQuery = None) -> dict[str, Any]:
    return profiles.get_profile(registry.db, _whose(caller, account)).to_dict()


@router.put(
    "",
    response_model=ProfileOut,
    summary="Set the caller's rights-holder profile",
    description=(
        "Every takedown notice of the account's cases prints `legal_name` (and signs with it) and "
        "`contact`, unless the notice request gives its own. A key left out of the body keeps its value; "
        "null or an empty string clears it. Control characters other than line breaks and tabs are "
        "refused; `legal_name` is kept on one line. The profile is not written to the transparency log."
    ),
    responses={
        400: {"model": ErrorBody, "description": "not JSON, or text with control characters"},
        415: {"model": ErrorBody, "description": "not application/json"},
        422: {"model": ErrorBody, "description": "unknown keys, wrong types or text too long"},
    },
)
def put_profile(
    body: ProfileIn, registry: RegistryDep, caller: CreatorDep, _json: JsonBody, account: AccountQuery = None
) -> dict[str, Any]:
    given = body.model_fields_set
    with registry.transaction() as conn:
        profile = profiles.set_profile(
            conn,
            _whose(caller, account),
            legal_name=body.legal_name if "legal_name" in given else profiles.KEEP,
            contact=body.contact if "contact" in given else profiles.KEEP,
        )
    return profile.to_dict()


def _whose(caller: Account, account: str | None) -> str:
    if account is None or account == caller.name:
        return caller.name
    if not caller.is_admin:
        raise Forbidden("creators may read and set only their own profile")
    return account

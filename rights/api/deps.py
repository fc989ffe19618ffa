"""Dependencies: the registry and settings from app state, and the authenticated account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rights import json_input
from rights.accounts import Account
from rights.config import Settings
from rights.errors import BadInput, Forbidden, Unauthorized, UnsupportedMedia
from rights.limits import MAX_PAGE_LIMIT
from rights.registry import Registry

_bearer = HTTPBearer(auto_error=False, description="an API key from `rights keys create`")


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def current_account(
    registry: RegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return registry.authenticate(credentials.credentials)


AccountDep = Annotated[Account, Depends(current_account)]


def require_role(*roles: str) -> Callable[[Account], Account]:
    """A dependency admitting only ``roles`` (admins always pass)."""

    def check(account: AccountDep) -> Account:
        if account.role != "admin" and account.role not in roles:
            raise Forbidden(f"the {account.role} role may not do this (allowed: admin, {', '.join(roles)})")
        return account

    return check


CreatorDep = Annotated[Account, Depends(require_role("creator"))]


def works_scope(
    account: AccountDep,
    creator: Annotated[
        str | None, Query(description="only this creator's works (creators: only their own)")
    ] = None,
) -> str | None:
    """Whose works a listing shows: ``creator`` if given, any for admins and platforms, and a creator's
    own only (403 for another's)."""
    if account.role == "creator":
        if creator not in (None, account.name):
            raise Forbidden("creators may list only their own works")
        return account.name
    return creator


WorksScope = Annotated[str | None, Depends(works_scope)]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
PageCursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]


def media_type(request: Request) -> str:
    """The body's media type: lower case, without parameters (charset, boundary)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media(wanted: str, how: str) -> Callable[[Request], None]:
    """A dependency answering 415 to a body of another media type, as match and scans do (FastAPI
    itself answered 422: the body "is not a valid dictionary", or a form field is missing)."""

    def check(request: Request) -> None:
        if media_type(request) != wanted:
            raise UnsupportedMedia(how)

    return check


async def json_body(request: Request) -> None:
    """A JSON body, refused (415) in another media type, and refused (400) when it is not JSON text
    or an object names a key twice: readers disagree on which value counts (a licence's licensee,
    written to the signed log), so every route answers as ``POST /v1/match`` and ``/v1/scans`` do.
    The body is read once: FastAPI parses the same cached bytes into the route's model."""
    if media_type(request) != "application/json":
        raise UnsupportedMedia("send the body as application/json")
    try:
        json_input.loads(await request.body(), unique_keys=True)
    except ValueError as exc:
        # Refused here, whatever the route's model would make of it: a lone surrogate escape passed
        # the model and then failed writing the answer (500), and an empty body was a 422.
        raise BadInput(f"the body is not valid JSON ({exc})") from exc


JsonBody = Annotated[None, Depends(json_body)]
FormBody = Annotated[
    None, Depends(require_media("multipart/form-data", "send multipart/form-data with an 'image' file"))
]

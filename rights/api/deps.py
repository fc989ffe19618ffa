"""Dependencies: the registry and settings from app state, and the authenticated account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rights.accounts import Account
from rights.config import Settings
from rights.errors import Forbidden, Unauthorized
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

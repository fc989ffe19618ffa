"""The rights holder's profile: the legal name and contact details an account's takedown notices print.

The registry knows an account by its handle, which is neither the legal name a notice is signed with
(17 U.S.C. §512(c)(3)(A)(i)) nor the holder's contact details and address (§512(c)(3)(A)(iv), PRC
Art. 14 (1)). A creator stores them once here rather than passing them to every notice.

The profile is personal data (a home address, a phone number): it stays in this table, is never
appended to the transparency log, and is only shown to its account and to admins.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from rights.accounts import Account, get_account
from rights.db import utcnow
from rights.errors import BadInput, Forbidden, NotFound
from rights.limits import MAX_CONTACT_LENGTH, MAX_HOLDER_NAME_LENGTH
from rights.text import has_controls_besides_breaks, has_lone_surrogates

__all__ = [
    "KEEP",
    "HolderProfile",
    "clean_contact",
    "clean_legal_name",
    "get_profile",
    "set_profile",
    "stored_profile",
]


class _Keep(Enum):
    KEEP = "keep"


# "Leave this field as it is", as opposed to None ("clear it").
KEEP = _Keep.KEEP


@dataclass(frozen=True)
class HolderProfile:
    account: str
    legal_name: str | None = None
    contact: str | None = None
    updated_at: str | None = None  # None: never set

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_legal_name(value: str | None, field: str = "legal name") -> str | None:
    """``value`` as one line (it is a signature), or None when empty; ``BadInput`` naming ``field``."""
    _check_text(value, field, MAX_HOLDER_NAME_LENGTH)
    if value is None:
        return None
    return " ".join(value.split()) or None


def clean_contact(value: str | None, field: str = "contact") -> str | None:
    """``value`` with its line breaks (an address runs over lines), or None when empty."""
    _check_text(value, field, MAX_CONTACT_LENGTH)
    if value is None:
        return None
    return value.replace("\r\n", "\n").strip() or None


def _check_text(value: str | None, field: str, max_length: int) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > max_length:
        raise BadInput(f"{field} must be text of at most {max_length} characters")
    if has_lone_surrogates(value):
        raise BadInput(f"{field} is not valid Unicode text (undecodable bytes or a lone surrogate)")
    if has_controls_besides_breaks(value):
        # Printed into notices: a NUL or a terminal escape would travel with it.
        raise BadInput(f"{field} must not contain control characters other than line breaks and tabs")


def stored_profile(conn: sqlite3.Connection, account: str) -> HolderProfile:
    """What ``account`` stored, empty when nothing (or no such account): for notices, which print a
    placeholder for whatever is missing."""
    row = conn.execute(
        "SELECT p.legal_name, p.contact, p.updated_at FROM holder_profiles p"
        " JOIN accounts a ON a.id = p.account_id WHERE a.name = ?",
        (account,),
    ).fetchone()
    if row is None:
        return HolderProfile(account)
    return HolderProfile(account, row[0], row[1], row[2])


def get_profile(conn: sqlite3.Connection, account: str) -> HolderProfile:
    """``account``'s profile; ``NotFound`` for an unknown account, ``Forbidden`` for a platform's."""
    _holder_account(conn, account)
    return stored_profile(conn, account)


def set_profile(
    conn: sqlite3.Connection,
    account: str,
    *,
    legal_name: str | _Keep | None = KEEP,
    contact: str | _Keep | None = KEEP,
) -> HolderProfile:
    """Change the fields given (None or "" clears one, :data:`KEEP` leaves it) and return the result.
    Run it inside a write transaction."""
    owner = _holder_account(conn, account)
    current = stored_profile(conn, account)
    if legal_name is KEEP and contact is KEEP:
        return current
    name = current.legal_name if legal_name is KEEP else clean_legal_name(legal_name)
    details = current.contact if contact is KEEP else clean_contact(contact)
    now = utcnow()
    conn.execute(
        "INSERT INTO holder_profiles (account_id, legal_name, contact, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (account_id) DO UPDATE SET legal_name = excluded.legal_name,"
        " contact = excluded.contact, updated_at = excluded.updated_at",
        (owner.id, name, details, now),
    )
    return HolderProfile(account, name, details, now)


def _holder_account(conn: sqlite3.Connection, name: str) -> Account:
    account = get_account(conn, name)
    if account is None:
        raise NotFound(f"no account named {name!r}", account=name)
    if account.role == "platform":
        # Platforms own no works, so no notice is ever sent in their name.
        raise Forbidden(f"{name!r} is a platform account: it owns no works and has no profile", account=name)
    return account

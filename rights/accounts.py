"""Accounts and API keys.

A key is ``rk_`` + 43 URL-safe random characters (256 bits). Only its SHA-256 is stored. Authentication
finds the row by the key's first characters (the *prefix*, not secret: it only names the key) and compares
hashes with ``hmac.compare_digest``, so a lookup costs one indexed read and leaks no timing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from rights.db import utcnow
from rights.errors import BadInput, Conflict, NotFound, Unauthorized

ROLES = ("admin", "creator", "platform")
KEY_SCHEME = "rk_"
# "rk_" + 8 random characters: 48 bits, so two keys practically never share one.
PREFIX_LENGTH = len(KEY_SCHEME) + 8
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")  # fullmatch: "$" would let "name\n" pass


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadInput(
            f"account name {name!r} is not allowed: use 1-100 ASCII letters, digits or ._@+- "
            "(starting with a letter or digit)"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def get_account(conn: sqlite3.Connection, name: str) -> Account | None:
    row = conn.execute("SELECT id, name, role FROM accounts WHERE name = ?", (name,)).fetchone()
    return None if row is None else Account(row[0], row[1], row[2])


def require_account(conn: sqlite3.Connection, name: str) -> Account:
    """The account ``name``, or ``NotFound`` naming one that differs only in case: a filter on a
    mistyped name listed nothing, with no word why (an audit)."""
    account = get_account(conn, name)
    if account is not None:
        return account
    twin = conn.execute("SELECT name FROM accounts WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
    hint = f"; did you mean {twin[0]!r}?" if twin is not None else ""
    raise NotFound(f"no account named {name!r}{hint}", account=name)


def check_no_twin(conn: sqlite3.Connection, name: str) -> None:
    """``Conflict`` if a new account ``name`` would differ from an existing one only in case.

    Names are ASCII, so NOCASE folds them fully. "Alice" and "alice" as two creators would split
    one person's works, licences and cases; rows that already differ so stay as they are."""
    twin = conn.execute("SELECT name FROM accounts WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
    if twin is not None:
        raise Conflict(
            f"account {name!r} would differ only in letter case from the existing {twin[0]!r}; "
            f"use {twin[0]!r}",
            account=name,
        )


def ensure_account(conn: sqlite3.Connection, name: str, role: str) -> Account:
    """The account ``name``, created with ``role`` if new; an existing one must already have that role."""
    check_name(name)
    check_role(role)
    existing = get_account(conn, name)
    if existing is not None:
        if existing.role != role:
            raise Conflict(f"account {name!r} already exists with role {existing.role!r}", account=name)
        return existing
    check_no_twin(conn, name)
    cur = conn.execute(
        "INSERT INTO accounts (name, role, created_at) VALUES (?, ?, ?)", (name, role, utcnow())
    )
    return Account(int(cur.lastrowid or 0), name, role)


def create_key(conn: sqlite3.Connection, account: Account) -> str:
    """Issue a new key for ``account``; the plaintext is returned once and never stored."""
    while True:
        key = KEY_SCHEME + secrets.token_urlsafe(32)
        prefix = key[:PREFIX_LENGTH]
        if conn.execute("SELECT 1 FROM api_keys WHERE prefix = ?", (prefix,)).fetchone() is None:
            break
    conn.execute(
        "INSERT INTO api_keys (account_id, prefix, key_sha256, created_at) VALUES (?, ?, ?, ?)",
        (account.id, prefix, _hash(key), utcnow()),
    )
    return key


def revoke_keys(conn: sqlite3.Connection, name: str) -> int:
    account = get_account(conn, name)
    if account is None:
        raise NotFound(f"no account named {name!r}", account=name)
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
        (utcnow(), account.id),
    )
    return cur.rowcount


def authenticate(conn: sqlite3.Connection, key: str) -> Account:
    if not key.startswith(KEY_SCHEME) or len(key) < PREFIX_LENGTH + 8:
        raise Unauthorized("the API key is malformed; expected 'Authorization: Bearer rk_...'")
    row = conn.execute(
        "SELECT k.key_sha256, k.revoked_at, a.id, a.name, a.role FROM api_keys k"
        " JOIN accounts a ON a.id = k.account_id WHERE k.prefix = ?",
        (key[:PREFIX_LENGTH],),
    ).fetchone()
    # Hash even when no row matched, so both failures take the same time.
    presented = _hash(key)
    stored = row[0] if row is not None else "0" * 64
    if row is None or not hmac.compare_digest(presented, stored) or row[1] is not None:
        raise Unauthorized("the API key is unknown or revoked")
    return Account(row[2], row[3], row[4])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()

"""Licences: who may use a work, on which platform, until when; and the ``licensed`` flag of matches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rights.db import stored_time, utcnow
from rights.errors import BadInput
from rights.text import has_control_characters, has_lone_surrogates
from rights.works import format_work_id

MAX_NAME_LENGTH = 200


def normalise_expiry(value: str | datetime | None) -> str | None:
    """Any ISO 8601 time → the store's fixed-width UTC form; naive times are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadInput(f"expires_at {value!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        text = stored_time(value)
    except OverflowError as exc:  # 9999-12-31T23:59-12:00 is past year 9999 in UTC
        raise BadInput(f"expires_at {value.isoformat()} is out of the range of dates") from exc
    if text <= utcnow():
        raise BadInput(f"expires_at {text} is in the past")
    return text


def check_party(value: str | None, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise BadInput(f"{field} is required")
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH or not value.strip():
        raise BadInput(f"{field} must be a non-blank string of at most {MAX_NAME_LENGTH} characters")
    if has_lone_surrogates(value):
        raise BadInput(f"{field} is not valid Unicode text (undecodable bytes or a lone surrogate)")
    if has_control_characters(value):
        raise BadInput(f"{field} must not contain control characters (NUL, tabs, line breaks, escapes)")
    return value.strip()


def to_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "license_id": f"l_{row['id']}",
        "work_id": format_work_id(row["work_id"]),
        "licensee": row["licensee"],
        "platform": row["platform"],
        "expires_at": row["expires_at"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "log_index": row["log_index"],
    }


def licensed_keys(
    conn: sqlite3.Connection, keys: Iterable[int], *, platform: str | None, seller: str | None
) -> set[int]:
    """Works among ``keys`` with an unexpired licence covering this use.

    A licence covers the use when it names the seller as licensee and either names no platform or the
    listing's platform; or when its licensee is the listing's platform itself, a ``platform`` account
    (a platform-wide licence), and it names no other platform. A seller who happens to share a
    platform's name gets no platform-wide licence, and a platform-wide licence covers no seller of
    that name on other platforms: a licence to a platform account covers a seller only on a platform
    it names.
    """
    keys = list(keys)
    # Names as marketplaces treat handles: "Alice-Shop " sells as "alice-shop" (ASCII case; an
    # audit saw a licensed seller's listing opened as a case for its capital letter).
    seller, platform = _handle(seller), _handle(platform)
    if not keys or (platform is None and seller is None):
        return set()
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT DISTINCT work_id FROM licenses WHERE work_id IN ({marks})"
        " AND (expires_at IS NULL OR expires_at > ?)"
        " AND ((licensee = ? COLLATE NOCASE AND (platform = ? COLLATE NOCASE OR (platform IS NULL"
        "          AND NOT EXISTS (SELECT 1 FROM accounts WHERE name = licensee AND role = 'platform'))))"
        "      OR (licensee = ? COLLATE NOCASE AND (platform IS NULL OR platform = licensee)"
        "          AND EXISTS (SELECT 1 FROM accounts WHERE name = licensee AND role = 'platform')))",
        (*keys, utcnow(), seller, platform, platform),
    )
    return {r[0] for r in rows}


def _handle(name: str | None) -> str | None:
    return (name.strip() or None) if name else None

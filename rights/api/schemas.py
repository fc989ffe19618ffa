"""Pydantic models of the public JSON: they document the contract in OpenAPI and check our answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.types import JsonValue

from rights.limits import MAX_CONTACT_LENGTH, MAX_HOLDER_NAME_LENGTH

_MATCH_EXAMPLE: dict[str, JsonValue] = {
    "work_id": "w_12",
    "creator": "alice",
    "title": "Harbour at dusk",
    "score": 0.97,
    "verdict": "match",
    "kind": "partial",
    "region": [120, 40, 300, 225],
    "licensed": False,
}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no work 'w_99'"])


class ErrorBody(BaseModel):
    error: ErrorDetail


class MatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MATCH_EXAMPLE]})

    work_id: str
    creator: str
    title: str | None
    score: float = Field(ge=0, le=1, description="monotone in confidence: higher is more certain")
    verdict: Literal["match", "review"]
    kind: Literal["exact", "near", "partial"]
    region: list[int] | None = Field(description="[x, y, w, h] of the work inside the query, in query pixels")
    licensed: bool


class ConflictOut(MatchOut):
    log_index: int
    registered_at: str


class MatchResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"verdict": "match", "matches": [_MATCH_EXAMPLE], "took_ms": 41.2}]}
    )

    verdict: Literal["match", "review", "clear"]
    matches: list[MatchOut]
    took_ms: float


class MatchUrl(BaseModel):
    url: str = Field(examples=["https://shop.example/listing/123.jpg"])


class CheckpointOut(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="hex")
    timestamp: str
    key_id: str
    signature: str = Field(description="base64 Ed25519 signature over the checkpoint body")


class Receipt(BaseModel):
    version: int
    log_index: int
    entry: str = Field(description="the canonical JSON entry; its UTF-8 bytes are the Merkle leaf")
    checkpoint: CheckpointOut
    inclusion_proof: list[str] = Field(description="hex sibling hashes, leaf to root (RFC 9162 §2.1.3)")


class WorkOut(BaseModel):
    work_id: str = Field(examples=["w_12"])
    creator: str
    title: str | None
    sha256: str
    registered_at: str
    status: Literal["registered", "contested", "withdrawn"]
    conflicts: list[ConflictOut]
    log_index: int
    fingerprint_digest: str
    metadata: dict[str, Any]
    withdrawn_at: str | None


class Registration(WorkOut):
    receipt: Receipt


class WorkPage(BaseModel):
    works: list[WorkOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class LicenseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"licensee": "goodprints", "platform": "etsy", "expires_at": "2027-01-01T00:00:00Z"}]
        },
    )

    licensee: str = Field(min_length=1, max_length=200, description="seller (or platform) allowed to use it")
    platform: str | None = Field(default=None, max_length=200, description="only on this platform, if given")
    expires_at: datetime | None = None


class LicenseOut(BaseModel):
    license_id: str
    work_id: str
    licensee: str
    platform: str | None
    expires_at: str | None
    created_at: str
    created_by: str | None
    log_index: int


_PROFILE_EXAMPLE: dict[str, JsonValue] = {
    "legal_name": "Alice Example Studio Ltd",
    "contact": "legal@alice.example\n+44 20 7946 0000\n1 Harbour Row, Bristol BS1 4AA, UK",
}


class ProfileIn(BaseModel):
    """A key left out of the body leaves that field as it is; null or "" clears it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PROFILE_EXAMPLE]})

    legal_name: str | None = Field(
        default=None,
        max_length=MAX_HOLDER_NAME_LENGTH,
        description="the person's or company's legal name, printed and signed with; one line",
    )
    contact: str | None = Field(
        default=None,
        max_length=MAX_CONTACT_LENGTH,
        description="e-mail, phone and postal address, as notices should show them; may run over lines",
    )


class ProfileOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"account": "alice", **_PROFILE_EXAMPLE, "updated_at": "2026-12-03T04:05:06.789Z"}]
        }
    )

    account: str
    legal_name: str | None
    contact: str | None
    updated_at: str | None = Field(description="when it last changed; null if it was never set")


class SignedCheckpoint(CheckpointOut):
    public_key: str = Field(description="PEM (SubjectPublicKeyInfo) of the log's Ed25519 key")
    body: str = Field(description="the exact signed text: origin, size, base64 root, timestamp, one per line")


class LogEntry(BaseModel):
    index: int
    entry: str
    leaf_hash: str


class LogEntries(BaseModel):
    tree_size: int
    entries: list[LogEntry]


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    inclusion_path: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    works_indexed: int
    log_size: int

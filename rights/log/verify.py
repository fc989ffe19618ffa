"""Offline verification: one receipt against a public key, or the whole log against its signed checkpoints."""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rights.log.merkle import ProofError, leaf_hash, node_hash, root_from_inclusion
from rights.log.signing import PUBLIC_KEY_FILE, key_id, load_public_key, verify_signature
from rights.log.store import Checkpoint, encode_entry


class VerificationError(ValueError):
    """A receipt or the log failed verification; the message says what and where."""


PublicKeyLike = str | bytes | Path | Ed25519PublicKey


def verify_receipt(receipt: dict[str, Any], public_key: PublicKeyLike) -> dict[str, Any]:
    """Check a receipt completely offline; returns the decoded log entry, raises ``VerificationError``."""
    try:
        key = load_public_key(public_key)
    except (ValueError, binascii.Error) as exc:
        raise VerificationError(f"unusable public key: {exc}") from exc
    try:
        _check_types(receipt)
        index = receipt["log_index"]
        entry_bytes = receipt["entry"].encode("utf-8")
        checkpoint = Checkpoint.from_json(receipt["checkpoint"])
        path = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
        entry = json.loads(entry_bytes)
        body = checkpoint.body()  # refuses an origin or timestamp of several lines
    except KeyError as exc:
        raise VerificationError(f"malformed receipt: it has no {exc.args[0]!r} field") from exc
    except (TypeError, ValueError, binascii.Error) as exc:
        raise VerificationError(f"malformed receipt: {exc}") from exc
    if not isinstance(entry, dict) or entry.get("index") != index:
        raise VerificationError(f"the entry does not name log index {index}")
    if not verify_signature(key, checkpoint.signature, body):
        raise VerificationError("the checkpoint signature is not valid for this public key")
    try:
        root = root_from_inclusion(index, checkpoint.tree_size, leaf_hash(entry_bytes), path)
    except ProofError as exc:
        raise VerificationError(str(exc)) from exc
    if root != checkpoint.root_hash:
        raise VerificationError(f"entry {index} is not in the signed tree (inclusion proof leads elsewhere)")
    return entry


# A receipt's fields and their JSON types, as README's algorithm reads them: a re-implementation
# comparing ``entry.index == receipt.log_index`` would refuse "0" or 0.0, so this one does too.
_RECEIPT_TYPES = {"version": int, "log_index": int, "entry": str, "inclusion_proof": list, "checkpoint": dict}
RECEIPT_VERSIONS = (1,)
# Hashes as the registry writes them: 64 lowercase hex digits. ``bytes.fromhex`` also takes capitals
# and spaces, so several texts would verify as one receipt.
_HASH_HEX = re.compile(r"[0-9a-f]{64}")
_CHECKPOINT_TYPES = {"origin": str, "tree_size": int, "root_hash": str, "timestamp": str, "signature": str}


def _check_types(receipt: dict[str, Any]) -> None:
    _typed(receipt, "receipt", _RECEIPT_TYPES)
    if receipt["version"] not in RECEIPT_VERSIONS:
        raise ValueError(f"receipt version {receipt['version']} is not one this verifier knows (1)")
    _typed(receipt["checkpoint"], "checkpoint", _CHECKPOINT_TYPES)
    hashes = [receipt["checkpoint"]["root_hash"], *receipt["inclusion_proof"]]
    if not all(isinstance(h, str) and _HASH_HEX.fullmatch(h) for h in hashes):
        raise ValueError("'root_hash' and each 'inclusion_proof' node must be 64 lowercase hex digits")
    # One receipt, one text, for the signature too: base64 decoders ignore the last character's
    # unused bits, so 16 spellings of one signature verified (an outside verifier refused them).
    signature = receipt["checkpoint"]["signature"]
    if not _canonical_base64(signature):
        raise ValueError("'signature' must be standard base64 with padding, its unused bits zero")
    if not isinstance(receipt["checkpoint"].get("key_id", ""), str):
        raise TypeError("checkpoint field 'key_id' must be a JSON string when present")


def _canonical_base64(text: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode("ascii") == text
    except ValueError:
        return False


def _typed(fields: dict[str, Any], where: str, wanted: dict[str, type]) -> None:
    for name, kind in wanted.items():
        value = fields[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError(f"{where} field {name!r} must be a JSON {_JSON_NAMES[kind]}")


_JSON_NAMES = {int: "integer", str: "string", list: "array", dict: "object"}


@dataclass
class LogReport:
    ok: bool
    size: int
    checkpoints: int
    first_bad_index: int | None = None
    problem: str | None = None
    key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "checkpoints": self.checkpoints,
            "first_bad_index": self.first_bad_index,
            "problem": self.problem,
            "key_id": self.key_id,
        }


# ``progress`` is told the entries checked so far this often (and once at the end).
PROGRESS_EVERY = 1000


def verify_log(
    db: sqlite3.Connection | Path | str,
    public_key: PublicKeyLike | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> LogReport:
    """Recompute the whole log from its entries and check it against every signed checkpoint.

    Reports the first entry that was altered, reordered or removed. ``public_key`` defaults to the published
    key next to the database; pass a copy held elsewhere to catch a swapped key. O(n) time, O(log n) memory.
    ``progress``, if given, is told how many entries were checked so far (``log_size`` gives the total).

    The whole check reads one snapshot (a read transaction), so the log another process appends to meanwhile
    is seen as it was when the check began.
    """
    conn, owned = _open(db)
    snapshot = not conn.in_transaction
    try:
        if public_key is None and _empty(conn):
            # Nothing was logged or signed yet: a registry killed before its key was written (the
            # first open writes it) has nothing to verify, and no key to verify it with.
            return LogReport(ok=True, size=0, checkpoints=0)
        key = load_public_key(public_key if public_key is not None else _default_key_path(conn))
        if snapshot:
            conn.execute("BEGIN")
        return _verify(conn, key, progress or (lambda done: None))
    finally:
        if snapshot and conn.in_transaction:
            conn.execute("ROLLBACK")  # read only: nothing to keep
        if owned:
            conn.close()


def _empty(conn: sqlite3.Connection) -> bool:
    entries = conn.execute("SELECT count(*) FROM log_entries").fetchone()[0]
    return entries == 0 and conn.execute("SELECT count(*) FROM log_checkpoints").fetchone()[0] == 0


def log_size(db: sqlite3.Connection | Path | str) -> int:
    """Entries in the log (the total a ``verify_log`` progress counts up to)."""
    conn, owned = _open(db)
    try:
        return int(conn.execute("SELECT count(*) FROM log_entries").fetchone()[0])
    finally:
        if owned:
            conn.close()


def _verify(conn: sqlite3.Connection, key: Ed25519PublicKey, progress: Callable[[int], None]) -> LogReport:
    count = conn.execute("SELECT count(*) FROM log_checkpoints").fetchone()[0]
    ours = key_id(key)
    report = LogReport(ok=True, size=0, checkpoints=count, key_id=ours)

    def fail(index: int, problem: str) -> LogReport:
        report.ok, report.first_bad_index, report.problem = False, index, problem
        return report

    # Every checkpoint row is checked before any is trusted: a forged one past the end would
    # otherwise read as deleted entries, and one at size 0 would never be looked at. The first bad
    # one is reported where the walk reaches it, so an altered entry before it is named first.
    bad_checkpoint: tuple[int, str] | None = None
    for row in _checkpoint_rows(conn):
        problem = _checkpoint(row, key, ours)[1]
        if problem:
            size = row[0] if isinstance(row[0], int) else 1
            bad_checkpoint = (max(0, size - 1), problem)
            break
    # Entries and checkpoints are walked side by side in size order, so memory stays O(log n). The rows are
    # those just checked (one snapshot), so their signatures are trusted: verifying every one twice took
    # two thirds of a long log's check.
    checkpoints = (_checkpoint(row, None, ours)[0] for row in _checkpoint_rows(conn))
    cp: Checkpoint | None = next(checkpoints, None)
    stack: list[tuple[int, bytes]] = []  # complete subtrees (level, hash), as in merkle.root_of
    expected = 0
    rows = conn.execute("SELECT idx, entry, leaf_hash FROM log_entries ORDER BY idx")
    for idx, raw_entry, stored_leaf in rows:
        if bad_checkpoint is not None and min(idx, expected) >= bad_checkpoint[0]:
            return fail(*bad_checkpoint)
        if idx != expected:
            return fail(expected, f"entry {expected} is missing (next stored entry is {idx})")
        if not isinstance(raw_entry, bytes) or not isinstance(stored_leaf, bytes):
            # TEXT or INTEGER where a BLOB belongs: written by hand, not by the registry.
            return fail(idx, f"entry {idx} is not stored as bytes (edited outside the registry)")
        entry = raw_entry
        problem = _check_entry(idx, entry)
        if problem:
            return fail(idx, problem)
        leaf = leaf_hash(entry)
        if stored_leaf != leaf:
            return fail(idx, f"entry {idx}: stored leaf hash does not match its bytes")
        level, h, pos = 0, leaf, idx
        bad_node = None
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level, pos = level + 1, pos >> 1
            if bad_node is None and _stored_node(conn, level, pos) != h:
                bad_node = f"cached tree node level={level} idx={pos} is wrong or missing"
        stack.append((level, h))
        expected = report.size = idx + 1
        # Every append signs the new tree head, so each size has its checkpoint: an entry without
        # one was added, or its checkpoint removed, by someone without the signing key.
        if cp is None or cp.tree_size != expected:
            return fail(idx, f"checkpoint at size {expected} is missing: entry {idx} was never signed")
        if cp.root_hash != _root(stack):
            return fail(idx, f"entry {idx} was altered: the root differs from checkpoint {expected}")
        cp = next(checkpoints, None)
        # Entries agree with the signed roots, so a wrong cached node is damage to proofs, not to the log.
        if bad_node:
            return fail(idx, bad_node)
        if expected % PROGRESS_EVERY == 0:
            progress(expected)
    progress(expected)
    if bad_checkpoint is not None:
        return fail(min(bad_checkpoint[0], expected), bad_checkpoint[1])
    if cp is not None:
        return fail(expected, f"entries from {expected} are missing: a checkpoint covers size {cp.tree_size}")
    stray = _stray_node(conn, expected)
    if stray is not None:
        return fail(
            expected,
            f"cached tree node level={stray[0]} idx={stray[1]} lies beyond the {expected}-entry tree:"
            " entries after the last were removed, or the node was added (the next append would fail on it)",
        )
    return report


def _stray_node(conn: sqlite3.Connection, size: int) -> tuple[Any, Any] | None:
    """A stored node that no complete subtree of a ``size``-entry tree has (appends store exactly
    those, level >= 1); shifts past 61 bits are caught before SQLite's 64-bit shift wraps to 0."""
    row = conn.execute(
        "SELECT level, idx FROM log_nodes WHERE typeof(level) != 'integer' OR typeof(idx) != 'integer'"
        " OR level < 1 OR level > 61 OR idx < 0 OR ((idx + 1) << level) > ? LIMIT 1",
        (size,),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def _checkpoint_rows(conn: sqlite3.Connection) -> sqlite3.Cursor:
    return conn.execute(
        "SELECT tree_size, origin, root_hash, timestamp, key_id, signature"
        " FROM log_checkpoints ORDER BY tree_size"
    )


def _checkpoint(
    row: tuple[Any, ...], key: Ed25519PublicKey | None, our_key_id: str
) -> tuple[Checkpoint, str | None]:
    """The row as a checkpoint, and what is wrong with it (types, size, signature), if anything.
    ``key`` None: the signature was already verified (the same row, read in the same snapshot)."""
    size, origin, root, timestamp, signer_id, signature = row
    if not (isinstance(size, int) and isinstance(root, bytes) and isinstance(signature, bytes)):
        return Checkpoint("", 0, b"", "", "", b""), "a checkpoint is not stored as the registry writes it"
    cp = Checkpoint(str(origin), size, root, str(timestamp), str(signer_id), signature)
    if size < 1:
        return cp, f"checkpoint at size {size}: no append signs an empty tree"
    if "\n" in cp.origin or "\n" in cp.timestamp:
        return cp, f"checkpoint at size {size} has an origin or time of several lines, which none signs"
    if key is not None and not verify_signature(key, cp.signature, cp.body()):
        if cp.key_id and cp.key_id != our_key_id:
            # The row's key id is not signed: a hint at the cause, not proof of it.
            return cp, (
                f"checkpoint at size {size} does not verify with the public key given ({our_key_id});"
                f" it names key {cp.key_id}: the wrong key given, a swapped key, or a forged checkpoint"
            )
        return cp, f"checkpoint at size {size} has an invalid signature"
    return cp, None


def _stored_node(conn: sqlite3.Connection, level: int, idx: int) -> bytes | None:
    row = conn.execute("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, idx)).fetchone()
    # Anything but a BLOB (TEXT written by hand) is as wrong as a missing node.
    return row[0] if row is not None and isinstance(row[0], bytes) else None


def _check_entry(idx: int, entry: bytes) -> str | None:
    try:
        fields = json.loads(entry)
    except (UnicodeDecodeError, ValueError):
        return f"entry {idx} is not valid JSON"
    if not isinstance(fields, dict):
        return f"entry {idx} is not a JSON object"
    if fields.get("index") != idx:
        return f"entry {idx} claims index {fields.get('index')!r}: entries were reordered"
    if encode_entry(fields) != entry:
        return f"entry {idx} is not in canonical form"
    return None


def _root(stack: list[tuple[int, bytes]]) -> bytes:
    h = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        h = node_hash(left, h)
    return h


def _open(db: sqlite3.Connection | Path | str) -> tuple[sqlite3.Connection, bool]:
    if isinstance(db, sqlite3.Connection):
        return db, False
    path = Path(db)
    if path.is_dir():
        from rights.db import DB_FILENAME

        path = path / DB_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no log database at {path}")
    from rights.db import connect_read_only

    # Read-only: verification must never create or migrate anything (and works on read-only media).
    return connect_read_only(path), True


def _default_key_path(conn: sqlite3.Connection) -> Path:
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2]).parent / PUBLIC_KEY_FILE

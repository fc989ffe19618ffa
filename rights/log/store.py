"""The append-only log in SQLite: entries, cached complete-subtree hashes and signed checkpoints.

Why cache subtree nodes: the tree over n leaves is the (at most log n) complete subtrees of n's binary
decomposition, and every node of a proof is such a subtree or a short hash chain over them. Storing
each complete subtree once, when its last leaf arrives, makes append, root and proofs O(log n) row
reads instead of O(n).

The store never opens transactions; the caller wraps ``append`` together with the domain rows it records, so a
work and its log entry commit or vanish together.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from rights.db import utcnow
from rights.errors import RightsError
from rights.log.merkle import (
    EMPTY_ROOT,
    consistency_path,
    inclusion_path,
    is_power_of_two,
    leaf_hash,
    node_hash,
    split_point,
)
from rights.log.signing import Signer, checkpoint_body, verify_signature

ENTRY_VERSION = 1


def encode_entry(fields: dict[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8. The exact bytes are what the leaf hash covers."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: str
    key_id: str
    signature: bytes

    def body(self) -> bytes:
        return checkpoint_body(self.origin, self.tree_size, self.root_hash, self.timestamp)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            origin=str(data["origin"]),
            tree_size=int(data["tree_size"]),
            root_hash=bytes.fromhex(data["root_hash"]),
            timestamp=str(data["timestamp"]),
            key_id=str(data.get("key_id", "")),
            signature=base64.b64decode(data["signature"], validate=True),
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Checkpoint:
        return cls(
            row["origin"],
            row["tree_size"],
            row["root_hash"],
            row["timestamp"],
            row["key_id"],
            row["signature"],
        )


class LogInconsistent(RightsError):
    """The log's entries and its newest signed checkpoint disagree: the database was edited."""

    code = "log_inconsistent"


def _edited(what: str) -> str:
    return f"{what}: the database was edited or damaged; `rights log verify` names the first bad entry"


class LogStore:
    def __init__(self, conn: sqlite3.Connection, signer: Signer, origin: str) -> None:
        self.conn = conn
        self.signer = signer
        self.origin = origin

    # ------------------------------------------------------------------------------------------------ reads

    def size(self) -> int:
        row = self.conn.execute("SELECT max(idx) FROM log_entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def entry(self, index: int) -> bytes:
        row = self.conn.execute("SELECT entry FROM log_entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise LogInconsistent(_edited(f"log entry {index} is missing"))
        return bytes(row[0])

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        """(index, entry, leaf hash) for ``start <= index < end``."""
        rows = self.conn.execute(
            "SELECT idx, entry, leaf_hash FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        )
        return [(r[0], bytes(r[1]), bytes(r[2])) for r in rows]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end) for the ranges RFC 9162 recursions produce."""
        n = end - start
        if n <= 0:
            return EMPTY_ROOT
        if n == 1:
            row = self.conn.execute("SELECT leaf_hash FROM log_entries WHERE idx = ?", (start,)).fetchone()
            if row is None:
                raise LogInconsistent(_edited(f"log entry {start} is missing"))
            return bytes(row[0])
        if is_power_of_two(n) and start % n == 0:
            level = n.bit_length() - 1
            row = self.conn.execute(
                "SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, start >> level)
            ).fetchone()
            if row is None:
                raise LogInconsistent(_edited(f"log node level={level} idx={start >> level} is missing"))
            return bytes(row[0])
        k = split_point(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size() if size is None else size)

    def checkpoint(self, size: int | None = None) -> Checkpoint | None:
        """The checkpoint signed at ``size`` (default: the latest one)."""
        if size is None:
            row = self.conn.execute(
                "SELECT * FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.conn.execute("SELECT * FROM log_checkpoints WHERE tree_size = ?", (size,)).fetchone()
        return None if row is None else Checkpoint.from_row(row)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return inclusion_path(index, size, self.subtree)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check_size(second)
        return consistency_path(first, second, self.subtree)

    def _check_size(self, size: int) -> None:
        current = self.size()
        if size > current:
            raise ValueError(f"tree size {size} is larger than the log ({current} entries)")

    # ----------------------------------------------------------------------------------------------- append

    def next_index(self) -> int:
        """The index the next entry will get, once the log is checked fit to sign over (as ``append``
        checks it): for rows that record their entry's index before appending it, whose insert would
        otherwise fail first, on a damaged log, with a bare database error (a 500; an audit)."""
        index = self.size()
        self._check_head(index)
        return index

    def append(self, fields: dict[str, Any]) -> tuple[int, bytes, Checkpoint]:
        """Add one entry (``index`` is filled in here), sign the new tree head. Caller holds a transaction."""
        if not self.conn.in_transaction:
            raise RuntimeError("LogStore.append must run inside a transaction")
        index = self.size()
        self._check_head(index)
        entry = encode_entry({**fields, "index": index, "v": ENTRY_VERSION})
        h = leaf_hash(entry)
        self.conn.execute(
            "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)", (index, entry, h)
        )
        # Each time the new leaf closes a left sibling's subtree, store the parent (binary carry).
        level, i = 0, index
        while i & 1:
            h = node_hash(self.subtree((i - 1) << level, i << level), h)
            level, i = level + 1, i >> 1
            self.conn.execute("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", (level, i, h))
        checkpoint = self._sign(index + 1)
        return index, entry, checkpoint

    def _check_head(self, size: int) -> None:
        """Refuse to sign over a log that its last checkpoint does not describe.

        Every append signs, so the newest checkpoint covers exactly ``size`` entries with their root.
        Entries added or rewritten in the database by someone without the key would otherwise be
        covered by the next genuine signature, and ``rights log verify`` could no longer tell."""
        head = self.checkpoint()
        if head is None and size == 0:
            return
        if (
            head is None
            or head.tree_size != size
            or head.root_hash != self.root(size)
            or not verify_signature(self.signer.public_key, head.signature, head.body())
            or not self._newest_entry_hashes_right(size)
        ):
            raise LogInconsistent(
                f"the transparency log ({size} entries) does not match its last signed checkpoint"
                f" ({head.tree_size if head else 'none'}); nothing was appended. Run `rights log verify`"
                " and restore the data directory from a backup"
            )

    def _newest_entry_hashes_right(self, size: int) -> bool:
        """The root is read from cached hashes, so it would not see the newest entry's bytes edited.
        Older entries are left to ``rights log verify``: checking them here would read the whole log
        on every append."""
        if size == 0:
            return True
        row = self.conn.execute(
            "SELECT entry, leaf_hash FROM log_entries WHERE idx = ?", (size - 1,)
        ).fetchone()
        # An edit by SQL may leave text where bytes were (``replace()`` returns text).
        return row is not None and isinstance(row[0], bytes) and leaf_hash(row[0]) == row[1]

    def _sign(self, size: int) -> Checkpoint:
        root = self.root(size)
        timestamp = utcnow()
        body = checkpoint_body(self.origin, size, root, timestamp)
        cp = Checkpoint(self.origin, size, root, timestamp, self.signer.key_id, self.signer.sign(body))
        self.conn.execute(
            "INSERT INTO log_checkpoints (tree_size, origin, root_hash, timestamp, key_id, signature)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (cp.tree_size, cp.origin, cp.root_hash, cp.timestamp, cp.key_id, cp.signature),
        )
        return cp

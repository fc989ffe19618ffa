"""Registration receipts: everything needed to check, offline, that an entry is in the signed log.

A receipt is plain JSON::

    {"version": 1, "log_index": i, "entry": "<canonical JSON entry, as a string>",
     "checkpoint": {"origin", "tree_size", "root_hash" (hex), "timestamp", "key_id", "signature" (base64)},
     "inclusion_proof": ["<hex sibling hash>", ...]}

The checkpoint is the one signed right after the entry was appended (``tree_size == log_index + 1``), so a
receipt is fixed at registration and can be re-issued identically later.
"""

from __future__ import annotations

from typing import Any

from rights.log.store import LogInconsistent, LogStore

RECEIPT_VERSION = 1


def build_receipt(store: LogStore, index: int) -> dict[str, Any]:
    size = index + 1
    checkpoint = store.checkpoint(size)
    if checkpoint is None:
        raise LogInconsistent(
            f"no checkpoint was signed at tree size {size}: the database was edited or damaged;"
            " `rights log verify` names the first bad entry"
        )
    return {
        "version": RECEIPT_VERSION,
        "log_index": index,
        "entry": store.entry(index).decode("utf-8"),
        "checkpoint": checkpoint.to_json(),
        "inclusion_proof": [h.hex() for h in store.inclusion_proof(index, size)],
    }

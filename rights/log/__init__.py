"""The transparency log: an RFC 9162 Merkle tree over registry events, signed with Ed25519."""

from rights.log.receipts import build_receipt
from rights.log.signing import Signer, load_public_key
from rights.log.store import Checkpoint, LogStore, encode_entry
from rights.log.verify import LogReport, VerificationError, log_size, verify_log, verify_receipt

__all__ = [
    "Checkpoint",
    "LogReport",
    "LogStore",
    "Signer",
    "VerificationError",
    "build_receipt",
    "encode_entry",
    "load_public_key",
    "log_size",
    "verify_log",
    "verify_receipt",
]

"""Ed25519 signing of checkpoints (signed tree heads).

The private key lives at ``<data>/log-signing-key.pem`` (mode 0600) and is created on first use; the public
key is published at ``<data>/log-public-key.pem`` and in ``GET /v1/log/checkpoint``.

A checkpoint is signed over this text (the C2SP checkpoint layout plus a time line), UTF-8, each line ending
in ``\\n``::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>
    <timestamp, ISO 8601 UTC>
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rights.db import atomic_write
from rights.errors import RightsError

PRIVATE_KEY_FILE = "log-signing-key.pem"
PUBLIC_KEY_FILE = "log-public-key.pem"


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes, timestamp: str) -> bytes:
    if "\n" in origin or "\n" in timestamp:
        raise ValueError("origin and timestamp must be single lines")
    root_b64 = base64.b64encode(root_hash).decode("ascii")
    return f"{origin}\n{tree_size}\n{root_b64}\n{timestamp}\n".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 8 bytes of SHA-256 over the raw 32-byte public key, hex: names the key, proves nothing."""
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:16]


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(value: str | bytes | Path | Ed25519PublicKey) -> Ed25519PublicKey:
    """Accept a key object, PEM text/bytes, a path to a PEM file, or the raw key as 64 hex / base64 chars."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, Path):
        value = value.read_bytes()
    data = value.encode("ascii") if isinstance(value, str) else value
    if b"BEGIN PUBLIC KEY" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key
    text = data.strip().decode("ascii")
    raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def load_or_create(
        cls,
        data_dir: Path,
        *,
        signed_checkpoints: int = 0,
        newest: tuple[int, bytes, bytes] | None = None,
    ) -> Signer:
        """The data directory's key, created on first use: only while the log holds no checkpoint.
        A lost key of a log that has some is an error, not a new key: that one would replace the
        published public key, and no stored checkpoint would verify under it. So is a key that does
        not verify ``newest`` (the newest checkpoint's size, signed body and signature): another
        registry's key restored by mistake overwrote the published public key (an audit)."""
        path = data_dir / PRIVATE_KEY_FILE
        if not path.exists():
            if signed_checkpoints:
                raise RightsError(
                    f"{path} is missing, but the log holds {signed_checkpoints} checkpoints signed with it:"
                    " restore the key from a backup (a new key would not verify them)"
                )
            _create_key(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise RightsError(f"{path} is not a readable private key ({exc}); restore a backup") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise RightsError(f"{path} is not an Ed25519 private key; restore it from a backup")
        signer = cls(key)
        if newest is not None and not verify_signature(signer.public_key, newest[2], newest[1]):
            raise RightsError(
                f"{path} (key {signer.key_id}) is not the key that signed this log: its newest checkpoint"
                f" (size {newest[0]}) does not verify with it; restore this registry's key from a backup"
            )
        pub_path = data_dir / PUBLIC_KEY_FILE
        pem = public_key_pem(signer.public_key).encode("ascii")
        if not pub_path.exists() or pub_path.read_bytes() != pem:
            atomic_write(pub_path, pem)
        return signer


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _create_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails if another process created the key first; theirs wins and we read it back.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""verify_log and verify_receipt catch edits made straight to the SQLite file and name the first bad entry."""

from __future__ import annotations

import copy
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rights import db
from rights.cli import main
from rights.errors import RightsError
from rights.log import (
    LogStore,
    Signer,
    VerificationError,
    build_receipt,
    log_size,
    verify_log,
    verify_receipt,
)
from rights.log import verify as log_verify
from rights.log.merkle import leaf_hash
from rights.log.signing import PUBLIC_KEY_FILE
from rights.log.store import LogInconsistent
from rights.registry import Registry
from tests.rights_support import artwork_png

SIZE = 12


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    conn = db.connect(tmp_path)
    store = LogStore(conn, Signer.load_or_create(tmp_path), "tamper-test")
    for i in range(SIZE):
        with db.transaction(conn):
            store.append({"kind": "register", "work_id": f"w_{i + 1}", "creator": f"c{i % 3}"})
    conn.close()
    return tmp_path


def _edit(data_dir: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Tamper the way an attacker with file access would: plain sqlite3, no application code."""
    conn = sqlite3.connect(data_dir / "rights.sqlite3")
    with conn:
        for sql, args in statements:
            conn.execute(sql, args)
    conn.close()


def _entry(data_dir: Path, idx: int) -> bytes:
    with sqlite3.connect(data_dir / "rights.sqlite3") as conn:
        return bytes(conn.execute("SELECT entry FROM log_entries WHERE idx = ?", (idx,)).fetchone()[0])


def _forged(data_dir: Path, idx: int, **changes: object) -> bytes:
    fields = json.loads(_entry(data_dir, idx))
    fields.update(changes)
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def test_intact_log_verifies(data_dir: Path) -> None:
    report = verify_log(data_dir)
    assert report.ok and report.size == SIZE and report.checkpoints == SIZE and report.first_bad_index is None


def test_altered_entry_is_named(data_dir: Path) -> None:
    _edit(
        data_dir, ("UPDATE log_entries SET entry = ? WHERE idx = 5", (_forged(data_dir, 5, creator="thief"),))
    )
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == 5


def test_altered_entry_with_recomputed_leaf_hash_is_named(data_dir: Path) -> None:
    forged = _forged(data_dir, 7, creator="thief")
    _edit(
        data_dir,
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 7", (forged, leaf_hash(forged))),
    )
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == 7 and "7" in (report.problem or "")


def test_reordered_entries_are_named(data_dir: Path) -> None:
    e2, e4 = _entry(data_dir, 2), _entry(data_dir, 4)
    _edit(
        data_dir,
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 2", (e4, leaf_hash(e4))),
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 4", (e2, leaf_hash(e2))),
    )
    assert verify_log(data_dir).first_bad_index == 2


def test_reordered_entries_with_rewritten_indexes_are_named(data_dir: Path) -> None:
    e2, e4 = _forged(data_dir, 4, index=2), _forged(data_dir, 2, index=4)
    _edit(
        data_dir,
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 2", (e2, leaf_hash(e2))),
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 4", (e4, leaf_hash(e4))),
    )
    assert verify_log(data_dir).first_bad_index == 2


@pytest.mark.parametrize("removed", [0, 6, SIZE - 1])
def test_removed_entry_is_named(data_dir: Path, removed: int) -> None:
    _edit(data_dir, ("DELETE FROM log_entries WHERE idx = ?", (removed,)))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == removed


def test_truncated_log_with_checkpoints_removed_is_still_caught_by_receipts(data_dir: Path) -> None:
    """Cutting entries *and* their checkpoints leaves a consistent shorter log; held receipts expose it.
    The cut entry's cached nodes betray it until they are cut too: left, verify passed and the next
    append failed on them (a UNIQUE constraint)."""
    conn = db.connect(data_dir)
    receipt = build_receipt(LogStore(conn, Signer.load_or_create(data_dir), "tamper-test"), SIZE - 1)
    conn.close()
    _edit(
        data_dir,
        ("DELETE FROM log_entries WHERE idx = ?", (SIZE - 1,)),
        ("DELETE FROM log_checkpoints WHERE tree_size = ?", (SIZE,)),
    )
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == SIZE - 1 and "beyond" in (report.problem or "")
    _edit(data_dir, ("DELETE FROM log_nodes WHERE ((idx + 1) << level) > ?", (SIZE - 1,)))
    assert verify_log(data_dir).ok and verify_log(data_dir).size == SIZE - 1
    verify_receipt(receipt, data_dir / PUBLIC_KEY_FILE)  # the receipt still proves entry SIZE-1 existed


def test_a_stray_cached_node_is_caught(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(data_dir, ("INSERT INTO log_nodes (level, idx, hash) VALUES (1, ?, ?)", (SIZE // 2, b"\x33" * 32)))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == SIZE and "beyond" in (report.problem or "")
    # The command names no entry past the last (it said "log entry 10 is bad" of entries 0-9).
    assert main(["--data", str(data_dir), "log", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"rights: error: the log is bad after its {SIZE} stored entries: cached tree node")
    _edit(data_dir, ("UPDATE log_entries SET entry = CAST('{}' AS BLOB) WHERE idx = 3", ()))
    assert main(["--data", str(data_dir), "log", "verify"]) == 1
    assert capsys.readouterr().err.startswith("rights: error: log entry 3 is bad: ")


def test_the_first_bad_entry_is_named_before_a_later_bad_checkpoint(data_dir: Path) -> None:
    """All signatures are checked first; a bad one at size 10 was reported before entry 3."""
    forged = _forged(data_dir, 3, creator="thief")
    _edit(
        data_dir,
        ("UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 3", (forged, leaf_hash(forged))),
        ("UPDATE log_checkpoints SET signature = ? WHERE tree_size = 10", (b"\x00" * 64,)),
    )
    assert verify_log(data_dir).first_bad_index == 3


def test_forged_checkpoint_is_caught(data_dir: Path) -> None:
    _edit(data_dir, ("UPDATE log_checkpoints SET root_hash = ? WHERE tree_size = 4", (b"\x11" * 32,)))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == 3 and "signature" in (report.problem or "")


def test_tampered_cached_node_is_caught(data_dir: Path) -> None:
    _edit(data_dir, ("UPDATE log_nodes SET hash = ? WHERE level = 2 AND idx = 1", (b"\x22" * 32,)))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == 7


def test_another_public_key_fails(data_dir: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    report = verify_log(data_dir, other)
    assert not report.ok and report.first_bad_index == 0
    assert "does not verify with the public key given" in (
        report.problem or ""
    )  # a key problem, not an entry's


def _leaf_row(data_dir: Path, idx: int, **fields: object) -> tuple[str, tuple[object, ...]]:
    entry = json.dumps({"index": idx, "v": 1, **fields}, sort_keys=True, separators=(",", ":")).encode()
    return "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)", (idx, entry, leaf_hash(entry))


def test_an_entry_appended_without_a_checkpoint_is_caught_and_never_signed_over(data_dir: Path) -> None:
    """Once passed: verify only compared the checkpoints present, and the next genuine append signed
    a root that covered the forged entry. (SIZE is even, so the forgery needs no cached node.)"""
    _edit(data_dir, _leaf_row(data_dir, SIZE, kind="register", work_id="w_99", creator="mallory"))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == SIZE and "never signed" in (report.problem or "")
    conn = db.connect(data_dir)
    store = LogStore(conn, Signer.load_or_create(data_dir), "tamper-test")
    with pytest.raises(LogInconsistent), db.transaction(conn):
        store.append({"kind": "register", "work_id": "w_100", "creator": "c0"})
    assert store.size() == SIZE + 1  # nothing appended, nothing signed
    conn.close()


@pytest.mark.parametrize("kept", [0, 5])
def test_removed_checkpoints_are_caught(data_dir: Path, kept: int) -> None:
    """Without its checkpoints an entry can be rewritten and its nodes rebuilt with no key at all."""
    _edit(data_dir, ("DELETE FROM log_checkpoints WHERE tree_size > ?", (kept,)))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == kept and "never signed" in (report.problem or "")


def test_a_forged_checkpoint_past_the_end_or_at_size_0_is_caught(data_dir: Path) -> None:
    row = "INSERT INTO log_checkpoints (tree_size, origin, root_hash, timestamp, key_id, signature) VALUES"
    junk = ("tamper-test", b"\x11" * 32, "2026-01-01T00:00:00.000Z", "x", b"\x00" * 64)
    _edit(data_dir, (f"{row} (?, ?, ?, ?, ?, ?)", (1000, *junk)))
    report = verify_log(data_dir)
    assert not report.ok and "checkpoint at size 1000" in (report.problem or "")  # not "entries missing"
    assert report.first_bad_index == SIZE  # the first index past the log, not 999
    _edit(
        data_dir,
        ("DELETE FROM log_checkpoints WHERE tree_size = 1000", ()),
        (f"{row} (?, ?, ?, ?, ?, ?)", (0, *junk)),
    )
    report = verify_log(data_dir)
    assert not report.ok and "size 0" in (report.problem or "")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_entries SET entry = CAST(entry AS TEXT) WHERE idx = 3",  # what a sqlite3 shell writes
        "UPDATE log_entries SET entry = 1000000000000 WHERE idx = 3",  # bytes(10**12) once ran out of memory
        "UPDATE log_checkpoints SET root_hash = hex(root_hash) WHERE tree_size = 4",
        "UPDATE log_checkpoints SET origin = origin || char(10) || 'x' WHERE tree_size = 4",  # a ValueError
        "UPDATE log_nodes SET hash = hex(hash) WHERE level = 1 AND idx = 1",  # closed by entry 3; a TypeError
    ],
)
def test_values_of_the_wrong_type_are_reported_not_raised(data_dir: Path, statement: str) -> None:
    _edit(data_dir, (statement, ()))
    report = verify_log(data_dir)
    assert not report.ok and report.first_bad_index == 3
    assert any(word in (report.problem or "") for word in ("stored", "several lines", "cached tree node"))


def test_a_lost_signing_key_is_an_error_not_a_new_key(data_dir: Path) -> None:
    """A new key was made, the published public key replaced by it, and every later append refused."""
    published = (data_dir / PUBLIC_KEY_FILE).read_bytes()
    (data_dir / "log-signing-key.pem").unlink()
    with pytest.raises(RightsError, match="is missing, but the log holds 12 checkpoints"):
        Signer.load_or_create(data_dir, signed_checkpoints=SIZE)
    assert (data_dir / PUBLIC_KEY_FILE).read_bytes() == published
    assert not (data_dir / "log-signing-key.pem").exists()


def test_another_registrys_key_is_refused_at_open_and_the_public_key_kept(tmp_path: Path) -> None:
    """A replaced key was taken at open, and the open overwrote the published public key with its
    own, the only local copy of the right one; then every registration was refused (an audit)."""
    with Registry.open(tmp_path) as registry:
        registry.register("alice", artwork_png(1))
    published = (tmp_path / PUBLIC_KEY_FILE).read_bytes()
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "log-signing-key.pem").write_bytes(other)
    with pytest.raises(
        RightsError, match=r"is not the key that signed this log: its newest checkpoint \(size 1\)"
    ):
        Registry.open(tmp_path)
    assert (tmp_path / PUBLIC_KEY_FILE).read_bytes() == published


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM log_entries WHERE idx = 1",  # the works row kept: its insert failed first, a 500
        "UPDATE log_entries SET entry = replace(entry, 'alice', 'bobby') WHERE idx = 1",  # leaf hash kept
    ],
)
def test_nothing_is_registered_or_licensed_over_a_damaged_newest_entry(tmp_path: Path, damage: str) -> None:
    with Registry.open(tmp_path) as registry:
        first = registry.register("alice", artwork_png(1))["work_id"]
        registry.register("alice", artwork_png(2))
    _edit(tmp_path, (damage, ()))
    with Registry.open(tmp_path) as registry:
        with pytest.raises(LogInconsistent, match="does not match its last signed checkpoint"):
            registry.register("carol", artwork_png(3))
        with pytest.raises(LogInconsistent):
            registry.add_license(first, "shop", actor=None)
    with closing(sqlite3.connect(tmp_path / "rights.sqlite3")) as conn:
        assert conn.execute("SELECT count(*) FROM works").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM licenses").fetchone()[0] == 0


# ------------------------------------------------------------------------------------------------ receipts


@pytest.fixture
def receipt(data_dir: Path) -> dict:
    conn = db.connect(data_dir)
    r = build_receipt(LogStore(conn, Signer.load_or_create(data_dir), "tamper-test"), 5)
    conn.close()
    return r


def test_receipt_verifies_offline_from_json(data_dir: Path, receipt: dict) -> None:
    reloaded = json.loads(json.dumps(receipt))
    pem = (data_dir / PUBLIC_KEY_FILE).read_text()
    assert verify_receipt(reloaded, pem)["work_id"] == "w_6"


def _mutations(receipt: dict) -> list[dict]:
    out = []
    r = copy.deepcopy(receipt)
    r["entry"] = r["entry"].replace('"c2"', '"thief"')
    out.append(r)
    r = copy.deepcopy(receipt)
    r["log_index"] = 4
    out.append(r)
    r = copy.deepcopy(receipt)
    r["inclusion_proof"][0] = "00" * 32
    out.append(r)
    r = copy.deepcopy(receipt)
    r["inclusion_proof"] = r["inclusion_proof"][:-1]
    out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["tree_size"] += 1
    out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["root_hash"] = "ab" * 32
    out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["timestamp"] = "2000-01-01T00:00:00.000Z"
    out.append(r)
    r = copy.deepcopy(receipt)
    del r["checkpoint"]
    out.append(r)
    # Each of these verified before: the README requires version 1 and hex as the registry writes it.
    for version in (None, 99, "1", True):
        r = copy.deepcopy(receipt)
        r.pop("version") if version is None else r.update(version=version)
        out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["root_hash"] = r["checkpoint"]["root_hash"].upper()
    out.append(r)
    r = copy.deepcopy(receipt)
    r["inclusion_proof"][0] = " ".join(r["inclusion_proof"][0][i : i + 2] for i in range(0, 64, 2))
    out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["origin"] += "\nsecond line"  # once a ValueError, not a VerificationError
    out.append(r)
    # The same signature bytes spelled with the last character's unused bits set: 16 spellings
    # verified, against "one receipt has one text" (an outside verifier refused them).
    r = copy.deepcopy(receipt)
    sig = r["checkpoint"]["signature"]
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    r["checkpoint"]["signature"] = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    out.append(r)
    r = copy.deepcopy(receipt)
    r["checkpoint"]["key_id"] = 5  # informational, but a string when present
    out.append(r)
    return out


def test_tampered_receipts_fail(data_dir: Path, receipt: dict) -> None:
    key = data_dir / PUBLIC_KEY_FILE
    for bad in _mutations(receipt):
        with pytest.raises(VerificationError):
            verify_receipt(bad, key)
    with pytest.raises(VerificationError):
        verify_receipt(receipt, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(VerificationError):
        verify_receipt(receipt, "not a key")


def _readme_verifier(receipt: dict, pem: bytes) -> bool:
    """The receipt algorithm of rights/README-api.md, re-implemented from the text with no rights.log code."""
    import base64
    import hashlib
    import re

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    cp = receipt["checkpoint"]
    version = receipt.get("version")
    if version != 1 or isinstance(version, bool):
        return False
    if not all(re.fullmatch("[0-9a-f]{64}", h) for h in [cp["root_hash"], *receipt["inclusion_proof"]]):
        return False
    entry = receipt["entry"].encode("utf-8")
    if json.loads(entry)["index"] != receipt["log_index"]:
        return False
    if not isinstance(cp.get("key_id", ""), str):
        return False
    if base64.b64encode(base64.b64decode(cp["signature"])).decode() != cp["signature"]:
        return False  # the one spelling of the signature
    root = bytes.fromhex(cp["root_hash"])
    body = f"{cp['origin']}\n{cp['tree_size']}\n{base64.b64encode(root).decode()}\n{cp['timestamp']}\n"
    try:
        load_pem_public_key(pem).verify(base64.b64decode(cp["signature"]), body.encode())  # type: ignore[union-attr]
    except InvalidSignature:
        return False
    fn, sn = receipt["log_index"], cp["tree_size"] - 1
    if not 0 <= fn <= sn:
        return False
    r = hashlib.sha256(b"\x00" + entry).digest()
    for p in map(bytes.fromhex, receipt["inclusion_proof"]):
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def test_the_documented_algorithm_agrees_with_verify_receipt(data_dir: Path) -> None:
    pem = (data_dir / PUBLIC_KEY_FILE).read_bytes()
    conn = db.connect(data_dir)
    store = LogStore(conn, Signer.load_or_create(data_dir), "tamper-test")
    receipts = [build_receipt(store, i) for i in range(SIZE)]
    conn.close()
    for receipt in receipts:
        assert _readme_verifier(receipt, pem)
        verify_receipt(receipt, pem)
    for bad in _mutations(receipts[5]):
        if "checkpoint" in bad:  # one mutation drops it altogether, which "every field is required" covers
            assert not _readme_verifier(bad, pem)


def test_progress_counts_the_entries_checked(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_verify, "PROGRESS_EVERY", 5)
    seen: list[int] = []
    assert verify_log(data_dir, progress=seen.append).ok
    assert seen == [5, 10, SIZE] and log_size(data_dir) == SIZE


def test_each_checkpoint_signature_is_checked_once(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = log_verify.verify_signature

    def counting(key: object, signature: bytes, body: bytes) -> bool:
        calls.append(signature)
        return real(key, signature, body)  # type: ignore[arg-type]

    monkeypatch.setattr(log_verify, "verify_signature", counting)
    assert verify_log(data_dir).ok
    assert len(calls) == SIZE == len(set(calls))  # it was twice each: two thirds of a long log's check


def test_a_verification_checks_the_log_as_it_was_when_it_began(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signatures are verified in a first pass and trusted in the second: both passes must read one
    snapshot, or an entry appended between them would come with a checkpoint nobody verified."""
    real = log_verify._checkpoint_rows
    calls: list[int] = []

    def between_the_passes(conn: sqlite3.Connection) -> sqlite3.Cursor:
        calls.append(1)
        if len(calls) == 2:  # another process appends, and its checkpoint's signature is forged
            writer = db.connect(data_dir)
            with db.transaction(writer):
                LogStore(writer, Signer.load_or_create(data_dir), "tamper-test").append({"kind": "register"})
            writer.close()
            _edit(
                data_dir,
                ("UPDATE log_checkpoints SET signature = ? WHERE tree_size = ?", (b"\0" * 64, SIZE + 1)),
            )
        return real(conn)

    monkeypatch.setattr(log_verify, "_checkpoint_rows", between_the_passes)
    report = verify_log(data_dir)
    assert report.ok and report.size == SIZE and len(calls) == 2  # the log as it was, all of it verified
    monkeypatch.setattr(log_verify, "_checkpoint_rows", real)
    later = verify_log(data_dir)
    assert not later.ok and later.first_bad_index == SIZE and "invalid signature" in (later.problem or "")


def test_a_receipt_from_a_damaged_log_is_refused_in_words(data_dir: Path) -> None:
    """A deleted row made `rights works receipt` end in a KeyError traceback (an audit)."""
    _edit(data_dir, ("DELETE FROM log_entries WHERE idx = 5", ()))
    conn = db.connect(data_dir)
    try:
        store = LogStore(conn, Signer.load_or_create(data_dir, signed_checkpoints=SIZE), "tamper-test")
        with pytest.raises(LogInconsistent, match="log entry 5 is missing: the database was edited"):
            build_receipt(store, 5)
        with pytest.raises(LogInconsistent, match="log entry 5 is missing"):
            store.subtree(5, 6)
    finally:
        conn.close()

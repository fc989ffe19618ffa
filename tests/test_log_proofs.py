"""Log proofs against an independent brute-force recomputation of RFC 9162 §2.1, over tree sizes 1..70."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rights import db
from rights.log import LogStore, Signer
from rights.log.merkle import (
    EMPTY_ROOT,
    ProofError,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 70


# ---- the oracle: the RFC's recursive definitions, written from the text, sharing no code with rights.log


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# ---- one real log of MAX_SIZE entries in a real SQLite file


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[LogStore, list[bytes]]:
    data_dir: Path = tmp_path_factory.mktemp("log")
    conn = db.connect(data_dir)
    store = LogStore(conn, Signer.load_or_create(data_dir), "test-origin")
    entries = []
    for i in range(MAX_SIZE):
        with db.transaction(conn):
            _, entry, _ = store.append({"kind": "register", "n": i})
        entries.append(entry)
    return store, entries


def test_empty_root_is_hash_of_nothing() -> None:
    assert _h(b"") == EMPTY_ROOT


def test_every_root_matches_the_oracle(log: tuple[LogStore, list[bytes]]) -> None:
    store, entries = log
    for size in range(1, MAX_SIZE + 1):
        assert store.root(size) == mth(entries[:size])
        assert store.checkpoint(size).root_hash == mth(entries[:size])


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_inclusion_proofs_match_the_oracle(log: tuple[LogStore, list[bytes]], data: st.DataObject) -> None:
    store, entries = log
    size = data.draw(st.integers(1, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    proof = store.inclusion_proof(index, size)
    assert proof == path(index, entries[:size])
    leaf = _h(b"\x00" + entries[index])
    root = mth(entries[:size])
    verify_inclusion(index, size, leaf, proof, root)
    # Any single flipped bit, a dropped node or a wrong index must fail.
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf, bad, root)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf, proof[:-1], root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        with pytest.raises(ProofError):
            verify_inclusion(other, size, leaf, proof, root)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_consistency_proofs_match_the_oracle(log: tuple[LogStore, list[bytes]], data: st.DataObject) -> None:
    store, entries = log
    second = data.draw(st.integers(1, MAX_SIZE))
    first = data.draw(st.integers(1, second))
    proof = store.consistency_proof(first, second)
    expected = [] if first == second else subproof(first, entries[:second], True)
    assert proof == expected
    r1, r2 = mth(entries[:first]), mth(entries[:second])
    verify_consistency(first, second, r1, r2, proof)
    if first < second:
        with pytest.raises(ProofError):
            verify_consistency(first, second, r1, _h(b"other"), proof)
        with pytest.raises(ProofError):
            verify_consistency(first, second, _h(b"other"), r2, proof)
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = _h(bad[j])
        with pytest.raises(ProofError):
            verify_consistency(first, second, r1, r2, bad)


def test_proof_arguments_out_of_range(log: tuple[LogStore, list[bytes]]) -> None:
    store, _ = log
    with pytest.raises(ProofError):
        store.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        store.inclusion_proof(0, MAX_SIZE + 1)
    with pytest.raises(ProofError):
        root_from_inclusion(3, 2, _h(b"x"), [])
    with pytest.raises(ProofError):
        verify_consistency(3, 2, _h(b"a"), _h(b"b"), [])
    assert store.consistency_proof(0, 9) == []


def _readme_consistency(m: int, n: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """The consistency check README.md writes out (m < n), step for step, sharing no code with rights.log."""
    if m & (m - 1) == 0:
        path = [first_root, *path]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def test_the_documented_consistency_check_accepts_every_real_proof_and_no_altered_one(
    log: tuple[LogStore, list[bytes]],
) -> None:
    store, _ = log
    for second in range(2, 36):
        for first in range(1, second):
            proof = store.consistency_proof(first, second)
            r1, r2 = store.checkpoint(first).root_hash, store.checkpoint(second).root_hash
            assert _readme_consistency(first, second, r1, r2, proof), (first, second)
            assert not _readme_consistency(first, second, r1, _h(b"other"), proof)
            assert not _readme_consistency(first, second, _h(b"other"), r2, proof)
            assert not _readme_consistency(first, second, r1, r2, [*proof[:-1], _h(proof[-1])])

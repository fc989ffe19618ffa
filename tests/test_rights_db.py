"""The store: migrations, pragmas, content-addressed originals, O(log n) log reads, accounts and keys."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from rights import accounts, db
from rights.errors import Unauthorized
from rights.log import LogStore, Signer


def test_connect_sets_pragmas_and_applies_every_migration(tmp_path: Path) -> None:
    conn = db.connect(tmp_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [m.version for m in db.discover_migrations()]
    assert {1, 2} <= set(versions)
    conn.close()
    # Reopening applies nothing new.
    conn = db.connect(tmp_path)
    assert db.apply_migrations(conn) == []
    conn.close()


def test_a_database_from_a_newer_release_is_refused_not_written(tmp_path: Path) -> None:
    """A migration this release does not know (a newer one applied it) was ignored, and the
    registry went on writing beside whatever that release keeps up."""
    db.connect(tmp_path).close()
    with sqlite3.connect(tmp_path / db.DB_FILENAME) as raw:
        raw.execute("INSERT INTO schema_version VALUES (13, 'from_the_future', '2027-01-01T00:00:00Z')")
        raw.execute("ALTER TABLE works ADD COLUMN future TEXT")
    raw.close()
    with pytest.raises(db.NewerSchema, match=r"newer release of rights \(schema migrations 0013"):
        db.connect(tmp_path)
    # Verification reads the log without migrating, so an older release can still check it.
    conn = db.connect(tmp_path, migrate=False)
    assert conn.execute("SELECT count(*) FROM log_entries").fetchone()[0] == 0
    conn.close()


def test_migrations_apply_in_order_and_a_failing_one_rolls_back(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_first.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (migrations / "0002_second.sql").write_text("ALTER TABLE a ADD COLUMN y TEXT;\n-- trailing comment\n")
    broken = "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n"
    (migrations / "0003_broken.sql").write_text(broken)
    conn = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        db.apply_migrations(conn, migrations)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == [1, 2]
    # The broken migration left nothing behind, so fixing it and re-running works.
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone() is None
    (migrations / "0003_broken.sql").write_text("CREATE TABLE b (x INTEGER);\n")
    assert db.apply_migrations(conn, migrations) == [3]


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(RuntimeError):
        db.discover_migrations(tmp_path)


def test_originals_are_content_addressed(tmp_path: Path) -> None:
    sha, path = db.store_original(tmp_path, b"hello")
    assert path == tmp_path / "originals" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == b"hello"
    assert db.store_original(tmp_path, b"hello") == (sha, path)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_signing_key_is_private_and_published(tmp_path: Path) -> None:
    signer = Signer.load_or_create(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "log-signing-key.pem").st_mode)
    assert mode == 0o600
    assert Signer.load_or_create(tmp_path).key_id == signer.key_id
    assert (tmp_path / "log-public-key.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_log_operations_read_logarithmically_many_rows(tmp_path: Path) -> None:
    conn = db.connect(tmp_path)
    store = LogStore(conn, Signer.load_or_create(tmp_path), "o")
    with db.transaction(conn):
        for i in range(1000):
            store.append({"n": i})
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    with db.transaction(conn):
        store.append({"n": 1000})
    append_cost = len(statements)
    statements.clear()
    store.inclusion_proof(377, 1001)
    proof_cost = len(statements)
    statements.clear()
    store.consistency_proof(377, 1001)
    consistency_cost = len(statements)
    conn.close()
    # log2(1001) ~ 10: each operation touches O(log n) nodes, a few reads per level at most.
    assert append_cost < 60 and proof_cost < 60 and consistency_cost < 60, (
        append_cost,
        proof_cost,
        consistency_cost,
    )


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    conn = db.connect(tmp_path)
    account = accounts.ensure_account(conn, "shop", "platform")
    key = accounts.create_key(conn, account)
    assert key.startswith("rk_") and len(key) > 40
    stored = conn.execute("SELECT prefix, key_sha256 FROM api_keys").fetchone()
    assert key not in stored and key.startswith(stored[0])
    assert accounts.authenticate(conn, key) == account
    for bad in ("", "rk_short", key[:-1] + ("A" if key[-1] != "A" else "B"), "Bearer " + key):
        with pytest.raises(Unauthorized):
            accounts.authenticate(conn, bad)
    accounts.revoke_keys(conn, "shop")
    with pytest.raises(Unauthorized):
        accounts.authenticate(conn, key)

-- The transparency log (RFC 9162 Merkle tree). Entries and checkpoints are the record; `log_nodes` caches the
-- hashes of complete subtrees so appends, roots and proofs read O(log n) rows.

CREATE TABLE log_entries (
    idx        INTEGER PRIMARY KEY,   -- 0-based leaf index
    entry      BLOB NOT NULL,         -- canonical JSON bytes, hashed as the leaf
    leaf_hash  BLOB NOT NULL
);

-- Node covering leaves [idx * 2^level, (idx + 1) * 2^level), stored once the subtree is complete (level >= 1).
CREATE TABLE log_nodes (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every signed tree head, one per tree size (a checkpoint is signed after each append).
CREATE TABLE log_checkpoints (
    tree_size  INTEGER PRIMARY KEY,
    origin     TEXT NOT NULL,
    root_hash  BLOB NOT NULL,
    timestamp  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL
);

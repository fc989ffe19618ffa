-- Accounts, API keys, works, their conflicts and licences.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'creator', 'platform')),
    created_at  TEXT NOT NULL
);

-- Keys are stored only as SHA-256; `prefix` is the non-secret start of the key used to find the row.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    prefix      TEXT NOT NULL UNIQUE,
    key_sha256  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE works (
    id             INTEGER PRIMARY KEY,
    creator        TEXT NOT NULL REFERENCES accounts (name),
    title          TEXT,
    sha256         TEXT NOT NULL,
    fingerprint    BLOB NOT NULL,
    fp_digest      TEXT NOT NULL,
    metadata       TEXT NOT NULL DEFAULT '{}',
    status         TEXT NOT NULL CHECK (status IN ('registered', 'contested', 'withdrawn')),
    registered_at  TEXT NOT NULL,
    withdrawn_at   TEXT,
    log_index      INTEGER NOT NULL UNIQUE
);
-- One live work per (creator, bytes): re-registering is idempotent; after a withdrawal it may be registered anew.
CREATE UNIQUE INDEX works_live_creator_sha ON works (creator, sha256) WHERE status != 'withdrawn';
CREATE INDEX works_sha256 ON works (sha256);
CREATE INDEX works_creator ON works (creator, id);

-- Prior works by other creators that a registration collided with (why a work is `contested`).
CREATE TABLE work_conflicts (
    work_id        INTEGER NOT NULL REFERENCES works (id),
    prior_work_id  INTEGER NOT NULL REFERENCES works (id),
    score          REAL NOT NULL,
    verdict        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    region         TEXT,
    PRIMARY KEY (work_id, prior_work_id)
);

CREATE TABLE licenses (
    id          INTEGER PRIMARY KEY,
    work_id     INTEGER NOT NULL REFERENCES works (id),
    licensee    TEXT NOT NULL,
    platform    TEXT,
    expires_at  TEXT,
    created_at  TEXT NOT NULL,
    created_by  TEXT,
    log_index   INTEGER NOT NULL UNIQUE
);
CREATE INDEX licenses_work ON licenses (work_id);

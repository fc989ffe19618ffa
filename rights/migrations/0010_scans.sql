-- Marketplace scans (owned by workers/; see rights/scans.py).
-- A scan is identified by its feed (path or upload) and the feed's SHA-256, so re-running the same
-- command on the same feed resumes it. scan_items holds one row per finished feed line, keyed by the
-- line number (seq), which is also the order findings are written in.
CREATE TABLE IF NOT EXISTS scans (
    id           TEXT PRIMARY KEY,
    feed_key     TEXT NOT NULL,
    feed_digest  TEXT NOT NULL,
    submitted_by TEXT,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    total        INTEGER,
    done         INTEGER NOT NULL DEFAULT 0,
    n_match      INTEGER NOT NULL DEFAULT 0,
    n_review     INTEGER NOT NULL DEFAULT 0,
    n_clear      INTEGER NOT NULL DEFAULT 0,
    n_error      INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_feed ON scans (feed_key, feed_digest);

CREATE TABLE IF NOT EXISTS scan_items (
    scan_id    TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    listing_id TEXT,
    platform   TEXT,
    verdict    TEXT NOT NULL CHECK (verdict IN ('match', 'review', 'clear', 'error')),
    finding    TEXT NOT NULL,   -- the contract's finding object, JSON
    evidence   TEXT,            -- thumbnails for hits (JSON), kept out of the findings file
    done       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (scan_id, seq)
) WITHOUT ROWID;

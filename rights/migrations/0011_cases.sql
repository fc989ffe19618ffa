-- Infringement cases: one per (registered work, marketplace listing), whatever number of scans saw it.
-- creator is copied from the work so that "cases of my works" needs no join into the registry's tables.
CREATE TABLE IF NOT EXISTS cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    work_id       INTEGER NOT NULL,
    creator       TEXT NOT NULL,
    work_title    TEXT,
    platform      TEXT NOT NULL,
    listing_id    TEXT NOT NULL,
    listing_url   TEXT,
    listing_title TEXT,
    seller        TEXT,
    image         TEXT,
    status        TEXT NOT NULL
                  CHECK (status IN ('open', 'notified', 'taken_down', 'dismissed', 'licensed')),
    score         REAL NOT NULL,
    kind          TEXT,
    evidence      TEXT NOT NULL,  -- JSON: score, region, query/work thumbnails (base64 JPEG)
    first_scan_id TEXT,
    last_scan_id  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (work_id, platform, listing_id)
);
CREATE INDEX IF NOT EXISTS cases_creator ON cases (creator, id);

-- Every status change, who made it and why: the history a takedown dispute will ask for.
CREATE TABLE IF NOT EXISTS case_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT,
    note        TEXT
);
CREATE INDEX IF NOT EXISTS case_events_case ON case_events (case_id, id);

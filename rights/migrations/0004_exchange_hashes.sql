-- Each work's PDQ as industry tools compute it (``indexes.hash_exchange``), for hash lists shared with
-- them. Derived from the original, so it is not in the transparency log; computed when a list is first
-- exported, paged or looked up, then kept. A work whose original could not be read gets its error
-- instead, so lookups do not try it again each time (``rights hashes export`` does).
CREATE TABLE exchange_hashes (
    work_id  INTEGER PRIMARY KEY REFERENCES works (id),
    pdq      TEXT,
    quality  INTEGER,
    error    TEXT,
    CHECK ((pdq IS NULL) != (error IS NULL))
);

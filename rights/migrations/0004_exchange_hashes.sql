-- Each work's PDQ as industry tools compute it (``indexes.hash_exchange``), for hash lists shared with
-- them. Derived from the original, so it is not in the transparency log; filled when a list is first
-- exported or looked up, then kept.
CREATE TABLE exchange_hashes (
    work_id  INTEGER PRIMARY KEY REFERENCES works (id),
    pdq      TEXT NOT NULL,
    quality  INTEGER NOT NULL
);

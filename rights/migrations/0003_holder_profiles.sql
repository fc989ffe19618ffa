-- What a takedown notice needs from the rights holder and the registry cannot know: the legal name
-- to sign with and the contact details to print. One row per account, set by its owner. Personal
-- data: kept here only, never in the transparency log.
CREATE TABLE holder_profiles (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id),
    legal_name  TEXT,
    contact     TEXT,
    updated_at  TEXT NOT NULL
);

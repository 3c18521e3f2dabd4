-- Every reset of an account's password or authenticator, by whom, and (for the second factor
-- reset within a day of the first) who approved it. A pending password reset keeps the hash of
-- the initial password its requester chose until a second person approves it.
CREATE TABLE credential_resets (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL,
    facility          TEXT NOT NULL,
    factor            TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    requested_by_role TEXT NOT NULL,
    requested_at      TEXT NOT NULL,
    status            TEXT NOT NULL,
    both_factors      BOOLEAN NOT NULL,
    password_hash     TEXT,
    approved_by       TEXT,
    applied_at        TEXT
);
CREATE INDEX credential_resets_by_account ON credential_resets (username, requested_at);
CREATE INDEX credential_resets_by_facility ON credential_resets (facility, requested_at);

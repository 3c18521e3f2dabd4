-- The station's local replica (DESIGN.md §4). The whole file is encrypted by SQLCipher.

-- Facts about this installation: facility, device id, Automerge actor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE facilities (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    province TEXT,
    commune  TEXT,
    parent   TEXT
) STRICT;

-- One row per person document: the saved Automerge bytes, its heads, and the columns that
-- lists and search read (materialised from the document on every write).
CREATE TABLE persons (
    id                TEXT PRIMARY KEY,
    doc               BLOB NOT NULL,
    heads             BLOB NOT NULL,
    full_name         TEXT NOT NULL,
    name_key          TEXT NOT NULL,
    gender            TEXT NOT NULL,
    birth_date        TEXT NOT NULL,
    birth_year        INTEGER NOT NULL,
    id_kind           TEXT NOT NULL,
    id_number         TEXT,
    phone             TEXT,
    province          TEXT,
    commune           TEXT,
    nationality       TEXT NOT NULL,
    managing_facility TEXT NOT NULL,
    verification      TEXT NOT NULL,
    merged_into       TEXT,
    updated_at        TEXT NOT NULL
) STRICT;

CREATE INDEX persons_by_phone ON persons (phone, name_key) WHERE phone IS NOT NULL;
CREATE INDEX persons_by_id_number ON persons (id_number, name_key) WHERE id_number IS NOT NULL;
CREATE INDEX persons_by_facility ON persons (managing_facility, verification);

CREATE TABLE doses (
    id           TEXT PRIMARY KEY,
    person_id    TEXT NOT NULL REFERENCES persons (id),
    vaccine      TEXT NOT NULL,
    lot          TEXT NOT NULL,
    dose_number  INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    given_at     TEXT NOT NULL,
    facility     TEXT NOT NULL,
    vaccinator   TEXT NOT NULL,
    voided       INTEGER NOT NULL,
    signed_batch TEXT
) STRICT;

CREATE INDEX doses_by_person ON doses (person_id);
CREATE INDEX doses_by_given_at ON doses (facility, given_at);

-- Local changes the server has not acknowledged yet, in the order they were made.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    change_hash BLOB NOT NULL UNIQUE,
    person_id   TEXT NOT NULL,
    change      BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

-- Append-only, hash-chained log of every write: hash = SHA-256(prev_hash || entry).
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    user      TEXT NOT NULL,
    device    TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    changes   TEXT NOT NULL,
    otp       INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

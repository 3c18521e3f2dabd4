-- Central server storage (SQLite). Keep in step with ../postgres/0001_sync.sql.

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE facilities (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    province TEXT,
    commune  TEXT,
    parent   TEXT
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    facility     TEXT NOT NULL REFERENCES facilities (code),
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_seen_at TEXT
);

-- Each Automerge actor belongs to the one device that first pushed a change of it.
CREATE TABLE actors (
    actor     BLOB PRIMARY KEY,
    device_id TEXT NOT NULL
);

-- Every accepted change, numbered in the order it was accepted.
CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY,
    hash        BLOB NOT NULL UNIQUE,
    person_id   TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    author      TEXT,
    bytes       BLOB NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX changes_by_person ON changes (person_id, seq);

-- The compacted current document of each person and its materialised columns.
CREATE TABLE documents (
    person_id         TEXT PRIMARY KEY,
    doc               BLOB NOT NULL,
    last_seq          BIGINT NOT NULL,
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
);
CREATE INDEX documents_by_phone ON documents (phone, name_key);
CREATE INDEX documents_by_id_number ON documents (id_number, name_key);
CREATE INDEX documents_by_facility ON documents (managing_facility, verification);

CREATE TABLE doses (
    id           TEXT PRIMARY KEY,
    person_id    TEXT NOT NULL,
    vaccine      TEXT NOT NULL,
    lot          TEXT NOT NULL,
    dose_number  INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    given_at     TEXT NOT NULL,
    facility     TEXT NOT NULL,
    vaccinator   TEXT NOT NULL,
    voided       BOOLEAN NOT NULL,
    signed_batch TEXT
);
CREATE INDEX doses_by_person ON doses (person_id);
CREATE INDEX doses_by_facility ON doses (facility, given_at);

-- Which facilities may see which people, and since which change.
CREATE TABLE person_scope (
    facility  TEXT NOT NULL,
    person_id TEXT NOT NULL,
    since_seq BIGINT NOT NULL,
    PRIMARY KEY (facility, person_id)
);

-- What each facility's devices pull: a change, or (snapshot) a person entering its scope.
CREATE TABLE feed (
    facility  TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    person_id TEXT NOT NULL,
    snapshot  BOOLEAN NOT NULL,
    PRIMARY KEY (facility, seq)
);

CREATE TABLE rejections (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    hash      BLOB,
    reason    TEXT NOT NULL,
    message   TEXT NOT NULL,
    at        TEXT NOT NULL
);

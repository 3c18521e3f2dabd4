-- Vaccine passports of the station's people as the server issued (and revoked) them, and the
-- signed trust list that checks passports offline. Encrypted with the rest of the file.
CREATE TABLE passports (
    uvci           TEXT PRIMARY KEY,
    person_id      TEXT NOT NULL,
    dose_id        TEXT NOT NULL,
    kid            TEXT NOT NULL,
    issued_at      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    hc1            TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT,
    version        INTEGER NOT NULL
);
CREATE INDEX passports_by_person ON passports (person_id);

-- The newest trust list that verified: its root is pinned (a list under another root is refused).
CREATE TABLE passport_trust (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    signed     BLOB NOT NULL,
    issued_at  INTEGER NOT NULL,
    root       BLOB NOT NULL,
    fetched_at TEXT NOT NULL
);

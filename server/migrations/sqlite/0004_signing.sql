-- Signing runs the server verified (DESIGN.md §6): the manifest and CMS as the station sent them,
-- and which run signs each dose.
CREATE TABLE signing_batches (
    id                 TEXT PRIMARY KEY,
    facility           TEXT NOT NULL,
    signer             TEXT NOT NULL,
    certificate_serial TEXT NOT NULL,
    signed_at          TEXT NOT NULL,
    doses              INTEGER NOT NULL,
    manifest           BLOB NOT NULL,
    cms                BLOB NOT NULL,
    device_id          TEXT NOT NULL,
    received_at        TEXT NOT NULL
);

CREATE TABLE signed_doses (
    dose_id   TEXT PRIMARY KEY,
    batch_id  TEXT NOT NULL REFERENCES signing_batches (id),
    person_id TEXT NOT NULL
);

-- The ingest path checks, per person, that a dose marked signed belongs to an accepted run.
CREATE INDEX signed_doses_by_person ON signed_doses (person_id);

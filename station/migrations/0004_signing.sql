-- Signing runs made on this station (DESIGN.md §6): the signed manifest and its CMS signature,
-- kept (and later sent to the server) with each signed dose's place and inclusion proof.
CREATE TABLE signing_batches (
    id                 TEXT PRIMARY KEY,
    signer             TEXT NOT NULL,
    certificate_serial TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    doses              INTEGER NOT NULL,
    people             INTEGER NOT NULL,
    manifest           BLOB NOT NULL,
    cms                BLOB NOT NULL,
    -- pending: not yet verified by the server; accepted; refused (with the server's message).
    status             TEXT NOT NULL,
    message            TEXT
) STRICT;

CREATE TABLE signed_doses (
    dose_id   TEXT PRIMARY KEY,
    batch_id  TEXT NOT NULL REFERENCES signing_batches (id),
    person_id TEXT NOT NULL,
    position  INTEGER NOT NULL,
    proof     BLOB NOT NULL
) STRICT;

CREATE INDEX signed_doses_by_batch ON signed_doses (batch_id);

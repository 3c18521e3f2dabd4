-- Vaccine passports (EU DCC) issued at the end of the day, the document signers that signed them,
-- and the signed trust list (signers + revoked UVCIs) that verifiers carry offline.
CREATE TABLE passport_signers (
    kid           TEXT PRIMARY KEY,
    certificate   BLOB NOT NULL,
    algorithm     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    first_used_at TEXT NOT NULL
);

-- One row per certificate ever issued. basis is the hash of what it certifies (names, birth
-- date, the latest dose): when it changes the certificate is revoked and a new one issued.
CREATE TABLE passports (
    uvci           TEXT PRIMARY KEY,
    person_id      TEXT NOT NULL,
    dose_id        TEXT NOT NULL,
    basis          TEXT NOT NULL,
    kid            TEXT NOT NULL,
    issued_at      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    hc1            TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT,
    -- The run that last changed the row (issued or revoked it): stations pull by it.
    version        BIGINT NOT NULL
);
-- A person holds at most one valid certificate.
CREATE UNIQUE INDEX passports_one_valid ON passports (person_id) WHERE revoked_at IS NULL;
CREATE INDEX passports_by_person ON passports (person_id);
CREATE INDEX passports_by_version ON passports (version);

-- The latest signed trust lists (the newest is served).
CREATE TABLE passport_trust_lists (
    issued_at BIGINT PRIMARY KEY,
    signed    BLOB NOT NULL
);

-- End-of-day runs, so the scheduled job runs once a day and the CLI can show what it did.
CREATE TABLE passport_runs (
    id          BIGINT PRIMARY KEY,
    -- daily (the end-of-day job or `passports issue`) or revocation (by hand).
    kind        TEXT NOT NULL,
    day         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    issued      BIGINT NOT NULL,
    reissued    BIGINT NOT NULL,
    revoked     BIGINT NOT NULL,
    unchanged   BIGINT NOT NULL
);
CREATE INDEX passport_runs_by_day ON passport_runs (day);

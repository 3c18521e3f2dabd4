-- Accounts, sign-in and the audit trail (SQLite). Keep in step with ../postgres/0003_accounts.sql.

CREATE TABLE accounts (
    username             TEXT PRIMARY KEY,
    facility             TEXT NOT NULL REFERENCES facilities (code),
    role                 TEXT NOT NULL,
    full_name            TEXT NOT NULL,
    gender               TEXT,
    position             TEXT,
    email                TEXT,
    phone                TEXT,
    password_hash        TEXT NOT NULL,
    otp_secret           BLOB,
    otp_enrolled         BOOLEAN NOT NULL,
    last_otp_step        BIGINT,
    must_change_password BOOLEAN NOT NULL,
    status               TEXT NOT NULL,
    failed_attempts      BIGINT NOT NULL,
    locked_until         TEXT,
    created_at           TEXT NOT NULL,
    revoked_at           TEXT,
    certificate_serials  TEXT NOT NULL
);

-- Short-lived steps of a first login (enroll the authenticator, change the password).
CREATE TABLE auth_challenges (
    token_hash BLOB PRIMARY KEY,
    username   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    username   TEXT NOT NULL,
    device_id  TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked    BOOLEAN NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (username);

-- Every sign-in attempt: who, when, from which device, and how it ended.
CREATE TABLE login_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT NOT NULL,
    at        TEXT NOT NULL,
    device_id TEXT,
    address   TEXT,
    outcome   TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX login_events_by_user ON login_events (username, at);

-- The stations' hash-chained audit logs, as they sync.
CREATE TABLE audit_entries (
    device_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at          TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    changes     TEXT NOT NULL,
    otp         BOOLEAN NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX audit_by_user ON audit_entries (user_name, at);

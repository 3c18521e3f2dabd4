-- Accounts that have signed in on this station, for signing in offline. The TOTP secret is kept
-- only encrypted under a key derived from the password (argon2id), so the laptop alone, without
-- the password, cannot produce a valid login.
CREATE TABLE local_accounts (
    username          TEXT PRIMARY KEY,
    facility          TEXT NOT NULL,
    role              TEXT NOT NULL,
    full_name         TEXT NOT NULL,
    info              TEXT NOT NULL,
    kdf_salt          BLOB NOT NULL,
    verifier          BLOB NOT NULL,
    secret_nonce      BLOB NOT NULL,
    secret_box        BLOB NOT NULL,
    lease_until       TEXT NOT NULL,
    status            TEXT NOT NULL,
    last_otp_step     INTEGER,
    updated_at        TEXT NOT NULL
) STRICT;

-- Open sessions. The key that unlocks a session's copy of the TOTP secret (for step-up codes)
-- is in the OS credential store, with the server's session token.
CREATE TABLE local_sessions (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    online       INTEGER NOT NULL,
    secret_nonce BLOB NOT NULL,
    secret_box   BLOB NOT NULL,
    ended_at     TEXT
) STRICT;

-- Which audit entries the server holds (its copy is the anchor that shows a removed tail).
INSERT INTO meta (key, value) SELECT 'audit_synced_seq', '0'
    WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'audit_synced_seq');

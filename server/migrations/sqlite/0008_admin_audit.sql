-- What administrators did (accounts created, revoked and reset; facilities, devices and signer
-- scopes set up), as one hash chain: each entry's hash covers the previous one, so a removed or
-- edited entry shows in `sotiem-server audit verify`.
CREATE TABLE admin_audit (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    origin    TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    changes   TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
);

-- When an administrator last reset the account's password or authenticator: stations forget a
-- copy for offline sign-in made before then.
ALTER TABLE accounts ADD COLUMN credentials_reset_at TEXT;

-- Failed sign-ins counted per account *and* address (the connection's peer): five failures
-- lock the account for that address only, so a flood from one address cannot lock its owner
-- out elsewhere. accounts.failed_attempts / locked_until stay the count and lock across all
-- addresses, reached only from many addresses (ACCOUNT_FREE_ATTEMPTS).
CREATE TABLE sign_in_failures (
    username     TEXT NOT NULL,
    address      TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    -- The latest attempt: counts idle for a day are forgotten (a name mistyped once leaves no
    -- row behind for ever).
    last_at      TEXT NOT NULL,
    PRIMARY KEY (username, address)
);

-- Offline sign-in counts failures like the server (five, then 30 s doubling), so the laptop
-- alone is not a place to guess passwords and codes at leisure.
ALTER TABLE local_accounts ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE local_accounts ADD COLUMN locked_until TEXT;

-- Sync state. The cursor and server identity live in `meta` (sync_cursor, sync_server_id,
-- sync_server_url, last_sync_at, last_sync_error, bootstrap_after, bootstrap_high_water).

-- Local changes the server refused, kept with its reason: never silently dropped.
CREATE TABLE quarantine (
    change_hash    BLOB PRIMARY KEY,
    person_id      TEXT NOT NULL,
    change         BLOB NOT NULL,
    reason         TEXT NOT NULL,
    message        TEXT NOT NULL,
    quarantined_at TEXT NOT NULL
) STRICT;

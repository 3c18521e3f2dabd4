-- Routine immunization session days (issue 29): planned per hamlet (or the whole commune), closed
-- after the day, when whoever was due and did not come becomes a defaulter with WHO's tracing
-- fields. Planning data of this station, kept in its store (and its backups); it does not sync.
CREATE TABLE session_days (
    id         TEXT PRIMARY KEY,
    day        TEXT NOT NULL,
    hamlet     TEXT,
    place      TEXT,
    planned_by TEXT NOT NULL,
    planned_at TEXT NOT NULL,
    closed_by  TEXT,
    closed_at  TEXT
) STRICT;

-- One session a day for a hamlet (and one for the whole commune).
CREATE UNIQUE INDEX session_days_once ON session_days (day, coalesce(hamlet, ''));

CREATE TABLE session_defaulters (
    session_id TEXT NOT NULL REFERENCES session_days (id),
    person_id  TEXT NOT NULL,
    full_name  TEXT NOT NULL,
    phone      TEXT,
    hamlet     TEXT,
    -- The doses due that day, as listed ("Sởi (mũi 1), …").
    missed     TEXT NOT NULL,
    -- Tracing: can the child be located (NULL: not traced yet), why the session was missed,
    -- and what came of it.
    located    INTEGER,
    reason     TEXT,
    outcome    TEXT,
    traced_by  TEXT,
    traced_at  TEXT,
    PRIMARY KEY (session_id, person_id)
) STRICT;

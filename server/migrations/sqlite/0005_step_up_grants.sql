-- Step-up grants (DESIGN.md §1, §9): the server checked a user's fresh one-time code for these
-- sensitive fields of these people; a pushed change that edits them names its grant, and the
-- server checks the grant rather than believing the station.
CREATE TABLE step_up_grants (
    id         TEXT NOT NULL,
    person_id  TEXT NOT NULL,
    username   TEXT NOT NULL,
    fields     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (id, person_id)
);

-- Citizens' complaints (issue 16): filed on the server's public page, owned by one facility
-- (forwarding moves them), pulled by that facility's stations, answered there. `version` orders
-- every change for the stations' pull (written one at a time under the server's lock).
CREATE TABLE complaints (
    id             TEXT PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    facility       TEXT NOT NULL REFERENCES facilities (code),
    full_name      TEXT NOT NULL,
    birth_date     TEXT NOT NULL,
    phone          TEXT NOT NULL,
    id_number      TEXT,
    kind           TEXT NOT NULL,
    vaccine        TEXT,
    vaccinated_on  TEXT,
    place          TEXT,
    description    TEXT NOT NULL,
    photos         BIGINT NOT NULL,
    received_at    TEXT NOT NULL,
    deadline       TEXT NOT NULL,
    status         TEXT NOT NULL,
    answer         TEXT,
    answered_at    TEXT,
    answered_by    TEXT,
    person_id      TEXT,
    forwarded_from TEXT,
    forward_reason TEXT,
    version        BIGINT NOT NULL
);
CREATE INDEX complaints_by_facility ON complaints (facility, status, deadline);
CREATE INDEX complaints_by_version ON complaints (version);

-- The photos of the paper card, re-encoded on the server (metadata gone).
CREATE TABLE complaint_photos (
    complaint_id TEXT NOT NULL REFERENCES complaints (id),
    n            BIGINT NOT NULL,
    jpeg         BYTEA NOT NULL,
    PRIMARY KEY (complaint_id, n)
);

-- Who read, answered or forwarded a complaint, and the citizen's own look-ups.
CREATE TABLE complaint_events (
    complaint_id TEXT NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    detail       TEXT
);
CREATE INDEX complaint_events_by_complaint ON complaint_events (complaint_id, at);

-- Proof-of-work challenges already spent (kept until they expire).
CREATE TABLE complaint_challenges (
    challenge  TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- The working days a province's facilities have to answer (the default applies elsewhere).
CREATE TABLE complaint_deadlines (
    province     TEXT PRIMARY KEY,
    working_days BIGINT NOT NULL
);

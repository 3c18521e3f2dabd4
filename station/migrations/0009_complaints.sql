-- Citizens' complaints routed to this station's facility (issue 16), as the server last sent them,
-- with what this station did about them. Personal data: encrypted with the rest of the file.
CREATE TABLE complaints (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL,
    facility      TEXT NOT NULL,
    deadline      TEXT NOT NULL,
    status        TEXT NOT NULL,
    version       INTEGER NOT NULL,
    -- The server's record (sync_protocol::complaints::ComplaintRecord) as JSON.
    record        TEXT NOT NULL,
    -- The person the nurse linked it to here (sent with the answer).
    linked_person TEXT,
    -- An answer or a forward written here and not yet taken by the server (JSON), who wrote it
    -- (sent only by that user, signed in online) and when; the server's refusal of the last one
    -- sent, and that reply (a refusal of a reply the server had in fact taken, its answer lost on
    -- the way, is cleared when the pull brings the complaint as that reply left it).
    reply         TEXT,
    reply_by      TEXT,
    reply_at      TEXT,
    reply_error   TEXT,
    refused_reply TEXT
);
CREATE INDEX complaints_by_deadline ON complaints (status, deadline);

-- Photos of the paper card, fetched from the server the first time a complaint is opened.
CREATE TABLE complaint_photos (
    complaint_id TEXT NOT NULL,
    n            INTEGER NOT NULL,
    jpeg         BLOB NOT NULL,
    PRIMARY KEY (complaint_id, n)
);

-- Complaint versions come from one counter row: updating it locks the row until the transaction
-- ends, so two writers (the server and `sotiem-server complaints file` run beside it) never take
-- the same version, and versions commit in the order they were given — a station's cursor never
-- passes a complaint still being written.
CREATE TABLE complaint_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO complaint_version (id, version) SELECT 1, COALESCE(MAX(version), 0) FROM complaints;
DROP INDEX complaints_by_version;
CREATE UNIQUE INDEX complaints_by_version ON complaints (version);

-- The district and province console (issue 17) reads counts, never people. Two tables of counts
-- are kept in step with `doses` and `documents` by the ingest, in the transaction that writes
-- them, so a province's views read a few thousand rows instead of millions.

-- Doses per facility and day (the day at +07:00, the first ten characters of `given_at`).
CREATE TABLE dose_counts (
    facility    TEXT NOT NULL,
    day         TEXT NOT NULL,
    -- Every dose recorded for the day, voided or not.
    recorded    BIGINT NOT NULL,
    -- Not voided.
    active      BIGINT NOT NULL,
    -- Not voided and signed by an accepted run.
    signed      BIGINT NOT NULL,
    -- Not voided and the first dose of its series.
    first_doses BIGINT NOT NULL,
    PRIMARY KEY (facility, day)
);

-- People (not merged into another) per managing facility and verification outcome.
CREATE TABLE person_counts (
    facility     TEXT NOT NULL,
    verification TEXT NOT NULL,
    people       BIGINT NOT NULL,
    PRIMARY KEY (facility, verification)
);

INSERT INTO dose_counts (facility, day, recorded, active, signed, first_doses)
SELECT facility, substr(given_at, 1, 10), count(*),
       sum(CASE WHEN voided THEN 0 ELSE 1 END),
       sum(CASE WHEN NOT voided AND signed_batch IS NOT NULL THEN 1 ELSE 0 END),
       sum(CASE WHEN NOT voided AND dose_number = 1 THEN 1 ELSE 0 END)
FROM doses GROUP BY facility, substr(given_at, 1, 10);

INSERT INTO person_counts (facility, verification, people)
SELECT managing_facility, verification, count(*)
FROM documents WHERE merged_into IS NULL GROUP BY managing_facility, verification;

-- Valid passports per managing facility, counted again at the end of each passport run (a
-- nightly batch can afford the join; a console view cannot).
CREATE TABLE passport_counts (
    facility TEXT PRIMARY KEY,
    valid    BIGINT NOT NULL
);
INSERT INTO passport_counts (facility, valid)
SELECT d.managing_facility, count(*)
FROM passports p JOIN documents d ON d.person_id = p.person_id
WHERE p.revoked_at IS NULL GROUP BY d.managing_facility;

-- What each device said at the end of its last sync: changes waiting, refused changes kept in
-- quarantine, its app version.
ALTER TABLE devices ADD COLUMN reported_waiting BIGINT;
ALTER TABLE devices ADD COLUMN reported_quarantined BIGINT;
ALTER TABLE devices ADD COLUMN reported_version TEXT;
ALTER TABLE devices ADD COLUMN reported_at TEXT;

-- Data-cleaning lists stream in name order without a sort: temporary storage is in memory (so
-- nothing unencrypted reaches the disk), and a sort of a 100,000-row list would hold it all.
CREATE INDEX persons_by_verification_name ON persons (verification, name_key, birth_date, id);
CREATE INDEX persons_by_name ON persons (name_key, birth_date, id);
CREATE INDEX doses_by_given_at_only ON doses (given_at, id);

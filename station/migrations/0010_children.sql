-- Routine immunization: a child's caregiver (searched by phone with the child's or the
-- caregiver's name) and the hamlet that session days and due lists go by. Materialised from the
-- document like the other columns; documents written before these existed have none.
ALTER TABLE persons ADD COLUMN caregiver_phone TEXT;
ALTER TABLE persons ADD COLUMN caregiver_name TEXT;
ALTER TABLE persons ADD COLUMN caregiver_key TEXT;
ALTER TABLE persons ADD COLUMN hamlet TEXT;

CREATE INDEX persons_by_caregiver_phone ON persons (caregiver_phone) WHERE caregiver_phone IS NOT NULL;
-- The due list reads the people born after a date.
CREATE INDEX persons_by_birth_date ON persons (birth_date);

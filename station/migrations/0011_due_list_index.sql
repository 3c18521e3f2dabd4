-- The due list reads the people born in the last 36 years without their documents: a covering
-- index, so reading a child's columns never walks the document's overflow pages (the document
-- is stored before them in the row). Replaces the plain birth-date index of 0010.
DROP INDEX persons_by_birth_date;
CREATE INDEX persons_for_due_list ON persons (
    birth_date, gender, managing_facility, merged_into, hamlet, name_key, id, full_name,
    province, caregiver_name, caregiver_phone, phone
);

-- The console's coverage of a birth cohort reads the children an area's facilities manage born
-- in a year or a month: by facility then birth date, not every person of each facility.
CREATE INDEX documents_by_facility_birth ON documents (managing_facility, birth_date);

-- The account whose session delivered each audit entry: a station's chain holds entries of all
-- its users (and of names mistyped at sign-in), so an entry's own `user_name` is the station's
-- claim, and `pushed_by` is what the server saw.
ALTER TABLE audit_entries ADD COLUMN pushed_by TEXT;

-- A laptop rebuilt from a backup is a new device registered as the replacement of the old one:
-- it may push the old device's Automerge actors (the changes still waiting in the backup), and
-- the old device's token is revoked when it is replaced.
ALTER TABLE devices ADD COLUMN replaces TEXT REFERENCES devices (id);

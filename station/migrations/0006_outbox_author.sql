-- Each pending change's author: the server takes a change only from its author's own session,
-- so a sync sends the signed-in user's changes and the others wait for theirs (filled for older
-- rows when the station opens).
ALTER TABLE outbox ADD COLUMN author TEXT;
CREATE INDEX outbox_by_author ON outbox (author, seq);

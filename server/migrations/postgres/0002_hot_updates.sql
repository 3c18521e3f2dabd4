-- Leave room in each page so updating a document (its bytes, last_seq, updated_at: no indexed
-- column) is a HOT update that touches no index.
ALTER TABLE documents SET (fillfactor = 70);

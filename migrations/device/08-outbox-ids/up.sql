-- Voordeur device database, version 8: each outbox block also keeps the ids of its
-- changes, 16 bytes each in order (`ids`), written with the block. A push sends a block
-- as stored and needs only its ids, which it no longer reads out of the JSON. Blocks
-- written before have no ids (NULL) and are read as before.
ALTER TABLE outbox ADD COLUMN ids BLOB;

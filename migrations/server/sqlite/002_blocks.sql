-- Voordeur server, SQLite, version 2: changes grouped by record. Keep in step with
-- ../postgres/002_blocks.sql.
--
-- The log holds one row per block: consecutive changes of one record by one device
-- and author, as they travel on the wire (voordeur_core::wire). A block's changes are
-- numbered seq - n + 1 .. seq, so a cursor counts changes as before, and always ends
-- on a block.
CREATE TABLE log_blocks (
    seq       BIGINT PRIMARY KEY,
    n         BIGINT NOT NULL,
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    author_id TEXT,
    team_id   TEXT,
    changes   TEXT NOT NULL
);
INSERT INTO log_blocks(seq, n, entity, record_id, device_id, author_id, team_id, changes)
SELECT seq, 1, entity, record_id, device_id, author_id, team_id,
       json_array(json_object(
           'id', change_id,
           'field', field,
           'value', json(value),
           'at', json_array(CAST(substr(hlc, 1, 15) AS INTEGER),
                            CAST(substr(hlc, 17, 10) AS INTEGER)),
           'clock', CASE WHEN substr(hlc, 28) <> device_id THEN substr(hlc, 28) END,
           'base', base))
FROM log;
DROP TABLE log;
ALTER TABLE log_blocks RENAME TO log;
CREATE INDEX log_team ON log(team_id, seq);
-- A device's earlier blocks of a record: which of its changes the server holds.
CREATE INDEX log_record ON log(record_id, device_id);

-- The current winner of every field, one JSON object per record
-- (field -> {v: value, h: clock, c: change id, d: device, a: author}), and the
-- record's parent (the household of a visit, the visit of a note, the record of a
-- conflict).
ALTER TABLE records ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
ALTER TABLE records ADD COLUMN parent_id TEXT;
UPDATE records SET
    state = coalesce((SELECT json_group_object(f.field, json_object(
                'v', json(f.value), 'h', f.hlc, 'c', f.change_id, 'd', f.device_id,
                'a', f.author_id))
            FROM fields f WHERE f.entity = records.entity AND f.record_id = records.record_id),
        '{}'),
    parent_id = (SELECT json_extract(f.value, '$') FROM fields f
            WHERE f.entity = records.entity AND f.record_id = records.record_id
              AND f.field = CASE records.entity
                  WHEN 'note' THEN 'visit_id' WHEN 'review' THEN 'visit_id'
                  WHEN 'conflict' THEN 'record_id' ELSE 'household_id' END);
DROP TABLE fields;
CREATE INDEX records_parent ON records(parent_id);

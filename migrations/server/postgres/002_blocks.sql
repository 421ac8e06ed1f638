-- Voordeur server, PostgreSQL, version 2: changes grouped by record. Keep in step
-- with ../sqlite/002_blocks.sql, which explains the tables.
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
       -- json, not jsonb: jsonb refuses a text value holding \u0000.
       json_build_array(json_build_object(
           'id', change_id,
           'field', field,
           'value', value::json,
           'at', json_build_array(substr(hlc, 1, 15)::bigint, substr(hlc, 17, 10)::bigint),
           'clock', CASE WHEN substr(hlc, 28) <> device_id THEN substr(hlc, 28) END,
           'base', base))::text
FROM log;
DROP TABLE log;
ALTER TABLE log_blocks RENAME TO log;
ALTER INDEX log_blocks_pkey RENAME TO log_pkey;
CREATE INDEX log_team ON log(team_id, seq);
CREATE INDEX log_record ON log(record_id, device_id);

ALTER TABLE records ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
ALTER TABLE records ADD COLUMN parent_id TEXT;
UPDATE records SET
    state = coalesce((SELECT json_object_agg(f.field, json_build_object(
                'v', f.value::json, 'h', f.hlc, 'c', f.change_id, 'd', f.device_id,
                'a', f.author_id))::text
            FROM fields f WHERE f.entity = records.entity AND f.record_id = records.record_id),
        '{}'),
    parent_id = (SELECT f.value::json #>> '{}' FROM fields f
            WHERE f.entity = records.entity AND f.record_id = records.record_id
              AND f.field = CASE records.entity
                  WHEN 'note' THEN 'visit_id' WHEN 'review' THEN 'visit_id'
                  WHEN 'conflict' THEN 'record_id' ELSE 'household_id' END);
DROP TABLE fields;
CREATE INDEX records_parent ON records(parent_id);

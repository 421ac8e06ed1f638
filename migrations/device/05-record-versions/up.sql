-- Voordeur device database, version 5: field versions kept per record.
-- The clock and change id of the write that set each field, one row per record instead
-- of one row per field (a completed visit has about 70 fields). `versions` is JSON
-- (see crates/store/src/versions.rs); this migration writes the simple form
-- {"field": ["clock", "change id"]}, and the app rewrites a record in the compact form
-- when it next changes. `newest` is the record's highest clock: the device's clock
-- resumes after the highest of them.
CREATE TABLE record_versions (
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    newest    TEXT NOT NULL,
    versions  TEXT NOT NULL,
    PRIMARY KEY (entity, record_id)
);
CREATE INDEX record_versions_newest ON record_versions(newest);

INSERT INTO record_versions(entity, record_id, newest, versions)
SELECT entity, record_id, max(hlc), json_group_object(field, json_array(hlc, change_id))
FROM field_versions
GROUP BY entity, record_id;

DROP TABLE field_versions;

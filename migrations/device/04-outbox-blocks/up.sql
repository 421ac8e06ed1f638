-- Voordeur device database, version 4: the outbox holds blocks.
-- One row per run of changes to one record made in one transaction, in the form they
-- travel (voordeur_core::wire::Block): a completed visit is a few rows, not one row
-- per answer. `n` is the number of changes in the block.
CREATE TABLE outbox_blocks (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    n    INTEGER NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO outbox_blocks(seq, n, body)
SELECT seq, 1, json_object(
    'entity', json_extract(body, '$.entity'),
    'record', json_extract(body, '$.record'),
    'device', json_extract(body, '$.device'),
    'author', json_extract(body, '$.author'),
    'changes', json_array(json_patch(
        json_object(
            'id', json_extract(body, '$.id'),
            'field', json_extract(body, '$.field'),
            'value', json(body -> '$.value'),
            'at', json_array(CAST(substr(json_extract(body, '$.hlc'), 1, 15) AS INTEGER),
                             CAST(substr(json_extract(body, '$.hlc'), 17, 10) AS INTEGER))),
        json_object(
            'clock', CASE WHEN substr(json_extract(body, '$.hlc'), 28) <> json_extract(body, '$.device')
                          THEN substr(json_extract(body, '$.hlc'), 28) END,
            'base', json_extract(body, '$.base')))))
FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_blocks RENAME TO outbox;

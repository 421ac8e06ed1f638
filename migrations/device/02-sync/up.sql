-- Voordeur device database, version 2: sync.
-- Changes the server refused are moved out of the outbox into rejected_changes, so
-- that nothing a person wrote is silently lost: support can read them back, and the
-- person can see what did not reach the server and why.

CREATE TABLE rejected_changes (
    change_id TEXT PRIMARY KEY,
    body      TEXT NOT NULL,  -- the Change as JSON, exactly as it was sent
    reason    TEXT NOT NULL,  -- the server's reason, as given
    at        TEXT NOT NULL   -- when the device learnt of the refusal (RFC 3339)
);

-- Conflict lists filter on status.
CREATE INDEX conflicts_status ON conflicts(status);

-- Voordeur server, PostgreSQL. Keep in step with ../sqlite/001_init.sql: the same
-- tables, columns and SQL work on both (ids are TEXT, numbers BIGINT/INTEGER).
CREATE TABLE teams (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE users (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    role    TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id)
);
CREATE TABLE enrol_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    expires_ms BIGINT NOT NULL,
    used_ms    BIGINT
);
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT,
    token_hash   TEXT NOT NULL UNIQUE,
    enrolled_ms  BIGINT NOT NULL,
    revoked_ms   BIGINT,
    last_seen_ms BIGINT
);
-- Every accepted change, in the order the server accepted it. `seq` is assigned in
-- commit order (pushes hold the counter row until they commit), so a device whose
-- cursor passed N has been served every change up to N.
CREATE TABLE log (
    seq       BIGINT PRIMARY KEY,
    change_id TEXT NOT NULL UNIQUE,
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    value     TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    base      TEXT,
    device_id TEXT NOT NULL,
    author_id TEXT,
    team_id   TEXT
);
CREATE INDEX log_team ON log(team_id, seq);
CREATE INDEX log_field ON log(entity, record_id, field, hlc);
-- The current winner of every field.
CREATE TABLE fields (
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    value     TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    change_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    author_id TEXT,
    PRIMARY KEY (entity, record_id, field)
);
-- Which team a record belongs to (its scope); NULL for templates (everyone).
CREATE TABLE records (
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    team_id   TEXT,
    PRIMARY KEY (entity, record_id)
);
CREATE TABLE open_conflicts (
    entity      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    conflict_id TEXT NOT NULL UNIQUE,
    PRIMARY KEY (entity, record_id, field)
);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters(name, value) VALUES ('seq', 0);
-- Append-only: who did what to which object, with what result, from where, when.
CREATE TABLE audit (
    at_ms  BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    result TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

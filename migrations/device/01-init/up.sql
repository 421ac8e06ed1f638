-- Voordeur device database, version 1.
-- Synced record tables hold one row per record and one column per field; every
-- column except the id may be NULL, because fields of a record can arrive in any
-- order from sync. Which write won each field is kept in field_versions.

CREATE TABLE device_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE households (
    id            TEXT PRIMARY KEY,
    address       TEXT,
    postcode      TEXT,
    city          TEXT,
    neighbourhood TEXT,
    team_id       TEXT,
    closed        INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX households_address ON households(address);

-- Search text of a household: address, postcode (with and without space), city and
-- resident names, lower-cased; indexed with trigrams for substring search. Its rowid
-- is the rowid of the household.
CREATE VIRTUAL TABLE household_search USING fts5(
    body,
    tokenize = 'trigram'
);

CREATE TABLE residents (
    id           TEXT PRIMARY KEY,
    household_id TEXT,
    name         TEXT,
    birth_year   INTEGER,
    contact      TEXT,
    deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX residents_household ON residents(household_id);

CREATE TABLE templates (
    id          TEXT PRIMARY KEY,  -- record id: one record per published version
    template_id TEXT,
    version     INTEGER,
    status      TEXT,
    name_nl     TEXT,
    name_en     TEXT,
    body        TEXT,
    deleted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX templates_by_template ON templates(template_id, version);

CREATE TABLE visits (
    id               TEXT PRIMARY KEY,
    household_id     TEXT,
    template_id      TEXT,
    template_version INTEGER,
    author_id        TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    status           TEXT,
    deleted          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX visits_household ON visits(household_id, started_at);

CREATE TABLE answers (
    visit_id TEXT NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    item     TEXT NOT NULL,
    value    TEXT NOT NULL,  -- JSON
    PRIMARY KEY (visit_id, item)
) WITHOUT ROWID;

CREATE TABLE notes (
    id         TEXT PRIMARY KEY,
    visit_id   TEXT,
    author_id  TEXT,
    text       TEXT,
    created_at TEXT,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notes_visit ON notes(visit_id);

CREATE TABLE signals (
    id           TEXT PRIMARY KEY,
    household_id TEXT,
    visit_id     TEXT,
    category     TEXT,
    severity     TEXT,
    status       TEXT,
    description  TEXT,
    deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signals_household ON signals(household_id);

CREATE TABLE follow_ups (
    id           TEXT PRIMARY KEY,
    household_id TEXT,
    visit_id     TEXT,
    assignee_id  TEXT,
    due          TEXT,
    text         TEXT,
    status       TEXT,
    deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX follow_ups_open ON follow_ups(status, due);

CREATE TABLE reviews (
    id       TEXT PRIMARY KEY,
    visit_id TEXT,
    state    TEXT,
    comments TEXT,
    deleted  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE conflicts (
    id        TEXT PRIMARY KEY,
    entity    TEXT,
    record_id TEXT,
    field     TEXT,
    "values"  TEXT,
    status    TEXT,
    deleted   INTEGER NOT NULL DEFAULT 0
);

-- The winning write of every field: its clock and change id. The clock is the
-- "version the author saw" that the next local edit of the field carries.
CREATE TABLE field_versions (
    entity    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    change_id TEXT NOT NULL,
    PRIMARY KEY (entity, record_id, field)
) WITHOUT ROWID;

-- Local changes not yet acknowledged by the server, in the order they were made.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id TEXT NOT NULL UNIQUE,
    body      TEXT NOT NULL  -- the Change as JSON, exactly as it goes on the wire
);

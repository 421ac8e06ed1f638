//! The sync engine of the server: accept pushed changes and serve pulls.
//!
//! A push is one transaction. It first takes the sequence counter's row (a row lock in
//! PostgreSQL, the write lock in SQLite), so pushes commit in the order their sequence
//! numbers were given: a puller that has seen number N has seen everything below N,
//! even with several server processes on one PostgreSQL. Each change is then checked
//! (shape, device, role, scope), de-duplicated by id, re-stamped when its clock is too
//! far ahead, and merged with `voordeur_core::merge::decide`. Conflicts and merged
//! note text become changes of the server's own, logged like any other.

use crate::auth::Caller;
use crate::db::{Col, Row, Sql, Val};
use crate::error::ServerError;
use crate::state;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Hash maps of the push caches: keyed by ids, looked up several times per change, so
/// with foldhash (hashbrown's own hasher, randomly seeded) rather than SipHash, which
/// was 5 % of a bulk push.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type FastSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;
// Shared team names: `Arc`, so what a batch carries may be dropped on another thread.
use std::sync::Arc;
use uuid::Uuid;
use voordeur_core::change::{EntityKind, DELETED};
use voordeur_core::merge::{decide, Decision, FieldState, MAX_CLOCK_AHEAD_MS};
use voordeur_core::protocol::{Accepted, PullResponse, PushResponse, Rejected, MAX_BATCH};
use voordeur_core::wire::{BlockRef, FieldChange, FieldChangeRef, SentTexts};
use voordeur_core::*;

/// Take the sequence counter for this transaction; returns the last number given.
pub fn lock_sequence(t: &mut dyn Sql) -> Result<i64, ServerError> {
    let rows = t.query(
        "UPDATE counters SET value = value WHERE name = 'seq' RETURNING value",
        &[],
    )?;
    rows.first()
        .and_then(|r| r[0].int())
        .ok_or_else(|| ServerError::Db("sequence counter missing".into()))
}

fn store_sequence(t: &mut dyn Sql, seq: i64) -> Result<(), ServerError> {
    t.execute(
        "UPDATE counters SET value = $1 WHERE name = 'seq'",
        &[seq.into()],
    )?;
    Ok(())
}

/// Columns of `log`, in the order [`Push::flush`] writes them: one row per block.
const LOG_COLUMNS: &[(&str, Col)] = &[
    ("seq", Col::Int),
    ("n", Col::Int),
    ("entity", Col::Text),
    ("record_id", Col::Text),
    ("device_id", Col::Text),
    ("author_id", Col::Text),
    ("team_id", Col::Text),
    ("changes", Col::Text),
];

/// Columns of `records` a push writes; an existing record keeps its team and takes the
/// new state and the parent its state names (a resident moved to another household of
/// the team moves with that household from then on).
const RECORD_COLUMNS: &[(&str, Col)] = &[
    ("entity", Col::Text),
    ("record_id", Col::Text),
    ("team_id", Col::Text),
    ("parent_id", Col::Text),
    ("state", Col::Bytes),
];

const RECORD_UPSERT: &str = "ON CONFLICT (entity, record_id) DO UPDATE SET
    state = excluded.state, parent_id = excluded.parent_id";

/// A record: its kind and id.
type RecordKey = (EntityKind, Uuid);

/// The changes of a stored block.
fn parse_block(
    entity: EntityKind,
    record: Uuid,
    device: DeviceId,
    author: Option<UserId>,
    changes: &str,
) -> Result<Vec<Change>, ServerError> {
    let fields: Vec<FieldChange> =
        serde_json::from_str(changes).map_err(|_| ServerError::Db("bad stored change".into()))?;
    Ok(fields
        .into_iter()
        .map(|f| f.into_change(entity, record, device, author))
        .collect())
}

/// The changes of a `log` row read as `entity, record_id, device_id, author_id,
/// changes` from column `at` on.
fn block_of_row(r: &[Val], at: usize) -> Result<Vec<Change>, ServerError> {
    let bad = || ServerError::Db("bad stored block".into());
    parse_block(
        r[at].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        r[at + 1]
            .text()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?,
        r[at + 2]
            .text()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?,
        r[at + 3].text().and_then(|s| s.parse().ok()),
        r[at + 4].text().ok_or_else(bad)?,
    )
}

/// The id and clock of a logged change, read without its value (replay detection).
#[derive(serde::Deserialize)]
struct LoggedId {
    id: ChangeId,
    at: (u64, u32),
    #[serde(default)]
    clock: Option<DeviceId>,
}

/// A block waiting to be logged: its team and its changes, numbered up to `seq`.
struct PendingBlock {
    team: Option<String>,
    seq: i64,
    /// How many changes it holds.
    n: i64,
    entity: EntityKind,
    record: Uuid,
    device: DeviceId,
    author: Option<UserId>,
    /// Its field entries as logged: JSON, written as each change is logged (the array
    /// is closed when the block is written).
    text: String,
}

/// What a push leaves for the next batch of the same request ([`push_carrying`]): what
/// it read and wrote of the log and the records, and where it left the sequence
/// counter. Every write to the log or the records goes through the counter, so the next
/// batch may take it as the database only when the counter is still there: nothing was
/// written in between.
pub struct Carry {
    seq: i64,
    logged: HashMap<ChangeId, Hlc>,
    logged_records: FastSet<Uuid>,
    teams: HashMap<RecordKey, Option<Option<Arc<str>>>>,
    fields: HashMap<RecordKey, BTreeMap<String, FieldState>>,
}

/// The state a push builds up while it runs.
///
/// Bulk: a batch is read with a few set-based queries up front (which of its changes
/// the log holds, the teams of the records and parents it names, the state of the
/// records it touches) and written at the end ([`Push::flush`]): one log row per block
/// of changes to one record, one `records` row per record touched. In between, the
/// caches below are the truth: they start as the database and take every write of this
/// transaction, so each change is decided exactly as if every earlier change of the
/// batch had been written row by row.
struct Push<'a> {
    t: &'a mut dyn Sql,
    clock: &'a Clock,
    seq: i64,
    conflicts: u32,
    /// Changes the log holds (before this push, or logged by it) with their clock,
    /// as far as looked up: the earlier blocks of the records a push names, by the
    /// pushing device.
    logged: HashMap<ChangeId, Hlc>,
    /// Records whose blocks by the pushing device have been read into `logged`.
    logged_records: FastSet<Uuid>,
    /// Teams of records: `Some(team)` registered, `None` unknown. (Shared text: a
    /// change asks for its record's team, and copying it each time was a cost.)
    teams: HashMap<RecordKey, Option<Option<Arc<str>>>>,
    /// Every field of a record, for records loaded (absent: not loaded yet).
    fields: HashMap<RecordKey, BTreeMap<String, FieldState>>,
    /// Blocks waiting to be logged.
    blocks: Vec<PendingBlock>,
    /// Records registered by this push: their team.
    new_records: HashMap<RecordKey, Option<String>>,
    /// Records whose state changed, in first-touched order.
    dirty: Vec<RecordKey>,
    dirty_set: FastSet<RecordKey>,
    /// The pushing user's team.
    caller_team: Option<Arc<str>>,
    /// A clock with a later wall time than this is too far ahead (read once per push:
    /// reading the system clock for every change was a visible cost).
    ahead_limit_ms: u64,
}

/// The id a link field names, when it is written the way the server stores ids (a
/// differently spelt id names no stored record, as before caching).
fn linked_id(value: &Value) -> Option<Uuid> {
    let s = value.as_str()?;
    let id: Uuid = s.parse().ok()?;
    (id.hyphenated().to_string() == s).then_some(id)
}

/// The field of a record that names its parent (see `records.parent_id`).
fn parent_field(entity: EntityKind) -> Option<&'static str> {
    match entity {
        EntityKind::Conflict => Some("record_id"),
        e => parent_link(e).map(|(link, _)| link),
    }
}

impl<'a> Push<'a> {
    fn new(t: &'a mut dyn Sql, clock: &'a Clock) -> Result<Push<'a>, ServerError> {
        Push::carrying(t, clock, None)
    }

    /// A push that starts from what an earlier batch carried, when nothing was written
    /// since (see [`Carry`]).
    fn carrying(
        t: &'a mut dyn Sql,
        clock: &'a Clock,
        carry: Option<Carry>,
    ) -> Result<Push<'a>, ServerError> {
        let seq = lock_sequence(t)?;
        let carry = carry.filter(|c| c.seq == seq);
        let (logged, logged_records, teams, fields) = match carry {
            Some(c) => (c.logged, c.logged_records, c.teams, c.fields),
            None => Default::default(),
        };
        Ok(Push {
            t,
            clock,
            seq,
            conflicts: 0,
            logged,
            logged_records,
            teams,
            fields,
            blocks: Vec::new(),
            new_records: HashMap::default(),
            dirty: Vec::new(),
            dirty_set: FastSet::default(),
            caller_team: None,
            ahead_limit_ms: clock.physical_ms().saturating_add(MAX_CLOCK_AHEAD_MS),
        })
    }

    /// Read what a batch of changes from `device` needs, in a few queries: which of
    /// them the log holds, the teams of its records and their parents, and the state
    /// of its records.
    fn prefetch(&mut self, device: DeviceId, changes: &[Change]) -> Result<(), ServerError> {
        let mut records: BTreeMap<EntityKind, BTreeSet<Uuid>> = BTreeMap::new();
        let mut parents: BTreeMap<EntityKind, BTreeSet<Uuid>> = BTreeMap::new();
        for c in changes {
            records.entry(c.entity).or_default().insert(c.record);
            if let Some((link, kind)) = parent_link(c.entity) {
                if c.field == link {
                    if let Some(id) = linked_id(&c.value) {
                        parents.entry(kind).or_default().insert(id);
                    }
                }
            }
        }
        // The device's earlier blocks of these records: a change pushed again is
        // acknowledged with the clock the log holds, and not applied twice.
        let ids: FastSet<Uuid> = changes
            .iter()
            .filter(|c| c.device == device && !self.logged_records.contains(&c.record))
            .map(|c| c.record)
            .collect();
        self.logged_records.extend(ids.iter().copied());
        let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        ids.sort_unstable();
        let list: Vec<&str> = ids.iter().map(String::as_str).collect();
        for r in self.t.query_in(
            "SELECT changes FROM log WHERE device_id = $1 AND record_id IN_LIST",
            &[device.to_string().into()],
            &list,
        )? {
            let text = r[0]
                .text()
                .ok_or_else(|| ServerError::Db("bad stored block".into()))?;
            let ids: Vec<LoggedId> = serde_json::from_str(text)
                .map_err(|_| ServerError::Db("bad stored block".into()))?;
            for c in ids {
                let hlc = Hlc {
                    wall_ms: c.at.0,
                    counter: c.at.1,
                    device: c.clock.unwrap_or(device),
                };
                self.logged.insert(c.id, hlc);
            }
        }

        let mut wanted = records.clone();
        for (kind, ids) in parents {
            wanted.entry(kind).or_default().extend(ids);
        }
        for (entity, ids) in &wanted {
            // The state of the records the batch changes (and their team), and the
            // team of their parents; what this push holds already is not read again.
            let mut mine: Vec<String> = Vec::new();
            let mut others: Vec<String> = Vec::new();
            for id in ids {
                let key = (*entity, *id);
                if records.get(entity).is_some_and(|r| r.contains(id)) {
                    if !self.fields.contains_key(&key) {
                        mine.push(id.to_string());
                    }
                } else if !self.teams.contains_key(&key) {
                    others.push(id.to_string());
                }
            }
            for (ids, with_state) in [(mine, true), (others, false)] {
                let list: Vec<&str> = ids.iter().map(String::as_str).collect();
                for id in &ids {
                    if let Ok(id) = id.parse() {
                        self.teams.entry((*entity, id)).or_insert(None);
                        if with_state {
                            // Records that do not exist yet have no fields.
                            self.fields.insert((*entity, id), BTreeMap::new());
                        }
                    }
                }
                let sql = if with_state {
                    "SELECT record_id, team_id, state FROM records
                     WHERE entity = $1 AND record_id IN_LIST"
                } else {
                    "SELECT record_id, team_id FROM records WHERE entity = $1 AND record_id IN_LIST"
                };
                for r in self.t.query_in(sql, &[entity.as_str().into()], &list)? {
                    let Some(id) = r[0].text().and_then(|s| s.parse::<Uuid>().ok()) else {
                        continue;
                    };
                    self.teams
                        .insert((*entity, id), Some(r[1].text().map(Arc::from)));
                    if with_state {
                        let state = state::parse(r[2].bytes().unwrap_or(b"{}"))?;
                        self.fields.insert((*entity, id), state);
                    }
                }
            }
        }
        Ok(())
    }

    /// The clock the log holds a change with, if it holds it (as far as
    /// [`Push::prefetch`] looked).
    fn logged(&self, id: ChangeId) -> Option<Hlc> {
        self.logged.get(&id).copied()
    }

    /// The team a record belongs to: `Some(team)`, `Some(None)` for a record visible to
    /// all (templates), `None` when the record is unknown.
    fn record_team(
        &mut self,
        entity: EntityKind,
        record: Uuid,
    ) -> Result<Option<Option<Arc<str>>>, ServerError> {
        if let Some(team) = self.teams.get(&(entity, record)) {
            return Ok(team.clone());
        }
        let team = record_team(self.t, entity, &record.to_string())?.map(|t| t.map(Arc::from));
        self.teams.insert((entity, record), team.clone());
        Ok(team)
    }

    /// Register a record in a team's scope.
    fn add_record(&mut self, entity: EntityKind, record: Uuid, team: Option<&str>) {
        let key = (entity, record);
        self.teams.insert(key, Some(team.map(Arc::from)));
        self.new_records.insert(key, team.map(String::from));
        self.fields.entry(key).or_default();
        self.mark_dirty(key);
    }

    fn mark_dirty(&mut self, key: RecordKey) {
        if self.dirty_set.insert(key) {
            self.dirty.push(key);
        }
    }

    /// Every field of a record, loading them when this push has not yet.
    fn record_fields(
        &mut self,
        entity: EntityKind,
        record: Uuid,
    ) -> Result<&mut BTreeMap<String, FieldState>, ServerError> {
        let key = (entity, record);
        if !self.fields.contains_key(&key) {
            let rows = self.t.query(
                "SELECT state FROM records WHERE entity = $1 AND record_id = $2",
                &[entity.as_str().into(), record.to_string().into()],
            )?;
            let all = match rows.first().and_then(|r| r[0].bytes()) {
                Some(stored) => state::parse(stored)?,
                None => BTreeMap::new(),
            };
            self.fields.insert(key, all);
        }
        self.fields
            .get_mut(&key)
            .ok_or_else(|| ServerError::Db("field cache".into()))
    }

    fn field(
        &mut self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
    ) -> Result<Option<FieldState>, ServerError> {
        Ok(self.record_fields(entity, record)?.get(field).cloned())
    }

    fn put_field(&mut self, c: Change) -> Result<(), ServerError> {
        let key = (c.entity, c.record);
        let Change {
            field,
            value,
            hlc,
            id,
            device,
            author,
            ..
        } = c;
        let state = FieldState {
            value,
            hlc,
            change_id: id,
            device,
            author,
        };
        // One search of the record's fields, whether the field is new or not.
        self.record_fields(key.0, key.1)?.insert(field, state);
        self.mark_dirty(key);
        Ok(())
    }

    /// Give a change the next sequence number and add it to the log's blocks: as
    /// `sent`, the text its device sent it as, when it is taken unaltered.
    fn log(
        &mut self,
        c: &Change,
        team: Option<&str>,
        sent: Option<&str>,
    ) -> Result<(), ServerError> {
        self.seq += 1;
        self.logged.insert(c.id, c.hlc);
        let same = self.blocks.last().is_some_and(|last| {
            last.team.as_deref() == team
                && last.record == c.record
                && last.entity == c.entity
                && last.device == c.device
                && last.author == c.author
        });
        if !same {
            self.blocks.push(PendingBlock {
                team: team.map(String::from),
                seq: self.seq,
                n: 0,
                entity: c.entity,
                record: c.record,
                device: c.device,
                author: c.author,
                text: String::with_capacity(2048),
            });
        }
        let block = self
            .blocks
            .last_mut()
            .ok_or_else(|| ServerError::Db("no block to log into".into()))?;
        block.text.push(if block.n == 0 { '[' } else { ',' });
        match sent {
            Some(text) => block.text.push_str(text),
            None => block.text.push_str(
                &serde_json::to_string(&FieldChangeRef(c))
                    .map_err(|e| ServerError::Db(e.to_string()))?,
            ),
        }
        block.n += 1;
        block.seq = self.seq;
        Ok(())
    }

    /// Write what waits: the log's blocks, and the state of every record touched (one
    /// row per record, so PostgreSQL's upsert sees each key once).
    fn flush(&mut self) -> Result<(), ServerError> {
        if !self.blocks.is_empty() {
            let blocks = std::mem::take(&mut self.blocks);
            let mut rows = Vec::with_capacity(blocks.len() * LOG_COLUMNS.len());
            for mut b in blocks {
                b.text.push(']');
                let changes = b.text;
                rows.extend([
                    b.seq.into(),
                    b.n.into(),
                    b.entity.as_str().into(),
                    b.record.to_string().into(),
                    b.device.to_string().into(),
                    b.author.map(|a| a.to_string()).into(),
                    b.team.into(),
                    changes.into(),
                ]);
            }
            self.t.insert_rows("log", LOG_COLUMNS, "", &rows)?;
        }
        if !self.dirty.is_empty() {
            let keys = std::mem::take(&mut self.dirty);
            self.dirty_set.clear();
            let mut rows = Vec::with_capacity(keys.len() * RECORD_COLUMNS.len());
            for key in keys {
                let (entity, record) = key;
                let fields = self
                    .fields
                    .get(&key)
                    .ok_or_else(|| ServerError::Db("written record not cached".into()))?;
                let team = match self.new_records.get(&key) {
                    Some(team) => team.clone(),
                    None => self
                        .teams
                        .get(&key)
                        .cloned()
                        .flatten()
                        .flatten()
                        .map(|t| t.to_string()),
                };
                let parent = parent_field(entity)
                    .and_then(|f| fields.get(f))
                    .and_then(|f| f.value.as_str().map(String::from));
                rows.extend([
                    entity.as_str().into(),
                    record.to_string().into(),
                    team.into(),
                    parent.into(),
                    state::encode(fields)?.into(),
                ]);
            }
            self.new_records.clear();
            self.t
                .insert_rows("records", RECORD_COLUMNS, RECORD_UPSERT, &rows)?;
        }
        Ok(())
    }

    /// Flush, and store the last sequence number given.
    fn finish(self) -> Result<u32, ServerError> {
        Ok(self.finish_carrying()?.0)
    }

    /// [`Push::finish`], keeping what the next batch may carry.
    fn finish_carrying(mut self) -> Result<(u32, Carry), ServerError> {
        self.flush()?;
        store_sequence(self.t, self.seq)?;
        Ok((
            self.conflicts,
            Carry {
                seq: self.seq,
                logged: self.logged,
                logged_records: self.logged_records,
                teams: self.teams,
                fields: self.fields,
            },
        ))
    }

    /// The value a field had at a given version, from the log (the base of a merge).
    fn value_at(&mut self, c: &Change, at: &Hlc) -> Result<Option<Value>, ServerError> {
        // The base may have been logged by this very push.
        self.flush()?;
        let rows = self.t.query(
            "SELECT entity, record_id, device_id, author_id, changes FROM log
             WHERE record_id = $1 AND entity = $2 ORDER BY seq",
            &[c.record.to_string().into(), c.entity.as_str().into()],
        )?;
        for r in &rows {
            for old in block_of_row(r, 0)? {
                if old.field == c.field && old.hlc == *at {
                    return Ok(Some(old.value));
                }
            }
        }
        Ok(None)
    }

    /// A change of the server's own (merge result, conflict record), applied and logged.
    fn server_change(
        &mut self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
        value: Value,
        team: Option<&str>,
    ) -> Result<Change, ServerError> {
        let base = self.field(entity, record, field)?.map(|f| f.hlc);
        self.server_change_on(entity, record, field, value, team, base)
    }

    /// A server change that names the version it saw explicitly (a merge saw both
    /// sides).
    fn server_change_on(
        &mut self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
        value: Value,
        team: Option<&str>,
        base: Option<Hlc>,
    ) -> Result<Change, ServerError> {
        let c = Change {
            id: ChangeId::new(),
            entity,
            record,
            field: field.to_string(),
            value,
            hlc: self.clock.now(),
            base,
            device: self.clock.device(),
            author: None,
        };
        self.log(&c, team, None)?;
        self.put_field(c.clone())?;
        Ok(c)
    }

    /// Record competing values of a field: add them to the field's open conflict, or
    /// open one.
    fn conflict(
        &mut self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
        values: Vec<ConflictValue>,
        team: Option<&str>,
    ) -> Result<(), ServerError> {
        self.conflicts += 1;
        let existing = self.t.query(
            "SELECT conflict_id FROM open_conflicts WHERE entity = $1 AND record_id = $2 AND field = $3",
            &[entity.as_str().into(), record.to_string().into(), field.into()],
        )?;
        if let Some(id) = existing
            .first()
            .and_then(|r| r[0].text())
            .and_then(|s| s.parse::<Uuid>().ok())
        {
            let mut all: Vec<ConflictValue> = self
                .field(EntityKind::Conflict, id, "values")?
                .and_then(|f| serde_json::from_value(f.value).ok())
                .unwrap_or_default();
            for v in values {
                if !all.iter().any(|a| a.change_id == v.change_id) {
                    all.push(v);
                }
            }
            all.sort_by_key(|a| a.hlc);
            self.server_change(EntityKind::Conflict, id, "values", json!(all), team)?;
            return Ok(());
        }
        let id = ConflictId::new();
        self.t.execute(
            "INSERT INTO open_conflicts(entity, record_id, field, conflict_id) VALUES ($1, $2, $3, $4)",
            &[
                entity.as_str().into(),
                record.to_string().into(),
                field.into(),
                id.to_string().into(),
            ],
        )?;
        self.add_record(EntityKind::Conflict, id.0, team);
        let mut values = values;
        values.sort_by_key(|a| a.hlc);
        for (f, v) in [
            ("entity", json!(entity)),
            ("record_id", json!(record)),
            ("field", json!(field)),
            ("values", json!(values)),
            ("status", json!(ConflictStatus::Open)),
        ] {
            self.server_change(EntityKind::Conflict, id.0, f, v, team)?;
        }
        Ok(())
    }
}

fn conflict_value(
    value: Value,
    hlc: Hlc,
    device: DeviceId,
    author: Option<UserId>,
    id: ChangeId,
) -> ConflictValue {
    ConflictValue {
        value,
        hlc,
        device,
        author,
        change_id: id,
    }
}

fn of_state(f: &FieldState, value: Value) -> ConflictValue {
    conflict_value(value, f.hlc, f.device, f.author, f.change_id)
}

fn of_change(c: &Change, value: Value) -> ConflictValue {
    conflict_value(value, c.hlc, c.device, c.author, c.id)
}

/// Why a change is refused; sent back to the device with the change id.
type Reason = String;

/// The team a record belongs to: `Ok(Some(team))`, `Ok(None)` for a record visible to
/// all (templates), or an error when the record is unknown.
fn record_team(
    t: &mut dyn Sql,
    entity: EntityKind,
    record: &str,
) -> Result<Option<Option<String>>, ServerError> {
    let rows = t.query(
        "SELECT team_id FROM records WHERE entity = $1 AND record_id = $2",
        &[entity.as_str().into(), record.into()],
    )?;
    Ok(rows.first().map(|r| r[0].text().map(String::from)))
}

/// The field of a new record that names its parent, and the parent's kind.
fn parent_link(entity: EntityKind) -> Option<(&'static str, EntityKind)> {
    match entity {
        EntityKind::Resident | EntityKind::Visit | EntityKind::Signal | EntityKind::FollowUp => {
            Some(("household_id", EntityKind::Household))
        }
        EntityKind::Note | EntityKind::Review => Some(("visit_id", EntityKind::Visit)),
        _ => None,
    }
}

/// Check role and scope; returns the record's team, registering a new record.
fn scope(
    p: &mut Push<'_>,
    caller: &Caller,
    c: &Change,
) -> Result<Result<Option<Arc<str>>, Reason>, ServerError> {
    let role = caller.user.role;
    let my_team = p.caller_team.clone();
    let record = c.record;
    match (role, c.entity) {
        (Role::Admin, EntityKind::Template) => {}
        (Role::Admin, _) => return Ok(Err("an admin does not change resident data".into())),
        (_, EntityKind::Template) => return Ok(Err("only an admin publishes templates".into())),
        _ => {}
    }
    let Some(my_team) = my_team.or(if role == Role::Admin {
        Some(Arc::from(""))
    } else {
        None
    }) else {
        return Ok(Err("your account has no team".into()));
    };
    let known = p.record_team(c.entity, c.record)?;
    let mut new_record = false;
    let team = match known {
        Some(team) => {
            if c.entity != EntityKind::Template && team.as_deref() != Some(&*my_team) {
                return Ok(Err(format!("{} {} is outside your team", c.entity, record)));
            }
            team
        }
        None => {
            let team = match c.entity {
                EntityKind::Template => None,
                EntityKind::Household => Some(my_team.clone()),
                EntityKind::Conflict => {
                    return Ok(Err(format!("conflict {record} does not exist")));
                }
                entity => {
                    let Some((link, parent_kind)) = parent_link(entity) else {
                        return Ok(Err(format!("{entity} cannot be created by a device")));
                    };
                    if c.field != link {
                        return Ok(Err(format!(
                            "{entity} {record} is unknown: send its {link} first"
                        )));
                    }
                    let parent = c.value.as_str().unwrap_or_default().to_string();
                    let parent_team = match linked_id(&c.value) {
                        Some(id) => p.record_team(parent_kind, id)?,
                        None => None,
                    };
                    match parent_team {
                        Some(Some(team)) if team == my_team => Some(team),
                        Some(_) => {
                            return Ok(Err(format!("{parent_kind} {parent} is outside your team")))
                        }
                        None => return Ok(Err(format!("{parent_kind} {parent} does not exist"))),
                    }
                }
            };
            new_record = true;
            team
        }
    };
    // Moving a record to another team or parent outside the team is not a device's
    // business.
    if c.entity == EntityKind::Household && c.field == "team_id" {
        if let Some(v) = c.value.as_str() {
            if Some(v) != team.as_deref() {
                return Ok(Err(
                    "a household cannot be moved to another team from a device".into(),
                ));
            }
        }
    }
    if let Some((link, parent_kind)) = parent_link(c.entity) {
        if c.field == link {
            let parent = c.value.as_str().unwrap_or_default().to_string();
            let parent_team = match linked_id(&c.value) {
                Some(id) => p.record_team(parent_kind, id)?,
                None => None,
            };
            if parent_team != Some(team.clone()) {
                return Ok(Err(format!(
                    "{parent_kind} {parent} is outside your team or does not exist"
                )));
            }
        }
    }
    if c.entity == EntityKind::Conflict && c.field != "status" {
        return Ok(Err("a device may only resolve a conflict".into()));
    }
    // Only a change that passed every check registers a new record.
    if new_record {
        p.add_record(c.entity, c.record, team.as_deref());
    }
    Ok(Ok(team))
}

/// Accept a batch of changes from a device: one transaction, each change accepted or
/// rejected with a reason.
pub fn push(
    t: &mut dyn Sql,
    caller: &Caller,
    changes: Vec<Change>,
    clock: &Clock,
) -> Result<PushResponse, ServerError> {
    Ok(push_carrying(t, caller, Pushed::new(changes), clock, None)?.0)
}

/// A pushed batch: its changes, and the text each was sent as when known (in order):
/// a change taken unaltered is logged as that text.
pub struct Pushed<'a> {
    pub changes: Vec<Change>,
    pub texts: Option<&'a SentTexts>,
}

impl Pushed<'_> {
    pub fn new(changes: Vec<Change>) -> Pushed<'static> {
        Pushed {
            changes,
            texts: None,
        }
    }
}

/// [`push`], starting from what the previous batch of the same request carried (when
/// nothing was written since), and giving what the next may carry. Call it again only
/// after this transaction committed.
pub fn push_carrying(
    t: &mut dyn Sql,
    caller: &Caller,
    pushed: Pushed<'_>,
    clock: &Clock,
    carry: Option<Carry>,
) -> Result<(PushResponse, Carry), ServerError> {
    let Pushed { changes, texts } = pushed;
    if changes.len() > MAX_BATCH {
        return Err(ServerError::BadRequest(format!(
            "a push carries at most {MAX_BATCH} changes"
        )));
    }
    let mut p = Push::carrying(t, clock, carry)?;
    // Each change logged is remembered (a change sent twice in one request): grown once.
    p.logged.reserve(changes.len());
    p.caller_team = caller.user.team_id.map(|t| Arc::from(t.to_string()));
    p.prefetch(caller.device, &changes)?;
    let mut accepted = Vec::with_capacity(changes.len());
    let mut rejected = Vec::new();
    for (i, c) in changes.into_iter().enumerate() {
        let (id, sent_hlc) = (c.id, c.hlc);
        let text = texts.and_then(|s| s.get(i));
        match accept(&mut p, caller, c, text)? {
            Ok(stored) => accepted.push(Accepted {
                id,
                hlc: (stored != sent_hlc).then_some(stored),
            }),
            Err(reason) => rejected.push(Rejected { id, reason }),
        }
    }
    let (conflicts, carry) = p.finish_carrying()?;
    Ok((
        PushResponse {
            accepted,
            rejected,
            conflicts,
        },
        carry,
    ))
}

/// Accept one change (`text`: as it was sent, if known); returns the clock the server
/// holds it with, or why it was refused.
fn accept(
    p: &mut Push<'_>,
    caller: &Caller,
    mut c: Change,
    mut text: Option<&str>,
) -> Result<Result<Hlc, Reason>, ServerError> {
    if let Err(e) = c.check() {
        return Ok(Err(e.to_string()));
    }
    if c.device != caller.device {
        return Ok(Err("change was made by another device".into()));
    }
    if let Some(hlc) = p.logged(c.id) {
        return Ok(Ok(hlc));
    }
    let team = match scope(p, caller, &c)? {
        Ok(team) => team,
        Err(reason) => return Ok(Err(reason)),
    };
    let team = team.as_deref();
    c.author = Some(caller.user.id);
    // Clock rule: a stamp too far ahead of ours is replaced by ours.
    if c.hlc.wall_ms > p.ahead_limit_ms {
        c.hlc = p.clock.now();
        // Logged with the clock it is held with.
        text = None;
    } else {
        p.clock.observe(&c.hlc);
    }
    // A delete and an edit that did not see each other are a conflict on `deleted`;
    // both changes still take their own fields by the normal rules below.
    if c.entity != EntityKind::Conflict {
        if c.field == DELETED && c.value == json!(true) {
            let mut unseen: Option<FieldState> = None;
            for (name, f) in p.record_fields(c.entity, c.record)?.iter() {
                if name == DELETED {
                    continue;
                }
                let seen = c.base.is_some_and(|b| b >= f.hlc) || f.device == c.device;
                if !seen && unseen.as_ref().is_none_or(|u| f.hlc > u.hlc) {
                    unseen = Some(f.clone());
                }
            }
            if let Some(edit) = unseen {
                let values = vec![of_state(&edit, json!(false)), of_change(&c, json!(true))];
                p.conflict(c.entity, c.record, DELETED, values, team)?;
            }
        } else if c.field != DELETED {
            if let Some(del) = p.field(c.entity, c.record, DELETED)? {
                let unseen = del.device != c.device && c.base.is_none_or(|b| b < del.hlc);
                if del.value == json!(true) && unseen {
                    let values = vec![of_state(&del, json!(true)), of_change(&c, json!(false))];
                    p.conflict(c.entity, c.record, DELETED, values, team)?;
                }
            }
        }
    }

    let has_current = p.record_fields(c.entity, c.record)?.contains_key(&c.field);
    let base_text = match c.base {
        Some(b) if has_current && c.entity == EntityKind::Note && c.field == "text" => {
            p.value_at(&c, &b)?
        }
        _ => None,
    };
    // The current winner is copied only when the decision needs it afterwards.
    let (decision, current) = {
        let current = p.record_fields(c.entity, c.record)?.get(&c.field);
        let decision = decide(current, &c, |_| base_text);
        let keep = matches!(decision, Decision::Merged(_) | Decision::Conflict { .. });
        (decision, current.filter(|_| keep).cloned())
    };
    // A resolved conflict is closed; the next concurrent edit opens a new one.
    let resolves = c.entity == EntityKind::Conflict
        && c.field == "status"
        && c.value == json!(ConflictStatus::Resolved);
    let (entity, record, hlc) = (c.entity, c.record, c.hlc);
    // The incoming change is logged first, then what the server makes of it.
    p.log(&c, team, text)?;
    match decision {
        Decision::Apply => p.put_field(c)?,
        Decision::Keep => {}
        Decision::Merged(text) => {
            // The merged text saw both sides: its base is the later of the two.
            let base = current.as_ref().map(|f| f.hlc.max(hlc)).or(Some(hlc));
            p.server_change_on(entity, record, &c.field, json!(text), team, base)?;
        }
        Decision::Conflict { incoming_wins } => {
            let cur = current
                .ok_or_else(|| ServerError::Db("conflict without a current value".into()))?;
            let values = vec![
                of_state(&cur, cur.value.clone()),
                of_change(&c, c.value.clone()),
            ];
            let field = c.field.clone();
            if incoming_wins {
                p.put_field(c)?;
            }
            p.conflict(entity, record, &field, values, team)?;
        }
    }
    if resolves {
        p.t.execute(
            "DELETE FROM open_conflicts WHERE conflict_id = $1",
            &[record.to_string().into()],
        )?;
    }
    Ok(Ok(hlc))
}

/// Changes after `since` that the caller may see, in sequence order, without the
/// caller's own device's changes.
pub fn pull(
    t: &mut dyn Sql,
    caller: &Caller,
    since: u64,
    limit: usize,
) -> Result<PullResponse, ServerError> {
    let page = pull_page(t, caller, since, limit)?;
    serde_json::from_str(&page.json).map_err(|e| ServerError::Db(e.to_string()))
}

/// A pull batch as it goes on the wire: the JSON of a [`PullResponse`].
pub struct PullPage {
    pub json: String,
    /// How many changes it holds.
    pub changes: usize,
    pub cursor: u64,
    pub more: bool,
}

/// Columns `cols` of the blocks numbered in `(since, upto]` that the caller may see,
/// in order, at most `limit` of them.
fn visible_blocks(
    t: &mut dyn Sql,
    caller: &Caller,
    cols: &str,
    since: i64,
    upto: i64,
    limit: usize,
) -> Result<Vec<Row>, ServerError> {
    if caller.user.role == Role::Admin {
        return t.query(
            &format!(
                "SELECT {cols} FROM log WHERE seq > $1 AND seq <= $2 AND device_id <> $3
                      AND team_id IS NULL ORDER BY seq LIMIT $4"
            ),
            &[
                since.into(),
                upto.into(),
                caller.device.to_string().into(),
                (limit as i64).into(),
            ],
        );
    }
    let team = caller
        .user
        .team_id
        .map(|t| t.to_string())
        .unwrap_or_default();
    // The team's changes and the shared ones (templates), each read in sequence order
    // from the `log_team` index up to the limit, then merged. (With `team_id = $4 OR
    // team_id IS NULL` the engines collect every row up to `upto` and sort them, for
    // every batch: quadratic in a long pull.)
    let branch = |team: &str, name: &str| {
        format!(
            "SELECT {cols} FROM (SELECT {cols} FROM log
               WHERE {team} AND seq > $1 AND seq <= $2 AND device_id <> $3
               ORDER BY seq LIMIT $5) AS {name}"
        )
    };
    t.query(
        &format!(
            "SELECT {cols} FROM ({} UNION ALL {}) AS both_kinds ORDER BY seq LIMIT $5",
            branch("team_id = $4", "mine"),
            branch("team_id IS NULL", "shared")
        ),
        &[
            since.into(),
            upto.into(),
            caller.device.to_string().into(),
            team.into(),
            (limit as i64).into(),
        ],
    )
}

/// How many block sizes [`pull_page`] reads at a time to find where a batch ends.
const SIZES_AT_ONCE: usize = 256;

/// [`pull`], as the JSON text the wire carries, built from the stored blocks.
pub fn pull_page(
    t: &mut dyn Sql,
    caller: &Caller,
    since: u64,
    limit: usize,
) -> Result<PullPage, ServerError> {
    let limit = limit.clamp(1, MAX_BATCH);
    let max = t
        .query("SELECT value FROM counters WHERE name = 'seq'", &[])?
        .first()
        .and_then(|r| r[0].int())
        .unwrap_or(0);
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let bad = || ServerError::Db("bad stored block".into());
    // First the numbers and sizes of the next blocks, a few at a time until they hold
    // `limit` changes: where this batch ends. Then those blocks whole. (Asking for
    // `limit` blocks at once read about fifty times more than a batch needs: a block
    // holds up to a whole visit.)
    let mut upto = since;
    let mut total = 0i64;
    // Every block the caller may see up to `max` is in this batch.
    let to_the_end;
    let mut from = since;
    'sizes: loop {
        // One more than is looked at: whether another block follows the last one.
        let sizes = visible_blocks(t, caller, "seq, n", from, max, SIZES_AT_ONCE + 1)?;
        let last_ones = sizes.len() <= SIZES_AT_ONCE;
        for (i, r) in sizes.iter().take(SIZES_AT_ONCE).enumerate() {
            let (seq, n) = (r[0].int().ok_or_else(bad)?, r[1].int().ok_or_else(bad)?);
            upto = seq;
            total += n.min(seq - since);
            if total >= limit as i64 {
                to_the_end = last_ones && i + 1 == sizes.len() && total == limit as i64;
                break 'sizes;
            }
        }
        if last_ones {
            to_the_end = true;
            break;
        }
        from = upto;
    }
    let rows = visible_blocks(
        t,
        caller,
        "seq, n, entity, record_id, device_id, author_id, changes",
        since,
        upto,
        limit,
    )?;
    // Up to `limit` changes. A block's changes are numbered `seq - n + 1 ..= seq`; a
    // batch may end inside a block, and the next one starts after its cursor. Whole
    // blocks go out as stored, without being parsed.
    let mut json = String::with_capacity(64 * 1024);
    json.push_str("{\"blocks\":[");
    let mut count = 0usize;
    let mut last = since;
    let mut cut = false;
    for r in &rows {
        let (seq, n) = (r[0].int().ok_or_else(bad)?, r[1].int().ok_or_else(bad)?);
        let first = seq - n + 1;
        let skip = usize::try_from((since + 1 - first).max(0)).map_err(|_| bad())?;
        let n = usize::try_from(n).map_err(|_| bad())?;
        let room = limit - count;
        if room == 0 {
            cut = true;
            break;
        }
        let take = n.saturating_sub(skip).min(room);
        if take == 0 {
            continue;
        }
        if count > 0 {
            json.push(',');
        }
        if skip == 0 && take == n {
            let text = |i: usize| r[i].text().ok_or_else(bad);
            json.push_str("{\"entity\":");
            json.push_str(&Value::from(text(2)?).to_string());
            json.push_str(",\"record\":");
            json.push_str(&Value::from(text(3)?).to_string());
            json.push_str(",\"device\":");
            json.push_str(&Value::from(text(4)?).to_string());
            json.push_str(",\"author\":");
            json.push_str(&r[5].text().map_or(Value::Null, Value::from).to_string());
            json.push_str(",\"changes\":");
            json.push_str(text(6)?);
            json.push('}');
        } else {
            let part = block_of_row(r, 2)?;
            let part = part.get(skip..skip + take).ok_or_else(bad)?;
            json.push_str(
                &serde_json::to_string(&BlockRef(part))
                    .map_err(|e| ServerError::Db(e.to_string()))?,
            );
            if skip + take < n {
                cut = true;
            }
        }
        count += take;
        last = first + (skip + take) as i64 - 1;
        if cut {
            break;
        }
    }
    // Served to the end of the log only when nothing was left out.
    let cut = cut || !to_the_end;
    let cursor = if cut { last } else { max.max(since) };
    let more = cut && last < max;
    json.push_str(&format!("],\"cursor\":{cursor},\"more\":{more}}}"));
    Ok(PullPage {
        json,
        changes: count,
        cursor: u64::try_from(cursor).unwrap_or(0),
        more,
    })
}

/// Write changes that originate on the server itself (demo data, CSV imports,
/// published templates), as the server's device, into a team's scope.
/// Records a server write creates: kind, id and field values.
pub type ServerRecords<'a> = [(EntityKind, Uuid, Vec<(&'a str, Value)>)];

pub fn server_write(
    t: &mut dyn Sql,
    clock: &Clock,
    team: Option<&str>,
    records: &ServerRecords<'_>,
) -> Result<(), ServerError> {
    let mut p = Push::new(t, clock)?;
    for (entity, record, fields) in records {
        if p.record_team(*entity, *record)?.is_none() {
            p.add_record(*entity, *record, team);
        }
        for (field, value) in fields {
            let c = p.server_change(*entity, *record, field, value.clone(), team)?;
            c.check()
                .map_err(|e| ServerError::BadRequest(e.to_string()))?;
        }
    }
    p.finish().map(|_| ())
}

/// What moving a household to another team did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// The household and every record under it (residents, visits, their answers'
    /// visit records, notes, signals, follow-ups, reviews and conflicts about them).
    pub records: usize,
    /// Field values logged again for the new team, so its devices receive the whole
    /// history and not only what changes after the move.
    pub fields: usize,
}

/// Move a household, and everything under it, to another team (an admin's decision,
/// e.g. after a move to another neighbourhood). Scope is enforced from then on:
///
/// * the records' team becomes the new one, so pushes from the old team are refused;
/// * every current field of those records is logged again for the new team (same
///   value, clock, device and author, a new change id): a device of the new team
///   receives the whole history at its next pull, whatever its cursor;
/// * the household's `team_id` change is logged for both teams: a device of the old
///   team that receives it erases the household and everything under it.
pub fn move_household(
    t: &mut dyn Sql,
    clock: &Clock,
    household: Uuid,
    team_id: &str,
) -> Result<Moved, ServerError> {
    let mut p = Push::new(t, clock)?;
    let old = match p.record_team(EntityKind::Household, household)? {
        Some(Some(old)) => old,
        _ => return Err(ServerError::NotFound(format!("no household {household}"))),
    };
    if *old == *team_id {
        return Ok(Moved::default());
    }
    let records = records_under(p.t, household)?;
    let mut moved = Moved {
        records: records.len(),
        fields: 0,
    };
    for (entity, id) in &records {
        p.t.execute(
            "UPDATE records SET team_id = $1 WHERE entity = $2 AND record_id = $3",
            &[
                team_id.into(),
                entity.as_str().into(),
                id.to_string().into(),
            ],
        )?;
        p.teams
            .insert((*entity, *id), Some(Some(Arc::from(team_id))));
        let fields: Vec<(String, FieldState)> = p
            .record_fields(*entity, *id)?
            .iter()
            .map(|(f, s)| (f.clone(), s.clone()))
            .collect();
        for (field, state) in fields {
            // The old team is not sent to the new team's devices: a pull batch that
            // ended with it would make them erase what they just received. The
            // household's new team follows below.
            if *entity == EntityKind::Household && field == "team_id" {
                continue;
            }
            let again = Change {
                id: ChangeId::new(),
                entity: *entity,
                record: *id,
                field,
                value: state.value,
                hlc: state.hlc,
                base: None,
                device: state.device,
                author: state.author,
            };
            p.log(&again, Some(team_id), None)?;
            moved.fields += 1;
        }
    }
    let change = p.server_change(
        EntityKind::Household,
        household,
        "team_id",
        json!(team_id),
        Some(team_id),
    )?;
    // The same change, once more, for the team the household leaves.
    let farewell = Change {
        id: ChangeId::new(),
        ..change
    };
    p.log(&farewell, Some(&old), None)?;
    p.finish()?;
    Ok(moved)
}

/// A household and every record under it, the household first.
fn records_under(t: &mut dyn Sql, household: Uuid) -> Result<Vec<RecordKey>, ServerError> {
    let mut out: Vec<RecordKey> = vec![(EntityKind::Household, household)];
    let parse = |r: &[Val]| -> Option<RecordKey> {
        Some((r[0].text()?.parse().ok()?, r[1].text()?.parse().ok()?))
    };
    let children =
        |t: &mut dyn Sql, parents: &[RecordKey]| -> Result<Vec<RecordKey>, ServerError> {
            let ids: Vec<String> = parents.iter().map(|(_, id)| id.to_string()).collect();
            let list: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut rows: Vec<RecordKey> = t
                .query_in(
                    "SELECT entity, record_id FROM records WHERE parent_id IN_LIST",
                    &[],
                    &list,
                )?
                .iter()
                .filter_map(|r| parse(r))
                .collect();
            rows.sort();
            Ok(rows)
        };
    // Residents, visits, signals, follow-ups (and conflicts about the household), then
    // notes and reviews under the visits, then conflicts about any of them.
    let direct = children(t, &out)?;
    out.extend(direct);
    let visits: Vec<RecordKey> = out
        .iter()
        .filter(|(e, _)| *e == EntityKind::Visit)
        .copied()
        .collect();
    let under_visits = children(t, &visits)?;
    out.extend(under_visits);
    let about: Vec<RecordKey> = out
        .iter()
        .filter(|(e, _)| *e != EntityKind::Conflict)
        .copied()
        .collect();
    let conflicts: Vec<RecordKey> = children(t, &about)?
        .into_iter()
        .filter(|(e, _)| *e == EntityKind::Conflict)
        .collect();
    out.extend(conflicts);
    let mut seen = HashSet::new();
    out.retain(|k| seen.insert(*k));
    Ok(out)
}

/// The current value of one field, if the record has it.
pub fn current_value(
    t: &mut dyn Sql,
    entity: EntityKind,
    record: Uuid,
    field: &str,
) -> Result<Option<FieldState>, ServerError> {
    let rows = t.query(
        "SELECT state FROM records WHERE entity = $1 AND record_id = $2",
        &[entity.as_str().into(), record.to_string().into()],
    )?;
    match rows.first().and_then(|r| r[0].bytes()) {
        Some(stored) => Ok(state::parse(stored)?.remove(field)),
        None => Ok(None),
    }
}

/// A record with the current winner of each of its fields.
pub type RecordState = (EntityKind, Uuid, BTreeMap<String, FieldState>);

/// Every field's current winner, by record: for checks and tests.
pub fn current_fields(t: &mut dyn Sql) -> Result<Vec<RecordState>, ServerError> {
    let bad = || ServerError::Db("bad stored record".into());
    let mut out = Vec::new();
    for r in t.query(
        "SELECT entity, record_id, state FROM records ORDER BY entity, record_id",
        &[],
    )? {
        out.push((
            r[0].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            r[1].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            state::parse(r[2].bytes().ok_or_else(bad)?)?,
        ));
    }
    Ok(out)
}

/// Every logged change with its sequence number, in order: for checks and tests.
pub fn logged_changes(t: &mut dyn Sql) -> Result<Vec<(u64, Change)>, ServerError> {
    let bad = || ServerError::Db("bad stored block".into());
    let mut out = Vec::new();
    for r in t.query(
        "SELECT seq, n, entity, record_id, device_id, author_id, changes FROM log ORDER BY seq",
        &[],
    )? {
        let (seq, n) = (r[0].int().ok_or_else(bad)?, r[1].int().ok_or_else(bad)?);
        let changes = block_of_row(&r, 2)?;
        if changes.len() as i64 != n {
            return Err(bad());
        }
        for (i, c) in changes.into_iter().enumerate() {
            let number = seq - n + 1 + i as i64;
            out.push((u64::try_from(number).map_err(|_| bad())?, c));
        }
    }
    Ok(out)
}

/// The clock of the newest logged change, if any (the server's clock resumes after it).
pub fn last_logged_clock(t: &mut dyn Sql) -> Result<Option<Hlc>, ServerError> {
    let rows = t.query(
        "SELECT entity, record_id, device_id, author_id, changes FROM log ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    match rows.first() {
        Some(r) => Ok(block_of_row(r, 0)?.into_iter().map(|c| c.hlc).max()),
        None => Ok(None),
    }
}

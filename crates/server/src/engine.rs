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
use crate::db::{Sql, Val};
use crate::error::ServerError;
use serde_json::{json, Value};
use uuid::Uuid;
use voordeur_core::change::{EntityKind, DELETED};
use voordeur_core::merge::{decide, Decision, FieldState, MAX_CLOCK_AHEAD_MS};
use voordeur_core::protocol::{Accepted, PullResponse, PushResponse, Rejected, MAX_BATCH};
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

/// The state a push builds up while it runs.
struct Push<'a> {
    t: &'a mut dyn Sql,
    clock: &'a Clock,
    seq: i64,
    conflicts: u32,
}

fn field_state(r: &[Val]) -> Result<FieldState, ServerError> {
    let bad = || ServerError::Db("bad stored field".into());
    Ok(FieldState {
        value: serde_json::from_str(r[0].text().ok_or_else(bad)?).map_err(|_| bad())?,
        hlc: r[1].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        change_id: r[2].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        device: r[3].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
        author: r[4].text().and_then(|s| s.parse().ok()),
    })
}

impl Push<'_> {
    fn field(
        &mut self,
        entity: EntityKind,
        record: &str,
        field: &str,
    ) -> Result<Option<FieldState>, ServerError> {
        let rows = self.t.query(
            "SELECT value, hlc, change_id, device_id, author_id FROM fields
             WHERE entity = $1 AND record_id = $2 AND field = $3",
            &[entity.as_str().into(), record.into(), field.into()],
        )?;
        rows.first().map(|r| field_state(r)).transpose()
    }

    fn put_field(&mut self, c: &Change) -> Result<(), ServerError> {
        self.t.execute(
            "INSERT INTO fields(entity, record_id, field, value, hlc, change_id, device_id, author_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (entity, record_id, field) DO UPDATE SET
               value = excluded.value, hlc = excluded.hlc, change_id = excluded.change_id,
               device_id = excluded.device_id, author_id = excluded.author_id",
            &[
                c.entity.as_str().into(),
                c.record.to_string().into(),
                c.field.clone().into(),
                c.value.to_string().into(),
                c.hlc.to_string().into(),
                c.id.to_string().into(),
                c.device.to_string().into(),
                c.author.map(|a| a.to_string()).into(),
            ],
        )?;
        Ok(())
    }

    fn log(&mut self, c: &Change, team: Option<&str>) -> Result<(), ServerError> {
        self.seq += 1;
        self.t.execute(
            "INSERT INTO log(seq, change_id, entity, record_id, field, value, hlc, base, device_id, author_id, team_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                self.seq.into(),
                c.id.to_string().into(),
                c.entity.as_str().into(),
                c.record.to_string().into(),
                c.field.clone().into(),
                c.value.to_string().into(),
                c.hlc.to_string().into(),
                c.base.map(|b| b.to_string()).into(),
                c.device.to_string().into(),
                c.author.map(|a| a.to_string()).into(),
                team.map(String::from).into(),
            ],
        )?;
        Ok(())
    }

    /// The value a field had at a given version, from the log (the base of a merge).
    fn value_at(&mut self, c: &Change, at: &Hlc) -> Result<Option<Value>, ServerError> {
        let rows = self.t.query(
            "SELECT value FROM log WHERE entity = $1 AND record_id = $2 AND field = $3 AND hlc = $4",
            &[
                c.entity.as_str().into(),
                c.record.to_string().into(),
                c.field.clone().into(),
                at.to_string().into(),
            ],
        )?;
        Ok(rows
            .first()
            .and_then(|r| r[0].text())
            .and_then(|s| serde_json::from_str(s).ok()))
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
        let base = self
            .field(entity, &record.to_string(), field)?
            .map(|f| f.hlc);
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
        self.put_field(&c)?;
        self.log(&c, team)?;
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
                .field(EntityKind::Conflict, &id.to_string(), "values")?
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
        self.t.execute(
            "INSERT INTO records(entity, record_id, team_id) VALUES ('conflict', $1, $2)",
            &[id.to_string().into(), team.map(String::from).into()],
        )?;
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
    t: &mut dyn Sql,
    caller: &Caller,
    c: &Change,
) -> Result<Result<Option<String>, Reason>, ServerError> {
    let role = caller.user.role;
    let my_team = caller.user.team_id.map(|t| t.to_string());
    let record = c.record.to_string();
    match (role, c.entity) {
        (Role::Admin, EntityKind::Template) => {}
        (Role::Admin, _) => return Ok(Err("an admin does not change resident data".into())),
        (_, EntityKind::Template) => return Ok(Err("only an admin publishes templates".into())),
        _ => {}
    }
    let Some(my_team) = my_team.or(if role == Role::Admin {
        Some(String::new())
    } else {
        None
    }) else {
        return Ok(Err("your account has no team".into()));
    };
    let known = record_team(t, c.entity, &record)?;
    let mut new_record = false;
    let team = match known {
        Some(team) => {
            if c.entity != EntityKind::Template && team.as_deref() != Some(my_team.as_str()) {
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
                    match record_team(t, parent_kind, &parent)? {
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
            let parent_team = record_team(t, parent_kind, &parent)?;
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
        t.execute(
            "INSERT INTO records(entity, record_id, team_id) VALUES ($1, $2, $3)",
            &[c.entity.as_str().into(), record.into(), team.clone().into()],
        )?;
    }
    Ok(Ok(team))
}

/// Accept a batch of changes from a device: one transaction, each change accepted or
/// rejected with a reason.
pub fn push(
    t: &mut dyn Sql,
    caller: &Caller,
    changes: &[Change],
    clock: &Clock,
) -> Result<PushResponse, ServerError> {
    if changes.len() > MAX_BATCH {
        return Err(ServerError::BadRequest(format!(
            "a push carries at most {MAX_BATCH} changes"
        )));
    }
    let seq = lock_sequence(t)?;
    let mut p = Push {
        t,
        clock,
        seq,
        conflicts: 0,
    };
    let mut accepted = Vec::with_capacity(changes.len());
    let mut rejected = Vec::new();
    for c in changes {
        match accept(&mut p, caller, c)? {
            Ok(hlc) => accepted.push(Accepted { id: c.id, hlc }),
            Err(reason) => rejected.push(Rejected { id: c.id, reason }),
        }
    }
    let (seq, conflicts) = (p.seq, p.conflicts);
    store_sequence(t, seq)?;
    Ok(PushResponse {
        accepted,
        rejected,
        conflicts,
    })
}

fn accept(
    p: &mut Push<'_>,
    caller: &Caller,
    incoming: &Change,
) -> Result<Result<Hlc, Reason>, ServerError> {
    if let Err(e) = incoming.check() {
        return Ok(Err(e.to_string()));
    }
    if incoming.device != caller.device {
        return Ok(Err("change was made by another device".into()));
    }
    let dup = p.t.query(
        "SELECT hlc FROM log WHERE change_id = $1",
        &[incoming.id.to_string().into()],
    )?;
    if let Some(hlc) = dup
        .first()
        .and_then(|r| r[0].text())
        .and_then(|s| s.parse().ok())
    {
        return Ok(Ok(hlc));
    }
    let team = match scope(p.t, caller, incoming)? {
        Ok(team) => team,
        Err(reason) => return Ok(Err(reason)),
    };
    let team = team.as_deref();
    let mut c = incoming.clone();
    c.author = Some(caller.user.id);
    // Clock rule: a stamp too far ahead of ours is replaced by ours.
    if c.hlc.wall_ms > p.clock.physical_ms().saturating_add(MAX_CLOCK_AHEAD_MS) {
        c.hlc = p.clock.now();
    } else {
        p.clock.observe(&c.hlc);
    }
    let record = c.record.to_string();

    // A delete and an edit that did not see each other are a conflict on `deleted`;
    // both changes still take their own fields by the normal rules below.
    if c.entity != EntityKind::Conflict {
        if c.field == DELETED && c.value == json!(true) {
            let rows = p.t.query(
                "SELECT value, hlc, change_id, device_id, author_id, field FROM fields
                 WHERE entity = $1 AND record_id = $2 AND field <> $3",
                &[
                    c.entity.as_str().into(),
                    record.clone().into(),
                    DELETED.into(),
                ],
            )?;
            let mut unseen: Option<FieldState> = None;
            for r in &rows {
                let f = field_state(r)?;
                let seen = c.base.is_some_and(|b| b >= f.hlc) || f.device == c.device;
                if !seen && unseen.as_ref().is_none_or(|u| f.hlc > u.hlc) {
                    unseen = Some(f);
                }
            }
            if let Some(edit) = unseen {
                let values = vec![of_state(&edit, json!(false)), of_change(&c, json!(true))];
                p.conflict(c.entity, c.record, DELETED, values, team)?;
            }
        } else if c.field != DELETED {
            if let Some(del) = p.field(c.entity, &record, DELETED)? {
                let unseen = del.device != c.device && c.base.is_none_or(|b| b < del.hlc);
                if del.value == json!(true) && unseen {
                    let values = vec![of_state(&del, json!(true)), of_change(&c, json!(false))];
                    p.conflict(c.entity, c.record, DELETED, values, team)?;
                }
            }
        }
    }

    let current = p.field(c.entity, &record, &c.field)?;
    let base_text = match (&current, c.base) {
        (Some(_), Some(b)) if c.entity == EntityKind::Note && c.field == "text" => {
            p.value_at(&c, &b)?
        }
        _ => None,
    };
    p.log(&c, team)?;
    match decide(current.as_ref(), &c, |_| base_text) {
        Decision::Apply => p.put_field(&c)?,
        Decision::Keep => {}
        Decision::Merged(text) => {
            // The merged text saw both sides: its base is the later of the two.
            let base = current.as_ref().map(|f| f.hlc.max(c.hlc)).or(Some(c.hlc));
            p.server_change_on(c.entity, c.record, &c.field, json!(text), team, base)?;
        }
        Decision::Conflict { incoming_wins } => {
            let cur = current
                .ok_or_else(|| ServerError::Db("conflict without a current value".into()))?;
            if incoming_wins {
                p.put_field(&c)?;
            }
            let values = vec![
                of_state(&cur, cur.value.clone()),
                of_change(&c, c.value.clone()),
            ];
            p.conflict(c.entity, c.record, &c.field, values, team)?;
        }
    }
    // A resolved conflict is closed; the next concurrent edit opens a new one.
    if c.entity == EntityKind::Conflict
        && c.field == "status"
        && c.value == json!(ConflictStatus::Resolved)
    {
        p.t.execute(
            "DELETE FROM open_conflicts WHERE conflict_id = $1",
            &[record.into()],
        )?;
    }
    Ok(Ok(c.hlc))
}

/// Changes after `since` that the caller may see, in sequence order, without the
/// caller's own device's changes.
pub fn pull(
    t: &mut dyn Sql,
    caller: &Caller,
    since: u64,
    limit: usize,
) -> Result<PullResponse, ServerError> {
    let limit = limit.clamp(1, MAX_BATCH);
    let max = t
        .query("SELECT value FROM counters WHERE name = 'seq'", &[])?
        .first()
        .and_then(|r| r[0].int())
        .unwrap_or(0);
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let cols = "seq, change_id, entity, record_id, field, value, hlc, base, device_id, author_id";
    let rows = if caller.user.role == Role::Admin {
        t.query(
            &format!(
                "SELECT {cols} FROM log WHERE seq > $1 AND seq <= $2 AND device_id <> $3
                      AND team_id IS NULL ORDER BY seq LIMIT $4"
            ),
            &[
                since.into(),
                max.into(),
                caller.device.to_string().into(),
                (limit as i64).into(),
            ],
        )?
    } else {
        let team = caller
            .user
            .team_id
            .map(|t| t.to_string())
            .unwrap_or_default();
        t.query(
            &format!(
                "SELECT {cols} FROM log WHERE seq > $1 AND seq <= $2 AND device_id <> $3
                      AND (team_id = $4 OR team_id IS NULL) ORDER BY seq LIMIT $5"
            ),
            &[
                since.into(),
                max.into(),
                caller.device.to_string().into(),
                team.into(),
                (limit as i64).into(),
            ],
        )?
    };
    let bad = || ServerError::Db("bad stored change".into());
    let mut changes = Vec::with_capacity(rows.len());
    let mut last = since;
    for r in &rows {
        last = r[0].int().ok_or_else(bad)?;
        changes.push(Change {
            id: r[1].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            entity: r[2].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            record: r[3].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            field: r[4].text().ok_or_else(bad)?.to_string(),
            value: r[5]
                .text()
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(bad)?,
            hlc: r[6].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            base: r[7].text().and_then(|s| s.parse().ok()),
            device: r[8].text().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            author: r[9].text().and_then(|s| s.parse().ok()),
        });
    }
    let full = rows.len() == limit;
    let cursor = if full { last } else { max.max(since) };
    Ok(PullResponse {
        changes,
        cursor: u64::try_from(cursor).unwrap_or(0),
        more: full && last < max,
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
    let seq = lock_sequence(t)?;
    let mut p = Push {
        t,
        clock,
        seq,
        conflicts: 0,
    };
    for (entity, record, fields) in records {
        if record_team(p.t, *entity, &record.to_string())?.is_none() {
            p.t.execute(
                "INSERT INTO records(entity, record_id, team_id) VALUES ($1, $2, $3)",
                &[
                    entity.as_str().into(),
                    record.to_string().into(),
                    team.map(String::from).into(),
                ],
            )?;
        }
        for (field, value) in fields {
            let c = p.server_change(*entity, *record, field, value.clone(), team)?;
            c.check()
                .map_err(|e| ServerError::BadRequest(e.to_string()))?;
        }
    }
    let seq = p.seq;
    store_sequence(t, seq)
}

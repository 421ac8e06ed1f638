//! Applying a [`Change`] to the record tables: one code path for local writes and for
//! changes pulled from the server.
//!
//! A field takes a change only when the change's clock is later than the clock of the
//! write that set it (last writer wins, per field); a change applied before is a no-op.
//! Table and column names come from the field whitelist in voordeur-core, never from
//! input, so building the SQL text here is safe.

use crate::StoreError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use voordeur_core::change::{FieldType, ANSWER_PREFIX};
use voordeur_core::{Change, ChangeId, ChecklistTemplate, EntityKind, Hlc};

pub(crate) fn table_of(entity: EntityKind) -> &'static str {
    match entity {
        EntityKind::Household => "households",
        EntityKind::Resident => "residents",
        EntityKind::Template => "templates",
        EntityKind::Visit => "visits",
        EntityKind::Note => "notes",
        EntityKind::Signal => "signals",
        EntityKind::FollowUp => "follow_ups",
        EntityKind::Review => "reviews",
        EntityKind::Conflict => "conflicts",
    }
}

fn to_sql(ty: FieldType, v: &Value) -> SqlValue {
    match (ty, v) {
        (_, Value::Null) => SqlValue::Null,
        (FieldType::Json, v) => SqlValue::Text(v.to_string()),
        (_, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (_, Value::Number(n)) => n
            .as_i64()
            .map(SqlValue::Integer)
            .or_else(|| n.as_f64().map(SqlValue::Real))
            .unwrap_or(SqlValue::Null),
        (_, Value::String(s)) => SqlValue::Text(s.clone()),
        (_, other) => SqlValue::Text(other.to_string()),
    }
}

/// The clock of the write that set a field, if any.
pub(crate) fn field_version(
    conn: &Connection,
    entity: EntityKind,
    record: &str,
    field: &str,
) -> Result<Option<(Hlc, String)>, StoreError> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT hlc, change_id FROM field_versions
             WHERE entity = ?1 AND record_id = ?2 AND field = ?3",
        )?
        .query_row(params![entity.as_str(), record, field], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((hlc, id)) => Ok(Some((
            hlc.parse()
                .map_err(|_| StoreError::Corrupt("field clock"))?,
            id,
        ))),
    }
}

/// Households whose search text must be rebuilt after a batch of changes.
#[derive(Default)]
pub(crate) struct Touched {
    pub households: BTreeSet<String>,
    /// Records whose row exists already in this transaction (rows are never removed
    /// while one runs), so a batch ensures each record's row once, not once per field.
    pub rows: HashSet<(EntityKind, uuid::Uuid)>,
}

/// Apply one change if it wins its field. Returns whether it was applied.
pub(crate) fn apply_change(
    conn: &Connection,
    change: &Change,
    touched: &mut Touched,
) -> Result<bool, StoreError> {
    change.check()?;
    let record = change.record.to_string();
    if let Some((current, id)) = field_version(conn, change.entity, &record, &change.field)? {
        if id == change.id.to_string() {
            // The same change again. With another clock it is a re-stamp by the server
            // (our clock was too far ahead): the value stays, the version follows the
            // server so that later last-writer-wins comparisons agree with it.
            if current != change.hlc {
                restamp(conn, change, &record)?;
            }
            return Ok(false);
        }
        if current >= change.hlc {
            return Ok(false);
        }
    }
    write_field(conn, change, &record, touched)?;
    conn.prepare_cached(
        "INSERT INTO field_versions(entity, record_id, field, hlc, change_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(entity, record_id, field)
         DO UPDATE SET hlc = excluded.hlc, change_id = excluded.change_id",
    )?
    .execute(params![
        change.entity.as_str(),
        record,
        change.field,
        change.hlc.to_string(),
        change.id.to_string()
    ])?;
    Ok(true)
}

/// Apply a run of changes to one record (see `voordeur_core::wire::runs`), each if it
/// wins its field, with the same rules as [`apply_change`]; returns which were
/// applied. The record's field versions are read once, and the versions and answers
/// it writes go in multi-row statements: a pulled visit costs a few statements, not
/// three per field.
pub(crate) fn apply_run(
    conn: &Connection,
    run: &[Change],
    touched: &mut Touched,
) -> Result<Vec<bool>, StoreError> {
    let Some(first) = run.first() else {
        return Ok(Vec::new());
    };
    if run.len() == 1 {
        return Ok(vec![apply_change(conn, first, touched)?]);
    }
    let (entity, record) = (first.entity, first.record.to_string());
    let mut versions: HashMap<String, (Hlc, ChangeId)> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT field, hlc, change_id FROM field_versions WHERE entity = ?1 AND record_id = ?2",
        )?;
        let mut rows = stmt.query(params![entity.as_str(), record])?;
        while let Some(r) = rows.next()? {
            let hlc: String = r.get(1)?;
            let id: String = r.get(2)?;
            versions.insert(
                r.get(0)?,
                (
                    hlc.parse()
                        .map_err(|_| StoreError::Corrupt("field clock"))?,
                    id.parse()
                        .map_err(|_| StoreError::Corrupt("field change"))?,
                ),
            );
        }
    }
    let mut applied = Vec::with_capacity(run.len());
    let mut version_rows: Vec<SqlValue> = Vec::new();
    let mut answer_rows: Vec<SqlValue> = Vec::new();
    for change in run {
        change.check()?;
        let mut version = |hlc: &Hlc| {
            version_rows.extend([
                SqlValue::Text(entity.as_str().into()),
                SqlValue::Text(record.clone()),
                SqlValue::Text(change.field.clone()),
                SqlValue::Text(hlc.to_string()),
                SqlValue::Text(change.id.to_string()),
            ]);
        };
        if let Some((current, id)) = versions.get(&change.field) {
            if *id == change.id {
                // The same change again; another clock is the server's re-stamp.
                if *current != change.hlc {
                    version(&change.hlc);
                    versions.insert(change.field.clone(), (change.hlc, change.id));
                }
                applied.push(false);
                continue;
            }
            if *current >= change.hlc {
                applied.push(false);
                continue;
            }
        }
        let answer = (entity == EntityKind::Visit)
            .then(|| change.field.strip_prefix(ANSWER_PREFIX))
            .flatten();
        match answer {
            Some(item) if !change.value.is_null() => {
                ensure_row(conn, change, &record, touched)?;
                answer_rows.extend([
                    SqlValue::Text(record.clone()),
                    SqlValue::Text(item.to_string()),
                    SqlValue::Text(change.value.to_string()),
                ]);
            }
            _ => {
                // Answers written so far go first: a cleared answer deletes its row.
                flush_rows(conn, ANSWER_UPSERT, 3, &mut answer_rows)?;
                write_field(conn, change, &record, touched)?;
            }
        }
        version(&change.hlc);
        versions.insert(change.field.clone(), (change.hlc, change.id));
        applied.push(true);
    }
    flush_rows(conn, ANSWER_UPSERT, 3, &mut answer_rows)?;
    flush_rows(conn, VERSION_UPSERT, 5, &mut version_rows)?;
    Ok(applied)
}

/// The key of a buffered row within its record: the answer's item (`visit_id, item,
/// value`) or the version's field (`entity, record_id, field, hlc, change_id`). The rows
/// of one flush all belong to one record.
fn row_key(row: &[SqlValue]) -> &str {
    match row.get(if row.len() == 3 { 1 } else { 2 }) {
        Some(SqlValue::Text(t)) => t,
        _ => "",
    }
}

/// `INSERT INTO … VALUES` and its `ON CONFLICT` tail, for [`flush_rows`].
type Upsert = (&'static str, &'static str);

const ANSWER_UPSERT: Upsert = (
    "INSERT INTO answers(visit_id, item, value) VALUES ",
    " ON CONFLICT(visit_id, item) DO UPDATE SET value = excluded.value",
);

const VERSION_UPSERT: Upsert = (
    "INSERT INTO field_versions(entity, record_id, field, hlc, change_id) VALUES ",
    " ON CONFLICT(entity, record_id, field)
      DO UPDATE SET hlc = excluded.hlc, change_id = excluded.change_id",
);

/// Write buffered rows of `width` values, in key order, with multi-row statements of 32,
/// 16, … 1 rows (a few statement texts, each prepared once). A key written twice takes
/// its last row, as if written one by one.
fn flush_rows(
    conn: &Connection,
    (head, tail): Upsert,
    width: usize,
    rows: &mut Vec<SqlValue>,
) -> Result<(), StoreError> {
    // In key order, each key once with its last row: the rows of one record then go
    // into the tree side by side instead of one by one across its pages.
    let mut keyed: Vec<&[SqlValue]> = rows.chunks(width).collect();
    keyed.sort_by(|a, b| row_key(a).cmp(row_key(b)));
    keyed.dedup_by(|later, earlier| {
        let same = row_key(later) == row_key(earlier);
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    let sorted: Vec<SqlValue> = keyed.concat();
    let mut rest: &[SqlValue] = &sorted;
    while !rest.is_empty() {
        let n = rest.len() / width;
        let take = if n >= 32 { 32 } else { 1 << n.ilog2() };
        let marks = format!("({})", vec!["?"; width].join(", "));
        let sql = format!("{head}{}{tail}", vec![marks; take].join(", "));
        let (now, later) = rest.split_at(take * width);
        conn.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(now.iter()))?;
        rest = later;
    }
    rows.clear();
    Ok(())
}

/// Set the version of the field a change wrote to the clock the server gave that change
/// (when the field still holds that change's value). Returns whether a row changed.
pub(crate) fn restamp(
    conn: &Connection,
    change: &Change,
    record: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE field_versions SET hlc = ?1
             WHERE entity = ?2 AND record_id = ?3 AND field = ?4 AND change_id = ?5",
        )?
        .execute(params![
            change.hlc.to_string(),
            change.entity.as_str(),
            record,
            change.field,
            change.id.to_string()
        ])?;
    Ok(n > 0)
}

fn ensure_row(
    conn: &Connection,
    change: &Change,
    record: &str,
    touched: &mut Touched,
) -> Result<(), StoreError> {
    if !touched.rows.insert((change.entity, change.record)) {
        return Ok(());
    }
    let table = table_of(change.entity);
    conn.prepare_cached(&format!(
        "INSERT INTO {table}(id) VALUES (?1) ON CONFLICT(id) DO NOTHING"
    ))?
    .execute([record])?;
    Ok(())
}

fn write_field(
    conn: &Connection,
    change: &Change,
    record: &str,
    touched: &mut Touched,
) -> Result<(), StoreError> {
    let table = table_of(change.entity);
    ensure_row(conn, change, record, touched)?;
    if change.entity == EntityKind::Visit {
        if let Some(item) = change.field.strip_prefix(ANSWER_PREFIX) {
            if change.value.is_null() {
                conn.prepare_cached("DELETE FROM answers WHERE visit_id = ?1 AND item = ?2")?
                    .execute(params![record, item])?;
            } else {
                conn.prepare_cached(
                    "INSERT INTO answers(visit_id, item, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(visit_id, item) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![record, item, change.value.to_string()])?;
            }
            return Ok(());
        }
    }
    if change.entity == EntityKind::Template && change.field == "body" {
        let t: ChecklistTemplate = serde_json::from_value(change.value.clone())
            .map_err(|e| StoreError::Invalid(format!("template body: {e}")))?;
        conn.prepare_cached(
            "UPDATE templates SET template_id = ?2, version = ?3, status = ?4,
                    name_nl = ?5, name_en = ?6, body = ?7 WHERE id = ?1",
        )?
        .execute(params![
            record,
            t.id.to_string(),
            t.version,
            serde_json::to_value(t.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from)),
            t.name.nl,
            t.name.en,
            change.value.to_string()
        ])?;
        return Ok(());
    }
    let ty = change
        .entity
        .field_type(&change.field)
        .ok_or(StoreError::Corrupt("unchecked field"))?;
    // Quote the column: `values` is an SQL keyword.
    let column = &change.field;
    if change.entity == EntityKind::Resident {
        if let Some(old) = household_of_resident(conn, record)? {
            touched.households.insert(old);
        }
    }
    conn.prepare_cached(&format!(
        "UPDATE {table} SET \"{column}\" = ?1 WHERE id = ?2"
    ))?
    .execute(params![to_sql(ty, &change.value), record])?;
    match change.entity {
        EntityKind::Household => {
            touched.households.insert(record.to_string());
        }
        EntityKind::Resident => {
            if let Some(new) = household_of_resident(conn, record)? {
                touched.households.insert(new);
            }
        }
        _ => {}
    }
    Ok(())
}

fn household_of_resident(conn: &Connection, record: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT household_id FROM residents WHERE id = ?1")?
        .query_row([record], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// rowid, address, postcode, city, deleted of a household.
type SearchRow = (i64, Option<String>, Option<String>, Option<String>, bool);

/// Rebuild the search text of the touched households.
pub(crate) fn refresh_search(conn: &Connection, touched: &Touched) -> Result<(), StoreError> {
    for id in &touched.households {
        let row: Option<SearchRow> = conn
            .prepare_cached(
                "SELECT rowid, address, postcode, city, deleted FROM households WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((rowid, address, postcode, city, deleted)) = row else {
            continue;
        };
        conn.prepare_cached("DELETE FROM household_search WHERE rowid = ?1")?
            .execute([rowid])?;
        if deleted {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        let mut stmt = conn.prepare_cached(
            "SELECT name FROM residents WHERE household_id = ?1 AND deleted = 0 AND name IS NOT NULL",
        )?;
        for name in stmt.query_map([id], |r| r.get::<_, String>(0))? {
            names.push(name?);
        }
        let postcode = postcode.unwrap_or_default();
        let body = format!(
            "{} | {} | {} | {} | {}",
            address.unwrap_or_default(),
            postcode,
            postcode.replace(' ', ""),
            city.unwrap_or_default(),
            names.join(" | ")
        )
        .to_lowercase();
        conn.prepare_cached("INSERT INTO household_search(rowid, body) VALUES (?1, ?2)")?
            .execute(params![rowid, body])?;
    }
    Ok(())
}

//! Applying a [`Change`] to the record tables: one code path for local writes and for
//! changes pulled from the server.
//!
//! A field takes a change only when the change's clock is later than the clock of the
//! write that set it (last writer wins, per field); a change applied before is a no-op.
//! Table and column names come from the field whitelist in voordeur-core, never from
//! input, so building the SQL text here is safe.

use crate::versions::Versions;
use crate::StoreError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use voordeur_core::change::{FieldType, ANSWER_PREFIX};
use voordeur_core::template::Answers;
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

/// The clock and change id of the write that set a field, if any.
pub(crate) fn field_version(
    conn: &Connection,
    entity: EntityKind,
    record: &str,
    field: &str,
) -> Result<Option<(Hlc, ChangeId)>, StoreError> {
    Ok(Versions::load(conn, entity, record)?.get(field))
}

/// Households whose search text must be rebuilt after a batch of changes.
#[derive(Default)]
pub(crate) struct Touched {
    pub households: BTreeSet<String>,
    /// Records whose row exists already in this transaction (rows are never removed
    /// while one runs), so a batch ensures each record's row once, not once per field.
    pub rows: HashSet<(EntityKind, uuid::Uuid)>,
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
    let (entity, record) = (first.entity, first.record.to_string());
    let mut versions = Versions::load(conn, entity, &record)?;
    // Never written here before, nor earlier in this transaction: its row is most
    // likely missing, and made with its values in one statement.
    let fresh = versions.is_empty() && !touched.rows.contains(&(entity, first.record));
    let mut applied = Vec::with_capacity(run.len());
    // The visit's answers the run sets (`None` clears one), in order: the answers are
    // read (unless the row is new) and written once.
    let mut answer_edits: Vec<(&str, &Value)> = Vec::new();
    // Plain columns the run sets, written in one statement at its end (a field set
    // twice takes its last value, as if written one by one).
    let mut columns: Vec<(&str, SqlValue)> = Vec::new();
    for change in run {
        change.check()?;
        if let Some((current, id)) = versions.get(&change.field) {
            if id == change.id {
                // The same change again; another clock is the server's re-stamp: the
                // value stays, the version follows the server so that later
                // last-writer-wins comparisons agree with it.
                if current != change.hlc {
                    versions.set(&change.field, change.hlc, change.id);
                }
                applied.push(false);
                continue;
            }
            if current >= change.hlc {
                applied.push(false);
                continue;
            }
        }
        let answer = (entity == EntityKind::Visit)
            .then(|| change.field.strip_prefix(ANSWER_PREFIX))
            .flatten();
        match answer {
            Some(item) => answer_edits.push((item, &change.value)),
            None if writes_plain_columns(entity) => {
                let ty = entity
                    .field_type(&change.field)
                    .ok_or(StoreError::Corrupt("unchecked field"))?;
                let value = to_sql(ty, &change.value);
                match columns.iter_mut().find(|(c, _)| *c == change.field) {
                    Some(slot) => slot.1 = value,
                    None => columns.push((&change.field, value)),
                }
            }
            None => write_field(conn, change, &record, touched)?,
        }
        versions.set(&change.field, change.hlc, change.id);
        applied.push(true);
    }
    if !columns.is_empty() || !answer_edits.is_empty() {
        write_columns(conn, first, &record, fresh, columns, &answer_edits, touched)?;
    }
    versions.save(conn, entity, &record)?;
    Ok(applied)
}

/// Write the plain columns and answers a run set, the row of the record in one
/// statement: made with them when the record is `fresh` and its row really is missing,
/// updated otherwise (a visit's row is written once, not once for its columns and again
/// for its answers).
fn write_columns(
    conn: &Connection,
    first: &Change,
    record: &str,
    fresh: bool,
    mut columns: Vec<(&str, SqlValue)>,
    answer_edits: &[(&str, &Value)],
    touched: &mut Touched,
) -> Result<(), StoreError> {
    let table = table_of(first.entity);
    // Column names come from the field whitelist (checked by the caller); quoted,
    // because `values` is an SQL keyword.
    if fresh {
        if !answer_edits.is_empty() {
            columns.push((
                "answers",
                SqlValue::Text(answers_json(Answers::new(), answer_edits)?),
            ));
        }
        let mut sql = String::with_capacity(64 + 24 * columns.len());
        sql.push_str("INSERT INTO ");
        sql.push_str(table);
        sql.push_str("(id");
        for (column, _) in &columns {
            sql.push_str(", \"");
            sql.push_str(column);
            sql.push('"');
        }
        sql.push_str(") VALUES (?1");
        for i in 0..columns.len() {
            sql.push_str(", ?");
            sql.push_str(itoa::Buffer::new().format(i + 2));
        }
        sql.push_str(") ON CONFLICT(id) DO NOTHING");
        let made = conn
            .prepare_cached(&sql)?
            .execute(row_values(&record, &columns).as_slice())?;
        touched.rows.insert((first.entity, first.record));
        if made == 1 {
            return Ok(());
        }
        if !answer_edits.is_empty() {
            columns.pop();
        }
    }
    ensure_row(conn, first, record, touched)?;
    if !answer_edits.is_empty() {
        let all = visit_answers(conn, record)?;
        columns.push(("answers", SqlValue::Text(answers_json(all, answer_edits)?)));
    }
    let mut sql = String::with_capacity(64 + 24 * columns.len());
    sql.push_str("UPDATE ");
    sql.push_str(table);
    sql.push_str(" SET ");
    for (i, (column, _)) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('"');
        sql.push_str(column);
        sql.push_str("\" = ?");
        sql.push_str(itoa::Buffer::new().format(i + 2));
    }
    sql.push_str(" WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .execute(row_values(&record, &columns).as_slice())?;
    Ok(())
}

/// The stored text of a visit's answers (`visits.answers`): `all` with `edits` applied
/// in order (a null value clears an item). The same text as serialising the map; for a
/// visit without answers yet it is written straight from the edits, without building
/// the map first.
fn answers_json(mut all: Answers, edits: &[(&str, &Value)]) -> Result<String, StoreError> {
    let err = |e: serde_json::Error| StoreError::Invalid(e.to_string());
    if !all.is_empty() {
        for (item, value) in edits {
            if value.is_null() {
                all.remove(*item);
            } else if let Some(v) = all.get_mut(*item) {
                v.clone_from(value);
            } else {
                all.insert(item.to_string(), (*value).clone());
            }
        }
        return serde_json::to_string(&all).map_err(err);
    }
    // Each item's last edit, in item order.
    let mut last: Vec<(&str, &Value)> = edits.iter().rev().copied().collect();
    last.sort_by(|a, b| a.0.cmp(b.0));
    last.dedup_by(|later, first| later.0 == first.0);
    let mut out = Vec::with_capacity(32 * last.len() + 2);
    out.push(b'{');
    for (item, value) in last.into_iter().filter(|(_, v)| !v.is_null()) {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, item).map_err(err)?;
        out.push(b':');
        serde_json::to_writer(&mut out, value).map_err(err)?;
    }
    out.push(b'}');
    String::from_utf8(out).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The record id, then the column values: the parameters of [`write_columns`]' SQL.
fn row_values<'a>(
    record: &'a &str,
    columns: &'a [(&str, SqlValue)],
) -> Vec<&'a dyn rusqlite::ToSql> {
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![record];
    values.extend(columns.iter().map(|(_, v)| v as &dyn rusqlite::ToSql));
    values
}

/// The answers of a visit, by item: `visits.answers`, one JSON object per visit (a
/// visit's answers are read and written together).
pub(crate) fn visit_answers(conn: &Connection, visit: &str) -> Result<Answers, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT answers FROM visits WHERE id = ?1")?
        .query_row([visit], |r| r.get(0))
        .optional()?;
    match text {
        Some(t) => serde_json::from_str(&t).map_err(|_| StoreError::Corrupt("answers")),
        None => Ok(Answers::new()),
    }
}

/// Set the version of the field a change wrote to the clock the server gave that change
/// (when the field still holds that change's value). Returns whether it changed.
pub(crate) fn restamp(
    conn: &Connection,
    change: &Change,
    record: &str,
) -> Result<bool, StoreError> {
    let mut versions = Versions::load(conn, change.entity, record)?;
    match versions.get(&change.field) {
        Some((hlc, id)) if id == change.id && hlc != change.hlc => {
            versions.set(&change.field, change.hlc, change.id);
            versions.save(conn, change.entity, record)?;
            Ok(true)
        }
        _ => Ok(false),
    }
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

/// Records whose fields are plain columns, with nothing else to keep up to date when
/// one changes (households and residents feed the search text; a template's body fills
/// several columns).
fn writes_plain_columns(entity: EntityKind) -> bool {
    !matches!(
        entity,
        EntityKind::Household | EntityKind::Resident | EntityKind::Template
    )
}

fn write_field(
    conn: &Connection,
    change: &Change,
    record: &str,
    touched: &mut Touched,
) -> Result<(), StoreError> {
    let table = table_of(change.entity);
    ensure_row(conn, change, record, touched)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_text_is_the_same_with_or_without_earlier_answers() {
        let (one, two, three, null) = (json!(1), json!("twee \"2\""), json!([3]), Value::Null);
        let edits: Vec<(&str, &Value)> = vec![
            ("b", &one),
            ("a", &two),
            ("c", &three),
            ("b", &three),
            ("c", &null),
            ("é", &one),
        ];
        let fresh = answers_json(Answers::new(), &edits).expect("fresh");
        let mut expected = Answers::new();
        for (item, value) in &edits {
            if value.is_null() {
                expected.remove(*item);
            } else {
                expected.insert(item.to_string(), (*value).clone());
            }
        }
        assert_eq!(fresh, serde_json::to_string(&expected).expect("json"));
        assert_eq!(fresh, r#"{"a":"twee \"2\"","b":[3],"é":1}"#);
        // With an earlier answer, through the map.
        let mut earlier = Answers::new();
        earlier.insert("z".into(), json!(0));
        let text = answers_json(earlier, &edits).expect("earlier");
        expected.insert("z".into(), json!(0));
        assert_eq!(text, serde_json::to_string(&expected).expect("json"));
        assert_eq!(answers_json(Answers::new(), &[]).expect("none"), "{}");
        assert_eq!(
            answers_json(Answers::new(), &[("x", &null)]).expect("cleared"),
            "{}"
        );
    }
}

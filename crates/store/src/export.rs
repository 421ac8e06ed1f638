//! A deterministic dump of the whole synced state, for comparing devices: every
//! record table, the answers and the field versions, rows sorted by key, object keys
//! sorted, JSON values parsed. Device-local data (outbox, settings, search index) is
//! left out, so two devices that hold the same records export the same bytes.

use crate::versions::Versions;
use crate::{Store, StoreError};
use rusqlite::types::ValueRef;
use serde_json::{json, Map, Value};

const TABLES: &[(&str, &str)] = &[
    ("households", "id"),
    ("residents", "id"),
    ("templates", "id"),
    ("visits", "id"),
    ("notes", "id"),
    ("signals", "id"),
    ("follow_ups", "id"),
    ("reviews", "id"),
    ("conflicts", "id"),
];

/// Columns that hold JSON text and are exported as JSON values.
const JSON_COLUMNS: &[(&str, &str)] = &[
    ("templates", "body"),
    ("reviews", "comments"),
    ("conflicts", "values"),
];

impl Store {
    /// The whole state as one JSON value with a stable shape and order.
    pub fn export(&self) -> Result<Value, StoreError> {
        let mut out = Map::new();
        for (table, order) in TABLES {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
            let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
            // A visit's answers are exported as rows of their own, below.
            let skip = |name: &str| *table == "visits" && name == "answers";
            let mut rows = stmt.query([])?;
            let mut list = Vec::new();
            while let Some(row) = rows.next()? {
                let mut obj = Map::new();
                for (i, name) in names.iter().enumerate() {
                    if skip(name) {
                        continue;
                    }
                    let v = match row.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::from(n),
                        ValueRef::Real(f) => Value::from(f),
                        ValueRef::Text(t) => {
                            let s = String::from_utf8_lossy(t).into_owned();
                            if JSON_COLUMNS.contains(&(table, name.as_str())) {
                                serde_json::from_str(&s).unwrap_or(Value::String(s))
                            } else {
                                Value::String(s)
                            }
                        }
                        ValueRef::Blob(b) => Value::from(b.to_vec()),
                    };
                    obj.insert(name.clone(), v);
                }
                list.push(Value::Object(obj));
            }
            out.insert((*table).to_string(), Value::Array(list));
        }
        out.insert("answers".into(), self.export_answers()?);
        out.insert("field_versions".into(), self.export_versions()?);
        Ok(Value::Object(out))
    }

    /// Every answer as one row, as they were stored before version 6 of the database:
    /// `visit_id, item, value`, by visit and item.
    fn export_answers(&self) -> Result<Value, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, answers FROM visits WHERE answers <> '{}' ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut list = Vec::new();
        while let Some(row) = rows.next()? {
            let visit: String = row.get(0)?;
            let text = row
                .get_ref(1)?
                .as_str()
                .map_err(|_| StoreError::Corrupt("answers"))?;
            let answers: voordeur_core::template::Answers =
                serde_json::from_str(text).map_err(|_| StoreError::Corrupt("answers"))?;
            for (item, value) in answers {
                list.push(json!({ "visit_id": visit, "item": item, "value": value }));
            }
        }
        Ok(Value::Array(list))
    }

    /// Every field's version as one row, as they were stored before version 5 of the
    /// database: `entity, record_id, field, hlc, change_id`, in that order.
    fn export_versions(&self) -> Result<Value, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT entity, record_id, versions FROM record_versions ORDER BY entity, record_id",
        )?;
        let mut rows = stmt.query([])?;
        let mut list = Vec::new();
        while let Some(row) = rows.next()? {
            let (entity, record): (String, String) = (row.get(0)?, row.get(1)?);
            let versions = Versions::read(row.get_ref(2)?)?;
            for (field, (hlc, id)) in versions.iter() {
                list.push(json!({
                    "entity": entity,
                    "record_id": record,
                    "field": field,
                    "hlc": hlc.to_string(),
                    "change_id": id.to_string(),
                }));
            }
        }
        Ok(Value::Array(list))
    }

    /// The export as pretty, stable JSON text.
    pub fn export_json(&self) -> Result<String, StoreError> {
        serde_json::to_string_pretty(&self.export()?)
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }
}

//! What a device holds after applying pulled changes: per field, the value with the
//! highest clock (the same last-writer-wins rule the device store applies), and the
//! conflict records assembled from their fields.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;
use voordeur_core::change::EntityKind;
use voordeur_core::{Change, ChangeId, Conflict, ConflictStatus, Hlc};

#[derive(Debug, Default)]
pub struct Replica {
    fields: BTreeMap<(EntityKind, Uuid, String), Change>,
    seen: HashSet<ChangeId>,
}

impl Replica {
    pub fn new() -> Replica {
        Replica::default()
    }

    /// Apply pulled changes in any order; duplicates are harmless.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            self.seen.insert(c.id);
            let key = (c.entity, c.record, c.field.clone());
            if self.fields.get(&key).is_none_or(|cur| c.hlc > cur.hlc) {
                self.fields.insert(key, c.clone());
            }
        }
    }

    pub fn has_seen(&self, id: ChangeId) -> bool {
        self.seen.contains(&id)
    }

    /// The winning change of a field.
    pub fn get(&self, entity: EntityKind, record: Uuid, field: &str) -> Option<&Change> {
        self.fields.get(&(entity, record, field.to_string()))
    }

    pub fn value(&self, entity: EntityKind, record: Uuid, field: &str) -> Option<&Value> {
        self.get(entity, record, field).map(|c| &c.value)
    }

    pub fn hlc(&self, entity: EntityKind, record: Uuid, field: &str) -> Option<Hlc> {
        self.get(entity, record, field).map(|c| c.hlc)
    }

    /// Every conflict record, read back as the domain type.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut records: BTreeMap<Uuid, Map<String, Value>> = BTreeMap::new();
        for ((entity, record, field), c) in &self.fields {
            if *entity == EntityKind::Conflict {
                records
                    .entry(*record)
                    .or_default()
                    .insert(field.clone(), c.value.clone());
            }
        }
        records
            .into_iter()
            .map(|(id, mut fields)| {
                fields.insert("id".into(), Value::String(id.to_string()));
                fields.remove("deleted");
                serde_json::from_value(Value::Object(fields.clone()))
                    .unwrap_or_else(|e| panic!("conflict {id} is incomplete ({e}): {fields:?}"))
            })
            .collect()
    }

    pub fn open_conflicts(&self) -> Vec<Conflict> {
        self.conflicts()
            .into_iter()
            .filter(|c| c.status == ConflictStatus::Open)
            .collect()
    }
}

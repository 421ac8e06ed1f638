//! The version of every field of a record: the clock and change id of the write that set
//! it, kept as one row per record (`record_versions`), not one row per field.
//!
//! A field's version decides last-writer-wins when a change arrives and is the "version
//! the author saw" that the next local edit carries. A completed visit has about 70
//! fields; as rows of their own they were most of the cost of pulling a team's history.
//!
//! `versions` is written in a compact, canonical form: `[devices, fields]`, where
//! `devices` lists the clock devices of the record once, sorted, and `fields` maps each
//! field (sorted) to `[wall, counter, device index, change id]`. Two devices that hold
//! the same versions store the same text. The form migration 5 builds from the old
//! per-field rows, `{"field": ["clock text", "change id"]}`, is read as well.
//! `newest` is the highest clock of the record, for the clock to resume after (indexed).

use crate::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use std::collections::BTreeMap;
use voordeur_core::{ChangeId, DeviceId, EntityKind, Hlc};

/// The versions of one record's fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Versions {
    fields: BTreeMap<String, (Hlc, ChangeId)>,
    changed: bool,
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("field versions")
}

#[derive(Deserialize)]
struct CompactField(u64, u32, usize, ChangeId);

#[derive(Deserialize)]
struct Compact(Vec<DeviceId>, BTreeMap<String, CompactField>);

impl Versions {
    /// The versions of a record as stored (none for a record this device never wrote).
    pub fn load(conn: &Connection, entity: EntityKind, record: &str) -> Result<Self, StoreError> {
        let text: Option<String> = conn
            .prepare_cached(
                "SELECT versions FROM record_versions WHERE entity = ?1 AND record_id = ?2",
            )?
            .query_row(params![entity.as_str(), record], |r| r.get(0))
            .optional()?;
        match text {
            Some(t) => Self::parse(&t),
            None => Ok(Self::default()),
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let fields = if text.trim_start().starts_with('[') {
            let Compact(devices, fields) = serde_json::from_str(text).map_err(|_| corrupt())?;
            fields
                .into_iter()
                .map(|(k, CompactField(wall_ms, counter, d, id))| {
                    let device = *devices.get(d).ok_or_else(corrupt)?;
                    let hlc = Hlc {
                        wall_ms,
                        counter,
                        device,
                    };
                    Ok((k, (hlc, id)))
                })
                .collect::<Result<_, StoreError>>()?
        } else {
            let rows: BTreeMap<String, (String, String)> =
                serde_json::from_str(text).map_err(|_| corrupt())?;
            rows.into_iter()
                .map(|(k, (hlc, id))| {
                    let hlc: Hlc = hlc.parse().map_err(|_| corrupt())?;
                    let id: ChangeId = id.parse().map_err(|_| corrupt())?;
                    Ok((k, (hlc, id)))
                })
                .collect::<Result<_, StoreError>>()?
        };
        Ok(Versions {
            fields,
            changed: false,
        })
    }

    /// The version of one field.
    pub fn get(&self, field: &str) -> Option<(Hlc, ChangeId)> {
        self.fields.get(field).copied()
    }

    /// Every field with its version, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &(Hlc, ChangeId))> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn set(&mut self, field: &str, hlc: Hlc, id: ChangeId) {
        match self.fields.get_mut(field) {
            Some(v) => *v = (hlc, id),
            None => {
                self.fields.insert(field.to_string(), (hlc, id));
            }
        }
        self.changed = true;
    }

    /// The highest clock of any field.
    pub fn newest(&self) -> Option<Hlc> {
        self.fields.values().map(|(h, _)| *h).max()
    }

    /// The compact, canonical stored form.
    pub fn text(&self) -> String {
        let mut devices: Vec<DeviceId> = self.fields.values().map(|(h, _)| h.device).collect();
        devices.sort_unstable();
        devices.dedup();
        let mut out = String::with_capacity(40 * devices.len() + 80 * self.fields.len());
        let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let mut push_uuid = |out: &mut String, id: &uuid::Uuid| {
            out.push('"');
            out.push_str(id.as_hyphenated().encode_lower(&mut uuid));
            out.push('"');
        };
        out.push_str("[[");
        for (i, d) in devices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_uuid(&mut out, &d.0);
        }
        out.push_str("],{");
        let mut num = itoa::Buffer::new();
        for (i, (field, (hlc, id))) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Field names are whitelisted identifiers; quote them properly all the same.
            if field.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                out.push('"');
                out.push_str(field);
                out.push('"');
            } else {
                out.push_str(&serde_json::Value::from(field.as_str()).to_string());
            }
            out.push_str(":[");
            out.push_str(num.format(hlc.wall_ms));
            out.push(',');
            out.push_str(num.format(hlc.counter));
            out.push(',');
            let d = devices.binary_search(&hlc.device).unwrap_or_default();
            out.push_str(num.format(d));
            out.push(',');
            push_uuid(&mut out, &id.0);
            out.push(']');
        }
        out.push_str("}]");
        out
    }

    /// Store the versions, if a field was set since they were loaded.
    pub fn save(
        &mut self,
        conn: &Connection,
        entity: EntityKind,
        record: &str,
    ) -> Result<(), StoreError> {
        if !self.changed {
            return Ok(());
        }
        let Some(newest) = self.newest() else {
            return Ok(());
        };
        conn.prepare_cached(
            "INSERT INTO record_versions(entity, record_id, newest, versions)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(entity, record_id)
             DO UPDATE SET newest = excluded.newest, versions = excluded.versions",
        )?
        .execute(params![
            entity.as_str(),
            record,
            newest.to_string(),
            self.text()
        ])?;
        self.changed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hlc(wall_ms: u64, counter: u32, device: DeviceId) -> Hlc {
        Hlc {
            wall_ms,
            counter,
            device,
        }
    }

    #[test]
    fn versions_round_trip_in_a_canonical_form() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let mut one = Versions::default();
        let mut two = Versions::default();
        let fields = [
            ("status", hlc(5, 1, a), ChangeId::new()),
            ("answer.geld.\"x\"", hlc(7, 0, b), ChangeId::new()),
            ("ended_at", hlc(9, 3, a), ChangeId::new()),
        ];
        for (f, h, id) in &fields {
            one.set(f, *h, *id);
        }
        // Set in another order, with an older version first overwritten.
        for (f, h, id) in fields.iter().rev() {
            two.set(f, hlc(1, 0, b), ChangeId::new());
            two.set(f, *h, *id);
        }
        assert_eq!(one.text(), two.text(), "same versions, same text");
        let back = Versions::parse(&one.text()).expect("parse");
        assert_eq!(back.fields, one.fields);
        assert_eq!(back.newest(), Some(hlc(9, 3, a)));
        assert_eq!(
            back.get("answer.geld.\"x\""),
            Some((fields[1].1, fields[1].2))
        );

        // The form migration 5 writes.
        let migrated = serde_json::json!({
            "status": [fields[0].1.to_string(), fields[0].2.to_string()],
        })
        .to_string();
        let old = Versions::parse(&migrated).expect("old form");
        assert_eq!(old.get("status"), Some((fields[0].1, fields[0].2)));
    }

    #[test]
    fn damaged_versions_are_an_error() {
        for bad in [
            "",
            "[[],{\"x\":[1,2,0,\"0193a000-0000-7000-8000-000000000001\"]}]",
            "{\"x\":[\"nu\",\"x\"]}",
        ] {
            assert!(Versions::parse(bad).is_err(), "{bad}");
        }
    }
}

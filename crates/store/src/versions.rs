//! The version of every field of a record: the clock and change id of the write that set
//! it, kept as one row per record (`record_versions`), not one row per field.
//!
//! A field's version decides last-writer-wins when a change arrives and is the "version
//! the author saw" that the next local edit carries. A completed visit has about 70
//! fields; as rows of their own they were most of the cost of pulling a team's history.
//!
//! `versions` is written as a compact, canonical binary value (postcard): a format tag
//! ([`BINARY_FORMAT`]), the clock devices of the record once, sorted, then each field
//! (sorted) with `wall, counter, device index, change id`. Two devices that hold the same
//! versions store the same bytes (since database version 7). Two earlier forms are still
//! read: the JSON text `[devices, {field: [wall, counter, device index, change id]}]`
//! that version 5 and 6 databases wrote, and `{"field": ["clock text", "change id"]}`
//! that migration 5 built from the old per-field rows. `newest` is the highest clock of the record, for the
//! clock to resume after (indexed).

use crate::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use voordeur_core::{ChangeId, DeviceId, EntityKind, Hlc};

/// The first byte of the binary form; JSON text starts with `[` or `{`.
const BINARY_FORMAT: u8 = 1;

/// The versions of one record's fields, sorted by field (a visit has about 70: a sorted
/// list is quicker to build, search and write than a tree).
///
/// Field names set from changes are borrowed from them (`'a`): a pulled visit sets about
/// 70, and copying each name was a visible cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Versions<'a> {
    fields: Vec<(Cow<'a, str>, Hlc, ChangeId)>,
    changed: bool,
}

/// An unsigned integer as postcard writes it: LEB128, seven bits a byte.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("field versions")
}

#[derive(Deserialize)]
struct CompactField(u64, u32, usize, ChangeId);

#[derive(Deserialize)]
struct Compact(Vec<DeviceId>, BTreeMap<String, CompactField>);

/// The binary form: format tag, devices, fields (read with postcard; written by
/// [`Versions::bytes`] in the same encoding).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Binary<'a> {
    format: u8,
    devices: Vec<[u8; 16]>,
    #[serde(borrow)]
    fields: Vec<BinaryField<'a>>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct BinaryField<'a> {
    field: &'a str,
    wall_ms: u64,
    counter: u32,
    device: u32,
    change: [u8; 16],
}

impl<'a> Versions<'a> {
    /// The versions of a record as stored (none for a record this device never wrote).
    pub fn load(conn: &Connection, entity: EntityKind, record: &str) -> Result<Self, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT versions FROM record_versions WHERE entity = ?1 AND record_id = ?2",
        )?;
        stmt.query_row(params![entity.as_str(), record], |r| {
            Ok(Self::read(r.get_ref(0)?))
        })
        .optional()?
        .unwrap_or_else(|| Ok(Self::default()))
    }

    /// The versions of a stored `versions` value, in any form written so far.
    pub fn read(value: ValueRef<'_>) -> Result<Self, StoreError> {
        match value {
            ValueRef::Blob(bytes) => Self::parse_binary(bytes),
            ValueRef::Text(text) => Self::parse(std::str::from_utf8(text).map_err(|_| corrupt())?),
            _ => Err(corrupt()),
        }
    }

    fn parse_binary(bytes: &[u8]) -> Result<Self, StoreError> {
        let b: Binary<'_> = postcard::from_bytes(bytes).map_err(|_| corrupt())?;
        if b.format != BINARY_FORMAT {
            return Err(corrupt());
        }
        let fields = b
            .fields
            .into_iter()
            .map(|f| {
                let device = b
                    .devices
                    .get(usize::try_from(f.device).map_err(|_| corrupt())?)
                    .ok_or_else(corrupt)?;
                let hlc = Hlc {
                    wall_ms: f.wall_ms,
                    counter: f.counter,
                    device: DeviceId(uuid::Uuid::from_bytes(*device)),
                };
                Ok((
                    Cow::Owned(f.field.to_string()),
                    hlc,
                    ChangeId(uuid::Uuid::from_bytes(f.change)),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self::sorted(fields))
    }

    /// The JSON forms (see the module docs).
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
                    Ok((Cow::Owned(k), hlc, id))
                })
                .collect::<Result<_, StoreError>>()?
        } else {
            let rows: BTreeMap<String, (String, String)> =
                serde_json::from_str(text).map_err(|_| corrupt())?;
            rows.into_iter()
                .map(|(k, (hlc, id))| {
                    let hlc: Hlc = hlc.parse().map_err(|_| corrupt())?;
                    let id: ChangeId = id.parse().map_err(|_| corrupt())?;
                    Ok((Cow::Owned(k), hlc, id))
                })
                .collect::<Result<_, StoreError>>()?
        };
        Ok(Self::sorted(fields))
    }

    /// Versions from a list of fields in any order; a field listed twice keeps its
    /// last entry.
    fn sorted(mut fields: Vec<(Cow<'a, str>, Hlc, ChangeId)>) -> Self {
        // Stored lists are sorted already, which this checks in one pass.
        if !fields.is_sorted_by(|a, b| a.0 < b.0) {
            fields.reverse();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        Versions {
            fields,
            changed: false,
        }
    }

    fn position(&self, field: &str) -> Result<usize, usize> {
        self.fields.binary_search_by(|f| f.0.as_ref().cmp(field))
    }

    /// No field has a version.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The version of one field.
    pub fn get(&self, field: &str) -> Option<(Hlc, ChangeId)> {
        self.position(field)
            .ok()
            .map(|i| (self.fields[i].1, self.fields[i].2))
    }

    /// Every field with its version, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, (Hlc, ChangeId))> {
        self.fields.iter().map(|(k, h, id)| (k.as_ref(), (*h, *id)))
    }

    pub fn set(&mut self, field: &'a str, hlc: Hlc, id: ChangeId) {
        match self.position(field) {
            Ok(i) => {
                self.fields[i].1 = hlc;
                self.fields[i].2 = id;
            }
            Err(i) => self.fields.insert(i, (Cow::Borrowed(field), hlc, id)),
        }
        self.changed = true;
    }

    /// The highest clock of any field.
    pub fn newest(&self) -> Option<Hlc> {
        self.fields.iter().map(|(_, h, _)| *h).max()
    }

    /// The compact, canonical stored form: the postcard encoding of [`Binary`], written
    /// directly (a visit's versions are written once per pulled batch that touches it;
    /// through serde this took a third of saving them).
    pub fn bytes(&self) -> Vec<u8> {
        let mut devices: Vec<[u8; 16]> = self
            .fields
            .iter()
            .map(|(_, h, _)| *h.device.0.as_bytes())
            .collect();
        devices.sort_unstable();
        devices.dedup();
        let names: usize = self.fields.iter().map(|(f, _, _)| f.len() + 1).sum();
        let mut out = Vec::with_capacity(3 + 16 * devices.len() + names + 34 * self.fields.len());
        out.push(BINARY_FORMAT);
        put_varint(&mut out, devices.len() as u64);
        for d in &devices {
            out.extend_from_slice(d);
        }
        put_varint(&mut out, self.fields.len() as u64);
        for (field, hlc, id) in &self.fields {
            put_varint(&mut out, field.len() as u64);
            out.extend_from_slice(field.as_bytes());
            put_varint(&mut out, hlc.wall_ms);
            put_varint(&mut out, u64::from(hlc.counter));
            let d = devices
                .binary_search(hlc.device.0.as_bytes())
                .unwrap_or_default();
            put_varint(&mut out, d as u64);
            out.extend_from_slice(id.0.as_bytes());
        }
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
            self.bytes()
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

    fn read_bytes(bytes: &[u8]) -> Result<Versions<'static>, StoreError> {
        Versions::read(ValueRef::Blob(bytes))
    }

    #[test]
    fn versions_round_trip_in_a_canonical_form() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let mut one = Versions::default();
        let mut two = Versions::default();
        let fields = [
            ("status", hlc(1_764_300_000_005, 1, a), ChangeId::new()),
            (
                "answer.geld.\"x\"",
                hlc(1_764_300_000_007, 300, b),
                ChangeId::new(),
            ),
            ("ended_at", hlc(1_764_300_000_009, 3, a), ChangeId::new()),
        ];
        for (f, h, id) in &fields {
            one.set(f, *h, *id);
        }
        // Set in another order, with an older version first overwritten.
        for (f, h, id) in fields.iter().rev() {
            two.set(f, hlc(1, 0, b), ChangeId::new());
            two.set(f, *h, *id);
        }
        let bytes = one.bytes();
        assert_eq!(bytes, two.bytes(), "same versions, same bytes");
        assert_eq!(bytes[0], BINARY_FORMAT);
        // Written by hand, in postcard's encoding.
        let mut devices = vec![*a.0.as_bytes(), *b.0.as_bytes()];
        devices.sort_unstable();
        let by_serde = postcard::to_allocvec(&Binary {
            format: BINARY_FORMAT,
            fields: one
                .fields
                .iter()
                .map(|(field, h, id)| BinaryField {
                    field,
                    wall_ms: h.wall_ms,
                    counter: h.counter,
                    device: u32::from(devices[1] == *h.device.0.as_bytes()),
                    change: *id.0.as_bytes(),
                })
                .collect(),
            devices,
        })
        .expect("postcard");
        assert_eq!(bytes, by_serde);
        let back = read_bytes(&bytes).expect("read");
        assert_eq!(back.fields, one.fields);
        assert_eq!(back.newest(), Some(hlc(1_764_300_000_009, 3, a)));
        assert_eq!(
            back.get("answer.geld.\"x\""),
            Some((fields[1].1, fields[1].2))
        );
        let names: Vec<&str> = back.iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["answer.geld.\"x\"", "ended_at", "status"]);
        assert_eq!(back.get("started_at"), None);
    }

    #[test]
    fn the_json_forms_of_earlier_versions_are_read() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let (s, e) = (ChangeId::new(), ChangeId::new());
        // What version 5 and 6 databases wrote: devices once, fields sorted.
        let (first, second) = if a < b { (a, b) } else { (b, a) };
        let compact = format!(
            "[[\"{first}\",\"{second}\"],{{\"ended_at\":[9,3,1,\"{e}\"],\"status\":[5,1,0,\"{s}\"]}}]"
        );
        let v = Versions::read(ValueRef::Text(compact.as_bytes())).expect("compact JSON");
        assert_eq!(v.get("status"), Some((hlc(5, 1, first), s)));
        assert_eq!(v.get("ended_at"), Some((hlc(9, 3, second), e)));
        // What migration 5 built from the per-field rows.
        let migrated = serde_json::json!({
            "status": [hlc(5, 1, a).to_string(), s.to_string()],
        })
        .to_string();
        let old = Versions::read(ValueRef::Text(migrated.as_bytes())).expect("old form");
        assert_eq!(old.get("status"), Some((hlc(5, 1, a), s)));
        // Rewritten, both come out in the binary form with the same versions.
        let again = read_bytes(&v.bytes()).expect("read");
        assert_eq!(again, v);
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
        let mut v = Versions::default();
        v.set("status", hlc(5, 1, DeviceId::new()), ChangeId::new());
        let good = v.bytes();
        let mut wrong_format = good.clone();
        wrong_format[0] = 9;
        let mut wrong_device = good.clone();
        // The device index of the only field: one past the single device.
        let at = good.len() - 17;
        wrong_device[at] = 1;
        for bad in [
            &good[..good.len() - 1],
            &wrong_format[..],
            &wrong_device[..],
            &[][..],
        ] {
            assert!(read_bytes(bad).is_err(), "{bad:?}");
        }
        assert!(Versions::read(ValueRef::Integer(3)).is_err());
    }
}

//! The stored form of a record's fields (`records.state`): every field's current winner.
//!
//! Written compactly, as a JSON array `[devices, authors, fields]`:
//!
//! * `devices` and `authors` list each device and author id of the record once;
//! * `fields` maps each field to `[value, wall, counter, clock_device, change_id,
//!   device, author]`, where `clock_device` and `device` index `devices`, and `author`
//!   indexes `authors` or is `null`.
//!
//! A record's fields nearly always come from one or two devices and authors, so each
//! field costs its value, its change id and a few digits, instead of four ids spelt out
//! (the first form, a JSON object of `{"v", "h", "c", "d", "a"}` per field, about 2.3×
//! larger). That form is still read, so a database written before needs no migration;
//! a record is rewritten in the compact form the next time it changes.

use crate::error::ServerError;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use voordeur_core::merge::FieldState;
use voordeur_core::{ChangeId, DeviceId, Hlc, UserId};

/// Every field of a record, by name.
pub type Fields = BTreeMap<String, FieldState>;

fn bad() -> ServerError {
    ServerError::Db("bad stored record".into())
}

/// One field in the first form.
#[derive(Deserialize)]
struct ObjectField {
    v: Value,
    h: Hlc,
    c: ChangeId,
    d: DeviceId,
    #[serde(default)]
    a: Option<UserId>,
}

/// One field in the compact form.
#[derive(Deserialize)]
struct CompactField(Value, u64, u32, usize, ChangeId, usize, Option<usize>);

#[derive(Deserialize)]
struct CompactState(Vec<DeviceId>, Vec<UserId>, Entries<CompactField>);

/// A JSON object read as its entries in order, without building a map (the caller
/// builds the one it keeps; building two was a visible cost of re-reading states).
struct Entries<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries<V>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Every field's winner of a record, from its stored state (either form).
pub fn parse(text: &str) -> Result<Fields, ServerError> {
    if text.trim_start().starts_with('[') {
        let CompactState(devices, authors, fields) =
            serde_json::from_str(text).map_err(|_| bad())?;
        let device = |i: usize| devices.get(i).copied().ok_or_else(bad);
        // Collected into the map in one go (a sorted list, as stored, is bulk-built;
        // a field listed twice keeps its last entry, as a map would).
        fields
            .0
            .into_iter()
            .map(
                |(k, CompactField(value, wall_ms, counter, clock, id, dev, author))| {
                    let author = match author {
                        Some(i) => Some(authors.get(i).copied().ok_or_else(bad)?),
                        None => None,
                    };
                    let state = FieldState {
                        value,
                        hlc: Hlc {
                            wall_ms,
                            counter,
                            device: device(clock)?,
                        },
                        change_id: id,
                        device: device(dev)?,
                        author,
                    };
                    Ok((k, state))
                },
            )
            .collect()
    } else {
        let stored: BTreeMap<String, ObjectField> =
            serde_json::from_str(text).map_err(|_| bad())?;
        Ok(stored
            .into_iter()
            .map(|(k, f)| {
                let state = FieldState {
                    value: f.v,
                    hlc: f.h,
                    change_id: f.c,
                    device: f.d,
                    author: f.a,
                };
                (k, state)
            })
            .collect())
    }
}

/// The position of `x` in `list`, adding it at the end when it is new. Lists hold a
/// record's few devices or authors: a linear search is the fast one.
fn index_of<T: PartialEq + Copy>(list: &mut Vec<T>, x: T) -> usize {
    match list.iter().position(|y| *y == x) {
        Some(i) => i,
        None => {
            list.push(x);
            list.len() - 1
        }
    }
}

fn push_uuid(out: &mut Vec<u8>, id: &uuid::Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push(b'"');
    out.extend_from_slice(id.as_hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

fn push_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_list(out: &mut Vec<u8>, ids: impl Iterator<Item = uuid::Uuid>) {
    out.push(b'[');
    for (i, id) in ids.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_uuid(out, &id);
    }
    out.push(b']');
}

/// The compact stored form of a record's fields.
pub fn text(fields: &Fields) -> Result<String, ServerError> {
    let mut devices: Vec<DeviceId> = Vec::new();
    let mut authors: Vec<UserId> = Vec::new();
    let mut body = Vec::with_capacity(fields.len() * 120);
    let json = |e: serde_json::Error| ServerError::Db(e.to_string());
    body.push(b'{');
    for (i, (k, f)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, k).map_err(json)?;
        body.extend_from_slice(b":[");
        serde_json::to_writer(&mut body, &f.value).map_err(json)?;
        body.push(b',');
        push_int(&mut body, f.hlc.wall_ms);
        body.push(b',');
        push_int(&mut body, f.hlc.counter);
        body.push(b',');
        push_int(&mut body, index_of(&mut devices, f.hlc.device));
        body.push(b',');
        push_uuid(&mut body, &f.change_id.0);
        body.push(b',');
        push_int(&mut body, index_of(&mut devices, f.device));
        body.push(b',');
        match f.author {
            Some(a) => push_int(&mut body, index_of(&mut authors, a)),
            None => body.extend_from_slice(b"null"),
        }
        body.push(b']');
    }
    body.push(b'}');
    let mut out = Vec::with_capacity(body.len() + 40 * (devices.len() + authors.len()) + 8);
    out.push(b'[');
    push_list(&mut out, devices.iter().map(|d| d.0));
    out.push(b',');
    push_list(&mut out, authors.iter().map(|a| a.0));
    out.push(b',');
    out.extend_from_slice(&body);
    out.push(b']');
    String::from_utf8(out).map_err(|e| ServerError::Db(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(value: Value, wall_ms: u64, device: DeviceId, author: Option<UserId>) -> FieldState {
        FieldState {
            value,
            hlc: Hlc {
                wall_ms,
                counter: 3,
                device,
            },
            change_id: ChangeId::new(),
            device,
            author,
        }
    }

    #[test]
    fn compact_state_round_trips_and_is_smaller_than_the_first_form() {
        let (d1, d2, server) = (DeviceId::new(), DeviceId::new(), DeviceId::new());
        let (a1, a2) = (UserId::new(), UserId::new());
        let mut fields = Fields::new();
        fields.insert("status".into(), field(json!("completed"), 1, d1, Some(a1)));
        fields.insert(
            "answer.x".into(),
            field(json!(["a", "b\"c"]), 2, d2, Some(a2)),
        );
        fields.insert(
            "text".into(),
            field(json!("regel\u{0}1\nregel 2"), 3, d1, None),
        );
        fields.insert("deleted".into(), field(Value::Null, 4, d2, Some(a1)));
        // A change re-stamped by the server: its clock names another device.
        let mut restamped = field(json!(42), 5, d1, Some(a1));
        restamped.hlc.device = server;
        fields.insert("answer.\"quoted\"".into(), restamped);

        let compact = text(&fields).expect("text");
        assert!(compact.starts_with('['), "{compact}");
        assert_eq!(parse(&compact).expect("parse"), fields);

        // The first form, as version 2 of the server wrote it, still reads.
        let object: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, f)| {
                let mut o =
                    json!({"v": f.value, "h": f.hlc.to_string(), "c": f.change_id, "d": f.device});
                if let Some(a) = f.author {
                    o["a"] = json!(a);
                }
                (k.clone(), o)
            })
            .collect();
        let first = Value::Object(object).to_string();
        assert_eq!(parse(&first).expect("parse"), fields);
        assert!(
            compact.len() * 3 < first.len() * 2,
            "{} vs {}",
            compact.len(),
            first.len()
        );
    }

    #[test]
    fn a_damaged_state_is_an_error_not_a_panic() {
        for bad in [
            "",
            "[",
            "[[],[],{\"x\":[1,2,3,0,\"0193a000-0000-7000-8000-000000000001\",0,null]}]",
            "[[\"0193a000-0000-7000-8000-000000000002\"],[],{\"x\":[1,2,3,0,\"0193a000-0000-7000-8000-000000000001\",0,5]}]",
            "{\"x\":{\"v\":1}}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! The stored form of a record's fields (`records.state`): every field's current winner.
//!
//! Written in binary ([`encode`]): a zero byte, then with `postcard` (variable-length
//! integers) the record's devices and authors, each listed once, a base wall time, and
//! per field its name, its value as JSON text, its clock's wall time after the base,
//! its counter, the index of its clock's device, its change id (16 bytes), and the
//! indexes of its device and author. A field of a visit takes about 65 bytes, against
//! about 107 in the compact JSON form before it, and is quicker to write and read: the
//! state of every record a push touches is written at the end of each batch, and that
//! was about a third of what a bulk push wrote.
//!
//! The two JSON forms written before are still read, so a database needs no
//! conversion; a record is rewritten in binary the next time it changes:
//!
//! * the compact form, a JSON array `[devices, authors, fields]` where `fields` maps
//!   each field to `[value, wall, counter, clock_device, change_id, device, author]`,
//!   the devices and author as indexes into the lists;
//! * the first form, a JSON object of `{"v", "h", "c", "d", "a"}` per field.

use crate::error::ServerError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;
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

/// The first byte of the binary form (JSON text never starts with it).
const BINARY: u8 = 0;

/// The binary form, after its first byte.
#[derive(Serialize, Deserialize)]
struct Packed<'a> {
    devices: Vec<Uuid>,
    authors: Vec<Uuid>,
    /// The earliest wall time of the fields' clocks; each counts from it.
    wall: u64,
    #[serde(borrow)]
    fields: Vec<PackedField<'a>>,
}

#[derive(Serialize, Deserialize)]
struct PackedField<'a> {
    name: &'a str,
    #[serde(borrow)]
    value: JsonText<'a>,
    /// After [`Packed::wall`].
    wall: u64,
    counter: u32,
    /// Indexes into [`Packed::devices`].
    clock: u32,
    id: Uuid,
    device: u32,
    /// Index into [`Packed::authors`].
    author: Option<u32>,
}

/// A value's JSON text, stored as bytes.
struct JsonText<'a>(&'a [u8]);

impl Serialize for JsonText<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(JsonText)
    }
}

/// Every field's winner of a record, from its stored state (any form).
pub fn parse(stored: &[u8]) -> Result<Fields, ServerError> {
    if let Some((&BINARY, packed)) = stored.split_first() {
        return parse_binary(packed);
    }
    let text = std::str::from_utf8(stored).map_err(|_| bad())?;
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

fn parse_binary(packed: &[u8]) -> Result<Fields, ServerError> {
    let (p, rest): (Packed, _) = postcard::take_from_bytes(packed).map_err(|_| bad())?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let device = |i: u32| {
        let i = usize::try_from(i).map_err(|_| bad())?;
        p.devices.get(i).copied().map(DeviceId).ok_or_else(bad)
    };
    p.fields
        .iter()
        .map(|f| {
            let author = match f.author {
                Some(i) => {
                    let i = usize::try_from(i).map_err(|_| bad())?;
                    Some(p.authors.get(i).copied().map(UserId).ok_or_else(bad)?)
                }
                None => None,
            };
            let state = FieldState {
                value: serde_json::from_slice(f.value.0).map_err(|_| bad())?,
                hlc: Hlc {
                    wall_ms: p.wall.checked_add(f.wall).ok_or_else(bad)?,
                    counter: f.counter,
                    device: device(f.clock)?,
                },
                change_id: ChangeId(f.id),
                device: device(f.device)?,
                author,
            };
            Ok((f.name.to_string(), state))
        })
        .collect()
}

/// The stored (binary) form of a record's fields.
pub fn encode(fields: &Fields) -> Result<Vec<u8>, ServerError> {
    let json = |e: serde_json::Error| ServerError::Db(e.to_string());
    let mut devices: Vec<Uuid> = Vec::new();
    let mut authors: Vec<Uuid> = Vec::new();
    let wall = fields.values().map(|f| f.hlc.wall_ms).min().unwrap_or(0);
    // The values' JSON, one after the other.
    let mut values = Vec::with_capacity(fields.len() * 24);
    let mut ends = Vec::with_capacity(fields.len());
    for f in fields.values() {
        serde_json::to_writer(&mut values, &f.value).map_err(json)?;
        ends.push(values.len());
    }
    let mut start = 0;
    let mut packed = Vec::with_capacity(fields.len());
    let index = |list: &mut Vec<Uuid>, id: Uuid| {
        u32::try_from(index_of(list, id)).map_err(|_| ServerError::Db("too many ids".into()))
    };
    for ((name, f), end) in fields.iter().zip(ends) {
        packed.push(PackedField {
            name,
            value: JsonText(values.get(start..end).unwrap_or_default()),
            wall: f.hlc.wall_ms - wall,
            counter: f.hlc.counter,
            clock: index(&mut devices, f.hlc.device.0)?,
            id: f.change_id.0,
            device: index(&mut devices, f.device.0)?,
            author: f.author.map(|a| index(&mut authors, a.0)).transpose()?,
        });
        start = end;
    }
    let packed = Packed {
        devices,
        authors,
        wall,
        fields: packed,
    };
    let mut out = Vec::with_capacity(values.len() + fields.len() * 48 + 64);
    out.push(BINARY);
    postcard::to_extend(&packed, out).map_err(|e| ServerError::Db(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// The compact JSON form, as the server wrote it before the binary one.
    fn text(fields: &Fields) -> Result<String, ServerError> {
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
    fn every_stored_form_reads_back_and_each_is_smaller_than_the_one_before() {
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

        let binary = encode(&fields).expect("encode");
        assert_eq!(binary.first(), Some(&BINARY));
        assert_eq!(parse(&binary).expect("parse"), fields);
        let empty = encode(&Fields::new()).expect("encode");
        assert!(parse(&empty).expect("parse").is_empty());

        // The compact JSON form, as the server wrote it before, still reads.
        let compact = text(&fields).expect("text");
        assert!(compact.starts_with('['), "{compact}");
        assert_eq!(parse(compact.as_bytes()).expect("parse"), fields);
        assert!(
            binary.len() * 3 < compact.len() * 2,
            "{} vs {}",
            binary.len(),
            compact.len()
        );

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
        assert_eq!(parse(first.as_bytes()).expect("parse"), fields);
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
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        // The binary form: cut anywhere, with bytes after it, an index out of range.
        let d = DeviceId::new();
        let mut fields = Fields::new();
        fields.insert("status".into(), field(json!("open"), 7, d, None));
        let binary = encode(&fields).expect("encode");
        for cut in 1..binary.len() {
            assert!(parse(&binary[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = binary.clone();
        longer.push(0);
        assert!(parse(&longer).is_err());
        let mut no_devices = binary.clone();
        // After the zero byte: the number of devices.
        no_devices[1] = 0;
        assert!(parse(&no_devices).is_err());
        assert!(parse(&[BINARY, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}

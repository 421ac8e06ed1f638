//! How changes travel and how the server logs them: grouped by record.
//!
//! A [`Change`] is one field of one record, and merging stays per field. On the wire
//! and in the server's log, though, consecutive changes of one record by one device and
//! author form a [`Block`] that names the record, device and author once; each field
//! entry ([`FieldChange`]) carries its change id, field, value, and its clock as
//! `[wall, counter]` (the device is the block's unless `clock` says otherwise, as after
//! a re-stamp by the server). That cuts the metadata of a field from about 250 bytes to
//! about 60, and a completed visit becomes three blocks instead of 76 objects.

use crate::change::{Change, EntityKind};
use crate::hlc::Hlc;
use crate::ids::{ChangeId, DeviceId, UserId};
use serde::de::Deserializer;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

/// Changes of one record by one device and author, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub entity: EntityKind,
    pub record: Uuid,
    pub device: DeviceId,
    #[serde(default)]
    pub author: Option<UserId>,
    pub changes: Vec<FieldChange>,
}

/// One field change inside a [`Block`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub id: ChangeId,
    pub field: String,
    pub value: Value,
    /// Wall time (ms) and counter of the change's clock.
    pub at: (u64, u32),
    /// The device of the change's clock, when it is not the block's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Hlc>,
}

/// Do two changes belong in one block?
fn same_block(a: &Change, b: &Change) -> bool {
    a.record == b.record && a.entity == b.entity && a.device == b.device && a.author == b.author
}

/// The changes split into runs that share a block: consecutive changes of one record
/// by one device and author.
pub fn runs(changes: &[Change]) -> impl Iterator<Item = &[Change]> {
    changes.chunk_by(same_block)
}

impl Block {
    /// The changes of this block, in order.
    pub fn into_changes(self) -> impl Iterator<Item = Change> {
        let Block {
            entity,
            record,
            device,
            author,
            changes,
        } = self;
        changes
            .into_iter()
            .map(move |f| f.into_change(entity, record, device, author))
    }
}

impl FieldChange {
    pub fn into_change(
        self,
        entity: EntityKind,
        record: Uuid,
        device: DeviceId,
        author: Option<UserId>,
    ) -> Change {
        Change {
            id: self.id,
            entity,
            record,
            field: self.field,
            value: self.value,
            hlc: Hlc {
                wall_ms: self.at.0,
                counter: self.at.1,
                device: self.clock.unwrap_or(device),
            },
            base: self.base,
            device,
            author,
        }
    }
}

/// The field entries of a run of changes (one block), serialised without copying.
pub struct FieldChanges<'a>(pub &'a [Change]);

impl Serialize for FieldChanges<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for c in self.0 {
            seq.serialize_element(&FieldChangeRef(c))?;
        }
        seq.end()
    }
}

/// One change as a field entry of its block, serialised without copying.
pub struct FieldChangeRef<'a>(pub &'a Change);

impl Serialize for FieldChangeRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let own_clock = c.hlc.device == c.device;
        let n = 4 + usize::from(!own_clock) + usize::from(c.base.is_some());
        let mut st = s.serialize_struct("FieldChange", n)?;
        st.serialize_field("id", &c.id)?;
        st.serialize_field("field", &c.field)?;
        st.serialize_field("value", &c.value)?;
        st.serialize_field("at", &(c.hlc.wall_ms, c.hlc.counter))?;
        if !own_clock {
            st.serialize_field("clock", &c.hlc.device)?;
        }
        if let Some(b) = &c.base {
            st.serialize_field("base", b)?;
        }
        st.end()
    }
}

/// A run of changes as one block (the first change names the record), serialised
/// without copying. The changes must share a block (see [`runs`]).
pub struct BlockRef<'a>(pub &'a [Change]);

impl Serialize for BlockRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let first = self
            .0
            .first()
            .ok_or_else(|| serde::ser::Error::custom("a block holds at least one change"))?;
        let mut st = s.serialize_struct("Block", 5)?;
        st.serialize_field("entity", &first.entity)?;
        st.serialize_field("record", &first.record)?;
        st.serialize_field("device", &first.device)?;
        st.serialize_field("author", &first.author)?;
        st.serialize_field("changes", &FieldChanges(self.0))?;
        st.end()
    }
}

/// Changes serialised as a list of blocks.
pub struct Blocks<'a>(pub &'a [Change]);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for run in runs(self.0) {
            seq.serialize_element(&BlockRef(run))?;
        }
        seq.end()
    }
}

/// A list of blocks read back as the changes they hold, in order.
pub fn deserialize_blocks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Change>, D::Error> {
    let blocks = Vec::<Block>::deserialize(d)?;
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.changes.len()).sum());
    for b in blocks {
        out.extend(b.into_changes());
    }
    Ok(out)
}

/// `#[serde(serialize_with)]` form of [`Blocks`].
pub fn serialize_blocks<S: Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    Blocks(changes).serialize(s)
}

/// The field entries of a list of blocks as they were sent: one text per change, in
/// order (see [`read_sent_blocks`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SentTexts {
    text: String,
    /// Where each change's text ends in `text`.
    ends: Vec<usize>,
}

impl SentTexts {
    /// The field entry of the `i`th change, as it was sent.
    pub fn get(&self, i: usize) -> Option<&str> {
        let start = match i {
            0 => 0,
            i => *self.ends.get(i - 1)?,
        };
        self.text.get(start..*self.ends.get(i)?)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// A [`Block`] whose field entries are kept as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentBlock<'a> {
    entity: EntityKind,
    record: Uuid,
    device: DeviceId,
    #[serde(default)]
    author: Option<UserId>,
    #[serde(borrow)]
    changes: Vec<&'a RawValue>,
}

/// The JSON object `{"blocks": [...]}` (a push request), its blocks kept as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SentPush<'a> {
    #[serde(borrow)]
    blocks: Vec<SentBlock<'a>>,
}

/// A push request's JSON (`{"blocks": [...]}`, see `protocol::PushRequest`) read as its
/// changes and the text each field entry was sent as: the same changes, and the same
/// errors for what is not one, as reading a `PushRequest`. The server logs a change it
/// takes unaltered from its text, instead of writing it again.
pub fn read_sent_blocks(json: &[u8]) -> Result<(Vec<Change>, SentTexts), serde_json::Error> {
    let push: SentPush = serde_json::from_slice(json)?;
    let n = push.blocks.iter().map(|b| b.changes.len()).sum();
    let mut changes = Vec::with_capacity(n);
    let mut texts = SentTexts {
        text: String::with_capacity(json.len()),
        ends: Vec::with_capacity(n),
    };
    for b in push.blocks {
        for raw in b.changes {
            let f: FieldChange = serde_json::from_str(raw.get())?;
            changes.push(f.into_change(b.entity, b.record, b.device, b.author));
            texts.text.push_str(raw.get());
            texts.ends.push(texts.text.len());
        }
    }
    Ok((changes, texts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(record: Uuid, device: DeviceId, field: &str, counter: u32) -> Change {
        Change {
            id: ChangeId::new(),
            entity: EntityKind::Visit,
            record,
            field: field.into(),
            value: json!(counter),
            hlc: Hlc {
                wall_ms: 1_700_000_000_000,
                counter,
                device,
            },
            base: None,
            device,
            author: Some(UserId::new()),
        }
    }

    #[test]
    fn blocks_round_trip_and_group_consecutive_changes_of_a_record() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let (r1, r2) = (Uuid::now_v7(), Uuid::now_v7());
        let mut cs = vec![
            change(r1, a, "answer.x", 1),
            change(r1, a, "answer.y", 2),
            change(r2, a, "status", 3),
            change(r1, a, "answer.z", 4),
        ];
        cs[1].author = cs[0].author;
        cs[3].author = cs[0].author;
        // A re-stamped change: the clock is the server's, the change stays a's.
        cs[2].hlc.device = b;
        cs[2].base = Some(Hlc::zero(b));
        let text = serde_json::to_string(&Blocks(&cs)).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v.as_array().map(Vec::len), Some(3), "{text}");
        assert_eq!(v[0]["changes"].as_array().map(Vec::len), Some(2));
        assert_eq!(v[1]["changes"][0]["clock"], json!(b));
        assert!(v[0]["changes"][0].get("clock").is_none());
        let mut de = serde_json::Deserializer::from_str(&text);
        let back = deserialize_blocks(&mut de).unwrap_or_default();
        assert_eq!(back, cs);
    }

    #[test]
    fn a_block_refuses_unknown_fields() {
        let d = DeviceId::new();
        let text = serde_json::to_string(&Blocks(&[change(Uuid::now_v7(), d, "status", 1)]))
            .unwrap_or_default();
        let mut v: Value = serde_json::from_str(&text).unwrap_or_default();
        v[0]["changes"][0]["extra"] = json!(1);
        assert!(serde_json::from_value::<Vec<Block>>(v.clone()).is_err());
        v[0]["changes"][0]
            .as_object_mut()
            .map(|o| o.remove("extra"));
        v[0]["extra"] = json!(1);
        assert!(serde_json::from_value::<Vec<Block>>(v).is_err());
    }

    #[test]
    fn sent_blocks_read_as_the_changes_with_the_text_of_each_entry() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let r = Uuid::now_v7();
        let mut cs = vec![
            change(r, a, "answer.x", 1),
            change(r, a, "answer.y", 2),
            change(Uuid::now_v7(), a, "status", 3),
        ];
        cs[1].author = cs[0].author;
        cs[2].hlc.device = b;
        cs[2].base = Some(Hlc::zero(b));
        cs[2].value = json!({"tekst": "regel 1\nregel \"2\"", "n": [1.5, null]});
        let json = format!(
            "{{ \"blocks\" : {} }}",
            serde_json::to_string(&Blocks(&cs)).unwrap_or_default()
        );
        let (changes, texts) = read_sent_blocks(json.as_bytes()).expect("read");
        assert_eq!(changes, cs);
        assert_eq!(texts.len(), 3);
        for (i, c) in cs.iter().enumerate() {
            let text = texts.get(i).expect("text");
            let f: FieldChange = serde_json::from_str(text).expect("an entry");
            assert_eq!(f.into_change(c.entity, c.record, c.device, c.author), *c);
            assert_eq!(
                text,
                serde_json::to_string(&FieldChangeRef(c)).unwrap_or_default()
            );
        }
        assert_eq!(texts.get(3), None);

        // What a block may not hold is refused as before, at either level.
        let mut v: Value = serde_json::from_str(&json).unwrap_or_default();
        v["blocks"][0]["changes"][1]["extra"] = json!(1);
        assert!(read_sent_blocks(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_str(&json).unwrap_or_default();
        v["blocks"][0]["extra"] = json!(1);
        assert!(read_sent_blocks(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_str(&json).unwrap_or_default();
        v["extra"] = json!(1);
        assert!(read_sent_blocks(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_str(&json).unwrap_or_default();
        v["blocks"][0]["changes"][0]["at"] = json!("gisteren");
        assert!(read_sent_blocks(v.to_string().as_bytes()).is_err());
        assert!(read_sent_blocks(b"{\"blocks\":[").is_err());
    }
}

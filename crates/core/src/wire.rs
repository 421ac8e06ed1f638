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

/// The field entries of a list of blocks as they were sent, for each change (in order)
/// whose entry was sent exactly as [`FieldChangeRef`] writes it (see
/// [`read_sent_blocks`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SentTexts {
    text: String,
    /// Where each change's text is in `text`, if it was kept.
    entries: Vec<Option<std::ops::Range<usize>>>,
}

impl SentTexts {
    /// The field entry of the `i`th change as it was sent, if it was sent as this crate
    /// writes it.
    pub fn get(&self, i: usize) -> Option<&str> {
        let range = self.entries.get(i)?.clone()?;
        self.text.get(range)
    }

    /// How many changes were read.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where the JSON string at the start of `b` ends, if it is spelt as serde_json writes
/// strings: characters as they are, except `"`, `\` and control characters, escaped
/// the short way where there is one (`\n`) and as `\u00xx` (lower case) otherwise.
fn our_string_end(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f' => i += 2,
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    let low = hex[3];
                    let control = hex[..2] == *b"00"
                        && matches!(hex[2], b'0' | b'1')
                        && matches!(low, b'0'..=b'9' | b'a'..=b'f');
                    // Those with a short escape are written short.
                    let short = hex[2] == b'0' && matches!(low, b'8' | b'9' | b'a' | b'c' | b'd');
                    if !control || short {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// Where the whole number at the start of `b` ends, if it is spelt as serde_json writes
/// one (no sign but `-`, no leading zero, not `-0`; up to 18 digits, so it was read as
/// an integer), with its value.
fn our_integer_end(b: &[u8]) -> Option<(usize, bool, u64)> {
    let negative = b.first() == Some(&b'-');
    let start = usize::from(negative);
    let digits = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    let end = start + digits;
    let text = &b[start..end];
    let ok = (1..=18).contains(&digits)
        && !(text[0] == b'0' && (digits > 1 || negative))
        && !matches!(b.get(end), Some(b'.' | b'e' | b'E'));
    let value = text.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    ok.then_some((end, negative, value))
}

/// Is `text` the entry of `f` exactly as [`FieldChangeRef`] writes it? Checked for the
/// usual entry (see [`Ours::entry`]): no `clock`, a `base` in its one text form, a value
/// that is a string, a whole number, a boolean, null or an array of these. The server
/// keeps the text of such an entry as it came instead of writing it again; any other
/// entry (white space, another spelling of an id, a number or an escape, keys in
/// another order, an object) is written again, so the log only ever holds the one
/// spelling.
fn written_as_ours(text: &str, f: &FieldChange) -> bool {
    let mut cur = Ours { s: text, i: 0 };
    cur.entry()
        .is_some_and(|(read, range)| range.end == text.len() && read == *f)
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
/// changes and the text each field entry was sent as, where that is exactly how this
/// crate writes it (see [`written_as_ours`]): the same changes, and the same errors for
/// what is not one, as reading a `PushRequest`. The server logs a change it takes
/// unaltered from its text, instead of writing it again.
///
/// A request written the way devices write it is read by [`read_ours`] in one pass;
/// anything else (white space, other spellings, objects as values, errors) by serde.
pub fn read_sent_blocks(json: &[u8]) -> Result<(Vec<Change>, SentTexts), serde_json::Error> {
    match read_ours(json) {
        Some(read) => Ok(read),
        None => read_sent_blocks_by_serde(json),
    }
}

fn read_sent_blocks_by_serde(json: &[u8]) -> Result<(Vec<Change>, SentTexts), serde_json::Error> {
    let push: SentPush = serde_json::from_slice(json)?;
    let n = push.blocks.iter().map(|b| b.changes.len()).sum();
    let mut changes = Vec::with_capacity(n);
    let mut texts = SentTexts {
        text: String::with_capacity(json.len()),
        entries: Vec::with_capacity(n),
    };
    for b in push.blocks {
        for raw in b.changes {
            let f: FieldChange = serde_json::from_str(raw.get())?;
            let kept = written_as_ours(raw.get(), &f).then(|| {
                let start = texts.text.len();
                texts.text.push_str(raw.get());
                start..texts.text.len()
            });
            texts.entries.push(kept);
            changes.push(f.into_change(b.entity, b.record, b.device, b.author));
        }
    }
    Ok((changes, texts))
}

/// A push request spelt exactly as devices write it (see [`BlockRef`]): no white space,
/// ids in lower case, keys in their order, every field entry as [`written_as_ours`]
/// keeps it (and at least one of them in each block). Anything else is `None`, and is
/// left to serde, which reads what this reads into the same changes.
fn read_ours(json: &[u8]) -> Option<(Vec<Change>, SentTexts)> {
    let text = std::str::from_utf8(json).ok()?;
    let mut cur = Ours { s: text, i: 0 };
    let mut changes = Vec::with_capacity(json.len() / 96);
    let mut entries = Vec::with_capacity(json.len() / 96);
    cur.lit("{\"blocks\":[")?;
    loop {
        cur.lit("{\"entity\":")?;
        let name = cur.string()?;
        let entity = EntityKind::deserialize(
            serde::de::IntoDeserializer::<serde::de::value::Error>::into_deserializer(
                name.as_ref(),
            ),
        )
        .ok()?;
        cur.lit(",\"record\":")?;
        let record = cur.uuid()?;
        cur.lit(",\"device\":")?;
        let device = DeviceId(cur.uuid()?);
        cur.lit(",\"author\":")?;
        let author = match cur.lit("null") {
            Some(()) => None,
            None => Some(UserId(cur.uuid()?)),
        };
        cur.lit(",\"changes\":[")?;
        loop {
            let (f, range) = cur.entry()?;
            entries.push(Some(range));
            changes.push(f.into_change(entity, record, device, author));
            if cur.lit(",").is_none() {
                break;
            }
        }
        cur.lit("]}")?;
        if cur.lit(",").is_none() {
            break;
        }
    }
    cur.lit("]}")?;
    if cur.i != json.len() {
        return None;
    }
    let texts = SentTexts {
        text: text.to_owned(),
        entries,
    };
    Some((changes, texts))
}

/// Where [`read_ours`] is in the request.
struct Ours<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Ours<'a> {
    fn rest(&self) -> &'a [u8] {
        self.s.as_bytes().get(self.i..).unwrap_or_default()
    }

    /// `l` comes next: step over it.
    fn lit(&mut self, l: &str) -> Option<()> {
        self.rest()
            .starts_with(l.as_bytes())
            .then(|| self.i += l.len())
    }

    /// A string spelt as [`our_string_end`] knows, unescaped.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        let end = our_string_end(self.rest())?;
        let inner = self.s.get(self.i + 1..self.i + end - 1)?;
        self.i += end;
        if !inner.contains('\\') {
            return Some(std::borrow::Cow::Borrowed(inner));
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match chars.next()? {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                other => other,
            });
        }
        Some(std::borrow::Cow::Owned(out))
    }

    /// An id in quotes, hyphenated in lower case.
    fn uuid(&mut self) -> Option<Uuid> {
        let b = self.rest().get(..38)?;
        if b[0] != b'"' || b[37] != b'"' {
            return None;
        }
        let id = Uuid::try_parse_ascii(&b[1..37]).ok()?;
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let lower = id.hyphenated().encode_lower(&mut buf);
        (lower.as_bytes() == &b[1..37]).then(|| {
            self.i += 38;
            id
        })
    }

    /// A whole number spelt as [`our_integer_end`] knows: whether it is negative, and
    /// its size.
    fn integer(&mut self) -> Option<(bool, u64)> {
        let (end, negative, value) = our_integer_end(self.rest())?;
        self.i += end;
        Some((negative, value))
    }

    /// A value spelt as serde_json writes it that is a string, a whole number, `true`,
    /// `false`, `null` or an array of such values (what answers are). An object (key
    /// order, repeated keys) or a fraction (its digits) is not read here: `None`.
    fn value(&mut self, depth: usize) -> Option<Value> {
        match *self.rest().first()? {
            b'"' => Some(Value::String(self.string()?.into_owned())),
            b't' => self.lit("true").map(|()| Value::Bool(true)),
            b'f' => self.lit("false").map(|()| Value::Bool(false)),
            b'n' => self.lit("null").map(|()| Value::Null),
            b'-' | b'0'..=b'9' => match self.integer()? {
                (true, size) => Some(Value::from(-i64::try_from(size).ok()?)),
                (false, size) => Some(Value::from(size)),
            },
            b'[' if depth < 16 => {
                self.i += 1;
                let mut items = Vec::new();
                if self.lit("]").is_some() {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.lit(",").is_none() {
                        self.lit("]")?;
                        return Some(Value::Array(items));
                    }
                }
            }
            _ => None,
        }
    }

    /// A field entry spelt exactly as [`FieldChangeRef`] writes it (no `clock`), and
    /// where its text is.
    fn entry(&mut self) -> Option<(FieldChange, std::ops::Range<usize>)> {
        let start = self.i;
        self.lit("{\"id\":")?;
        let id = ChangeId(self.uuid()?);
        self.lit(",\"field\":")?;
        let field = self.string()?.into_owned();
        self.lit(",\"value\":")?;
        let value = self.value(0)?;
        self.lit(",\"at\":[")?;
        let (false, wall) = self.integer()? else {
            return None;
        };
        self.lit(",")?;
        let (false, counter) = self.integer()? else {
            return None;
        };
        let counter = u32::try_from(counter).ok()?;
        self.lit("]")?;
        let base = match self.lit(",\"base\":") {
            None => None,
            Some(()) => {
                let text = self.string()?;
                let base: Hlc = text.parse().ok()?;
                (base.to_string() == text).then_some(base)?;
                Some(base)
            }
        };
        self.lit("}")?;
        let f = FieldChange {
            id,
            field,
            value,
            at: (wall, counter),
            clock: None,
            base,
        };
        Some((f, start..self.i))
    }
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
        // The re-stamped entry with a base and an object value is not kept as sent.
        assert_eq!(texts.get(2), None);
        for (i, c) in cs.iter().enumerate().take(2) {
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

    /// A request as devices write it is read in one pass into what serde reads, with
    /// every entry kept; so is every one-byte change of it that is still spelt that way,
    /// and every other change is left to serde.
    #[test]
    fn requests_as_devices_write_them_are_read_in_one_pass_as_serde_reads_them() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let (r1, r2) = (Uuid::now_v7(), Uuid::now_v7());
        let values = [
            json!("Bewoner: \"huur\" \\ achter\nregel 2\t\u{1f}\u{8} é ✓"),
            json!(-42),
            json!(1_700_000_000_000u64),
            json!(true),
            json!(false),
            json!(null),
            json!([]),
            json!(["a", [1, -2], null, true]),
        ];
        let mut cs: Vec<Change> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut c = change(r1, a, &format!("answer.{i}"), i as u32);
                c.value = v.clone();
                c
            })
            .collect();
        let author = cs[0].author;
        for c in &mut cs {
            c.author = author;
        }
        let mut note = change(r2, b, "tekst\n\"kop\"", 9);
        note.entity = EntityKind::FollowUp;
        note.author = None;
        note.base = Some(Hlc {
            wall_ms: 1_699_999_999_000,
            counter: 12,
            device: a,
        });
        cs.push(note);
        let line = format!(
            "{{\"blocks\":{}}}",
            serde_json::to_string(&Blocks(&cs)).unwrap_or_default()
        );
        let (changes, texts) = read_ours(line.as_bytes()).expect("read in one pass");
        assert_eq!(changes, cs);
        for (i, c) in cs.iter().enumerate() {
            let written = serde_json::to_string(&FieldChangeRef(c)).unwrap_or_default();
            assert_eq!(texts.get(i), Some(written.as_str()));
        }
        let (by_serde, _) = read_sent_blocks_by_serde(line.as_bytes()).expect("serde");
        assert_eq!(by_serde, cs);

        let bytes = line.as_bytes();
        let (mut one_pass, mut left) = (0, 0);
        for i in 0..bytes.len() {
            for m in [
                None,
                Some(b' '),
                Some(b'0'),
                Some(b'7'),
                Some(b'"'),
                Some(b'A'),
            ] {
                let mut v = bytes.to_vec();
                match m {
                    None => {
                        v.remove(i);
                    }
                    Some(c) if c == v[i] => continue,
                    Some(c) => v[i] = c,
                }
                let slow = read_sent_blocks_by_serde(&v);
                let Some((changes, texts)) = read_ours(&v) else {
                    left += 1;
                    continue;
                };
                one_pass += 1;
                let (slow_changes, slow_texts) = slow.expect("serde reads it too");
                assert_eq!(changes, slow_changes, "{}", String::from_utf8_lossy(&v));
                assert_eq!(texts.len(), slow_texts.len());
                for k in 0..texts.len() {
                    assert_eq!(texts.get(k), slow_texts.get(k));
                }
            }
        }
        // Digits of times and numbers, letters of names: still as devices write them.
        assert!(one_pass > 100, "{one_pass} read in one pass");
        assert!(left > one_pass, "{left} left to serde");
    }

    /// Only an entry spelt exactly as this crate writes it is kept as sent; every other
    /// spelling of the same change is read the same and written again.
    #[test]
    fn only_entries_spelt_as_ours_are_kept_as_sent() {
        let d = DeviceId::new();
        let r = Uuid::now_v7();
        let id = ChangeId::new();
        let upper = id.0.hyphenated().to_string().to_uppercase();
        let ours = |value: &str| {
            format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":{value},\"at\":[1700000000000,7]}}")
        };
        let kept = [
            "\"Bewoner geeft aan: \\\"huur\\\" \\\\ achter\\nregel 2\\u001f é\"",
            "12",
            "-3",
            "0",
            "true",
            "false",
            "null",
            "[]",
            "[\"a\",[1,2],null]",
        ];
        let again = [
            "\"a\\/b\"",
            "\"\\u00e9\"",
            "\"\\u0008\"",
            "\"\\u001F\"",
            "1.5",
            "1e3",
            "-0",
            "12345678901234567890",
            "{\"a\":1,\"a\":2}",
            "{}",
            "[1, 2]",
            " 12",
        ];
        let mut entries: Vec<(String, bool)> = Vec::new();
        entries.extend(kept.iter().map(|v| (ours(v), true)));
        entries.extend(again.iter().map(|v| (ours(v), false)));
        let base = Hlc {
            wall_ms: 1_699_999_999_000,
            counter: 3,
            device: d,
        }
        .to_string();
        entries.push((
            format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7],\"base\":\"{base}\"}}"),
            true,
        ));
        entries.extend(
            [
                format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7],\"base\":\"{}\"}}", base.to_uppercase()),
                format!("{{\"id\":\"{upper}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7]}}"),
                format!("{{\"field\":\"answer.x\",\"id\":\"{id}\",\"value\":1,\"at\":[1700000000000,7]}}"),
                format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7] }}"),
                format!("{{\"id\":\"{id}\",\"field\":\"answer.\\u0078\",\"value\":1,\"at\":[1700000000000,7]}}"),
                format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7],\"base\":null}}"),
                format!("{{\"id\":\"{id}\",\"field\":\"answer.x\",\"value\":1,\"at\":[1700000000000,7],\"clock\":\"{d}\"}}"),
            ]
            .map(|e| (e, false)),
        );
        for (entry, as_ours) in &entries {
            let json = format!(
                "{{\"blocks\":[{{\"entity\":\"visit\",\"record\":\"{r}\",\"device\":\"{d}\",\"author\":null,\"changes\":[{entry}]}}]}}"
            );
            let (changes, texts) = read_sent_blocks(json.as_bytes()).expect(entry);
            assert_eq!(texts.len(), 1);
            assert_eq!(texts.get(0).is_some(), *as_ours, "{entry}");
            let f: FieldChange = serde_json::from_str(entry).expect(entry);
            assert_eq!(
                changes[0],
                f.into_change(EntityKind::Visit, r, d, None),
                "{entry}"
            );
            if *as_ours {
                // Kept as sent: exactly what would be written.
                let written = serde_json::to_string(&FieldChangeRef(&changes[0])).expect("json");
                assert_eq!(texts.get(0), Some(written.as_str()), "{entry}");
            }
        }
    }
}

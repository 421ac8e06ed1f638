//! The merge rules, one implementation for the server and the devices.
//!
//! * Per field, last writer wins by HLC ([`wins`]). The device applies pulled changes
//!   with it; the server keeps the same winner, so every copy converges.
//! * A change names the field version its author saw (`base`). When it did not see the
//!   current value and the values differ, the two were made concurrently: the server
//!   records a conflict that keeps both ([`decide`]); the HLC winner shows meanwhile.
//! * Note text is merged line-wise against the common base when the edits do not
//!   overlap; overlapping edits are a conflict.
//! * Clock rule: a change stamped more than [`MAX_CLOCK_AHEAD_MS`] ahead of the
//!   server's clock is re-stamped by the server on receipt, so a tablet whose clock is
//!   years ahead cannot win every future conflict. The device learns the new stamp from
//!   the push response.

use crate::change::{Change, EntityKind};
use crate::hlc::Hlc;
use crate::ids::{ChangeId, DeviceId, UserId};
use serde_json::Value;

/// How far ahead of the server's clock a change may be stamped before the server
/// re-stamps it.
pub const MAX_CLOCK_AHEAD_MS: u64 = 60_000;

/// The current winner of one field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldState {
    pub value: Value,
    pub hlc: Hlc,
    pub change_id: ChangeId,
    pub device: DeviceId,
    pub author: Option<UserId>,
}

/// Does a change with clock `incoming` replace a field last set at `current`?
pub fn wins(incoming: &Hlc, current: Option<&Hlc>) -> bool {
    current.is_none_or(|c| incoming > c)
}

/// What the server does with an incoming change to a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Store it as the field's value (it is newer and supersedes what is there).
    Apply,
    /// Keep the current value; the change is logged but loses (older, or a duplicate).
    Keep,
    /// Concurrent edits of note text merged cleanly: store this merged text as a new
    /// change.
    Merged(String),
    /// Concurrent edits that differ: record a conflict. `incoming_wins` tells whether
    /// the incoming change is the provisional (HLC) winner.
    Conflict { incoming_wins: bool },
}

/// Was `incoming` made with knowledge of `current`?
pub fn saw(incoming: &Change, current: &FieldState) -> bool {
    // A device always knows its own earlier writes.
    incoming.base.is_some_and(|b| b >= current.hlc) || incoming.device == current.device
}

/// Decide an incoming change against the field's current winner. `base_value` looks up
/// the value the field had at a given version (for the line-wise merge of notes).
pub fn decide(
    current: Option<&FieldState>,
    incoming: &Change,
    base_value: impl FnOnce(&Hlc) -> Option<Value>,
) -> Decision {
    let Some(current) = current else {
        return Decision::Apply;
    };
    if current.change_id == incoming.id {
        return Decision::Keep;
    }
    let lww = if incoming.hlc > current.hlc {
        Decision::Apply
    } else {
        Decision::Keep
    };
    if saw(incoming, current) || current.value == incoming.value {
        return lww;
    }
    // Made without seeing each other, and the values differ.
    if incoming.entity == EntityKind::Note && incoming.field == "text" {
        let base = incoming
            .base
            .as_ref()
            .and_then(base_value)
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if let (Some(ours), Some(theirs)) = (current.value.as_str(), incoming.value.as_str()) {
            if let Some(merged) = merge_lines(&base, ours, theirs) {
                return Decision::Merged(merged);
            }
        }
    }
    Decision::Conflict {
        incoming_wins: incoming.hlc > current.hlc,
    }
}

/// Three-way line merge of text. `None` when the edits overlap.
pub fn merge_lines(base: &str, ours: &str, theirs: &str) -> Option<String> {
    // diffy works on lines that end in a newline; normalise and restore.
    let nl = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    let merged = diffy::merge(&nl(base), &nl(ours), &nl(theirs)).ok()?;
    let keep_newline = ours.ends_with('\n') || theirs.ends_with('\n');
    Some(if keep_newline {
        merged
    } else {
        merged.strip_suffix('\n').unwrap_or(&merged).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn hlc(wall: u64, device: DeviceId) -> Hlc {
        Hlc {
            wall_ms: wall,
            counter: 0,
            device,
        }
    }

    fn change(field: &str, value: Value, at: Hlc, base: Option<Hlc>) -> Change {
        Change {
            id: ChangeId::new(),
            entity: EntityKind::Note,
            record: Uuid::nil(),
            field: field.into(),
            value,
            hlc: at,
            base,
            device: at.device,
            author: None,
        }
    }

    fn state(c: &Change) -> FieldState {
        FieldState {
            value: c.value.clone(),
            hlc: c.hlc,
            change_id: c.id,
            device: c.device,
            author: None,
        }
    }

    #[test]
    fn an_edit_that_saw_the_current_value_replaces_it() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let first = change("author_id", json!(null), hlc(10, a), None);
        let next = change("author_id", json!(null), hlc(20, b), Some(first.hlc));
        assert_eq!(
            decide(Some(&state(&first)), &next, |_| None),
            Decision::Apply
        );
        assert_eq!(decide(None, &next, |_| None), Decision::Apply);
        assert_eq!(decide(Some(&state(&next)), &next, |_| None), Decision::Keep);
    }

    #[test]
    fn concurrent_different_values_conflict_and_equal_values_do_not() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let base = change("status", json!("open"), hlc(5, a), None);
        let x = change("status", json!("done"), hlc(10, a), Some(base.hlc));
        let y = change("status", json!("open2"), hlc(11, b), Some(base.hlc));
        assert_eq!(
            decide(Some(&state(&x)), &y, |_| None),
            Decision::Conflict {
                incoming_wins: true
            }
        );
        assert_eq!(
            decide(Some(&state(&y)), &x, |_| None),
            Decision::Conflict {
                incoming_wins: false
            }
        );
        let same = change("status", json!("done"), hlc(12, b), Some(base.hlc));
        assert_eq!(decide(Some(&state(&x)), &same, |_| None), Decision::Apply);
    }

    #[test]
    fn note_edits_on_different_lines_merge_and_overlapping_ones_conflict() {
        let (a, b) = (DeviceId::new(), DeviceId::new());
        let base_text = "regel een\nregel twee\nregel drie";
        let base = change("text", json!(base_text), hlc(5, a), None);
        let x = change(
            "text",
            json!("regel EEN\nregel twee\nregel drie"),
            hlc(10, a),
            Some(base.hlc),
        );
        let y = change(
            "text",
            json!("regel een\nregel twee\nregel DRIE"),
            hlc(11, b),
            Some(base.hlc),
        );
        let lookup = |h: &Hlc| (*h == base.hlc).then(|| json!(base_text));
        assert_eq!(
            decide(Some(&state(&x)), &y, lookup),
            Decision::Merged("regel EEN\nregel twee\nregel DRIE".into())
        );
        let z = change(
            "text",
            json!("regel Een!\nregel twee\nregel drie"),
            hlc(12, b),
            Some(base.hlc),
        );
        assert!(matches!(
            decide(Some(&state(&x)), &z, lookup),
            Decision::Conflict { .. }
        ));
    }

    #[test]
    fn last_writer_wins_by_clock() {
        let d = DeviceId::new();
        assert!(wins(&hlc(2, d), Some(&hlc(1, d))));
        assert!(!wins(&hlc(1, d), Some(&hlc(1, d))));
        assert!(wins(&hlc(1, d), None));
    }
}

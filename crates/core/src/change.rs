//! The unit of sync: one field of one record set to one value.
//!
//! Every write on a device becomes one or more [`Change`]s, stored in the outbox in the
//! same transaction as the record itself, and later carried over the wire unchanged.
//! A change names the version of the field its author saw (`base`), which is what lets
//! the merge tell "edited after seeing" from "edited concurrently".

use crate::hlc::Hlc;
use crate::ids::{ChangeId, DeviceId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The kind of record a change applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Household,
    Resident,
    Template,
    Visit,
    Note,
    Signal,
    FollowUp,
    Review,
    Conflict,
}

/// What type a field's value must have on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    OptText,
    Uuid,
    OptUuid,
    Int,
    OptInt,
    Bool,
    Date,
    Json,
}

/// Prefix of a visit's answer fields: `answer.<item id>`.
pub const ANSWER_PREFIX: &str = "answer.";
/// The tombstone field every entity has.
pub const DELETED: &str = "deleted";

impl EntityKind {
    pub const ALL: &'static [EntityKind] = &[
        EntityKind::Household,
        EntityKind::Resident,
        EntityKind::Template,
        EntityKind::Visit,
        EntityKind::Note,
        EntityKind::Signal,
        EntityKind::FollowUp,
        EntityKind::Review,
        EntityKind::Conflict,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::Household => "household",
            EntityKind::Resident => "resident",
            EntityKind::Template => "template",
            EntityKind::Visit => "visit",
            EntityKind::Note => "note",
            EntityKind::Signal => "signal",
            EntityKind::FollowUp => "follow_up",
            EntityKind::Review => "review",
            EntityKind::Conflict => "conflict",
        }
    }

    /// The fields a change may set, with their types. This list is the whitelist the
    /// store uses to map fields to columns and the server uses to refuse bad input.
    pub fn fields(&self) -> &'static [(&'static str, FieldType)] {
        use FieldType::*;
        match self {
            EntityKind::Household => &[
                ("address", Text),
                ("postcode", Text),
                ("city", OptText),
                ("neighbourhood", OptText),
                ("team_id", OptUuid),
                ("closed", Bool),
                (DELETED, Bool),
            ],
            EntityKind::Resident => &[
                ("household_id", Uuid),
                ("name", Text),
                ("birth_year", OptInt),
                ("contact", OptText),
                (DELETED, Bool),
            ],
            EntityKind::Template => &[("body", Json), (DELETED, Bool)],
            EntityKind::Visit => &[
                ("household_id", Uuid),
                ("template_id", Uuid),
                ("template_version", Int),
                ("author_id", OptUuid),
                ("started_at", OptText),
                ("ended_at", OptText),
                ("status", Text),
                (DELETED, Bool),
            ],
            EntityKind::Note => &[
                ("visit_id", Uuid),
                ("author_id", OptUuid),
                ("text", Text),
                ("created_at", OptText),
                (DELETED, Bool),
            ],
            EntityKind::Signal => &[
                ("household_id", Uuid),
                ("visit_id", OptUuid),
                ("category", Text),
                ("severity", Text),
                ("status", Text),
                ("description", OptText),
                (DELETED, Bool),
            ],
            EntityKind::FollowUp => &[
                ("household_id", Uuid),
                ("visit_id", OptUuid),
                ("assignee_id", OptUuid),
                ("due", Date),
                ("text", Text),
                ("status", Text),
                (DELETED, Bool),
            ],
            EntityKind::Review => &[
                ("visit_id", Uuid),
                ("state", Text),
                ("comments", Json),
                (DELETED, Bool),
            ],
            EntityKind::Conflict => &[
                ("entity", Text),
                ("record_id", Uuid),
                ("field", Text),
                ("values", Json),
                ("status", Text),
                (DELETED, Bool),
            ],
        }
    }

    /// The type of a field, or `None` when the entity has no such field.
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        if *self == EntityKind::Visit {
            if let Some(item) = field.strip_prefix(ANSWER_PREFIX) {
                return (!item.is_empty() && item.len() <= 200).then_some(FieldType::Json);
            }
        }
        self.fields()
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, t)| *t)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = crate::domain::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| crate::domain::UnknownValue {
                what: "entity",
                got: s.chars().take(60).collect(),
                allowed: EntityKind::ALL
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// One field of one record set to one value. Wire format: field names are part of the
/// protocol; unknown fields are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Unique per change; pushing the same change twice is harmless.
    pub id: ChangeId,
    pub entity: EntityKind,
    /// The record's id (UUIDv7 made by the device that created it).
    pub record: Uuid,
    pub field: String,
    pub value: Value,
    /// When the author made the change.
    pub hlc: Hlc,
    /// The version (clock) of this field the author saw; `None` when the author saw no
    /// value, e.g. a new record.
    #[serde(default)]
    pub base: Option<Hlc>,
    pub device: DeviceId,
    #[serde(default)]
    pub author: Option<UserId>,
}

/// Why a change cannot be applied as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ChangeError {
    #[error("{entity} has no field {field:?}")]
    UnknownField { entity: String, field: String },
    #[error("{entity}.{field}: expected {expected}")]
    WrongType {
        entity: String,
        field: String,
        expected: &'static str,
    },
}

impl Change {
    /// Check that the field exists and the value has its type.
    pub fn check(&self) -> Result<(), ChangeError> {
        let ty = self
            .entity
            .field_type(&self.field)
            .ok_or_else(|| ChangeError::UnknownField {
                entity: self.entity.to_string(),
                field: self.field.chars().take(80).collect(),
            })?;
        let v = &self.value;
        let ok = match ty {
            FieldType::Text => v.is_string(),
            FieldType::OptText => v.is_string() || v.is_null(),
            FieldType::Uuid => v.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok()),
            FieldType::OptUuid => {
                v.is_null() || v.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok())
            }
            FieldType::Int => v.is_i64(),
            FieldType::OptInt => v.is_i64() || v.is_null(),
            FieldType::Bool => v.is_boolean(),
            FieldType::Date => v.as_str().is_some_and(|s| {
                s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }),
            FieldType::Json => true,
        };
        if ok {
            Ok(())
        } else {
            Err(ChangeError::WrongType {
                entity: self.entity.to_string(),
                field: self.field.clone(),
                expected: match ty {
                    FieldType::Text => "text",
                    FieldType::OptText => "text or null",
                    FieldType::Uuid => "an id",
                    FieldType::OptUuid => "an id or null",
                    FieldType::Int => "a whole number",
                    FieldType::OptInt => "a whole number or null",
                    FieldType::Bool => "true or false",
                    FieldType::Date => "a date YYYY-MM-DD",
                    FieldType::Json => "JSON",
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(entity: EntityKind, field: &str, value: Value) -> Change {
        let device = DeviceId::new();
        Change {
            id: ChangeId::new(),
            entity,
            record: Uuid::now_v7(),
            field: field.into(),
            value,
            hlc: Hlc::zero(device),
            base: None,
            device,
            author: None,
        }
    }

    #[test]
    fn fields_and_types_are_checked() {
        assert!(
            change(EntityKind::Household, "address", json!("Dorpsstraat 1"))
                .check()
                .is_ok()
        );
        assert!(matches!(
            change(EntityKind::Household, "address", json!(12)).check(),
            Err(ChangeError::WrongType { .. })
        ));
        assert!(matches!(
            change(EntityKind::Household, "password", json!("x")).check(),
            Err(ChangeError::UnknownField { .. })
        ));
        assert!(change(EntityKind::Visit, "answer.geld.post", json!([1]))
            .check()
            .is_ok());
        assert!(change(EntityKind::Household, "answer.x", json!(1))
            .check()
            .is_err());
        assert!(change(EntityKind::FollowUp, "due", json!("2026-13-01"))
            .check()
            .is_err());
    }

    #[test]
    fn wire_form_refuses_unknown_fields() {
        let c = change(EntityKind::Note, "text", json!("hallo"));
        let mut v = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(serde_json::from_value::<Change>(v.clone()).ok(), Some(c));
        v["extra"] = json!(1);
        assert!(serde_json::from_value::<Change>(v).is_err());
    }

    #[test]
    fn entity_names_round_trip() {
        for e in EntityKind::ALL {
            assert_eq!(e.as_str().parse::<EntityKind>().ok(), Some(*e));
        }
    }
}

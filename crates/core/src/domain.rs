//! Domain records as the device and the server read them back.
//!
//! These are read models: they are assembled from stored fields. Writes never go
//! through these structs directly; they go through [`crate::Change`]s, one per field.

use crate::hlc::Hlc;
use crate::ids::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownValue {
                        what: stringify!($name),
                        got: s.chars().take(60).collect(),
                        allowed: [$($text),*].join(", "),
                    }),
                }
            }
        }
    };
}

/// A text that is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got:?} is not a valid {what} (expected one of: {allowed})")]
pub struct UnknownValue {
    pub what: &'static str,
    pub got: String,
    pub allowed: String,
}

text_enum!(
    /// The role of a user; the server decides what each role may see and do.
    Role { Worker = "worker", TeamLead = "team_lead", Admin = "admin" }
);

text_enum!(
    /// What a signal is about (DESIGN.md: the early-signalling categories).
    SignalCategory {
        Debts = "debts",
        Benefits = "benefits",
        Housing = "housing",
        Isolation = "isolation",
        Health = "health",
        Safety = "safety",
        Language = "language",
        Education = "education",
        Other = "other",
    }
);

text_enum!(Severity { Low = "low", Medium = "medium", High = "high" });

text_enum!(VisitStatus { Draft = "draft", Completed = "completed" });

text_enum!(SignalStatus { Open = "open", Handled = "handled" });

text_enum!(FollowUpStatus { Open = "open", Done = "done" });

text_enum!(ReviewState { Received = "received", NeedsAttention = "needs_attention", Approved = "approved" });

text_enum!(ConflictStatus { Open = "open", Resolved = "resolved" });

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Household {
    pub id: HouseholdId,
    pub address: String,
    pub postcode: String,
    pub city: Option<String>,
    pub neighbourhood: Option<String>,
    pub team_id: Option<TeamId>,
}

/// A household in a list, with the names of its residents for recognition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HouseholdSummary {
    pub id: HouseholdId,
    pub address: String,
    pub postcode: String,
    pub city: Option<String>,
    pub residents: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Resident {
    pub id: ResidentId,
    pub household_id: HouseholdId,
    pub name: String,
    pub birth_year: Option<i32>,
    pub contact: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Visit {
    pub id: VisitId,
    pub household_id: HouseholdId,
    pub template_id: TemplateId,
    pub template_version: u32,
    pub author_id: Option<UserId>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub status: VisitStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Answer {
    pub item: String,
    pub value: Value,
    /// The clock of the last write: the "version the author saw" for the next edit.
    pub version: Hlc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Note {
    pub id: NoteId,
    pub visit_id: VisitId,
    pub author_id: Option<UserId>,
    pub text: String,
    pub created_at: Option<String>,
}

/// A visit as a worker opens it: the visit, every answer and every note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VisitDetail {
    pub visit: Visit,
    pub answers: Vec<Answer>,
    pub notes: Vec<Note>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Signal {
    pub id: SignalId,
    pub household_id: HouseholdId,
    pub visit_id: Option<VisitId>,
    pub category: SignalCategory,
    pub severity: Severity,
    pub status: SignalStatus,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FollowUp {
    pub id: FollowUpId,
    pub household_id: HouseholdId,
    pub visit_id: Option<VisitId>,
    pub assignee_id: Option<UserId>,
    pub due: NaiveDate,
    pub text: String,
    pub status: FollowUpStatus,
    /// Filled in by queries relative to a given day.
    #[serde(default)]
    pub overdue: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    pub visit_id: VisitId,
    pub state: ReviewState,
    pub comments: Vec<ReviewComment>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewComment {
    pub author_id: UserId,
    pub at: String,
    pub text: String,
}

/// One of the competing values of a conflict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConflictValue {
    pub value: Value,
    pub hlc: Hlc,
    pub device: DeviceId,
    pub author: Option<UserId>,
    pub change_id: ChangeId,
}

/// Two or more changes to the same field made without seeing each other. The HLC
/// winner shows until someone resolves it; every competing value is kept here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub id: ConflictId,
    pub entity: crate::change::EntityKind,
    pub record_id: uuid::Uuid,
    pub field: String,
    pub values: Vec<ConflictValue>,
    pub status: ConflictStatus,
}

/// Normalise a Dutch postcode to `1234 AB`; `None` when it is not one.
pub fn normalise_postcode(input: &str) -> Option<String> {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 6 || !compact.is_ascii() {
        return None;
    }
    let (digits, letters) = compact.split_at(4);
    let ok = digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
        && letters.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| format!("{digits} {}", letters.to_uppercase()))
}

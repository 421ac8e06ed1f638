//! UUIDv7 id newtypes. Ids are made on the device, so a record exists before any
//! server has seen it; v7 sorts by creation time, which keeps indexes compact.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    )*};
}

/// A set of change ids, as a push and its answers use them: thousands of lookups per
/// batch, so hashed with foldhash (randomly seeded) rather than SipHash, which was a
/// tenth of the device's work in a bulk push.
pub type IdSet = std::collections::HashSet<ChangeId, foldhash::quality::RandomState>;
/// A map keyed by change id; see [`IdSet`].
pub type IdMap<V> = std::collections::HashMap<ChangeId, V, foldhash::quality::RandomState>;

id_type!(
    TeamId,
    UserId,
    DeviceId,
    HouseholdId,
    ResidentId,
    TemplateId,
    VisitId,
    NoteId,
    SignalId,
    FollowUpId,
    ReviewId,
    ConflictId,
    ChangeId,
);

//! voordeur-core: the domain of Voordeur, free of I/O.
//!
//! Everything that both the device and the server must agree on lives here: ids, the
//! domain records, checklist templates and answer validation, the hybrid logical clock
//! and the [`Change`] that the outbox stores and the wire carries. Keeping it free of
//! I/O lets the store, the sync engine, the server and the CLI share one definition.

pub mod change;
pub mod domain;
pub mod hlc;
pub mod ids;
pub mod merge;
pub mod protocol;
pub mod template;

pub use change::{Change, ChangeError, EntityKind};
pub use domain::*;
pub use hlc::{Clock, Hlc, ManualTime, SystemTime, TimeSource};
pub use ids::*;
pub use template::*;

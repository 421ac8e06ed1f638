//! voordeur-core: the domain of Voordeur, free of I/O.
//!
//! Everything that both the device and the server must agree on lives here: ids, the
//! domain records, checklist templates and answer validation, the hybrid logical clock
//! and the [`Change`] that the outbox stores and the wire carries. Keeping it free of
//! I/O lets the store, the sync engine, the server and the CLI share one definition.
//!
//! With the `ts` feature the types the app's UI receives also derive `ts_rs::TS`; the
//! app crate (`voordeur-app`) writes them to `ui/src/lib/bindings/` and its tests fail
//! when the checked-in files drift from these definitions.

pub mod change;
pub mod domain;
pub mod hlc;
pub mod ids;
pub mod merge;
pub mod protocol;
pub mod template;
pub mod wire;

pub use change::{Change, ChangeError, EntityKind};
pub use domain::*;
pub use hlc::{Clock, Hlc, ManualTime, SystemTime, TimeSource};
pub use ids::*;
pub use template::*;

//! The shell's own wire types: what commands return and events carry, beyond the
//! domain types of `voordeur-core`.
//!
//! `HouseholdDetail` and `TemplateSummary` mirror `voordeur-store`'s read models
//! field for field (the `From` impls destructure them, so a new store field fails to
//! compile here): that keeps TypeScript derives out of the store crate, and gives the
//! UI one place, this module, for every type that is not a domain record. In test
//! builds every type derives `ts_rs::TS`; `bindings.rs` writes them to
//! `ui/src/lib/bindings/`. The Rust side always sends every field (`null` when empty);
//! the status types mark their nullable fields optional too (`last_sync?: string |
//! null`), so UI code and test fixtures may leave them out.

use serde::Serialize;
use voordeur_core::protocol::UserInfo;
use voordeur_core::{
    ChecklistTemplate, FollowUp, Household, Label, Resident, Signal, TemplateId, Visit, VisitDetail,
};

/// What the app shows before anything else: enrolled or not, as whom, and sync.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppStatus {
    pub enrolled: bool,
    #[cfg_attr(test, ts(optional = nullable))]
    pub user: Option<UserInfo>,
    #[cfg_attr(test, ts(optional = nullable))]
    pub server_url: Option<String>,
    pub sync: SyncState,
    /// The worker chose a PIN: the app locks.
    pub pin_set: bool,
    /// Locked now: only the PIN opens it.
    pub locked: bool,
    /// Seconds without use after which the app locks (the UI locks the screen then,
    /// without waiting for the next command).
    pub lock_after_secs: u32,
}

/// The state of background sync, as the status bar shows it. Sent with every
/// `sync-status` event and in [`AppStatus`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SyncState {
    pub state: SyncStateKind,
    /// Local changes the server has not acknowledged yet.
    #[cfg_attr(test, ts(type = "number"))]
    pub waiting: u64,
    /// Set while `state` is `syncing`.
    #[cfg_attr(test, ts(optional = nullable))]
    pub progress: Option<SyncProgress>,
    /// When the last sync completed (RFC 3339).
    #[cfg_attr(test, ts(optional = nullable))]
    pub last_sync: Option<String>,
    /// Why the last sync failed (`state` is `offline` or `error`).
    #[cfg_attr(test, ts(optional = nullable))]
    pub error: Option<SyncErrorInfo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncStateKind {
    /// No server yet: enrol first.
    NotEnrolled,
    /// The last attempt could not reach the server; it is tried again later.
    Offline,
    Syncing,
    /// Everything is on the server; `last_sync` says since when.
    UpToDate,
    /// Local changes wait for the next sync.
    Waiting,
    /// The last sync failed for a reason that waiting will not fix (see `error`).
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Push,
    Pull,
}

/// How far a running sync is: pushed changes of `total`, or pulled changes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SyncProgress {
    pub phase: SyncPhase,
    #[cfg_attr(test, ts(type = "number"))]
    pub done: u64,
    #[cfg_attr(test, ts(type = "number", optional = nullable))]
    pub total: Option<u64>,
}

/// `voordeur_sync::SyncError` as the UI sees it: a stable code and the English detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SyncErrorInfo {
    pub code: String,
    pub message: String,
}

/// Payload of the `data-changed` event: a sync applied changes from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DataChanged {
    #[cfg_attr(test, ts(type = "number"))]
    pub pulled: usize,
}

/// An opened visit: its answers and notes, the template version it was started with,
/// and the household.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VisitView {
    pub detail: VisitDetail,
    pub template: ChecklistTemplate,
    pub household: Household,
}

/// A household page (mirror of `voordeur_store::HouseholdDetail`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HouseholdDetail {
    pub household: Household,
    pub residents: Vec<Resident>,
    /// Newest first.
    pub visits: Vec<Visit>,
    pub open_signals: Vec<Signal>,
    /// Due first.
    pub open_follow_ups: Vec<FollowUp>,
}

impl From<voordeur_store::HouseholdDetail> for HouseholdDetail {
    fn from(d: voordeur_store::HouseholdDetail) -> Self {
        let voordeur_store::HouseholdDetail {
            household,
            residents,
            visits,
            open_signals,
            open_follow_ups,
        } = d;
        HouseholdDetail {
            household,
            residents,
            visits,
            open_signals,
            open_follow_ups,
        }
    }
}

/// The latest published version of a template (mirror of
/// `voordeur_store::TemplateSummary`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TemplateSummary {
    pub id: TemplateId,
    pub version: u32,
    pub name: Label,
}

impl From<voordeur_store::TemplateSummary> for TemplateSummary {
    fn from(t: voordeur_store::TemplateSummary) -> Self {
        let voordeur_store::TemplateSummary { id, version, name } = t;
        TemplateSummary { id, version, name }
    }
}

//! How the shell tells the UI that something changed: the `sync-status` and
//! `data-changed` events. Behind a trait so the sync worker and the commands can be
//! tested without a window.

use crate::view::{DataChanged, SyncState};
use std::sync::Mutex;

/// Event names, as `ui/src/lib/api.ts` listens for them.
pub const SYNC_STATUS: &str = "sync-status";
pub const DATA_CHANGED: &str = "data-changed";

pub trait Events: Send + Sync + 'static {
    /// The sync state changed (also sent after each local write, with the new waiting
    /// count).
    fn sync_status(&self, state: &SyncState);
    /// A sync applied changes from the server: the UI reloads its current screen.
    fn data_changed(&self, change: DataChanged);
}

/// Emits to every window of the app.
pub struct TauriEvents<R: tauri::Runtime>(pub tauri::AppHandle<R>);

impl<R: tauri::Runtime> Events for TauriEvents<R> {
    fn sync_status(&self, state: &SyncState) {
        use tauri::Emitter;
        if let Err(e) = self.0.emit(SYNC_STATUS, state) {
            eprintln!("voordeur: cannot send {SYNC_STATUS}: {e}");
        }
    }

    fn data_changed(&self, change: DataChanged) {
        use tauri::Emitter;
        if let Err(e) = self.0.emit(DATA_CHANGED, change) {
            eprintln!("voordeur: cannot send {DATA_CHANGED}: {e}");
        }
    }
}

/// One event as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    SyncStatus(SyncState),
    DataChanged(DataChanged),
}

/// Keeps every event, for tests and headless use.
#[derive(Default)]
pub struct RecordedEvents {
    events: Mutex<Vec<Event>>,
}

impl RecordedEvents {
    pub fn all(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn push(&self, event: Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

impl Events for RecordedEvents {
    fn sync_status(&self, state: &SyncState) {
        self.push(Event::SyncStatus(state.clone()));
    }

    fn data_changed(&self, change: DataChanged) {
        self.push(Event::DataChanged(change));
    }
}

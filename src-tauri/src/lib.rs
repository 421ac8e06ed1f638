//! voordeur-app: the Tauri shell of the Voordeur app.
//!
//! A thin layer: it opens the device database (the same `voordeur.db` the CLI uses),
//! holds it in managed state with the handle of background sync, and exposes the
//! commands in `commands.rs` to the UI in `ui/`. All domain logic lives in
//! `voordeur-core`, `voordeur-store` and `voordeur-sync`; the command bodies
//! (`service.rs`) only convert input and call them.
//!
//! Data flows one way: a command writes the store (with its outbox row), the sync
//! thread (`sync_worker.rs`) pushes and pulls on its own connection, and the UI learns
//! of changes from the `sync-status` and `data-changed` events, never by polling.

mod commands;
mod error;
mod events;
mod keystore;
mod lock;
mod service;
mod state;
mod sync_worker;
mod view;

#[cfg(test)]
mod bindings;
#[cfg(test)]
mod tests;

pub use error::{AppError, ErrorBody, ErrorKind};
pub use events::{Event, Events, RecordedEvents, DATA_CHANGED, SYNC_STATUS};
pub use state::{data_dir, AppState, DeviceStore, DATA_ENV};
pub use sync_worker::{interval_from, SyncHandle, DEFAULT_INTERVAL, INTERVAL_ENV};
pub use view::*;

use std::sync::Arc;
use tauri::Manager;

/// Build and run the app (desktop `main` and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let app = tauri::Builder::default()
        .setup(|app| {
            let dir = data_dir(std::env::var_os(DATA_ENV), || {
                app.path().app_data_dir().ok()
            });
            let store = DeviceStore::open(dir.as_deref(), &keystore::OsKeyStore);
            if let DeviceStore::Unavailable { path, reason } = &store {
                eprintln!(
                    "voordeur: the device database at {} could not be opened: {reason}",
                    path.display()
                );
            }
            let state = AppState::new(store, Arc::new(events::TauriEvents(app.handle().clone())));
            let interval = interval_from(std::env::var(INTERVAL_ENV).ok().as_deref());
            if let Some(Err(e)) = state.start_sync(interval) {
                eprintln!("voordeur: background sync could not start: {e}");
            }
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::enrol,
            commands::list_households,
            commands::count_households,
            commands::household_detail,
            commands::list_templates,
            commands::start_visit,
            commands::open_visit,
            commands::answer,
            commands::add_note,
            commands::edit_note,
            commands::raise_signal,
            commands::add_follow_up,
            commands::complete_visit,
            commands::my_follow_ups,
            commands::list_conflicts,
            commands::resolve_conflict,
            commands::sync_now,
            commands::unlock,
            commands::lock_now,
            commands::still_here,
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("voordeur: the app could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(state) = handle.try_state::<AppState>() {
                state.stop_sync();
            }
        }
    });
}

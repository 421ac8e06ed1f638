//! voordeur-app: the Tauri shell of the Voordeur app.
//!
//! A thin layer: it opens the device database (the same `voordeur.db` the CLI uses),
//! holds it in managed state and exposes a few commands to the UI in `ui/`. All
//! domain logic lives in `voordeur-core` and `voordeur-store`.

mod commands;
mod error;
mod state;

pub use error::AppError;
pub use state::{data_dir, DeviceStore, DATA_ENV};

use tauri::Manager;

/// Build and run the app (desktop `main` and the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let result = tauri::Builder::default()
        .setup(|app| {
            let dir = data_dir(std::env::var_os(DATA_ENV), || {
                app.path().app_data_dir().ok()
            });
            let store = DeviceStore::open(dir.as_deref());
            if let DeviceStore::Unavailable { path, reason } = &store {
                eprintln!(
                    "voordeur: the device database at {} could not be opened: {reason}",
                    path.display()
                );
            }
            app.manage(store);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::list_households])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("voordeur: the app could not start: {e}");
        std::process::exit(1);
    }
}

//! What the app holds for the lifetime of the process: the device database.

use crate::error::AppError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use voordeur_store::Store;

/// The environment variable that overrides the device folder (as `voordeur --data DIR`
/// does for the CLI): tests, demos and support point the app at a chosen folder.
pub const DATA_ENV: &str = "VOORDEUR_DATA";

/// The device folder: `$VOORDEUR_DATA` when set and not empty, else the platform's
/// app data folder.
pub fn data_dir(
    env: Option<OsString>,
    app_data_dir: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    match env {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => app_data_dir(),
    }
}

/// The device database, or why it could not be opened.
///
/// The app opens a window either way, so the user sees the reason in words instead of
/// a process that silently exits.
pub enum DeviceStore {
    Open(Mutex<Store>),
    Unavailable { path: PathBuf, reason: String },
}

impl DeviceStore {
    /// Open (or create) `<dir>/voordeur.db`, the same file the CLI uses.
    pub fn open(dir: Option<&Path>) -> DeviceStore {
        let Some(dir) = dir else {
            return DeviceStore::Unavailable {
                path: PathBuf::new(),
                reason: format!("no data folder: set {DATA_ENV} or an app data folder must exist"),
            };
        };
        let path = dir.join(voordeur_store::DB_FILE);
        if let Err(e) = std::fs::create_dir_all(dir) {
            return DeviceStore::Unavailable {
                path,
                reason: e.to_string(),
            };
        }
        // TODO(security): the key comes from the OS key store once enrolment exists;
        // until then the database is opened without one, like the CLI's default.
        match Store::open(&path, None) {
            Ok(store) => DeviceStore::Open(Mutex::new(store)),
            Err(e) => DeviceStore::Unavailable {
                path,
                reason: e.to_string(),
            },
        }
    }

    /// The store, locked for one command.
    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, AppError> {
        match self {
            DeviceStore::Open(store) => store
                .lock()
                .map_err(|_| AppError::Internal("the device database lock is poisoned")),
            DeviceStore::Unavailable { path, reason } => Err(AppError::StoreUnavailable {
                path: path.display().to_string(),
                reason: reason.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_app_data_folder() {
        let fallback = || Some(PathBuf::from("/home/w/.local/share/nl.voordeur.app"));
        assert_eq!(
            data_dir(Some("/tmp/demo".into()), fallback),
            Some(PathBuf::from("/tmp/demo"))
        );
        assert_eq!(data_dir(Some("".into()), fallback), fallback());
        assert_eq!(data_dir(None, fallback), fallback());
        assert_eq!(data_dir(None, || None), None);
    }

    #[test]
    fn an_unavailable_store_explains_itself() {
        let store = DeviceStore::open(None);
        let err = store.lock().expect_err("no store without a folder");
        assert_eq!(err.kind(), "store_unavailable");
    }
}

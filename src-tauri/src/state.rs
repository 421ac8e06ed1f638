//! What the app holds for the lifetime of the process: the device database and the
//! handle of background sync.

use crate::error::AppError;
use crate::events::Events;
use crate::keystore::{database_key, KeyStore};
use crate::lock::{
    lock_after_from_env, max_days_from_env, AppLock, LOCK_MINUTES_ENV, MAX_DAYS_ENV,
};
use crate::sync_worker::{self, SyncHandle};
use crate::view::{SyncState, SyncStateKind};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use voordeur_store::Store;

/// The managed state of the app. The command bodies are its methods (`service.rs`),
/// so tests call them without a window.
pub struct AppState {
    pub(crate) store: DeviceStore,
    pub(crate) sync: Arc<SyncHandle>,
    pub(crate) lock: AppLock,
    /// Days without a completed sync before resident data is refused.
    pub(crate) max_days_without_sync: u32,
}

impl AppState {
    /// State over an opened (or unavailable) store; events go to `events`. Background
    /// sync starts with [`AppState::start_sync`].
    pub fn new(store: DeviceStore, events: Arc<dyn Events>) -> AppState {
        let initial = match store.lock() {
            Ok(s) => sync_worker::initial_state(&s),
            Err(e) => SyncState {
                state: SyncStateKind::Error,
                waiting: 0,
                progress: None,
                last_sync: None,
                error: Some(crate::view::SyncErrorInfo {
                    code: "store".into(),
                    message: e.to_string(),
                }),
            },
        };
        let after = lock_after_from_env(std::env::var(LOCK_MINUTES_ENV).ok());
        AppState {
            store,
            sync: Arc::new(SyncHandle::new(initial, events)),
            lock: AppLock::new(after, Box::new(std::time::Instant::now)),
            max_days_without_sync: max_days_from_env(std::env::var(MAX_DAYS_ENV).ok()),
        }
    }

    /// Replace the lock (tests: another timeout, a fake clock).
    pub fn with_lock(mut self, lock: AppLock) -> AppState {
        self.lock = lock;
        self
    }

    /// Start the sync thread on the same database file; `None` without a database.
    pub fn start_sync(&self, interval: Duration) -> Option<std::io::Result<JoinHandle<()>>> {
        let (path, key) = self.store.path_and_key()?;
        Some(sync_worker::spawn(
            Arc::clone(&self.sync),
            path.to_path_buf(),
            key.to_string(),
            interval,
        ))
    }

    /// Ask the sync thread to end (when the app exits).
    pub fn stop_sync(&self) {
        self.sync.stop();
    }

    pub fn sync_handle(&self) -> &SyncHandle {
        &self.sync
    }
}

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
    Open {
        store: Box<Mutex<Store>>,
        path: PathBuf,
        /// The database key, for the sync thread's own connection.
        key: String,
    },
    Unavailable {
        path: PathBuf,
        reason: String,
    },
}

impl DeviceStore {
    /// Open (or create) `<dir>/voordeur.db`, the same file the CLI uses, encrypted
    /// with the key `keys` holds for it (see `keystore.rs`).
    pub fn open(dir: Option<&Path>, keys: &dyn KeyStore) -> DeviceStore {
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
        let key = match database_key(keys, &path) {
            Ok(key) => key,
            Err(reason) => return DeviceStore::Unavailable { path, reason },
        };
        match Store::open(&path, Some(&key)) {
            Ok(store) => DeviceStore::Open {
                store: Box::new(Mutex::new(store)),
                path,
                key,
            },
            Err(e) => DeviceStore::Unavailable {
                path,
                reason: e.to_string(),
            },
        }
    }

    /// The database file and its key, when it is open.
    pub fn path_and_key(&self) -> Option<(&Path, &str)> {
        match self {
            DeviceStore::Open { path, key, .. } => Some((path, key)),
            DeviceStore::Unavailable { .. } => None,
        }
    }

    /// The store, locked for one command.
    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, AppError> {
        match self {
            DeviceStore::Open { store, .. } => store
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
        let store = DeviceStore::open(None, &crate::keystore::memory::MemoryKeyStore::default());
        let err = store.lock().expect_err("no store without a folder");
        assert_eq!(err.kind(), crate::error::ErrorKind::StoreUnavailable);
    }
}

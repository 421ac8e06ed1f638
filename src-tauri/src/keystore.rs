//! The key of the device database, kept in the OS key store (the Secret Service on
//! Linux desktops, Keychain on macOS, Credential Manager on Windows), never in a file
//! next to the data.
//!
//! On first start the app makes a random key, stores it, reads it back, and only then
//! creates the encrypted database; a database from before encryption (or one the CLI
//! made without a key) is encrypted in place with the key. An encrypted database whose
//! key is not in the store cannot be read: the app says so and leaves the file alone.
//!
//! Mobile builds need another [`KeyStore`] (Android Keystore, iOS Keychain); the rest of
//! the app only sees the trait.

use std::path::Path;
use voordeur_store::{encrypt_in_place, file_state, is_database_key, new_database_key, FileState};

/// The service name the key is filed under in the OS key store.
pub const SERVICE: &str = "nl.voordeur.app";

/// Where database keys are kept.
pub trait KeyStore: Send + Sync {
    /// The secret filed under `account`, if any.
    fn get(&self, account: &str) -> Result<Option<String>, String>;
    fn set(&self, account: &str, secret: &str) -> Result<(), String>;
}

/// The operating system's key store, through the `keyring` crate.
pub struct OsKeyStore;

impl KeyStore for OsKeyStore {
    fn get(&self, account: &str) -> Result<Option<String>, String> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
        match entry.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, account: &str, secret: &str) -> Result<(), String> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
        entry.set_password(secret).map_err(|e| e.to_string())
    }
}

/// The account a database's key is filed under: one key per device folder.
pub fn account_for(db_path: &Path) -> String {
    let dir = db_path.parent().unwrap_or(db_path);
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("database {}", dir.display())
}

/// The key to open the database at `db_path` with, making and storing one (and
/// encrypting a plain database) when needed. Errors are sentences for the person
/// holding the tablet (and support).
pub fn database_key(keys: &dyn KeyStore, db_path: &Path) -> Result<String, String> {
    let account = account_for(db_path);
    let unreachable = |e: String| {
        format!("the secure key store of this device cannot be used ({e}); the data stays locked")
    };
    let state = file_state(db_path).map_err(|e| e.to_string())?;
    let key = match keys.get(&account).map_err(unreachable)? {
        Some(key) if is_database_key(&key) => key,
        Some(_) => return Err("the key store holds a damaged key for this database".into()),
        None if state == FileState::Encrypted => {
            return Err(
                "the key of this database is not in this device's key store, so its data \
                 cannot be read; ask support (the file has been left as it is)"
                    .into(),
            )
        }
        None => {
            let key = new_database_key().map_err(|e| e.to_string())?;
            keys.set(&account, &key).map_err(unreachable)?;
            // Never encrypt with a key that could not be read back.
            if keys.get(&account).map_err(unreachable)?.as_deref() != Some(key.as_str()) {
                return Err(unreachable("the key did not read back".into()));
            }
            key
        }
    };
    if state == FileState::Plain {
        encrypt_in_place(db_path, &key).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

#[cfg(test)]
pub(crate) mod memory {
    //! A key store in memory, for the shell's tests (the real one is used end to end).
    use super::KeyStore;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryKeyStore {
        pub secrets: Mutex<HashMap<String, String>>,
        pub broken: bool,
    }

    impl KeyStore for MemoryKeyStore {
        fn get(&self, account: &str) -> Result<Option<String>, String> {
            if self.broken {
                return Err("no Secret Service on the session bus".into());
            }
            Ok(self
                .secrets
                .lock()
                .map_err(|e| e.to_string())?
                .get(account)
                .cloned())
        }
        fn set(&self, account: &str, secret: &str) -> Result<(), String> {
            if self.broken {
                return Err("no Secret Service on the session bus".into());
            }
            self.secrets
                .lock()
                .map_err(|e| e.to_string())?
                .insert(account.into(), secret.into());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryKeyStore;
    use super::*;
    use voordeur_store::{NewHousehold, Store, StoreError};

    fn add(store: &mut Store) {
        store
            .add_household(NewHousehold {
                address: "Zonnebloemstraat 12".into(),
                postcode: "9711 AA".into(),
                city: None,
                neighbourhood: None,
                team_id: None,
            })
            .expect("household");
    }

    #[test]
    fn first_start_makes_a_key_and_an_encrypted_database() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let keys = MemoryKeyStore::default();
        let key = database_key(&keys, &path).expect("key");
        assert!(is_database_key(&key));
        assert_eq!(database_key(&keys, &path).expect("same key"), key);
        let mut store = Store::open(&path, Some(&key)).expect("open");
        add(&mut store);
        drop(store);
        assert_eq!(file_state(&path).expect("state"), FileState::Encrypted);
        assert!(matches!(Store::open(&path, None), Err(StoreError::Locked)));
    }

    #[test]
    fn a_plain_database_is_encrypted_and_keeps_its_data() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        add(&mut Store::open(&path, None).expect("plain"));
        let keys = MemoryKeyStore::default();
        let key = database_key(&keys, &path).expect("key");
        assert_eq!(file_state(&path).expect("state"), FileState::Encrypted);
        let store = Store::open(&path, Some(&key)).expect("open");
        assert_eq!(
            store
                .search_households("zonnebloem", 5)
                .expect("search")
                .len(),
            1
        );
    }

    #[test]
    fn a_lost_key_or_a_missing_key_store_leaves_the_data_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let keys = MemoryKeyStore::default();
        let key = database_key(&keys, &path).expect("key");
        add(&mut Store::open(&path, Some(&key)).expect("open"));
        let before = std::fs::read(&path).expect("read");

        let lost = MemoryKeyStore::default();
        let e = database_key(&lost, &path).expect_err("no key");
        assert!(e.contains("not in this device's key store"), "{e}");
        let broken = MemoryKeyStore {
            broken: true,
            ..Default::default()
        };
        let e = database_key(&broken, &path).expect_err("no key store");
        assert!(e.contains("secure key store"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
        // And no key store means no new, unprotected database either.
        let fresh = dir.path().join("other").join("voordeur.db");
        assert!(database_key(&broken, &fresh).is_err());
        assert!(!fresh.exists());
    }
}

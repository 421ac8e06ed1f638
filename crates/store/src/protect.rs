//! Protecting the data at rest: the database key, encrypting a plain database in place,
//! and wiping everything when the server revokes this device.
//!
//! The key is 32 random bytes, given to SQLCipher as a raw key (`x'…'`), so opening
//! does not run the passphrase key derivation. Where the key is kept is the caller's
//! business (the app keeps it in the OS key store); this module never writes it down.

use crate::{connect, Store, StoreError};
use rusqlite::Connection;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The first 16 bytes of every unencrypted SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A database key in the form [`Store::open`] takes: SQLCipher's raw-key syntax,
/// `x'` + 64 hex digits + `'`.
pub fn new_database_key() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Io(format!("no randomness: {e}")))?;
    Ok(raw_key(&bytes))
}

fn raw_key(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("x'{hex}'")
}

/// Is this a well-formed key of [`new_database_key`]'s form?
pub fn is_database_key(key: &str) -> bool {
    key.len() == 67
        && key.starts_with("x'")
        && key.ends_with('\'')
        && key[2..66].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What is at a database path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// No file (or an empty one): a new database will be made.
    Missing,
    /// An unencrypted SQLite database.
    Plain,
    /// Anything else: an encrypted database (or not a database at all).
    Encrypted,
}

/// Look at the first bytes of a database file.
pub fn file_state(path: &Path) -> Result<FileState, StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(StoreError::Io(e.to_string())),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref()
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    Ok(match head.len() {
        0 => FileState::Missing,
        _ if head == PLAIN_HEADER => FileState::Plain,
        _ => FileState::Encrypted,
    })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Encrypt an unencrypted database in place with `key`.
///
/// Crash-safe: the encrypted copy is written next to the file and renamed over it only
/// when complete and synced; until that rename the plain file is untouched, and a
/// half-written copy from an earlier attempt is thrown away.
pub fn encrypt_in_place(path: &Path, key: &str) -> Result<(), StoreError> {
    if !is_database_key(key) {
        return Err(StoreError::Invalid("not a database key".into()));
    }
    let tmp = sibling(path, ".encrypting");
    remove_if_present(&tmp)?;
    {
        let conn = Connection::open(path)?;
        // Everything the WAL holds goes into the main file first.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let tmp_text = tmp
            .to_str()
            .ok_or_else(|| StoreError::Io("the data folder's path is not UTF-8".into()))?;
        conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ?2", [tmp_text, key])?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        conn.pragma_update(Some("encrypted"), "user_version", version)?;
        conn.execute("DETACH DATABASE encrypted", [])?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Io(e.to_string()))?;
    // The plain WAL and shared-memory files belong to the old file; none may survive it.
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&sibling(path, suffix))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| StoreError::Io(e.to_string()))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    // The new file opens with the key, or this was not a success.
    connect(path, Some(key)).map(|_| ())
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io(e.to_string())),
    }
}

/// Tables [`Store::wipe`] empties: every table of the schema except FTS5's own shadow
/// tables (emptied through their virtual table).
fn data_tables(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
           AND name NOT LIKE 'household_search_%' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

impl Store {
    /// Erase every record, the outbox, conflicts, refused changes and the enrolment,
    /// then rewrite the file so that no deleted page keeps old content. The device
    /// starts over under a new device id (the old one stays revoked on the server),
    /// with its clock going on from where it was; it must be enrolled again. Used when
    /// the server says this device is revoked.
    pub fn wipe(&mut self) -> Result<(), StoreError> {
        let tables = data_tables(&self.conn)?;
        let device = voordeur_core::DeviceId::new().to_string();
        let tx = self.conn.transaction()?;
        tx.pragma_update(None, "secure_delete", "ON")?;
        for table in &tables {
            // Names come from the schema itself, not from outside.
            tx.execute(&format!("DELETE FROM \"{table}\""), [])?;
        }
        tx.execute(
            "INSERT INTO device_meta(key, value) VALUES ('device_id', ?1)",
            [&device],
        )?;
        tx.commit()?;
        self.reload_identity()?;
        self.conn.execute_batch("VACUUM")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Take up the device id stored in the file when another connection changed it
    /// (the app's sync connection wiped the device after a revocation): later writes
    /// and a new enrolment then use the new identity, not the revoked one.
    pub fn reload_identity(&mut self) -> Result<(), StoreError> {
        let stored: voordeur_core::DeviceId = crate::meta_get(&self.conn, "device_id")?
            .ok_or(StoreError::Corrupt("device id"))?
            .parse()
            .map_err(|_| StoreError::Corrupt("device id"))?;
        if stored != self.device {
            self.clock.rename(stored);
            self.device = stored;
            self.templates.borrow_mut().clear();
        }
        self.user = crate::meta_get(&self.conn, "user_id")?.and_then(|u| u.parse().ok());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewHousehold;

    fn household(store: &mut Store, address: &str) {
        store
            .add_household(NewHousehold {
                address: address.into(),
                postcode: "9711 AA".into(),
                city: Some("Groningen".into()),
                neighbourhood: None,
                team_id: None,
            })
            .expect("household");
    }

    fn contains(path: &Path, needle: &str) -> bool {
        let mut all = std::fs::read(path).unwrap_or_default();
        all.extend(std::fs::read(sibling(path, "-wal")).unwrap_or_default());
        all.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn keys_are_random_raw_keys() {
        let (a, b) = (
            new_database_key().expect("key"),
            new_database_key().expect("key"),
        );
        assert!(is_database_key(&a) && is_database_key(&b));
        assert_ne!(a, b);
        assert!(!is_database_key("x'00'"));
        assert!(!is_database_key(&a.replace('x', "y")));
    }

    #[test]
    fn an_encrypted_database_shows_nothing_without_its_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let key = new_database_key().expect("key");
        {
            let mut store = Store::open(&path, Some(&key)).expect("open");
            household(&mut store, "Zonnebloemstraat 12");
        }
        assert_eq!(file_state(&path).expect("state"), FileState::Encrypted);
        assert!(!contains(&path, "Zonnebloemstraat"));
        assert!(matches!(Store::open(&path, None), Err(StoreError::Locked)));
        let other = new_database_key().expect("key");
        assert!(matches!(
            Store::open(&path, Some(&other)),
            Err(StoreError::Locked)
        ));
        let store = Store::open(&path, Some(&key)).expect("reopen");
        assert_eq!(
            store
                .search_households("zonnebloem", 10)
                .expect("search")
                .len(),
            1
        );
    }

    #[test]
    fn a_plain_database_is_encrypted_in_place_with_everything_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let (device, waiting) = {
            let mut store = Store::open(&path, None).expect("open");
            household(&mut store, "Zonnebloemstraat 12");
            household(&mut store, "Lindenlaan 3");
            (store.device_id(), store.outbox_len().expect("outbox"))
        };
        assert!(waiting > 0);
        assert_eq!(file_state(&path).expect("state"), FileState::Plain);
        assert!(contains(&path, "Zonnebloemstraat"));
        let key = new_database_key().expect("key");
        encrypt_in_place(&path, &key).expect("encrypt");
        assert_eq!(file_state(&path).expect("state"), FileState::Encrypted);
        assert!(!contains(&path, "Zonnebloemstraat"));
        assert!(!sibling(&path, ".encrypting").exists());
        let store = Store::open(&path, Some(&key)).expect("open with the key");
        assert_eq!(store.device_id(), device);
        assert_eq!(store.outbox_len().expect("outbox"), waiting);
        assert_eq!(store.search_households("", 10).expect("all").len(), 2);
        assert_eq!(store.integrity_check().expect("check"), "ok");
    }

    #[test]
    fn a_half_written_copy_from_a_crash_is_thrown_away() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        {
            let mut store = Store::open(&path, None).expect("open");
            household(&mut store, "Zonnebloemstraat 12");
        }
        std::fs::write(sibling(&path, ".encrypting"), b"half a file").expect("write");
        let key = new_database_key().expect("key");
        encrypt_in_place(&path, &key).expect("encrypt");
        let store = Store::open(&path, Some(&key)).expect("open");
        assert_eq!(store.search_households("", 10).expect("all").len(), 1);
    }

    #[test]
    fn wipe_leaves_no_resident_data_in_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let mut store = Store::open(&path, None).expect("open");
        let old_device = store.device_id();
        household(&mut store, "Zonnebloemstraat 12");
        let before = store.clock().now();
        store
            .set_meta(crate::meta_keys::TOKEN, "secret-token")
            .expect("meta");
        assert!(contains(&path, "Zonnebloemstraat"));
        store.wipe().expect("wipe");
        assert!(!contains(&path, "Zonnebloemstraat"));
        assert!(!contains(&path, "secret-token"));
        assert_eq!(store.search_households("", 10).expect("all").len(), 0);
        assert_eq!(store.outbox_len().expect("outbox"), 0);
        assert_eq!(store.enrolment().expect("enrolment"), None);
        let device = store.device_id();
        assert_ne!(
            device, old_device,
            "a wiped device starts over as a new device"
        );
        let after = store.clock().now();
        assert_eq!(after.device, device);
        assert!((after.wall_ms, after.counter) > (before.wall_ms, before.counter));
        drop(store);
        let store = Store::open(&path, None).expect("reopen");
        assert_eq!(store.device_id(), device);
        assert_eq!(store.integrity_check().expect("check"), "ok");
    }

    #[test]
    fn a_second_connection_takes_up_the_identity_after_a_wipe() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("voordeur.db");
        let mut main = Store::open(&path, None).expect("open");
        let mut worker = Store::open(&path, None).expect("second connection");
        let old = main.device_id();
        worker.wipe().expect("wipe");
        assert_eq!(main.device_id(), old, "not seen yet");
        main.reload_identity().expect("reload");
        assert_eq!(main.device_id(), worker.device_id());
        assert_ne!(main.device_id(), old);
        assert_eq!(main.clock().now().device, main.device_id());
    }
}

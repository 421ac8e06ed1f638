//! voordeur-store: the device database.
//!
//! One SQLite file (built from SQLCipher, so it can be encrypted at rest) holds the
//! records this device may see, the version of every field, and the outbox of local
//! changes that the server has not acknowledged yet. Every write goes through
//! [`Store::commit`], which applies the changes and appends them to the outbox in one
//! transaction, with `synchronous=FULL`: once a write returns, it survives a crash.
//! Pulled changes go through the same apply code, without the outbox.

mod apply;
mod error;
mod export;
mod ops;
mod protect;
mod queries;
mod scope;
mod sync;
mod versions;

pub use error::StoreError;
pub use ops::{NewFollowUp, NewHousehold, NewResident, NewSignal};
pub use protect::{encrypt_in_place, file_state, is_database_key, new_database_key, FileState};
pub use queries::{HouseholdDetail, TemplateSummary};
pub use sync::{meta_keys, Acknowledged, Enrolment, OutboxPosition, RejectedChange, SyncStatus};

use include_dir::{include_dir, Dir};
use rusqlite::{Connection, OptionalExtension};
use rusqlite_migration::Migrations;
use std::path::Path;
use std::sync::LazyLock;
use voordeur_core::{Clock, DeviceId, Hlc, SystemTime, TimeSource, UserId};

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/../../migrations/device");

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    // The directory is embedded at compile time; a malformed one fails the
    // `migrations_are_valid` test before it can ship.
    Migrations::from_directory(&MIGRATIONS_DIR).unwrap_or_else(|_| Migrations::new(vec![]))
});

/// The file name of the device database inside a device folder.
pub const DB_FILE: &str = "voordeur.db";

/// The device database and the clock of this device.
pub struct Store {
    conn: Connection,
    clock: Clock,
    device: DeviceId,
    user: Option<UserId>,
    /// Parsed template versions. Published versions never change, so entries stay
    /// valid; answering an item no longer parses the whole template each time.
    templates: TemplateCache,
    /// Where the database lives and its key, for a second connection
    /// ([`Store::checkpointer`]); none for a database in memory.
    file: Option<(std::path::PathBuf, Option<String>)>,
}

/// A second connection to a device database that copies its write-ahead log into the
/// database file, on another thread than the one writing: see [`Store::checkpointer`].
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    /// Copy what the log holds into the database file, as far as no reader needs it;
    /// never waits for, nor blocks, the writing connection.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// The write-ahead log size (pages) at which a commit checkpoints it itself: SQLite's
/// default, and the much larger one while a [`Checkpointer`] does it (about 64 MB with
/// 4 KiB pages, only reached if that falls behind).
const WAL_AUTOCHECKPOINT: i64 = 1_000;
/// Bytes the write-ahead log file keeps after a reset (64 MiB).
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
const WAL_AUTOCHECKPOINT_BACKGROUND: i64 = 16_384;

type TemplateCache = std::cell::RefCell<
    std::collections::HashMap<
        (voordeur_core::TemplateId, u32),
        std::sync::Arc<voordeur_core::ChecklistTemplate>,
    >,
>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("device", &self.device)
            .finish()
    }
}

/// Open a connection with the pragmas every connection must have: the key first (when
/// the database is encrypted), then WAL, `synchronous=FULL` and foreign keys.
fn connect(path: &Path, key: Option<&str>) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    if let Some(key) = key {
        conn.pragma_update(None, "key", key)?;
    }
    // Reading the schema fails here, not later, when the key is wrong.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|_| StoreError::Locked)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A write-ahead log that grew during a long pull is cut back to this size when it
    // is next reset, not kept at its largest.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // 32 MiB of page cache: searches over tens of thousands of households stay in memory.
    conn.pragma_update(None, "cache_size", -32_768)?;
    // Multi-row statements of several sizes (apply.rs) besides the usual ones.
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl Store {
    /// Open (or create) the device database at `path`, encrypted with `key` when given.
    pub fn open(path: &Path, key: Option<&str>) -> Result<Store, StoreError> {
        Self::open_with_time(path, key, Box::new(SystemTime))
    }

    /// Open with a chosen time source (tests use a fake clock).
    pub fn open_with_time(
        path: &Path,
        key: Option<&str>,
        time: Box<dyn TimeSource>,
    ) -> Result<Store, StoreError> {
        let mut conn = connect(path, key)?;
        MIGRATIONS.to_latest(&mut conn)?;
        let device = match meta_get(&conn, "device_id")? {
            Some(id) => id.parse().map_err(|_| StoreError::Corrupt("device id"))?,
            None => {
                let id = DeviceId::new();
                meta_set(&conn, "device_id", &id.to_string())?;
                id
            }
        };
        let user = meta_get(&conn, "user_id")?.and_then(|u| u.parse().ok());
        let last: Option<String> =
            conn.query_row("SELECT max(newest) FROM record_versions", [], |r| r.get(0))?;
        let last = last.and_then(|s| s.parse::<Hlc>().ok());
        let clock = Clock::resume(device, time, last);
        Ok(Store {
            conn,
            clock,
            device,
            user,
            templates: TemplateCache::default(),
            file: Some((path.to_path_buf(), key.map(String::from))),
        })
    }

    /// A database in memory with a given device id and time source, for simulations
    /// and tests that run many devices: same schema and code paths, no file.
    pub fn open_in_memory(
        device: DeviceId,
        time: Box<dyn TimeSource>,
    ) -> Result<Store, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        MIGRATIONS.to_latest(&mut conn)?;
        meta_set(&conn, "device_id", &device.to_string())?;
        let clock = Clock::new(device, time);
        Ok(Store {
            conn,
            clock,
            device,
            user: None,
            templates: TemplateCache::default(),
            file: None,
        })
    }

    /// A second connection for checkpoints on another thread during a long run of
    /// commits (a pull): while it is out, this connection leaves checkpoints to it
    /// unless the log grows very large; [`Store::end_background_checkpoints`] hands
    /// them back. `None` for a database in memory.
    pub fn checkpointer(&mut self) -> Result<Option<Checkpointer>, StoreError> {
        let Some((path, key)) = &self.file else {
            return Ok(None);
        };
        let conn = connect(path, key.as_deref())?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_BACKGROUND)?;
        Ok(Some(Checkpointer { conn }))
    }

    /// Checkpoints are this connection's own again (see [`Store::checkpointer`]).
    pub fn end_background_checkpoints(&mut self) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
        Ok(())
    }

    /// Open the database of a device folder (`DIR/voordeur.db`), creating the folder.
    pub fn open_dir(dir: &Path, key: Option<&str>) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))?;
        Self::open(&dir.join(DB_FILE), key)
    }

    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    pub fn user_id(&self) -> Option<UserId> {
        self.user
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Record who uses this device (set at enrolment); new records carry it as author.
    pub fn set_user(&mut self, user: UserId) -> Result<(), StoreError> {
        meta_set(&self.conn, "user_id", &user.to_string())?;
        self.user = Some(user);
        Ok(())
    }

    /// A device-local setting (server address, sync cursor, …), never synced.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        meta_set(&self.conn, key, value)
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Direct access for benchmarks and tests of the physical reference.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM device_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO device_meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(!MIGRATIONS_DIR.dirs().collect::<Vec<_>>().is_empty());
        let m = Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations load");
        m.validate().expect("migrations validate");
    }

    #[test]
    fn pragmas_are_set_and_device_id_is_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Store::open_dir(dir.path(), None).expect("open");
        let id = first.device_id();
        let sync: i64 = first
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        let fk: i64 = first
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("pragma");
        let mode: String = first
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!((sync, fk, mode.as_str()), (2, 1, "wal"));
        drop(first);
        let again = Store::open_dir(dir.path(), None).expect("reopen");
        assert_eq!(again.device_id(), id);
    }

    #[test]
    fn an_in_memory_store_has_the_schema_and_the_given_device() {
        let device = DeviceId::new();
        let store = Store::open_in_memory(device, Box::new(SystemTime)).expect("open");
        assert_eq!(store.device_id(), device);
        assert_eq!(
            store.meta("device_id").expect("meta"),
            Some(device.to_string())
        );
        assert_eq!(store.outbox_len().expect("outbox"), 0);
        assert_eq!(store.cursor().expect("cursor"), 0);
    }

    #[test]
    fn an_encrypted_database_needs_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE);
        let store = Store::open(&path, Some("geheim")).expect("create encrypted");
        drop(store);
        let raw = std::fs::read(&path).expect("read file");
        assert!(!raw.starts_with(b"SQLite format 3"));
        assert!(matches!(
            Store::open(&path, Some("fout")),
            Err(StoreError::Locked)
        ));
        assert!(matches!(Store::open(&path, None), Err(StoreError::Locked)));
        assert!(Store::open(&path, Some("geheim")).is_ok());
    }
}

#[cfg(test)]
mod outbox_migration {
    use super::*;
    use serde_json::json;
    use voordeur_core::{Change, ChangeId, EntityKind};

    /// Changes waiting in a version 3 outbox (one JSON row per change) are still
    /// waiting, unchanged, after the upgrade to blocks.
    #[test]
    fn a_version_3_outbox_keeps_every_waiting_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE);
        let device = DeviceId::new();
        let server = DeviceId::new();
        let record = uuid::Uuid::now_v7();
        let change = |field: &str, value: serde_json::Value, counter: u32| Change {
            id: ChangeId::new(),
            entity: EntityKind::Visit,
            record,
            field: field.into(),
            value,
            hlc: Hlc {
                wall_ms: 1_764_000_000_000,
                counter,
                device,
            },
            base: None,
            device,
            author: Some(UserId::new()),
        };
        let mut waiting = vec![
            change("status", json!("draft"), 1),
            change("answer.geld.schulden", json!(["huur", "energie"]), 2),
            change("answer.leeg", json!(null), 3),
            change("answer.tekst", json!("regel 1\nregel \"2\""), 4),
        ];
        // One the server re-stamped, with a base.
        waiting[1].hlc.device = server;
        waiting[1].base = Some(Hlc::zero(server));
        {
            let mut conn = Connection::open(&path).expect("open");
            MIGRATIONS.to_version(&mut conn, 3).expect("version 3");
            for c in &waiting {
                conn.execute(
                    "INSERT INTO outbox(change_id, body) VALUES (?1, ?2)",
                    [c.id.to_string(), serde_json::to_string(c).expect("json")],
                )
                .expect("old outbox row");
            }
        }
        let store = Store::open(&path, None).expect("upgrade");
        assert_eq!(store.outbox_len().expect("len"), 4);
        assert_eq!(store.pending(10).expect("pending"), waiting);
    }
}

#[cfg(test)]
mod versions_migration {
    use super::*;
    use serde_json::json;
    use voordeur_core::hlc::ManualTime;
    use voordeur_core::{ChangeId, EntityKind};

    /// Field versions stored one row per field (version 4) are kept per record after
    /// the upgrade: every version, the highest clock of a record, the clock the device
    /// resumes after, and the export, which still lists one row per field.
    #[test]
    fn version_4_field_versions_are_kept_per_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE);
        let (me, server) = (DeviceId::new(), DeviceId::new());
        let (visit, household) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let at = |wall_ms: u64, counter: u32, device: DeviceId| Hlc {
            wall_ms,
            counter,
            device,
        };
        let rows = [
            (
                EntityKind::Visit,
                visit,
                "status",
                at(1_764_000_000_500, 2, me),
            ),
            (
                EntityKind::Visit,
                visit,
                "answer.geld",
                at(1_764_000_000_900, 0, server),
            ),
            (
                EntityKind::Household,
                household,
                "address",
                at(1_764_000_000_100, 7, me),
            ),
        ];
        let ids: Vec<ChangeId> = rows.iter().map(|_| ChangeId::new()).collect();
        let before = {
            let mut conn = Connection::open(&path).expect("open");
            MIGRATIONS.to_version(&mut conn, 4).expect("version 4");
            meta_set(&conn, "device_id", &me.to_string()).expect("device");
            for ((entity, record, field, hlc), id) in rows.iter().zip(&ids) {
                conn.execute(
                    "INSERT INTO field_versions(entity, record_id, field, hlc, change_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    [
                        entity.as_str().to_string(),
                        record.to_string(),
                        field.to_string(),
                        hlc.to_string(),
                        id.to_string(),
                    ],
                )
                .expect("old version row");
            }
            let mut stmt = conn
                .prepare(
                    "SELECT entity, record_id, field, hlc, change_id FROM field_versions
                     ORDER BY entity, record_id, field",
                )
                .expect("prepare");
            let list: Vec<serde_json::Value> = stmt
                .query_map([], |r| {
                    Ok(json!({
                        "entity": r.get::<_, String>(0)?,
                        "record_id": r.get::<_, String>(1)?,
                        "field": r.get::<_, String>(2)?,
                        "hlc": r.get::<_, String>(3)?,
                        "change_id": r.get::<_, String>(4)?,
                    }))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            list
        };
        // The wall clock is behind the stored versions: the clock resumes after them.
        let time = Box::new(ManualTime::new(1_764_000_000_000));
        let mut store = Store::open_with_time(&path, None, time).expect("upgrade");
        for ((entity, record, field, hlc), id) in rows.iter().zip(&ids) {
            let got = apply::field_version(store.connection(), *entity, &record.to_string(), field)
                .expect("version");
            assert_eq!(got, Some((*hlc, *id)), "{field}");
        }
        assert_eq!(
            store
                .record_version(EntityKind::Visit, visit)
                .expect("newest"),
            Some(rows[1].3)
        );
        assert_eq!(
            store.export().expect("export")["field_versions"],
            json!(before)
        );

        // A new edit sorts after every stored version, and the record is rewritten
        // with its other versions intact.
        let edit = store
            .make_change(EntityKind::Visit, visit, "status", json!("completed"))
            .expect("change");
        assert_eq!(edit.base, Some(rows[0].3));
        assert!(edit.hlc > rows[1].3, "{} after {}", edit.hlc, rows[1].3);
        store.commit(std::slice::from_ref(&edit)).expect("commit");
        let visit_key = visit.to_string();
        let conn = store.connection();
        assert_eq!(
            apply::field_version(conn, EntityKind::Visit, &visit_key, "status").expect("v"),
            Some((edit.hlc, edit.id))
        );
        assert_eq!(
            apply::field_version(conn, EntityKind::Visit, &visit_key, "answer.geld").expect("v"),
            Some((rows[1].3, ids[1]))
        );
    }
}

#[cfg(test)]
mod answers_migration {
    use super::*;
    use serde_json::json;
    use voordeur_core::{EntityKind, VisitId};

    /// Answers stored one row per answer (version 5) are kept with their visit after
    /// the upgrade: every value with its JSON type, the export unchanged, and a later
    /// edit changes one answer and keeps the others.
    #[test]
    fn version_5_answers_are_kept_with_their_visit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE);
        let (visit, empty) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let rows = [
            ("geld.schulden", json!(["huur", "energie"])),
            ("gezondheid.score", json!(4)),
            ("wonen.toelichting", json!("regel 1\nregel \"2\"")),
            ("wonen.veilig", json!(false)),
        ];
        let before = {
            let mut conn = Connection::open(&path).expect("open");
            MIGRATIONS.to_version(&mut conn, 5).expect("version 5");
            for v in [visit, empty] {
                conn.execute(
                    "INSERT INTO visits(id, status) VALUES (?1, 'draft')",
                    [v.to_string()],
                )
                .expect("visit");
            }
            for (item, value) in &rows {
                conn.execute(
                    "INSERT INTO answers(visit_id, item, value) VALUES (?1, ?2, ?3)",
                    [visit.to_string(), item.to_string(), value.to_string()],
                )
                .expect("old answer row");
            }
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(item, value)| {
                    json!({ "visit_id": visit.to_string(), "item": item, "value": value })
                })
                .collect();
            list
        };
        let mut store = Store::open(&path, None).expect("upgrade");
        let answers = store.answers_map(VisitId(visit)).expect("answers");
        assert_eq!(answers.len(), rows.len());
        for (item, value) in &rows {
            assert_eq!(answers.get(*item), Some(value), "{item}");
        }
        assert!(store.answers_map(VisitId(empty)).expect("none").is_empty());
        let export = store.export().expect("export");
        assert_eq!(export["answers"], json!(before));
        assert!(
            export["visits"][0].get("answers").is_none(),
            "answers are exported as rows, not as a column"
        );

        let edit = store
            .make_change(
                EntityKind::Visit,
                visit,
                "answer.gezondheid.score",
                json!(2),
            )
            .expect("change");
        let clear = store
            .make_change(EntityKind::Visit, visit, "answer.wonen.veilig", json!(null))
            .expect("change");
        store.commit(&[edit, clear]).expect("commit");
        let answers = store.answers_map(VisitId(visit)).expect("answers");
        assert_eq!(answers.get("gezondheid.score"), Some(&json!(2)));
        assert_eq!(
            answers.get("wonen.veilig"),
            None,
            "a cleared answer is gone"
        );
        assert_eq!(answers.get("geld.schulden"), Some(&rows[0].1));
        assert_eq!(answers.len(), rows.len() - 1);
    }
}

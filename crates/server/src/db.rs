//! Storage behind one trait, [`Sql`], with two implementations chosen from the database
//! URL: embedded SQLite (rusqlite) and PostgreSQL (the `postgres` crate). Everything
//! above this module — the sync engine, auth, admin commands — is written once against
//! `&mut dyn Sql` and runs the same SQL on both, so one story test suite covers both.
//!
//! SQL here uses `$1`-style placeholders, types TEXT and BIGINT only, and
//! `INSERT … ON CONFLICT`, which both engines understand.

use crate::error::ServerError;
use include_dir::{include_dir, Dir};
use postgres::types::Type;
use std::collections::HashMap;
use std::sync::Mutex;

static SQLITE_MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/../../migrations/server/sqlite");
static POSTGRES_MIGRATIONS: Dir =
    include_dir!("$CARGO_MANIFEST_DIR/../../migrations/server/postgres");

/// A value going into or coming out of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    /// Binary (a record's stored state).
    Bytes(Vec<u8>),
}

impl Val {
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The bytes of a binary value, or of a text.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Val::Text(s) => Some(s.as_bytes()),
            Val::Bytes(b) => Some(b),
            _ => None,
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}
impl From<Vec<u8>> for Val {
    fn from(b: Vec<u8>) -> Val {
        Val::Bytes(b)
    }
}
impl From<i64> for Val {
    fn from(n: i64) -> Val {
        Val::Int(n)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

pub type Row = Vec<Val>;

/// One open transaction. Dropped without `commit` by the caller's error path, it rolls
/// back.
pub trait Sql {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, ServerError>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, ServerError>;
    /// Which engine: for the few statements that differ.
    fn engine(&self) -> Engine;

    /// Insert many rows into `table(columns)`: `rows` holds them one after the other,
    /// `columns.len()` values each; `tail` follows the values (an `ON CONFLICT`
    /// clause, or empty). One rule for both engines: a key may appear only once per
    /// call. SQLite runs one prepared statement per row (in-process, cheap);
    /// PostgreSQL one statement over column arrays (one round trip).
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[(&str, Col)],
        tail: &str,
        rows: &[Val],
    ) -> Result<u64, ServerError> {
        let mut n = 0;
        for row in rows.chunks(columns.len().max(1)) {
            n += self.execute(&insert_sql(table, columns, tail, 0), row)?;
        }
        Ok(n)
    }

    /// A query over a list of text values: `sql` holds `IN_LIST` where `IN (…)` goes,
    /// after `params`. An empty list returns no rows. The list may be long: it is sent
    /// in chunks on SQLite and as one array on PostgreSQL, so rows of a key listed twice
    /// may come back twice.
    fn query_in(
        &mut self,
        sql: &str,
        params: &[Val],
        list: &[&str],
    ) -> Result<Vec<Row>, ServerError> {
        let mut out = Vec::new();
        for chunk in list.chunks(IN_CHUNK) {
            // Pad to a power of two with the last value, so a few statement texts serve
            // every length (prepared statements are cached by text).
            let width = chunk.len().next_power_of_two();
            let marks: Vec<String> = (0..width)
                .map(|i| format!("${}", params.len() + 1 + i))
                .collect();
            let text = sql.replace("IN_LIST", &format!("IN ({})", marks.join(", ")));
            let mut all = params.to_vec();
            all.extend((0..width).map(|i| Val::Text(chunk[i.min(chunk.len() - 1)].to_string())));
            out.extend(self.query(&text, &all)?);
        }
        Ok(out)
    }
}

/// Most values of one `IN (…)` list on SQLite (a power of two).
const IN_CHUNK: usize = 512;

/// The type of a column in [`Sql::insert_rows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Int,
    Text,
    Bytes,
}

/// `INSERT INTO table(columns) VALUES ($1, …) tail`, placeholders from `first + 1`.
fn insert_sql(table: &str, columns: &[(&str, Col)], tail: &str, first: usize) -> String {
    let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    let marks: Vec<String> = (1..=columns.len())
        .map(|i| format!("${}", first + i))
        .collect();
    format!(
        "INSERT INTO {table}({}) VALUES ({}) {tail}",
        names.join(", "),
        marks.join(", ")
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

fn db_err(e: impl std::fmt::Display) -> ServerError {
    ServerError::Db(e.to_string())
}

/// PostgreSQL text cannot hold a NUL character (SQLite can). Refuse it on both engines
/// alike, as bad input, rather than as a database error on one of them.
fn check_text(params: &[Val]) -> Result<(), ServerError> {
    if params
        .iter()
        .any(|v| matches!(v, Val::Text(s) if s.contains('\0')))
    {
        return Err(ServerError::BadRequest(
            "text may not contain a NUL character".into(),
        ));
    }
    Ok(())
}

// ---------- SQLite ----------

/// `$1` → `?1`: SQLite binds `?NNN` by number, whatever the order of appearance.
fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

struct SqliteTx<'a>(&'a rusqlite::Transaction<'a>);

/// A parameter bound by reference: no copy of the text.
struct SqliteParam<'a>(&'a Val);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Val::Null => ValueRef::Null,
            Val::Int(n) => ValueRef::Integer(*n),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

fn to_sqlite(params: &[Val]) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter(params.iter().map(SqliteParam))
}

impl Sql for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, ServerError> {
        check_text(params)?;
        let mut stmt = self
            .0
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(db_err)?;
        let n = stmt.execute(to_sqlite(params)).map_err(db_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, ServerError> {
        check_text(params)?;
        let mut stmt = self
            .0
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(db_err)?;
        let cols = stmt.column_count();
        let mut rows = stmt.query(to_sqlite(params)).map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let mut r = Vec::with_capacity(cols);
            for i in 0..cols {
                r.push(match row.get_ref(i).map_err(db_err)? {
                    rusqlite::types::ValueRef::Null => Val::Null,
                    rusqlite::types::ValueRef::Integer(n) => Val::Int(n),
                    rusqlite::types::ValueRef::Real(f) => Val::Int(f as i64),
                    rusqlite::types::ValueRef::Text(t) => Val::Text(match std::str::from_utf8(t) {
                        Ok(text) => text.to_owned(),
                        Err(_) => String::from_utf8_lossy(t).into_owned(),
                    }),
                    rusqlite::types::ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(r);
        }
        Ok(out)
    }

    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[(&str, Col)],
        tail: &str,
        rows: &[Val],
    ) -> Result<u64, ServerError> {
        check_text(rows)?;
        let sql = sqlite_placeholders(&insert_sql(table, columns, tail, 0));
        let mut stmt = self.0.prepare_cached(&sql).map_err(db_err)?;
        let mut n = 0;
        for row in rows.chunks(columns.len().max(1)) {
            n += stmt.execute(to_sqlite(row)).map_err(db_err)? as u64;
        }
        Ok(n)
    }
}

pub struct SqliteDb {
    conn: Mutex<rusqlite::Connection>,
    /// Wakes the checkpointer after a commit; see [`checkpointer`].
    checkpoint: std::sync::mpsc::SyncSender<()>,
    /// A transaction committed without waiting for the disk
    /// ([`Database::tx_unsynced`]) since the last one that waited.
    unsynced: std::sync::atomic::AtomicBool,
    /// The connection is at `synchronous=NORMAL` (for an unsynced transaction).
    normal: std::sync::atomic::AtomicBool,
}

/// How large the WAL may grow before a committing transaction checkpoints it itself,
/// in case the checkpointer falls behind.
const WAL_SELF_CHECKPOINT_BYTES: i64 = 64 * 1024 * 1024;

/// The page size of a new database: the largest SQLite has. Log blocks (a visit's
/// block is about 8 KB) and record states then sit in one page rather than a chain of
/// overflow pages, and the WAL has a sixteenth of the frames. Measured: the bulk push
/// about 10 % faster than with the 4 KiB default, no-op syncs the same (BENCHMARKS.md).
/// A database made earlier keeps its page size.
const PAGE_SIZE: i64 = 65_536;

/// Copies committed WAL pages into the database file on a thread of its own, so a
/// commit (a pushed batch) does not wait for it: SQLite's automatic checkpoint runs
/// inside the commit that crosses 1,000 pages. Passive: it never waits for, nor
/// blocks, a reader or writer. The thread ends when the database is dropped.
fn checkpointer(path: &str) -> Result<std::sync::mpsc::SyncSender<()>, ServerError> {
    let conn = rusqlite::Connection::open(path).map_err(db_err)?;
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "background checkpoint failed");
                }
            }
        })
        .map_err(db_err)?;
    Ok(wake)
}

impl SqliteDb {
    fn open(path: &str) -> Result<SqliteDb, ServerError> {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(db_err)?;
            }
        }
        let conn = rusqlite::Connection::open(path).map_err(db_err)?;
        // Only takes effect while the file is new (before WAL mode is set).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(db_err)?;
        // Acknowledged means durable: fsync on every commit.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_SELF_CHECKPOINT_BYTES / page_size.max(512),
        )
        .map_err(db_err)?;
        // The log file is cut back to 64 MiB when it is reset, not kept at its largest.
        conn.pragma_update(None, "journal_size_limit", 64i64 * 1024 * 1024)
            .map_err(db_err)?;
        Ok(SqliteDb {
            checkpoint: checkpointer(path)?,
            conn: Mutex::new(conn),
            unsynced: std::sync::atomic::AtomicBool::new(false),
            normal: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// One transaction; its commit waits for the disk unless `synced` is false.
    ///
    /// A transaction that waits, after one that did not, first writes a row of its own:
    /// its commit then flushes the log with everything before it, before anything it
    /// read (a pull of those changes) is answered.
    fn tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<R, ServerError>,
        synced: bool,
    ) -> Result<R, ServerError> {
        use std::sync::atomic::Ordering;
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // The level is set before the transaction begins (SQLite refuses to change it
        // inside one), from what this transaction needs: whatever became of the one
        // before (an error, a panic), a synced transaction commits at FULL.
        if self.normal.load(Ordering::Acquire) == synced {
            let level = if synced { "FULL" } else { "NORMAL" };
            conn.pragma_update(None, "synchronous", level)
                .map_err(db_err)?;
            self.normal.store(!synced, Ordering::Release);
        }
        if !synced {
            // Before anything can fail: at worst the next synced transaction flushes
            // for nothing.
            self.unsynced.store(true, Ordering::Release);
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        if synced && self.unsynced.load(Ordering::Acquire) {
            tx.execute(
                "INSERT INTO counters(name, value) VALUES ('flushes', 1)
                 ON CONFLICT(name) DO UPDATE SET value = value + 1",
                [],
            )
            .map_err(db_err)?;
        }
        let r = f(&mut SqliteTx(&tx))?;
        tx.commit().map_err(db_err)?;
        if synced {
            self.unsynced.store(false, Ordering::Release);
        }
        // Full means a wake-up is already waiting.
        let _ = self.checkpoint.try_send(());
        Ok(r)
    }

    /// Make unsynced commits durable now, if there are any.
    fn flush(&self) -> Result<(), ServerError> {
        if self.unsynced.load(std::sync::atomic::Ordering::Acquire) {
            self.tx(|_| Ok(()), true)?;
        }
        Ok(())
    }
}

// ---------- PostgreSQL ----------

struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, ServerError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(db_err)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// Bind values by the parameter types PostgreSQL inferred (a NULL needs a type too).
enum PgParam {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl PgParam {
    fn as_sql(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            PgParam::Int(v) => v,
            PgParam::Text(v) => v,
            PgParam::Bytes(v) => v,
        }
    }
}

fn pg_params(stmt: &postgres::Statement, params: &[Val]) -> Result<Vec<PgParam>, ServerError> {
    params
        .iter()
        .zip(stmt.params())
        .map(|(v, ty)| {
            let int = *ty == Type::INT8 || *ty == Type::INT4 || *ty == Type::INT2;
            let wrong = || {
                Err(ServerError::Db(format!(
                    "a value of the wrong type for {ty}"
                )))
            };
            if *ty == Type::BYTEA {
                return match v {
                    Val::Int(_) => wrong(),
                    v => Ok(PgParam::Bytes(v.bytes().map(<[u8]>::to_vec))),
                };
            }
            Ok(match (v, int) {
                (Val::Null, true) => PgParam::Int(None),
                (Val::Null, false) => PgParam::Text(None),
                (Val::Int(n), true) => PgParam::Int(Some(*n)),
                (Val::Int(n), false) => PgParam::Text(Some(n.to_string())),
                (Val::Text(s), true) => PgParam::Int(s.parse().ok()),
                (Val::Text(s), false) => PgParam::Text(Some(s.clone())),
                // Binary is bound to binary only.
                (Val::Bytes(_), _) => return wrong(),
            })
        })
        .collect()
}

impl PgTx<'_> {
    /// `query`, with `list` bound as a text array in place of the last parameter when
    /// it is not empty.
    fn query_with_array(
        &mut self,
        sql: &str,
        params: &[Val],
        list: &[&str],
    ) -> Result<Vec<Row>, ServerError> {
        check_text(params)?;
        let stmt = self.statement(sql)?;
        let p = pg_params(&stmt, params)?;
        let mut refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            p.iter().map(PgParam::as_sql).collect();
        let array: Vec<&str> = list.to_vec();
        if !list.is_empty() {
            refs.pop();
            refs.push(&array);
        }
        let rows = self.tx.query(&stmt, &refs).map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut r = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let ty = col.type_();
                r.push(if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)
                        .map_err(db_err)?
                        .map_or(Val::Null, Val::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(db_err)?
                        .map_or(Val::Null, |n| Val::Int(n.into()))
                } else if *ty == Type::BYTEA {
                    row.try_get::<_, Option<Vec<u8>>>(i)
                        .map_err(db_err)?
                        .map_or(Val::Null, Val::Bytes)
                } else if *ty == Type::BOOL {
                    row.try_get::<_, Option<bool>>(i)
                        .map_err(db_err)?
                        .map_or(Val::Null, |b| Val::Int(b.into()))
                } else {
                    row.try_get::<_, Option<String>>(i)
                        .map_err(db_err)?
                        .map_or(Val::Null, Val::Text)
                });
            }
            out.push(r);
        }
        Ok(out)
    }
}

impl Sql for PgTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, ServerError> {
        check_text(params)?;
        let stmt = self.statement(sql)?;
        let p = pg_params(&stmt, params)?;
        let refs: Vec<_> = p.iter().map(PgParam::as_sql).collect();
        self.tx.execute(&stmt, &refs).map_err(db_err)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, ServerError> {
        self.query_with_array(sql, params, &[])
    }

    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[(&str, Col)],
        tail: &str,
        rows: &[Val],
    ) -> Result<u64, ServerError> {
        check_text(rows)?;
        let width = columns.len().max(1);
        if rows.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| match ty {
                Col::Int => format!("${}::bigint[]", i + 1),
                Col::Text => format!("${}::text[]", i + 1),
                Col::Bytes => format!("${}::bytea[]", i + 1),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table}({}) SELECT * FROM unnest({}) {tail}",
            names.join(", "),
            arrays.join(", ")
        );
        let stmt = self.statement(&sql)?;
        let params: Vec<PgArray> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| {
                let column = rows.iter().skip(i).step_by(width);
                match ty {
                    Col::Int => PgArray::Int(
                        column
                            .map(|v| match v {
                                Val::Int(n) => Some(*n),
                                Val::Text(s) => s.parse().ok(),
                                Val::Null | Val::Bytes(_) => None,
                            })
                            .collect(),
                    ),
                    Col::Text => PgArray::Text(column.map(|v| v.text()).collect()),
                    Col::Bytes => PgArray::Bytes(column.map(|v| v.bytes()).collect()),
                }
            })
            .collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(PgArray::as_sql).collect();
        self.tx.execute(&stmt, &refs).map_err(db_err)
    }

    fn query_in(
        &mut self,
        sql: &str,
        params: &[Val],
        list: &[&str],
    ) -> Result<Vec<Row>, ServerError> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        if list.iter().any(|s| s.contains('\0')) {
            return Err(ServerError::BadRequest(
                "text may not contain a NUL character".into(),
            ));
        }
        let text = sql.replace("IN_LIST", &format!("= ANY(${}::text[])", params.len() + 1));
        let mut all = params.to_vec();
        // The list goes last, as an array; `query` binds the values before it.
        all.push(Val::Null);
        self.query_with_array(&text, &all, list)
    }
}

/// A column of [`Sql::insert_rows`] as one PostgreSQL array.
enum PgArray<'a> {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<&'a str>>),
    Bytes(Vec<Option<&'a [u8]>>),
}

impl PgArray<'_> {
    fn as_sql(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            PgArray::Int(v) => v,
            PgArray::Text(v) => v,
            PgArray::Bytes(v) => v,
        }
    }
}

/// Idle connections a server process keeps open.
const MAX_POOL: usize = 16;

pub struct PgDb {
    url: String,
    pool: Mutex<Vec<PgConn>>,
}

impl PgDb {
    fn connect(&self) -> Result<PgConn, ServerError> {
        let client = postgres::Client::connect(&self.url, postgres::NoTls).map_err(db_err)?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<R, ServerError>,
    ) -> Result<R, ServerError> {
        let mut f = Some(f);
        // A pooled connection may have been cut since its last use (database restart,
        // a proxy's idle timeout): `BEGIN` fails on it. Nothing ran yet, so drop it and
        // take another, at worst a new one, instead of failing the request.
        for _ in 0..=MAX_POOL {
            let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let (mut conn, from_pool) = match pooled {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => (c, true),
                None => (self.connect()?, false),
            };
            let result = {
                let PgConn { client, statements } = &mut conn;
                match client.transaction() {
                    Err(e) if from_pool => {
                        tracing::warn!(error = %e, "dropping a broken pooled connection");
                        continue;
                    }
                    Err(e) => Err(db_err(e)),
                    Ok(tx) => {
                        let Some(f) = f.take() else {
                            return Err(ServerError::Db("transaction body ran twice".into()));
                        };
                        let mut t = PgTx { tx, statements };
                        match f(&mut t) {
                            Ok(r) => t.tx.commit().map_err(db_err).map(|()| r),
                            Err(e) => Err(e),
                        }
                    }
                }
            };
            if !conn.client.is_closed() {
                let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < MAX_POOL {
                    pool.push(conn);
                }
            }
            return result;
        }
        Err(ServerError::Db("no working database connection".into()))
    }
}

// ---------- choice by URL ----------

/// The server's database, chosen once at start-up from its URL:
/// `postgres://…` / `postgresql://…` for PostgreSQL, `sqlite://PATH` or a plain path
/// for SQLite.
pub enum Database {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

impl Database {
    pub fn open(url: &str) -> Result<Database, ServerError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(PgDb {
                url: url.to_string(),
                pool: Mutex::new(Vec::new()),
            })
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Database::Sqlite(SqliteDb::open(path)?)
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        match self {
            Database::Sqlite(_) => Engine::Sqlite,
            Database::Postgres(_) => Engine::Postgres,
        }
    }

    /// Run `f` in one transaction; commit when it returns Ok, roll back otherwise.
    pub fn tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<R, ServerError>,
    ) -> Result<R, ServerError> {
        match self {
            Database::Sqlite(db) => db.tx(f, true),
            Database::Postgres(db) => db.tx(f),
        }
    }

    /// [`Database::tx`] whose commit need not be on disk when it returns; it is by the
    /// time [`Database::flush`] returns, and by the time any later transaction that
    /// writes commits. For the batches of a push answered together: only the last
    /// commit has to wait for the disk.
    ///
    /// SQLite: the next transaction on the one connection makes it durable first (see
    /// `SqliteDb::tx`). PostgreSQL: `synchronous_commit` is off for this transaction,
    /// so what it wrote is visible before it is on disk; a commit that waits flushes
    /// the whole log up to itself, this one included. Nothing is served before that: a
    /// pull writes its audit row in the transaction that reads, and commits waiting for
    /// the disk before it answers; a push answers after its own waiting commit, or
    /// after [`Database::flush`].
    pub fn tx_unsynced<R>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<R, ServerError>,
    ) -> Result<R, ServerError> {
        match self {
            Database::Sqlite(db) => db.tx(f, false),
            Database::Postgres(db) => db.tx(|t| {
                t.execute("SET LOCAL synchronous_commit TO OFF", &[])?;
                f(t)
            }),
        }
    }

    /// Make what [`Database::tx_unsynced`] committed durable now. SQLite: when there is
    /// any. PostgreSQL: always, with a commit that waits for the disk, which writes a
    /// row for it (a commit that wrote nothing does not wait).
    pub fn flush(&self) -> Result<(), ServerError> {
        match self {
            Database::Sqlite(db) => db.flush(),
            Database::Postgres(db) => db.tx(|t| {
                t.execute(
                    "INSERT INTO counters(name, value) VALUES ('flushes', 1)
                     ON CONFLICT(name) DO UPDATE SET value = counters.value + 1",
                    &[],
                )
                .map(|_| ())
            }),
        }
    }

    /// Apply the embedded migrations not applied yet, in file-name order, each in its own
    /// transaction with its version recorded.
    fn migrate(&self) -> Result<(), ServerError> {
        let dir = match self {
            Database::Sqlite(_) => &SQLITE_MIGRATIONS,
            Database::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let mut files: Vec<_> = dir.files().collect();
        files.sort_by_key(|f| f.path().to_path_buf());
        match self {
            Database::Sqlite(db) => {
                let conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)",
                )
                .map_err(db_err)?;
                for f in files {
                    let version = f.path().to_string_lossy().into_owned();
                    let done: i64 = conn
                        .query_row(
                            "SELECT count(*) FROM schema_migrations WHERE version = ?1",
                            [&version],
                            |r| r.get(0),
                        )
                        .map_err(db_err)?;
                    if done == 0 {
                        let sql = f.contents_utf8().unwrap_or_default();
                        conn.execute_batch(&format!(
                            "BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations VALUES ('{}'); COMMIT;",
                            version.replace('\'', "''")
                        ))
                        .map_err(db_err)?;
                    }
                }
            }
            Database::Postgres(db) => {
                let mut conn = db.connect()?;
                // Several server processes may start at once: one migrates, others wait.
                let mut tx = conn.client.transaction().map_err(db_err)?;
                tx.batch_execute(
                    "SELECT pg_advisory_xact_lock(7406); \
                     CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)",
                )
                .map_err(db_err)?;
                for f in files {
                    let version = f.path().to_string_lossy().into_owned();
                    let done: i64 = tx
                        .query_one(
                            "SELECT count(*) FROM schema_migrations WHERE version = $1",
                            &[&version],
                        )
                        .map_err(db_err)?
                        .get(0);
                    if done == 0 {
                        tx.batch_execute(f.contents_utf8().unwrap_or_default())
                            .map_err(db_err)?;
                        tx.execute("INSERT INTO schema_migrations VALUES ($1)", &[&version])
                            .map_err(db_err)?;
                    }
                }
                tx.commit().map_err(db_err)?;
                db.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_migrations_apply_once_and_the_audit_log_is_append_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = dir.path().join("s.db").to_string_lossy().into_owned();
        let db = Database::open(&url).expect("open");
        drop(db);
        let db = Database::open(&url).expect("reopen is a no-op");
        db.tx(|t| {
            t.execute(
                "INSERT INTO audit VALUES ($1, 'x', 'y', 'z', 'ok', 'test')",
                &[Val::Int(1)],
            )
        })
        .expect("append");
        assert!(db.tx(|t| t.execute("DELETE FROM audit", &[])).is_err());
        let n = db
            .tx(|t| t.query("SELECT count(*) FROM audit", &[]))
            .expect("count");
        assert_eq!(n[0][0], Val::Int(1));
    }

    /// A new database gets 64 KiB pages; one made with SQLite's default pages keeps
    /// them, and the WAL checkpoints itself at the same size in bytes for both.
    #[test]
    fn a_new_database_has_large_pages_and_an_earlier_one_keeps_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pragmas = |db: &Database| {
            let Database::Sqlite(sqlite) = db else {
                panic!("a SQLite database");
            };
            let conn = sqlite.conn.lock().expect("connection");
            let get = |p: &str| -> i64 {
                conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                    .expect("pragma")
            };
            (get("page_size"), get("wal_autocheckpoint"))
        };
        let new = dir.path().join("new.db").to_string_lossy().into_owned();
        let db = Database::open(&new).expect("open");
        assert_eq!(pragmas(&db), (65_536, 1_024));
        drop(db);
        assert_eq!(
            pragmas(&Database::open(&new).expect("reopen")),
            (65_536, 1_024)
        );

        let old = dir.path().join("old.db").to_string_lossy().into_owned();
        {
            let conn = rusqlite::Connection::open(&old).expect("old");
            conn.execute_batch(
                "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t(x);",
            )
            .expect("an earlier file");
        }
        let db = Database::open(&old).expect("open old");
        assert_eq!(pragmas(&db), (4_096, 16_384));
        db.tx(|t| {
            t.execute(
                "INSERT INTO audit VALUES (1, 'x', 'push', 'z', 'ok', 'test')",
                &[],
            )
        })
        .expect("written");
    }

    /// A commit that did not wait for the disk is flushed by the next transaction that
    /// waits, which writes a row of its own for it; one that follows a synced commit
    /// writes nothing more.
    #[test]
    fn an_unsynced_commit_is_flushed_by_the_next_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = dir.path().join("s.db").to_string_lossy().into_owned();
        let db = Database::open(&url).expect("open");
        let flushes = || {
            db.tx(|t| t.query("SELECT value FROM counters WHERE name = 'flushes'", &[]))
                .expect("flushes")
                .first()
                .and_then(|r| r[0].int())
        };
        let audit = |t: &mut dyn Sql| {
            t.execute(
                "INSERT INTO audit VALUES (1, 'x', 'push', 'z', 'ok', 'test')",
                &[],
            )
        };
        db.tx(audit).expect("synced");
        assert_eq!(flushes(), None, "nothing to flush after a synced commit");
        db.tx_unsynced(audit).expect("unsynced");
        db.tx_unsynced(audit).expect("unsynced");
        assert_eq!(flushes(), Some(1), "the reading transaction flushed both");
        assert_eq!(flushes(), Some(1), "and only once");
        let Database::Sqlite(sqlite) = &db else {
            panic!("a SQLite database");
        };
        let conn = sqlite.conn.lock().expect("connection");
        let level: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(level, 2, "back to FULL after an unsynced commit");
        drop(conn);

        // An unsynced transaction that fails, or panics: the next synced one still
        // commits at FULL and flushes.
        let failed: Result<(), ServerError> =
            db.tx_unsynced(|_| Err(ServerError::Db("refused".into())));
        assert!(failed.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.tx_unsynced(|t| -> Result<(), ServerError> {
                audit(t)?;
                panic!("in the middle of a transaction")
            })
        }));
        assert!(panicked.is_err());
        db.flush().expect("flush");
        assert_eq!(flushes(), Some(2), "flushed once more");
        let conn = sqlite.conn.lock().unwrap_or_else(|p| p.into_inner());
        let level: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(level, 2, "FULL again after a failed and a panicked one");
    }
}

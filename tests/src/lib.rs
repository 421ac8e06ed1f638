//! voordeur-tests: end-to-end tests across server and clients (the tests are in
//! tests/tests/), and the harness they share:
//!
//! * [`pg`]: a throwaway PostgreSQL cluster per test process, a fresh database per test;
//! * [`server`]: the sync server in-process, driven through its router without a
//!   socket, and hand-made devices;
//! * [`replica`]: what a device holds after applying pulled changes;
//! * [`procs`]: the real `voordeur-server` and `voordeur` binaries on loopback, every
//!   process killed and reaped by a guard.
//!
//! Storage stories run against every backend ([`Backend`]): the same test, once on
//! SQLite and once on PostgreSQL.

use std::path::Path;

pub mod pg;
pub mod procs;
pub mod replica;
pub mod server;

/// A storage engine of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL for a new, empty server database: a file in `dir` for SQLite, a fresh
/// database of the test cluster for PostgreSQL.
pub fn database_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => dir.join("server.db").to_string_lossy().into_owned(),
        Backend::Postgres => pg::cluster().fresh_database(),
    }
}

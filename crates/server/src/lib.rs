//! voordeur-server: the municipal sync server.
//!
//! axum over tokio; storage on embedded SQLite or PostgreSQL behind one trait
//! ([`db::Sql`]), chosen from the database URL at start-up. The server is the ordering
//! authority of sync: it numbers every accepted change, merges concurrent edits with
//! the rules in `voordeur_core::merge`, and decides what each device may receive.

pub mod api;
pub mod auth;
mod batches;
pub mod db;
pub mod demo;
pub mod engine;
pub mod error;
pub mod state;

pub use api::{router, AppState};
pub use db::Database;
pub use error::ServerError;

use std::sync::Arc;
use voordeur_core::{Clock, DeviceId, SystemTime};

/// The server's clock: its own device id per process (so two processes never make the
/// same timestamp), resumed after the newest stored change.
pub fn server_clock(db: &Database) -> Result<Clock, ServerError> {
    let last = db.tx(engine::last_logged_clock)?;
    Ok(Clock::resume(DeviceId::new(), Box::new(SystemTime), last))
}

/// State for a server on `db`.
pub fn state(db: Database) -> Result<AppState, ServerError> {
    let clock = server_clock(&db)?;
    Ok(AppState {
        db: Arc::new(db),
        clock: Arc::new(clock),
    })
}

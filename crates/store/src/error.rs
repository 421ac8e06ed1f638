//! The store's one error type. Every variant names what is wrong in words a person can
//! act on; the CLI prints it as one line, the app shows it.

use voordeur_core::{AnswerError, ChangeError, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Answer(#[from] AnswerError),
    #[error("{0}")]
    Change(#[from] ChangeError),
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("cannot complete the visit: required items unanswered: {}", .0.join(", "))]
    MissingRequired(Vec<String>),
    #[error("visit {0} is completed and can no longer be changed")]
    VisitCompleted(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the database cannot be opened: wrong key or not a Voordeur database")]
    Locked,
    #[error("the database is damaged: {0}")]
    Corrupt(&'static str),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("file error: {0}")]
    Io(String),
}

impl StoreError {
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// True for errors caused by the input (bad id, bad value), not by the database.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            StoreError::Sqlite(_)
                | StoreError::Migration(_)
                | StoreError::Io(_)
                | StoreError::Corrupt(_)
        )
    }
}

//! The one error type of the app's commands.
//!
//! The UI receives it as a typed value, `{ "kind": "...", "message": "..." }`: `kind`
//! is a stable snake_case tag the UI turns into words in the user's language, and
//! `message` is the English detail for support and logs. Commands never return
//! `Result<_, String>`.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use voordeur_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The device database could not be opened when the app started.
    #[error("the device database at {path} could not be opened: {reason}")]
    StoreUnavailable { path: String, reason: String },
    /// The caller sent something the command does not accept.
    #[error("{0}")]
    InvalidInput(String),
    /// The store refused or failed a request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: an earlier command panicked while it held the store.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl AppError {
    /// The stable tag the UI switches on (see `ui/src/lib/api.ts`).
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::StoreUnavailable { .. } => "store_unavailable",
            AppError::InvalidInput(_) => "invalid_input",
            AppError::Store(StoreError::Locked) => "store_locked",
            AppError::Store(e) if e.is_user_error() => "invalid_input",
            AppError::Store(_) => "store",
            AppError::Internal(_) => "internal",
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_reach_the_ui_as_kind_and_message() {
        let e = AppError::StoreUnavailable {
            path: "/data/voordeur.db".into(),
            reason: "permission denied".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).expect("serialise"),
            json!({
                "kind": "store_unavailable",
                "message": "the device database at /data/voordeur.db could not be opened: permission denied"
            })
        );
        let locked = serde_json::to_value(AppError::from(StoreError::Locked)).expect("serialise");
        assert_eq!(locked["kind"], "store_locked");
        let bad =
            serde_json::to_value(AppError::InvalidInput("too long".into())).expect("serialise");
        assert_eq!(
            bad,
            json!({ "kind": "invalid_input", "message": "too long" })
        );
    }
}

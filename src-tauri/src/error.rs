//! The one error type of the app's commands.
//!
//! The UI receives it as a typed value, `{ "kind": "...", "message": "...", "items"?:
//! [...] }`: `kind` is a stable snake_case tag the UI turns into words in the user's
//! language, `message` is the English detail for support and logs, and `items` names
//! the checklist items an error is about (an answer that does not fit, required items
//! left open) so the UI can show it next to them. Commands never return
//! `Result<_, String>`.

use serde::Serialize;
use voordeur_core::AnswerError;
use voordeur_store::StoreError;
use voordeur_sync::SyncError;

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
    /// Enrolment or sync failed.
    #[error("{}", sync_message(.0))]
    Sync(#[from] SyncError),
    /// The app is locked: unlock with the PIN first.
    #[error("the app is locked")]
    Locked,
    /// The PIN does not fit (5 to 12 digits).
    #[error("a PIN is 5 to 12 digits")]
    InvalidPin,
    /// The PIN is not this device's.
    #[error("wrong PIN")]
    WrongPin,
    /// Too many wrong PINs: try again in `seconds`.
    #[error("too many wrong PINs; try again in {seconds} seconds")]
    TooManyTries { seconds: u64 },
    /// The device has not synced for too long: it shows no resident data until it has.
    #[error("this device has not synced for {days} days; sync first")]
    SyncRequired { days: i64 },
    /// A bug: an earlier command panicked while it held the store.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

fn sync_message(e: &SyncError) -> String {
    match e {
        SyncError::Offline(detail) => format!("the server could not be reached: {detail}"),
        other => other.to_string(),
    }
}

/// Every `kind` an [`AppError`] can have. The UI has a text for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The device database could not be opened.
    StoreUnavailable,
    /// The device database needs another key or is not a Voordeur database.
    StoreLocked,
    /// A command argument was refused (bad id, empty text, unknown category, …).
    InvalidInput,
    /// The record asked for does not exist on this device.
    NotFound,
    /// An answer does not fit its item; `items` names the item.
    InvalidAnswer,
    /// Required items are unanswered; `items` names them.
    MissingRequired,
    /// The visit is completed and can no longer be changed.
    VisitCompleted,
    /// The server could not be reached.
    Offline,
    /// The enrolment code is wrong, used or expired.
    EnrolmentRefused,
    /// The server address is not an http(s) URL.
    InvalidUrl,
    /// The server speaks a newer protocol: update the app.
    UpdateRequired,
    /// The server no longer knows this device's token.
    Unauthorized,
    /// An admin revoked this device; its local data has been erased.
    Revoked,
    /// The device is not enrolled.
    NotEnrolled,
    /// The server answered with an error.
    Server,
    /// The server answered something that does not follow the protocol.
    Protocol,
    /// The device database failed.
    Store,
    /// The app is locked; unlock with the PIN.
    Locked,
    /// A PIN is 5 to 12 digits.
    InvalidPin,
    /// The PIN is wrong.
    WrongPin,
    /// Too many wrong PINs; wait before the next try.
    TooManyTries,
    /// Not synced for too many days: sync first.
    SyncRequired,
    /// A bug.
    Internal,
}

/// An [`AppError`] as the UI receives it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "AppError"))]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub items: Option<Vec<String>>,
}

fn answer_item(e: &AnswerError) -> &str {
    match e {
        AnswerError::UnknownItem { item }
        | AnswerError::NotYesNo { item, .. }
        | AnswerError::NotAnOption { item, .. }
        | AnswerError::OutOfRange { item, .. }
        | AnswerError::NotANumber { item, .. }
        | AnswerError::NotADate { item, .. }
        | AnswerError::NotText { item } => item,
    }
}

impl AppError {
    /// The stable tag the UI switches on (see `ui/src/lib/api.ts`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::StoreUnavailable { .. } => ErrorKind::StoreUnavailable,
            AppError::InvalidInput(_) => ErrorKind::InvalidInput,
            AppError::Store(e) => store_kind(e),
            AppError::Sync(e) => match e {
                SyncError::Offline(_) => ErrorKind::Offline,
                SyncError::Unauthorized => ErrorKind::Unauthorized,
                SyncError::Revoked => ErrorKind::Revoked,
                SyncError::EnrolmentRefused(_) => ErrorKind::EnrolmentRefused,
                SyncError::UpdateRequired => ErrorKind::UpdateRequired,
                SyncError::Server { .. } => ErrorKind::Server,
                SyncError::Store(e) => store_kind(e),
                SyncError::Protocol(_) => ErrorKind::Protocol,
                SyncError::NotEnrolled => ErrorKind::NotEnrolled,
                SyncError::InvalidUrl(_) => ErrorKind::InvalidUrl,
            },
            AppError::Locked => ErrorKind::Locked,
            AppError::InvalidPin => ErrorKind::InvalidPin,
            AppError::WrongPin => ErrorKind::WrongPin,
            AppError::TooManyTries { .. } => ErrorKind::TooManyTries,
            AppError::SyncRequired { .. } => ErrorKind::SyncRequired,
            AppError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The checklist items the error is about, if any.
    pub fn items(&self) -> Option<Vec<String>> {
        match self {
            AppError::Store(StoreError::MissingRequired(items)) => Some(items.clone()),
            AppError::Store(StoreError::Answer(e)) => Some(vec![answer_item(e).to_string()]),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind(),
            message: self.to_string(),
            items: self.items(),
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::Locked => ErrorKind::StoreLocked,
        StoreError::Answer(_) => ErrorKind::InvalidAnswer,
        StoreError::MissingRequired(_) => ErrorKind::MissingRequired,
        StoreError::VisitCompleted(_) => ErrorKind::VisitCompleted,
        StoreError::NotFound { .. } => ErrorKind::NotFound,
        e if e.is_user_error() => ErrorKind::InvalidInput,
        _ => ErrorKind::Store,
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body().serialize(serializer)
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

    #[test]
    fn checklist_errors_name_their_items() {
        let missing = AppError::from(StoreError::MissingRequired(vec!["a".into(), "b".into()]));
        let v = serde_json::to_value(&missing).expect("serialise");
        assert_eq!(v["kind"], "missing_required");
        assert_eq!(v["items"], json!(["a", "b"]));
        let wrong = AppError::from(StoreError::Answer(AnswerError::NotYesNo {
            item: "x".into(),
            got: "misschien".into(),
        }));
        let v = serde_json::to_value(&wrong).expect("serialise");
        assert_eq!(v["kind"], "invalid_answer");
        assert_eq!(v["items"], json!(["x"]));
        assert_eq!(v["message"], "item x expects yes or no, got \"misschien\"");
    }

    #[test]
    fn sync_errors_keep_their_meaning() {
        let cases = [
            (SyncError::Offline("Connection refused".into()), "offline"),
            (
                SyncError::EnrolmentRefused("used".into()),
                "enrolment_refused",
            ),
            (SyncError::InvalidUrl("ftp://x".into()), "invalid_url"),
            (SyncError::UpdateRequired, "update_required"),
            (SyncError::Unauthorized, "unauthorized"),
            (SyncError::Revoked, "revoked"),
        ];
        for (e, kind) in cases {
            let v = serde_json::to_value(AppError::from(e)).expect("serialise");
            assert_eq!(v["kind"], kind);
        }
        let offline = AppError::from(SyncError::Offline("Connection refused".into()));
        assert_eq!(
            offline.to_string(),
            "the server could not be reached: Connection refused"
        );
    }
}

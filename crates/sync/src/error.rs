//! The sync engine's one error type. Each variant is something a person (or the app)
//! acts on differently: try again later, enrol again, update the app, call support.

use serde::ser::SerializeStruct;
use voordeur_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No connection, refused, timed out or cut: try again later. Nothing is lost.
    #[error("server not reachable: {0}")]
    Offline(String),
    /// 401 on a sync request: the device was revoked or its token is unknown.
    #[error("this device is no longer enrolled")]
    Unauthorized,
    /// 401 `device_revoked`: an admin revoked this device. Its local data has been
    /// wiped by [`crate::sync`]; it must be enrolled again.
    #[error(
        "this device was revoked by an administrator; its data on this device has been erased"
    )]
    Revoked,
    /// 401 on enrolment: the code is wrong, used or expired.
    #[error("enrolment refused: {0}")]
    EnrolmentRefused(String),
    /// 426: the server speaks another protocol version.
    #[error("this version of Voordeur is too old for the server; update the app")]
    UpdateRequired,
    /// Any other error answer of the server.
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An answer that does not follow the protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("this device is not enrolled; run voordeur enroll")]
    NotEnrolled,
    #[error("server address {0:?} is not an http:// or https:// URL")]
    InvalidUrl(String),
}

impl SyncError {
    /// A stable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Offline(_) => "offline",
            SyncError::Unauthorized => "unauthorized",
            SyncError::Revoked => "device_revoked",
            SyncError::EnrolmentRefused(_) => "enrolment_refused",
            SyncError::UpdateRequired => "update_required",
            SyncError::Server { .. } => "server",
            SyncError::Store(_) => "store",
            SyncError::Protocol(_) => "protocol",
            SyncError::NotEnrolled => "not_enrolled",
            SyncError::InvalidUrl(_) => "invalid_url",
        }
    }

    /// True when trying again later may succeed without anyone doing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Offline(_) => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Serialised for the UI as `{code, message}`.
impl serde::Serialize for SyncError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SyncError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

//! The server's one error type, mapped to a status and a short public message. The
//! detail of internal errors goes to the log (without resident data), never to the
//! client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use voordeur_core::protocol::{ErrorBody, REVOKED_CODE};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database error: {0}")]
    Db(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The device's token was revoked by an admin: the device wipes its data.
    #[error("this device has been revoked")]
    Revoked,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this app is too old for the server: update required")]
    UpdateRequired,
}

impl ServerError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Unauthorized(_) | ServerError::Revoked => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::UpdateRequired => StatusCode::UPGRADE_REQUIRED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ServerError::Db(_) => "internal",
            ServerError::Unauthorized(_) => "unauthorized",
            ServerError::Revoked => REVOKED_CODE,
            ServerError::Forbidden(_) => "forbidden",
            ServerError::BadRequest(_) => "bad_request",
            ServerError::NotFound(_) => "not_found",
            ServerError::Conflict(_) => "conflict",
            ServerError::UpdateRequired => "update_required",
        }
    }
}

pub fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.to_string(),
            message,
        }),
    )
        .into_response()
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let message = match &self {
            ServerError::Db(detail) => {
                tracing::error!(%detail, "database error");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        error_response(self.status(), self.code(), message)
    }
}

//! HTTP: `fn router(state) -> Router`, thin handlers over the engine and auth modules.
//! Database work runs on the blocking pool; every request is authorised here by
//! token, and by role and scope in the engine.

use crate::auth::{self, Caller};
use crate::batches::{self, BatchFailure};
use crate::db::Database;
use crate::engine;
use crate::error::{error_response, ServerError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use voordeur_core::protocol::*;
use voordeur_core::Clock;

/// The largest request body, after decompression.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Database>,
    pub clock: Arc<Clock>,
}

impl AppState {
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.physical_ms()).unwrap_or(i64::MAX)
    }

    /// Run database work on the blocking pool, in one transaction.
    async fn tx<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn crate::db::Sql, &Clock) -> Result<R, ServerError> + Send + 'static,
    ) -> Result<R, ServerError> {
        let db = self.db.clone();
        let clock = self.clock.clone();
        tokio::task::spawn_blocking(move || db.tx(|t| f(t, &clock)))
            .await
            .map_err(|e| ServerError::Db(format!("worker failed: {e}")))?
    }
}

/// JSON body whose rejections are our 4xx JSON errors: 415 without a JSON content type,
/// 413 over [`MAX_BODY`], 400 for text that is not JSON, 422 for JSON of the wrong
/// shape. Parsed with `serde_json::from_slice` directly (axum's `Json` tracks the path
/// of every value it reads, a visible cost on a 5,000-change push).
pub struct WireJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// A JSON request body as bytes, with [`WireJson`]'s checks of type and size.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request",
                "expected a body with content type application/json".to_string(),
            ));
        }
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(JsonBytes(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body over {MAX_BODY} bytes"),
            )),
            Err(e) => Err(error_response(e.status(), "bad_request", e.body_text())),
        }
    }
}

/// 400 for text that is not JSON, 422 for JSON of the wrong shape.
fn invalid_body(e: &serde_json::Error) -> Response {
    let status = match e.classify() {
        serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    };
    error_response(status, "bad_request", format!("invalid request body: {e}"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WireJson<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(WireJson)
            .map_err(|e| invalid_body(&e))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = ServerError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state: AppState = axum::extract::FromRef::from_ref(state);
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .ok_or(ServerError::Unauthorized("missing device token"))?;
        state.tx(move |t, _| auth::authenticate(t, &token)).await
    }
}

async fn require_protocol(headers: HeaderMap, req: Request, next: Next) -> Response {
    let version = headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    if version != Some(PROTOCOL_VERSION) {
        return ServerError::UpdateRequired.into_response();
    }
    next.run(req).await
}

fn origin(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("direct")
        .chars()
        .take(64)
        .collect()
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "protocol": PROTOCOL_VERSION }))
}

async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    WireJson(req): WireJson<EnrolRequest>,
) -> Result<Json<EnrolResponse>, ServerError> {
    let now = state.now_ms();
    let origin = origin(&headers);
    let result = state
        .tx(move |t, _| auth::enrol(t, &req.code, req.device_id, req.device_name.as_deref(), now))
        .await;
    let (actor, outcome) = match &result {
        Ok(r) => (r.user.name.clone(), "ok".to_string()),
        Err(e) => ("anonymous".to_string(), e.code().to_string()),
    };
    let object = result
        .as_ref()
        .map(|r| r.device_id.to_string())
        .unwrap_or_default();
    state
        .tx(move |t, _| auth::audit(t, now, &actor, "enrol", &object, &outcome, &origin))
        .await?;
    result.map(Json)
}

async fn me(caller: Caller) -> impl IntoResponse {
    (
        [
            (
                axum::http::HeaderName::from_static(MAX_BATCH_HEADER),
                MAX_BATCH.to_string(),
            ),
            (
                axum::http::HeaderName::from_static(PUSH_BATCHES_HEADER),
                MAX_PUSH_BATCHES.to_string(),
            ),
            (
                axum::http::header::ACCEPT_ENCODING,
                voordeur_core::protocol::REQUEST_ENCODINGS.to_string(),
            ),
        ],
        Json(caller.user),
    )
}

/// Apply one pushed batch in the transaction `t` (carrying on from the batch before it
/// in the same request, see [`engine::Carry`]), note the device as seen and audit it.
pub(crate) fn push_batch(
    t: &mut dyn crate::db::Sql,
    clock: &Clock,
    caller: &Caller,
    pushed: engine::Pushed<'_>,
    now: i64,
    origin: &str,
    carry: Option<engine::Carry>,
) -> Result<(PushResponse, engine::Carry), ServerError> {
    let sent = pushed.changes.len();
    let (resp, carry) = engine::push_carrying(t, caller, pushed, clock, carry)?;
    t.execute(
        "UPDATE devices SET last_seen_ms = $1 WHERE id = $2",
        &[now.into(), caller.device.to_string().into()],
    )?;
    auth::audit(
        t,
        now,
        &caller.user.name,
        "push",
        &format!("device {} changes {}", caller.device, sent),
        &format!(
            "accepted {} rejected {}",
            resp.accepted.len(),
            resp.rejected.len()
        ),
        origin,
    )?;
    tracing::info!(
        accepted = resp.accepted.len(),
        rejected = resp.rejected.len(),
        conflicts = resp.conflicts,
        "push"
    );
    Ok((resp, carry))
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    WireJson(req): WireJson<PushRequest>,
) -> Result<Response, ServerError> {
    let now = state.now_ms();
    let origin = origin(&headers);
    let short = headers
        .get(ANSWER_HEADER)
        .is_some_and(|v| v.as_bytes() == SHORT_ANSWER.as_bytes());
    let resp = state
        .tx(move |t, clock| {
            push_batch(
                t,
                clock,
                &caller,
                engine::Pushed::new(req.changes),
                now,
                &origin,
                None,
            )
            .map(|(resp, _)| resp)
        })
        .await?;
    if short {
        return Ok((
            [(
                axum::http::HeaderName::from_static(ANSWER_HEADER),
                SHORT_ANSWER,
            )],
            Json(ShortPushResponse::of(resp)),
        )
            .into_response());
    }
    Ok(Json(resp).into_response())
}

/// Several batches in one request: newline-delimited JSON, one [`PushRequest`] per
/// line ([`NDJSON`]). The body is read as it arrives (and is decompressed): a thread
/// cuts it into lines and reads each batch as soon as its line is complete, while this
/// one applies the batch before it, each in its own transaction. What was applied stays
/// applied when a later batch is unreadable or fails (the answer is then that error).
async fn push_batches(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    body: axum::body::Body,
) -> Result<Response, Response> {
    let ndjson = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == NDJSON));
    if !ndjson {
        return Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            format!("expected a body with content type {NDJSON}"),
        ));
    }
    // Each request of batches holds two threads while its body arrives: a few at a
    // time, the others wait here without holding any.
    let _slot = batches::SLOTS
        .acquire()
        .await
        .map_err(|_| ServerError::Db("the server is stopping".into()).into_response())?;
    let now = state.now_ms();
    let origin = origin(&headers);
    let (chunks, received) = tokio::sync::mpsc::channel::<Result<Bytes, Response>>(64);
    let work = tokio::task::spawn_blocking(move || {
        batches::apply(&state, &caller, received, now, &origin)
    });
    batches::forward(body, &chunks).await;
    drop(chunks);
    let answers = work
        .await
        .map_err(|e| ServerError::Db(format!("worker failed: {e}")).into_response())?;
    match answers {
        Ok(answers) => Ok(Json(PushBatchesResponse { answers }).into_response()),
        Err(BatchFailure::Applying(e)) => Err(e.into_response()),
        Err(BatchFailure::Reading(e)) => Err(invalid_body(&e)),
        Err(BatchFailure::Refused(r)) => Err(*r),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullParams {
    since: u64,
    #[serde(default)]
    limit: Option<usize>,
}

async fn pull(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    params: Result<Query<PullParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(params) = params.map_err(|e| ServerError::BadRequest(e.body_text()))?;
    let now = state.now_ms();
    let origin = origin(&headers);
    let page = state
        .tx(move |t, _| {
            let page =
                engine::pull_page(t, &caller, params.since, params.limit.unwrap_or(MAX_BATCH))?;
            auth::audit(
                t,
                now,
                &caller.user.name,
                "pull",
                &format!("device {} since {}", caller.device, params.since),
                &format!("served {}", page.changes),
                &origin,
            )?;
            Ok(page)
        })
        .await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/json".to_string(),
            ),
            (
                axum::http::HeaderName::from_static(CURSOR_HEADER),
                page.cursor.to_string(),
            ),
            (
                axum::http::HeaderName::from_static(MORE_HEADER),
                page.more.to_string(),
            ),
        ],
        page.json,
    )
        .into_response())
}

async fn not_found() -> ServerError {
    ServerError::NotFound("no such endpoint".into())
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/enrol", post(enrol))
        .route("/me", get(me))
        // zstd bodies are decoded only here, where the device's token is checked
        // before the body is read: a zstd frame may ask for a decoding window of up to
        // 128 MiB.
        .route(
            "/push",
            post(push).layer(RequestDecompressionLayer::new().no_gzip()),
        )
        .route(
            "/push/batches",
            post(push_batches).layer(RequestDecompressionLayer::new().no_gzip()),
        )
        .route("/pull", get(pull))
        .layer(middleware::from_fn(require_protocol));
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .nest("/v1", v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // gzip everywhere; zstd passes through to the push routes above (elsewhere it
        // is not JSON: 400).
        .layer(
            RequestDecompressionLayer::new()
                .no_zstd()
                .pass_through_unaccepted(true),
        )
        .layer(
            CompressionLayer::new().quality(tower_http::CompressionLevel::Precise(
                voordeur_core::protocol::GZIP_LEVEL as i32,
            )),
        )
        .with_state(state)
}

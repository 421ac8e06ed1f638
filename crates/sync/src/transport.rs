//! How the engine reaches the server. [`Transport`] is the seam: the engine speaks only
//! push and pull, so tests put a fake in its place that drops, duplicates, reorders or
//! cuts batches deterministically. [`HttpTransport`] is the real one: HTTPS + JSON,
//! the protocol header on every request, bodies compressed both ways (zstd where the
//! server takes it, gzip otherwise).

use crate::SyncError;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use voordeur_core::protocol::{
    EnrolRequest, EnrolResponse, ErrorBody, PullResponse, PushBatchesResponse, PushBody,
    PushRequest, PushResponse, ShortPushResponse, UserInfo, ANSWER_HEADER, CURSOR_HEADER,
    MAX_BATCH, MAX_BATCH_HEADER, MAX_PUSH_BATCHES, MORE_HEADER, NDJSON, PROTOCOL_2_BATCH,
    PROTOCOL_HEADER, PROTOCOL_VERSION, PUSH_BATCHES_HEADER, REVOKED_CODE, SHORT_ANSWER,
};
use voordeur_core::ChangeId;

/// Push and pull, one batch per call.
pub trait Transport {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError>;
    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError>;
    /// The user this device acts for as the server knows them now (their team may have
    /// changed); `None` when the transport cannot tell (test links).
    fn current_user(&self) -> Result<Option<UserInfo>, SyncError> {
        Ok(None)
    }
    /// This transport, when it can be used from another thread: the engine then
    /// prepares the next push batch while the server works on the current one, and
    /// fetches the next pull batch while it applies the current one. `None` (test
    /// links): one request at a time.
    fn shareable(&self) -> Option<&dyn Shared> {
        None
    }
    /// The most changes to put in one push to this server.
    fn push_limit(&self) -> usize {
        MAX_BATCH
    }
}

/// One push batch, or several for `POST /v1/push/batches`, compressed and ready to send.
pub struct EncodedPush {
    body: Vec<u8>,
    /// The ids of each batch's changes, in order: what a short answer is read against.
    batches: Vec<Vec<ChangeId>>,
    /// Its `Content-Encoding`.
    encoding: &'static str,
}

/// The compressor of a push body: zstd for a server that takes it, gzip otherwise.
enum BodyEncoder {
    Gzip(GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl BodyEncoder {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            BodyEncoder::Gzip(e) => e,
            BodyEncoder::Zstd(e) => e,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            BodyEncoder::Gzip(_) => "gzip",
            BodyEncoder::Zstd(_) => "zstd",
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            BodyEncoder::Gzip(e) => e.finish(),
            BodyEncoder::Zstd(e) => e.finish(),
        }
    }
}

/// A transport the engine uses from two threads at once (see [`Transport::shareable`]).
pub trait Shared: Sync {
    /// Compress push batches (done while the previous ones are sent): one goes to
    /// `POST /v1/push`, several to `POST /v1/push/batches`.
    fn encode_push(&self, bodies: Vec<PushBody>) -> Result<EncodedPush, SyncError>;
    /// Send what [`Shared::encode_push`] prepared; the answer to each batch, in order.
    fn push_encoded(&self, body: EncodedPush) -> Result<Vec<PushResponse>, SyncError>;
    /// How many batches the server takes in one request ([`PUSH_BATCHES_HEADER`]).
    fn push_batches(&self) -> usize;
    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError>;
    /// Ask for a pull batch and wait only for the headers of the answer.
    fn pull_started(&self, since: u64, limit: usize) -> Result<StartedPull, SyncError>;
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of an unparseable error body goes into a message.
const MAX_MESSAGE: usize = 300;

/// The server's `/v1` API over HTTP(S), with this device's token.
///
/// Blocking: call it from a plain thread (in the app, `spawn_blocking`), never from
/// inside an async runtime.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: Client,
    base: Url,
    /// The most changes the server takes in one push, as its `/v1/me` answer said
    /// ([`MAX_BATCH_HEADER`]); protocol 2's first limit until then.
    push_limit: Arc<AtomicUsize>,
    /// How many batches the server takes in one request, as `/v1/me` said
    /// ([`PUSH_BATCHES_HEADER`]); one until then.
    push_batches: Arc<AtomicUsize>,
    /// The server takes zstd request bodies, as `/v1/me` said
    /// ([`REQUEST_ENCODINGS`](voordeur_core::protocol::REQUEST_ENCODINGS)); gzip until
    /// then.
    zstd: Arc<AtomicBool>,
}

/// Parse a server address; the API lives under `<address>/v1/`.
pub fn server_base(server_url: &str) -> Result<Url, SyncError> {
    let invalid = || SyncError::InvalidUrl(server_url.chars().take(200).collect());
    let mut url = Url::parse(server_url.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

impl HttpTransport {
    /// A transport that authenticates with `token`.
    pub fn new(server_url: &str, token: &str) -> Result<HttpTransport, SyncError> {
        Self::build(server_url, Some(token))
    }

    /// A transport without a token, for enrolment.
    pub fn anonymous(server_url: &str) -> Result<HttpTransport, SyncError> {
        Self::build(server_url, None)
    }

    fn build(server_url: &str, token: Option<&str>) -> Result<HttpTransport, SyncError> {
        let base = server_base(server_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            PROTOCOL_HEADER,
            HeaderValue::from_str(&PROTOCOL_VERSION.to_string())
                .map_err(|e| SyncError::Protocol(e.to_string()))?,
        );
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                SyncError::Store(voordeur_store::StoreError::Corrupt("device token"))
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .default_headers(headers)
            .user_agent(concat!("voordeur/", env!("CARGO_PKG_VERSION")))
            .gzip(true)
            .build()
            .map_err(|e| SyncError::Protocol(format!("cannot start the HTTP client: {e}")))?;
        Ok(HttpTransport {
            client,
            base,
            push_limit: Arc::new(AtomicUsize::new(PROTOCOL_2_BATCH)),
            push_batches: Arc::new(AtomicUsize::new(1)),
            zstd: Arc::new(AtomicBool::new(false)),
        })
    }

    fn url(&self, path: &str) -> Result<Url, SyncError> {
        self.base
            .join(path)
            .map_err(|_| SyncError::InvalidUrl(self.base.to_string()))
    }

    /// `POST /v1/enrol`. A refused code is [`SyncError::EnrolmentRefused`].
    pub fn enrol(&self, request: &EnrolRequest) -> Result<EnrolResponse, SyncError> {
        let req = self.client.post(self.url("v1/enrol")?).json(request);
        match send(req) {
            Err(Failure::Unauthorized(message)) => Err(SyncError::EnrolmentRefused(message)),
            other => read(other?),
        }
    }

    /// `GET /v1/me`: the user this device's token acts for.
    pub fn me(&self) -> Result<UserInfo, SyncError> {
        let response = send(self.client.get(self.url("v1/me")?))?;
        let number = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        let limit = number(MAX_BATCH_HEADER)
            .unwrap_or(PROTOCOL_2_BATCH)
            .clamp(1, MAX_BATCH);
        let batches = number(PUSH_BATCHES_HEADER)
            .unwrap_or(1)
            .clamp(1, MAX_PUSH_BATCHES);
        self.push_limit.store(limit, Ordering::Relaxed);
        self.push_batches.store(batches, Ordering::Relaxed);
        let zstd = response
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(voordeur_core::protocol::names_zstd);
        self.zstd.store(zstd, Ordering::Relaxed);
        read(response)
    }
}

impl Transport for HttpTransport {
    fn current_user(&self) -> Result<Option<UserInfo>, SyncError> {
        HttpTransport::me(self).map(Some)
    }

    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        let body = PushBody::of(request).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let mut answers = self.push_encoded(self.encode_push(vec![body])?)?;
        answers
            .pop()
            .ok_or_else(|| SyncError::Protocol("a push without an answer".into()))
    }

    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError> {
        Shared::pull(self, since, limit)
    }

    fn shareable(&self) -> Option<&dyn Shared> {
        Some(self)
    }

    fn push_limit(&self) -> usize {
        self.push_limit.load(Ordering::Relaxed)
    }
}

impl Shared for HttpTransport {
    fn encode_push(&self, bodies: Vec<PushBody>) -> Result<EncodedPush, SyncError> {
        let several = bodies.len() > 1;
        let json_len: usize = bodies.iter().map(|b| b.json.len()).sum();
        let failed = |e: std::io::Error| SyncError::Protocol(format!("compressing the push: {e}"));
        let mut encoder = if self.zstd.load(Ordering::Relaxed) {
            let out = Vec::with_capacity(json_len / 6);
            BodyEncoder::Zstd(
                zstd::stream::write::Encoder::new(out, voordeur_core::protocol::ZSTD_LEVEL)
                    .map_err(failed)?,
            )
        } else {
            BodyEncoder::Gzip(GzEncoder::new(
                Vec::with_capacity(json_len / 4),
                Compression::new(voordeur_core::protocol::GZIP_LEVEL),
            ))
        };
        let mut batches = Vec::with_capacity(bodies.len());
        for mut body in bodies {
            if several {
                // One batch per line. A raw line break in JSON can only be white
                // space between tokens (in a string it is escaped), so a space
                // stands in for one without changing the batch.
                for b in body.json.iter_mut().filter(|b| **b == b'\n') {
                    *b = b' ';
                }
            }
            let out = encoder.writer();
            out.write_all(&body.json).map_err(failed)?;
            if several {
                out.write_all(b"\n").map_err(failed)?;
            }
            batches.push(body.ids);
        }
        let encoding = encoder.name();
        let body = encoder.finish().map_err(failed)?;
        Ok(EncodedPush {
            body,
            batches,
            encoding,
        })
    }

    fn push_encoded(&self, body: EncodedPush) -> Result<Vec<PushResponse>, SyncError> {
        let EncodedPush {
            body,
            batches,
            encoding,
        } = body;
        let several = batches.len() > 1;
        let path = if several {
            "v1/push/batches"
        } else {
            "v1/push"
        };
        let req = self
            .client
            .post(self.url(path)?)
            .header(
                header::CONTENT_TYPE,
                if several { NDJSON } else { "application/json" },
            )
            .header(header::CONTENT_ENCODING, encoding)
            .header(ANSWER_HEADER, SHORT_ANSWER)
            .body(body);
        let response = send(req)?;
        if several {
            let answer: PushBatchesResponse = read(response)?;
            if answer.answers.len() > batches.len() {
                return Err(SyncError::Protocol(
                    "more answers than batches pushed".into(),
                ));
            }
            return Ok(answer
                .answers
                .into_iter()
                .zip(&batches)
                .map(|(a, ids)| a.into_full(ids))
                .collect());
        }
        let short = response
            .headers()
            .get(ANSWER_HEADER)
            .is_some_and(|v| v.as_bytes() == SHORT_ANSWER.as_bytes());
        if short {
            let answer: ShortPushResponse = read(response)?;
            let ids = batches.first().map(Vec::as_slice).unwrap_or_default();
            return Ok(vec![answer.into_full(ids)]);
        }
        Ok(vec![read(response)?])
    }

    fn push_batches(&self) -> usize {
        self.push_batches.load(Ordering::Relaxed)
    }

    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError> {
        self.pull_started(since, limit)?.finish()
    }

    fn pull_started(&self, since: u64, limit: usize) -> Result<StartedPull, SyncError> {
        let mut url = self.url("v1/pull")?;
        url.query_pairs_mut()
            .append_pair("since", &since.to_string())
            .append_pair("limit", &limit.to_string());
        let response = send(self.client.get(url))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let hint = match (header(CURSOR_HEADER), header(MORE_HEADER)) {
            (Some(cursor), Some(more)) => cursor.parse().ok().zip(more.parse().ok()),
            _ => None,
        };
        Ok(StartedPull { response, hint })
    }
}

/// A pull batch whose answer has arrived as far as its headers; its body is read by
/// [`StartedPull::finish`], possibly on another thread.
pub struct StartedPull {
    response: Response,
    hint: Option<(u64, bool)>,
}

impl StartedPull {
    /// The batch's cursor and whether more wait, when the server said them in its
    /// headers (see [`CURSOR_HEADER`]); `None` from a server that does not.
    pub fn hint(&self) -> Option<(u64, bool)> {
        self.hint
    }

    /// Read and parse the batch. Its cursor and `more` must be what its headers said.
    pub fn finish(self) -> Result<PullResponse, SyncError> {
        let hint = self.hint;
        let batch: PullResponse = read(self.response)?;
        match hint {
            Some(said) if said != (batch.cursor, batch.more) => Err(SyncError::Protocol(format!(
                "the server's headers said cursor {} (more: {}) but its batch says {} ({})",
                said.0, said.1, batch.cursor, batch.more
            ))),
            _ => Ok(batch),
        }
    }
}

/// Why a request failed, before the caller decides what a 401 means.
enum Failure {
    Unauthorized(String),
    Revoked,
    Other(SyncError),
}

impl From<Failure> for SyncError {
    fn from(f: Failure) -> SyncError {
        match f {
            Failure::Unauthorized(_) => SyncError::Unauthorized,
            Failure::Revoked => SyncError::Revoked,
            Failure::Other(e) => e,
        }
    }
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Failure {
        Failure::Other(e)
    }
}

fn send(req: RequestBuilder) -> Result<Response, Failure> {
    let resp = req.send().map_err(network_error)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error, body.message),
        Err(_) => (
            String::new(),
            text.chars().take(MAX_MESSAGE).collect::<String>(),
        ),
    };
    let message = if message.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    tracing::debug!(%status, %message, "server refused a request");
    Err(match status {
        StatusCode::UNAUTHORIZED if code == REVOKED_CODE => Failure::Revoked,
        StatusCode::UNAUTHORIZED => Failure::Unauthorized(message),
        StatusCode::UPGRADE_REQUIRED => Failure::Other(SyncError::UpdateRequired),
        _ => Failure::Other(SyncError::Server {
            status: status.as_u16(),
            message,
        }),
    })
}

fn read<T: DeserializeOwned>(resp: Response) -> Result<T, SyncError> {
    let bytes = resp.bytes().map_err(network_error)?;
    serde_json::from_slice(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
}

/// A failed exchange: unreachable servers and connections cut at any point — also while
/// the answer's body arrives, which reqwest reports as a "decode" error — are
/// [`SyncError::Offline`]: nothing is lost and trying again later helps. A body that
/// arrives whole but is not the expected JSON is a protocol error (see [`read`]).
fn network_error(e: reqwest::Error) -> SyncError {
    // The innermost cause says what happened ("Connection refused", "timed out").
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else {
        cause.to_string()
    };
    match e.url() {
        Some(url) => SyncError::Offline(format!(
            "{what} ({}:{})",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        )),
        None => SyncError::Offline(what),
    }
}

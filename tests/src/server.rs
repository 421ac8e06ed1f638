//! An in-process sync server driven through `voordeur_server::router` with
//! `tower::ServiceExt::oneshot` (no socket), and hand-made devices that talk to it.
//!
//! Every helper goes through HTTP the way a device does (enrol, push, pull), except
//! what only an operator does on the server (users, codes, revoking, imports,
//! publishing), which goes through the server's own functions, as the admin commands do.

use crate::{database_url, Backend};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;
use uuid::Uuid;
use voordeur_core::change::EntityKind;
use voordeur_core::protocol::{
    EnrolResponse, PullResponse, PushRequest, PushResponse, UserInfo, CURSOR_HEADER, MORE_HEADER,
    PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use voordeur_core::{
    Change, ChangeId, ChecklistTemplate, Clock, DeviceId, Hlc, Role, SystemTime, TeamId,
};
use voordeur_server::db::Val;
use voordeur_server::{auth, demo, AppState, Database};

/// One runtime for every server of the test process. `block_on` may be called from
/// many test threads at once.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A whole HTTP answer, body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not a {} ({e}): {}",
                std::any::type_name::<T>(),
                self.text()
            )
        })
    }

    /// Assert an error answer: this status and a JSON body `{"error": code, "message"}`.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "answer: {}", self.text());
        let v = self.json();
        assert_eq!(v["error"], json!(code), "error body: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error carries a message for people: {v}"
        );
    }
}

/// A request to the sync API with the protocol header, and the token when given.
pub fn v1(method: &str, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string());
    if let Some(token) = token {
        b = b.header("authorization", format!("Bearer {token}"));
    }
    b
}

/// A JSON request body.
pub fn json_body(b: axum::http::request::Builder, v: &Value) -> Request<Body> {
    b.header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .expect("request")
}

/// An enrolled device as the tests drive it: its token, its own clock, and its user.
pub struct Device {
    pub token: String,
    pub id: DeviceId,
    pub user: UserInfo,
    pub clock: Clock,
}

impl Device {
    /// A change made on this device now, as its store would write it to the outbox.
    pub fn change(
        &self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
        value: Value,
        base: Option<Hlc>,
    ) -> Change {
        Change {
            id: ChangeId::new(),
            entity,
            record,
            field: field.to_string(),
            value,
            hlc: self.clock.now(),
            base,
            device: self.id,
            author: None,
        }
    }

    /// Take in pulled clocks, so later local changes sort after them.
    pub fn observe(&self, changes: &[Change]) {
        for c in changes {
            self.clock.observe(&c.hlc);
        }
    }
}

/// One server "process": its own state (clock, connection pool) over a database.
/// Requests go through its router in this process, or — for a server made with
/// [`TestServer::os_process`] — over loopback HTTP to a real `voordeur-server` process.
pub struct TestServer {
    pub state: AppState,
    pub url: String,
    router: Router,
    _dir: Arc<tempfile::TempDir>,
    remote: Option<Remote>,
}

/// A `voordeur-server` process and an HTTP client for it.
struct Remote {
    base: String,
    client: reqwest::blocking::Client,
    _process: crate::procs::Server,
}

impl TestServer {
    /// A server on a new, empty database of this backend.
    pub fn start(backend: Backend) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = database_url(backend, dir.path());
        TestServer::open(&url, Arc::new(dir))
    }

    fn open(url: &str, dir: Arc<tempfile::TempDir>) -> TestServer {
        let db = Database::open(url).unwrap_or_else(|e| panic!("open {url}: {e}"));
        let state = voordeur_server::state(db).expect("server state");
        TestServer {
            router: voordeur_server::router(state.clone()),
            state,
            url: url.to_string(),
            _dir: dir,
            remote: None,
        }
    }

    /// A real `voordeur-server serve` process on the same database, on a free loopback
    /// port; requests to the returned server go to it over HTTP. (Operator helpers still
    /// use the database directly, as the admin commands do.)
    pub fn os_process(&self) -> TestServer {
        let port = crate::pg::free_port();
        let process = crate::procs::start_server_on(&self.url, self._dir.path(), port, false);
        let client = reqwest::blocking::Client::builder()
            .no_gzip()
            .no_zstd()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let mut server = TestServer::open(&self.url, self._dir.clone());
        server.remote = Some(Remote {
            base: process.url.clone(),
            client,
            _process: process,
        });
        server
    }

    /// A second server process on the same database, as behind a load balancer.
    pub fn another_process(&self) -> TestServer {
        TestServer::open(&self.url, self._dir.clone())
    }

    pub fn now_ms(&self) -> i64 {
        self.state.now_ms()
    }

    /// Send one request through the router, without a socket (or to the process).
    pub fn send(&self, req: Request<Body>) -> Reply {
        if let Some(remote) = &self.remote {
            return remote.send(req);
        }
        let router = self.router.clone();
        runtime().block_on(async move {
            let resp = router.oneshot(req).await.expect("the router is infallible");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("response body").to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: body.to_vec(),
            }
        })
    }

    // ---------- operator side ----------

    pub fn add_user(&self, name: &str, role: Role, team: Option<&str>) -> UserInfo {
        self.state
            .db
            .tx(|t| auth::add_user(t, name, role, team))
            .unwrap_or_else(|e| panic!("add user {name}: {e}"))
    }

    /// A one-time code made at `now_ms` (valid for 24 hours from then).
    pub fn code_at(&self, user: &str, now_ms: i64) -> String {
        self.state
            .db
            .tx(|t| auth::create_enrol_code(t, user, now_ms))
            .unwrap_or_else(|e| panic!("enrol code for {user}: {e}"))
    }

    pub fn code(&self, user: &str) -> String {
        self.code_at(user, self.now_ms())
    }

    pub fn team_id(&self, name: &str) -> TeamId {
        self.state
            .db
            .tx(|t| auth::team_by_name(t, name))
            .expect("team lookup")
            .unwrap_or_else(|| panic!("no team {name}"))
    }

    pub fn revoke(&self, device: &Device) {
        let now = self.now_ms();
        self.state
            .db
            .tx(|t| auth::revoke_device(t, &device.id.to_string(), now))
            .expect("revoke device");
    }

    pub fn publish_sample_template(&self) -> ChecklistTemplate {
        demo::publish_template(&self.state.db, &self.state.clock, demo::SAMPLE_TEMPLATE)
            .expect("publish the sample template")
    }

    /// Import `count` demo households into a team; returns their ids.
    pub fn import_households(&self, team: &str, count: usize) -> Vec<Uuid> {
        let team_index = usize::from(team != "noord");
        demo::import_households(
            &self.state.db,
            &self.state.clock,
            team,
            &demo::demo_households(team_index, count),
        )
        .expect("import households");
        let team_id = self.team_id(team).to_string();
        self.query(
            "SELECT record_id FROM records WHERE entity = 'household' AND team_id = $1
             ORDER BY record_id",
            &[team_id.into()],
        )
        .iter()
        .map(|r| r[0].text().and_then(|s| s.parse().ok()).expect("record id"))
        .collect()
    }

    pub fn query(&self, sql: &str, params: &[Val]) -> Vec<Vec<Val>> {
        let params = params.to_vec();
        self.state
            .db
            .tx(move |t| t.query(sql, &params))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// `SELECT count(*) FROM table`.
    pub fn count(&self, table: &str) -> i64 {
        self.query(&format!("SELECT count(*) FROM {table}"), &[])[0][0]
            .int()
            .expect("count")
    }

    /// Changes in the server's log.
    pub fn logged(&self) -> i64 {
        self.query("SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM log", &[])[0][0]
            .int()
            .expect("changes in the log")
    }

    /// What a bad request must not change: changes in the log, the records, and the
    /// size of the records' stored fields.
    pub fn snapshot(&self) -> [i64; 3] {
        [
            self.logged(),
            self.count("records"),
            self.query(
                "SELECT CAST(coalesce(sum(length(state)), 0) AS BIGINT) FROM records",
                &[],
            )[0][0]
                .int()
                .expect("size of the records"),
        ]
    }

    /// The server's current winner of a field: `(value, hlc)`.
    pub fn field(&self, entity: EntityKind, record: Uuid, field: &str) -> Option<(Value, Hlc)> {
        let field = field.to_string();
        self.state
            .db
            .tx(move |t| voordeur_server::engine::current_value(t, entity, record, &field))
            .expect("read a field")
            .map(|f| (f.value, f.hlc))
    }

    // ---------- device side, over HTTP ----------

    /// Exchange a code for a device token; the raw answer.
    pub fn enrol_with(&self, code: &str, device: DeviceId) -> Reply {
        self.send(json_body(
            v1("POST", "/v1/enrol", None),
            &json!({ "code": code, "device_id": device, "device_name": "test tablet" }),
        ))
    }

    /// Enrol a new device of an existing user.
    pub fn enrol(&self, user: &str) -> Device {
        let id = DeviceId::new();
        let reply = self.enrol_with(&self.code(user), id);
        assert_eq!(reply.status, StatusCode::OK, "enrol: {}", reply.text());
        let r: EnrolResponse = reply.parse();
        Device {
            token: r.token,
            id,
            user: r.user,
            clock: Clock::new(id, Box::new(SystemTime)),
        }
    }

    /// A new user with one enrolled device.
    pub fn user(&self, name: &str, role: Role, team: Option<&str>) -> Device {
        self.add_user(name, role, team);
        self.enrol(name)
    }

    pub fn push_reply(&self, token: &str, changes: &[Change]) -> Reply {
        self.send(json_body(
            v1("POST", "/v1/push", Some(token)),
            &serde_json::to_value(PushRequest {
                changes: changes.to_vec(),
            })
            .expect("a push body"),
        ))
    }

    /// Push; the answer must be 200.
    pub fn push(&self, device: &Device, changes: &[Change]) -> PushResponse {
        let reply = self.push_reply(&device.token, changes);
        assert_eq!(reply.status, StatusCode::OK, "push: {}", reply.text());
        reply.parse()
    }

    /// Push; every change must be accepted.
    pub fn push_ok(&self, device: &Device, changes: &[Change]) -> PushResponse {
        let r = self.push(device, changes);
        assert!(r.rejected.is_empty(), "rejected: {:?}", r.rejected);
        assert_eq!(r.accepted.len(), changes.len());
        r
    }

    pub fn pull_reply(&self, token: &str, since: u64, limit: Option<usize>) -> Reply {
        let path = match limit {
            Some(l) => format!("/v1/pull?since={since}&limit={l}"),
            None => format!("/v1/pull?since={since}"),
        };
        self.send(
            v1("GET", &path, Some(token))
                .body(Body::empty())
                .expect("request"),
        )
    }

    /// Pull one batch; the answer must be 200. The device observes the clocks.
    pub fn pull(&self, device: &Device, since: u64, limit: Option<usize>) -> PullResponse {
        let reply = self.pull_reply(&device.token, since, limit);
        assert_eq!(reply.status, StatusCode::OK, "pull: {}", reply.text());
        // The headers a device asks for the next batch by say what the body says.
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let said = (header(CURSOR_HEADER), header(MORE_HEADER));
        let r: PullResponse = reply.parse();
        assert_eq!(
            said,
            (Some(r.cursor.to_string()), Some(r.more.to_string())),
            "cursor headers of a pull"
        );
        device.observe(&r.changes);
        r
    }

    /// Pull from `since` until nothing more waits; returns the changes and the cursor.
    pub fn pull_all(&self, device: &Device, since: u64) -> (Vec<Change>, u64) {
        let mut cursor = since;
        let mut all = Vec::new();
        for _ in 0..1_000 {
            let r = self.pull(device, cursor, None);
            assert!(r.cursor >= cursor, "the cursor never goes back");
            cursor = r.cursor;
            all.extend(r.changes);
            if !r.more {
                return (all, cursor);
            }
        }
        panic!("pull did not end after 1000 batches");
    }
}

impl Remote {
    /// The same request over loopback HTTP, the answer as it came (no decompression).
    fn send(&self, req: Request<Body>) -> Reply {
        let (parts, body) = req.into_parts();
        let body = runtime()
            .block_on(body.collect())
            .expect("request body")
            .to_bytes();
        let url = format!("{}{}", self.base, parts.uri);
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("method");
        let mut request = self.client.request(method, url).body(body.to_vec());
        for (name, value) in &parts.headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        let response = request.send().expect("the server process answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            if let (Ok(n), Ok(v)) = (
                axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
                axum::http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.append(n, v);
            }
        }
        let body = response.bytes().expect("response body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }
}

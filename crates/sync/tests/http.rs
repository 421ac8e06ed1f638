//! The real HTTP transport against a stub server on loopback: headers, gzip, status
//! codes and their errors. End-to-end tests with the real server live in `tests/`.

mod support;

use serde_json::json;
use support::stub::{Reply, Stub};
use voordeur_core::protocol::{
    read_push_batches, Accepted, PullResponse, PushBatchesResponse, PushRequest, PushResponse,
    Rejected, ShortPushResponse, ANSWER_HEADER, CURSOR_HEADER, MAX_BATCH, MAX_BATCH_HEADER,
    MAX_PUSH_JSON, MORE_HEADER, PROTOCOL_2_BATCH, PROTOCOL_HEADER, PROTOCOL_VERSION,
    PUSH_BATCHES_HEADER, REQUEST_ENCODINGS, SHORT_ANSWER,
};
use voordeur_core::{Change, ChangeId, DeviceId, EntityKind, Hlc, Role, TeamId, UserId};
use voordeur_store::{NewHousehold, Store};
use voordeur_sync::{enrol, sync, transport_for, HttpTransport, SyncError, Transport};

fn user() -> serde_json::Value {
    json!({
        "id": UserId::new(),
        "name": "Sanne Bakker",
        "role": "worker",
        "team_id": TeamId::new(),
        "team_name": "Wijkteam Oost",
    })
}

fn remote_change() -> Change {
    let device = DeviceId::new();
    Change {
        id: ChangeId::new(),
        entity: EntityKind::Household,
        record: uuid::Uuid::now_v7(),
        field: "address".into(),
        value: json!("Dorpsstraat 1"),
        hlc: Hlc {
            wall_ms: 1_767_225_600_000,
            counter: 0,
            device,
        },
        base: None,
        device,
        author: None,
    }
}

/// A device enrolled at `url`, on a fresh folder.
fn enrolled_store(url: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_dir(dir.path(), None).expect("store");
    let enrolment = serde_json::from_value(json!({
        "token": "tok", "device_id": store.device_id(), "user": user(),
    }))
    .expect("enrolment");
    store.set_enrolment(url, &enrolment).expect("enrolled");
    (dir, store)
}

/// A household recorded, then its address typed over `times` times in one transaction:
/// one block of changes longer than a batch.
fn retype_address(store: &mut Store, times: usize) {
    retype_address_with(store, times, |i| format!("Dorpsstraat {i}"));
}

/// [`retype_address`] with the `i`-th address typed given by `address`.
fn retype_address_with(store: &mut Store, times: usize, address: impl Fn(usize) -> String) {
    let h = store
        .add_household(NewHousehold {
            address: "Dorpsstraat 1".into(),
            postcode: "1234 AB".into(),
            city: None,
            neighbourhood: None,
            team_id: None,
        })
        .expect("household");
    let retyped: Vec<Change> = (0..times)
        .map(|i| {
            let value = json!(address(i));
            store
                .make_change(EntityKind::Household, h.0, "address", value)
                .expect("change")
        })
        .collect();
    store.commit(&retyped).expect("commit");
}

/// The full answer to a push body that accepts every change as sent.
fn accept_every_change(body: &[u8]) -> Reply {
    let push: PushRequest = serde_json::from_slice(body).expect("push body");
    let accepted = push
        .changes
        .iter()
        .map(|c| Accepted::of(c, c.hlc))
        .collect();
    Reply::json(
        200,
        serde_json::to_value(PushResponse {
            accepted,
            ..PushResponse::default()
        })
        .expect("json"),
    )
}

/// A stub server for push tests: `/v1/me` answers a user, `/v1/pull` has nothing new,
/// and a push is answered by `answer`: how many of its changes, from the first, are
/// accepted, or an error reply.
fn push_stub(
    answer: impl Fn(&PushRequest) -> Result<usize, Reply> + Send + Sync + 'static,
) -> Stub {
    push_stub_limited(Some(MAX_BATCH), answer)
}

/// [`push_stub`] naming `max_batch` as its push limit, or none (an older server).
fn push_stub_limited(
    max_batch: Option<usize>,
    answer: impl Fn(&PushRequest) -> Result<usize, Reply> + Send + Sync + 'static,
) -> Stub {
    let me = user();
    Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => match max_batch {
            Some(n) => Reply::json(200, me.clone()).with_header(MAX_BATCH_HEADER, &n.to_string()),
            None => Reply::json(200, me.clone()),
        },
        "/v1/push" => {
            let push: PushRequest = serde_json::from_slice(&req.body).expect("push body");
            match answer(&push) {
                Err(reply) => reply,
                Ok(n) => {
                    let accepted = push.changes[..n]
                        .iter()
                        .map(|c| Accepted::of(c, c.hlc))
                        .collect();
                    let answer = PushResponse {
                        accepted,
                        rejected: vec![],
                        conflicts: 0,
                    };
                    Reply::json(200, serde_json::to_value(answer).expect("json"))
                }
            }
        }
        "/v1/pull" => Reply::json(200, json!({ "blocks": [], "cursor": 0, "more": false })),
        _ => Reply::error(404, "not_found", "no such route"),
    })
}

#[test]
fn enrol_then_sync_over_http() {
    let user = user();
    let pulled = remote_change();
    let reply_user = user.clone();
    let me = user.clone();
    let reply_change = pulled.clone();
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/enrol" => {
            let body = req.json();
            if body["code"] != "ABCD-1234" {
                return Reply::error(401, "invalid_code", "code unknown, used or expired");
            }
            Reply::json(
                200,
                json!({ "token": "tok-1", "device_id": body["device_id"], "user": reply_user }),
            )
        }
        "/v1/me" => Reply::json(200, serde_json::to_value(&me).expect("json")),
        "/v1/push" => accept_every_change(&req.body),
        "/v1/pull" => Reply::json(
            200,
            serde_json::to_value(PullResponse {
                changes: vec![reply_change.clone()],
                cursor: 17,
                more: false,
            })
            .expect("json"),
        ),
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_dir(dir.path(), None).expect("store");
    assert!(matches!(transport_for(&store), Err(SyncError::NotEnrolled)));
    assert!(matches!(
        enrol(&mut store, &stub.url, "WRONG"),
        Err(SyncError::EnrolmentRefused(m)) if m.contains("expired")
    ));
    let info = enrol(&mut store, &stub.url, " ABCD-1234 ").expect("enrol");
    assert_eq!(info.name, "Sanne Bakker");
    assert_eq!(info.role, Role::Worker);
    assert_eq!(store.user_id(), Some(info.id));

    store
        .add_household(NewHousehold {
            address: "Lindenlaan 12".into(),
            postcode: "9712AB".into(),
            ..NewHousehold::default()
        })
        .expect("household");
    let transport = transport_for(&store).expect("enrolled");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!((report.pushed, report.pulled), (5, 1));
    assert_eq!(store.cursor().expect("cursor"), 17);
    assert_eq!(store.outbox_len().expect("len"), 0);
    let found = store.search_households("dorpsstraat", 10).expect("search");
    assert_eq!(found.len(), 1);

    let requests = stub.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    // A sync asks who the device acts for now (its team may have changed), pushes,
    // then pulls.
    assert_eq!(
        paths,
        ["/v1/enrol", "/v1/enrol", "/v1/me", "/v1/push", "/v1/pull"]
    );
    for r in &requests {
        assert_eq!(
            r.header(PROTOCOL_HEADER),
            Some(PROTOCOL_VERSION.to_string().as_str()),
            "{}",
            r.path
        );
    }
    assert_eq!(requests[0].json()["device_id"], json!(store.device_id()));
    assert_eq!(requests[0].header("authorization"), None);
    let push = &requests[3];
    assert_eq!(push.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(push.header("content-encoding"), Some("gzip"));
    let pull = &requests[4];
    assert_eq!(pull.param("since").as_deref(), Some("0"));
    assert_eq!(
        pull.param("limit"),
        Some(MAX_BATCH.to_string()),
        "a pull asks for a whole batch"
    );
    assert!(pull
        .header("accept-encoding")
        .is_some_and(|v| v.contains("gzip")));
}

#[test]
fn error_answers_become_the_errors_a_person_acts_on() {
    let stub = Stub::start(|req| match req.param("since").as_deref() {
        Some("1") => Reply::error(401, "unauthorized", "token revoked"),
        Some("2") => Reply::error(426, "update_required", "protocol 2 required"),
        Some("3") => Reply::error(503, "unavailable", "database is starting"),
        Some("4") => Reply {
            status: 200,
            body: "<html>captive portal</html>".into(),
            headers: Vec::new(),
        },
        _ => Reply {
            status: 500,
            body: String::new(),
            headers: Vec::new(),
        },
    });
    let t = HttpTransport::new(&stub.url, "tok").expect("transport");
    assert!(matches!(t.pull(1, 10), Err(SyncError::Unauthorized)));
    assert!(matches!(t.pull(2, 10), Err(SyncError::UpdateRequired)));
    assert!(matches!(
        t.pull(3, 10),
        Err(SyncError::Server { status: 503, message }) if message == "database is starting"
    ));
    assert!(matches!(t.pull(4, 10), Err(SyncError::Protocol(_))));
    assert!(matches!(
        t.pull(5, 10),
        Err(SyncError::Server { status: 500, .. })
    ));
    assert_eq!(
        SyncError::Unauthorized.to_string(),
        "this device is no longer enrolled"
    );
}

#[test]
fn an_unreachable_server_is_offline_and_a_bad_address_is_refused() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let t = HttpTransport::new(&format!("http://127.0.0.1:{port}"), "tok").expect("transport");
    match t.pull(0, 10) {
        Err(e @ SyncError::Offline(_)) => {
            assert!(e.to_string().starts_with("server not reachable: "), "{e}");
            assert!(e.is_transient());
        }
        other => panic!("expected offline, got {other:?}"),
    }
    for bad in ["ftp://example.org", "voordeur.example", ""] {
        assert!(
            matches!(
                HttpTransport::new(bad, "tok"),
                Err(SyncError::InvalidUrl(_))
            ),
            "{bad}"
        );
    }
}

/// Over HTTP the next batch is fetched while the current one is applied. Batches are
/// still applied in order, each with its cursor; a batch that fails leaves the store at
/// the last batch applied, and the next sync goes on from there.
fn long_pull_applies_batches_in_order_and_resumes(cursor_headers: bool) {
    let me = user();
    let pages: Vec<Change> = (0..4).map(|_| remote_change()).collect();
    let served = pages.clone();
    let fail_once = std::sync::atomic::AtomicBool::new(true);
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => Reply::json(200, me.clone()),
        "/v1/push" => Reply::error(500, "unexpected", "nothing to push"),
        "/v1/pull" => {
            let since: usize = req.param("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            if since == 2 && fail_once.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Reply::error(503, "unavailable", "database is starting");
            }
            let page = served.get(since).cloned();
            let (cursor, more) = ((since + 1).min(4) as u64, since + 1 < 4);
            let reply = Reply::json(
                200,
                serde_json::to_value(PullResponse {
                    changes: page.into_iter().collect(),
                    cursor,
                    more,
                })
                .expect("json"),
            );
            if cursor_headers {
                reply
                    .with_header(CURSOR_HEADER, &cursor.to_string())
                    .with_header(MORE_HEADER, &more.to_string())
            } else {
                reply
            }
        }
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    let transport = transport_for(&store).expect("transport");
    assert!(matches!(
        sync(&mut store, &transport, &mut |_| {}),
        Err(SyncError::Server { status: 503, .. })
    ));
    assert_eq!(store.cursor().expect("cursor"), 2, "the first two batches");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("second sync");
    assert_eq!(report.pulled, 2);
    assert_eq!(store.cursor().expect("cursor"), 4);
    for c in &pages {
        assert_eq!(
            store
                .connection()
                .query_row(
                    "SELECT address FROM households WHERE id = ?1",
                    [c.record.to_string()],
                    |r| r.get::<_, String>(0)
                )
                .expect("applied"),
            "Dorpsstraat 1"
        );
    }
    let sinces: Vec<String> = stub
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/pull")
        .filter_map(|r| r.param("since"))
        .collect();
    assert_eq!(sinces, ["0", "1", "2", "2", "3"]);
}

/// From a server without cursor headers, each batch is read before the next is asked for.
#[test]
fn a_long_pull_applies_batches_in_order_and_resumes_after_a_failure() {
    long_pull_applies_batches_in_order_and_resumes(false);
}

/// The same with a server that names each batch's cursor in its headers, so the next
/// batch is asked for before this one is read.
#[test]
fn a_pull_ahead_by_headers_applies_in_order_and_resumes_after_a_failure() {
    long_pull_applies_batches_in_order_and_resumes(true);
}

/// Headers that disagree with the batch they come with are the server's mistake: the
/// sync stops there and that batch is not applied.
#[test]
fn cursor_headers_that_disagree_with_the_batch_stop_the_sync() {
    let me = user();
    let change = remote_change();
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => Reply::json(200, me.clone()),
        "/v1/pull" => Reply::json(
            200,
            serde_json::to_value(PullResponse {
                changes: vec![change.clone()],
                cursor: 1,
                more: false,
            })
            .expect("json"),
        )
        .with_header(CURSOR_HEADER, "7")
        .with_header(MORE_HEADER, "false"),
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    let transport = transport_for(&store).expect("transport");
    let err = sync(&mut store, &transport, &mut |_| {}).expect_err("disagreeing headers");
    assert!(
        matches!(&err, SyncError::Protocol(m) if m.contains("cursor 7")),
        "{err:?}"
    );
    assert_eq!(store.cursor().expect("cursor"), 0, "nothing applied");
}

/// Over HTTP the next push batch is read and encoded while the server works on the
/// current one. Every change still goes out once, in outbox order, also when a block
/// of changes to one record is split across batches and the answer to the first batch
/// rewrites that block; a batch that fails stays in the outbox for the next sync.
#[test]
fn a_long_push_sends_every_change_once_in_order_and_resumes_after_a_failure() {
    let fail_once = std::sync::atomic::AtomicBool::new(true);
    let stub = push_stub(move |push| {
        if push.changes.len() < MAX_BATCH
            && fail_once.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(Reply::error(503, "unavailable", "database is starting"));
        }
        Ok(push.changes.len())
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    // One block longer than two batches: the address typed over and over. The third
    // batch is read after the answer to the first one rewrote that block.
    retype_address(&mut store, 2 * MAX_BATCH + 100);
    let outbox = store.pending(usize::MAX).expect("outbox");
    let total = outbox.len();
    assert!(total > 2 * MAX_BATCH + 100);

    let transport = transport_for(&store).expect("transport");
    assert!(matches!(
        sync(&mut store, &transport, &mut |_| {}),
        Err(SyncError::Server { status: 503, .. })
    ));
    assert_eq!(
        store.pending(usize::MAX).expect("outbox"),
        outbox[2 * MAX_BATCH..].to_vec(),
        "the failed batch waits, nothing else"
    );
    let report = sync(&mut store, &transport, &mut |_| {}).expect("second sync");
    assert_eq!(report.pushed, total - 2 * MAX_BATCH);
    assert_eq!(store.outbox_len().expect("outbox"), 0);

    let answered: Vec<ChangeId> = stub
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/push")
        .map(|r| serde_json::from_slice::<PushRequest>(&r.body).expect("push body"))
        .collect::<Vec<_>>()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2) // the one that failed
        .flat_map(|(_, p)| p.changes.iter().map(|c| c.id))
        .collect();
    let expected: Vec<ChangeId> = outbox.iter().map(|c| c.id).collect();
    assert_eq!(answered, expected, "every change once, in outbox order");
}

/// A server that answers only part of a batch: the changes it left unanswered go first
/// in the next batch, before the batch the device had already prepared.
#[test]
fn changes_left_unanswered_are_sent_again_before_newer_ones() {
    let first = std::sync::atomic::AtomicBool::new(true);
    let stub = push_stub(move |push| {
        let all = push.changes.len();
        Ok(if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            all - 1
        } else {
            all
        })
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    retype_address(&mut store, MAX_BATCH + 100);
    let outbox: Vec<ChangeId> = store
        .pending(usize::MAX)
        .expect("outbox")
        .iter()
        .map(|c| c.id)
        .collect();

    let transport = transport_for(&store).expect("transport");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!(report.pushed, outbox.len());
    assert_eq!(store.outbox_len().expect("outbox"), 0);
    let pushes: Vec<PushRequest> = stub
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/push")
        .map(|r| serde_json::from_slice(&r.body).expect("push body"))
        .collect();
    assert_eq!(
        pushes.len(),
        2,
        "the unanswered change and the rest in one batch"
    );
    assert_eq!(
        pushes[1].changes[0].id,
        outbox[MAX_BATCH - 1],
        "left over first"
    );
    let sent: Vec<ChangeId> = pushes[0].changes[..MAX_BATCH - 1]
        .iter()
        .chain(&pushes[1].changes)
        .map(|c| c.id)
        .collect();
    assert_eq!(sent, outbox, "every change settled once, in outbox order");
}

/// A server that does not say how many changes it takes in a push (an older one) gets
/// batches of at most protocol 2's first limit; and a batch whose JSON would be over
/// the device's byte limit (long values) is split, whatever the server's limit.
#[test]
fn push_batches_keep_to_the_servers_limit_and_to_the_byte_limit() {
    // An older server: no push limit named; it records each push's size and JSON bytes.
    let old_server = |sizes: std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>>| {
        push_stub_limited(None, move |push| {
            let bytes = serde_json::to_vec(push).expect("json").len();
            if let Ok(mut sizes) = sizes.lock() {
                sizes.push((push.changes.len(), bytes));
            }
            Ok(push.changes.len())
        })
    };

    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stub = old_server(sizes.clone());
    let (_dir, mut store) = enrolled_store(&stub.url);
    retype_address(&mut store, PROTOCOL_2_BATCH + 100);
    let total = store.outbox_len().expect("outbox") as usize;
    let transport = transport_for(&store).expect("transport");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!(report.pushed, total);
    let counts: Vec<usize> = sizes.lock().expect("sizes").iter().map(|s| s.0).collect();
    assert_eq!(counts.iter().sum::<usize>(), total);
    assert!(counts.iter().all(|n| *n <= PROTOCOL_2_BATCH), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");

    // 90 changes of 100 kB each: over the byte limit in one batch.
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stub = old_server(sizes.clone());
    let (_dir, mut store) = enrolled_store(&stub.url);
    retype_address_with(&mut store, 90, |i| {
        format!("{i} {}", "lang adres ".repeat(10_000))
    });
    let total = store.outbox_len().expect("outbox") as usize;
    let transport = transport_for(&store).expect("transport");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!(report.pushed, total);
    let sent = sizes.lock().expect("sizes").clone();
    assert!(sent.len() >= 2, "split: {sent:?}");
    assert_eq!(sent.iter().map(|s| s.0).sum::<usize>(), total);
    assert!(
        sent.iter().all(|(_, bytes)| *bytes <= MAX_PUSH_JSON),
        "every push under the byte limit: {sent:?}"
    );
}

/// A server that gives the short answer to a push (the device asks for it): the changes
/// it does not name are acknowledged as accepted, the refused one is kept aside, and
/// the re-stamped one takes the server's clock.
#[test]
fn a_short_push_answer_settles_the_whole_batch() {
    let me = user();
    let restamp = Hlc::zero(DeviceId::new());
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => {
            Reply::json(200, me.clone()).with_header(MAX_BATCH_HEADER, &MAX_BATCH.to_string())
        }
        "/v1/push" => {
            assert_eq!(req.header(ANSWER_HEADER), Some(SHORT_ANSWER));
            let push: PushRequest = serde_json::from_slice(&req.body).expect("push body");
            let n = push.changes.len();
            let answer = ShortPushResponse {
                restamped: vec![Accepted {
                    id: push.changes[n - 2].id,
                    hlc: Some(restamp),
                }],
                rejected: vec![Rejected {
                    id: push.changes[n - 1].id,
                    reason: "refused here".into(),
                }],
                conflicts: 0,
            };
            Reply::json(200, serde_json::to_value(answer).expect("json"))
                .with_header(ANSWER_HEADER, SHORT_ANSWER)
        }
        "/v1/pull" => Reply::json(200, json!({ "blocks": [], "cursor": 0, "more": false })),
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    retype_address(&mut store, 3);
    let total = store.outbox_len().expect("outbox") as usize;
    let transport = transport_for(&store).expect("transport");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!(report.pushed, total - 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].reason, "refused here");
    assert_eq!(store.outbox_len().expect("outbox"), 0);
}

/// A server that names zstd among the codings it takes (`Accept-Encoding` on
/// `/v1/me`) gets pushes in zstd; one that names only gzip, or nothing (an earlier
/// server, see `enrol_then_sync_over_http`), gets gzip.
#[test]
fn a_server_that_takes_zstd_gets_pushes_in_zstd() {
    for (named, expected) in [(REQUEST_ENCODINGS, "zstd"), ("gzip", "gzip")] {
        let me = user();
        let stub = Stub::start(move |req| match req.path.as_str() {
            "/v1/me" => Reply::json(200, me.clone())
                .with_header(MAX_BATCH_HEADER, &MAX_BATCH.to_string())
                .with_header("accept-encoding", named),
            "/v1/push" => accept_every_change(&req.body),
            "/v1/pull" => Reply::json(200, json!({ "blocks": [], "cursor": 0, "more": false })),
            _ => Reply::error(404, "not_found", "no such route"),
        });
        let (_dir, mut store) = enrolled_store(&stub.url);
        retype_address(&mut store, 3);
        let total = store.outbox_len().expect("outbox") as usize;
        let transport = transport_for(&store).expect("transport");
        let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
        assert_eq!(report.pushed, total, "{named}");
        assert_eq!(store.outbox_len().expect("outbox"), 0);
        let requests = stub.requests();
        let pushes: Vec<_> = requests.iter().filter(|r| r.path == "/v1/push").collect();
        assert!(!pushes.is_empty());
        for push in pushes {
            assert_eq!(push.header("content-encoding"), Some(expected), "{named}");
        }
        // Answers may come in either coding.
        let pull = requests
            .iter()
            .find(|r| r.path == "/v1/pull")
            .expect("a pull");
        let accepted = pull.header("accept-encoding").unwrap_or_default();
        assert!(
            accepted.contains("gzip") && accepted.contains("zstd"),
            "{accepted}"
        );
    }
}

/// A server that takes several batches per request gets them in one
/// (`POST /v1/push/batches`), in outbox order; batches it leaves unanswered go first in
/// the next request; a batch alone goes to `POST /v1/push`.
#[test]
fn several_batches_go_in_one_request_and_unanswered_ones_go_again_first() {
    const LIMIT: usize = 1_000;
    let requests = std::sync::atomic::AtomicUsize::new(0);
    let me = user();
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => Reply::json(200, me.clone())
            .with_header(MAX_BATCH_HEADER, &LIMIT.to_string())
            .with_header(PUSH_BATCHES_HEADER, "3"),
        "/v1/push/batches" => {
            let batches = read_push_batches(&req.body).expect("a body of batches");
            assert!(batches.len() <= 3, "{}", batches.len());
            assert!(batches.iter().all(|b| b.changes.len() <= LIMIT));
            let mut answers: Vec<ShortPushResponse> = batches
                .iter()
                .map(|_| ShortPushResponse::of(PushResponse::default()))
                .collect();
            // The second request: only its first batch is answered.
            if requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                answers.truncate(1);
            }
            Reply::json(
                200,
                serde_json::to_value(PushBatchesResponse { answers }).expect("json"),
            )
        }
        "/v1/push" => accept_every_change(&req.body),
        "/v1/pull" => Reply::json(200, json!({ "blocks": [], "cursor": 0, "more": false })),
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    // Seven full batches and a few changes more.
    retype_address(&mut store, 7 * LIMIT);
    let outbox: Vec<ChangeId> = store
        .pending(usize::MAX)
        .expect("outbox")
        .iter()
        .map(|c| c.id)
        .collect();
    let rest = outbox.len() - 7 * LIMIT;
    assert!((1..LIMIT).contains(&rest), "{rest}");

    let transport = transport_for(&store).expect("transport");
    let report = sync(&mut store, &transport, &mut |_| {}).expect("sync");
    assert_eq!(report.pushed, outbox.len());
    assert_eq!(store.outbox_len().expect("outbox"), 0);
    let paths: Vec<String> = stub.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/me",
            "/v1/push/batches",
            "/v1/push/batches",
            "/v1/push/batches",
            "/v1/push",
            "/v1/pull"
        ]
    );
    let bodies: Vec<Vec<PushRequest>> = stub
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/push"))
        .map(|r| match r.path.as_str() {
            "/v1/push" => vec![serde_json::from_slice(&r.body).expect("push body")],
            _ => read_push_batches(&r.body).expect("a body of batches"),
        })
        .collect();
    assert_eq!(
        bodies.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 3, 1],
        "the two unanswered batches went again, first"
    );
    let batch_ids = |b: &PushRequest| b.changes.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(batch_ids(&bodies[2][0]), batch_ids(&bodies[1][1]));
    assert_eq!(bodies[3][0].changes.len(), rest);
    // Every change answered once, in outbox order.
    let answered: Vec<ChangeId> = bodies[0]
        .iter()
        .chain(&bodies[1][..1])
        .chain(&bodies[2])
        .chain(&bodies[3])
        .flat_map(batch_ids)
        .collect();
    assert_eq!(answered, outbox);
}

/// A server that answers a request of batches with no answers at all: the sync stops
/// with an error instead of sending the same batches forever.
#[test]
fn a_request_of_batches_answered_with_nothing_stops_the_sync() {
    let me = user();
    let stub = Stub::start(move |req| match req.path.as_str() {
        "/v1/me" => Reply::json(200, me.clone())
            .with_header(MAX_BATCH_HEADER, "1000")
            .with_header(PUSH_BATCHES_HEADER, "3"),
        "/v1/push/batches" => Reply::json(
            200,
            serde_json::to_value(PushBatchesResponse { answers: vec![] }).expect("json"),
        ),
        _ => Reply::error(404, "not_found", "no such route"),
    });
    let (_dir, mut store) = enrolled_store(&stub.url);
    retype_address(&mut store, 2_500);
    let waiting = store.outbox_len().expect("outbox");
    let transport = transport_for(&store).expect("transport");
    assert!(matches!(
        sync(&mut store, &transport, &mut |_| {}),
        Err(SyncError::Protocol(_))
    ));
    assert_eq!(
        store.outbox_len().expect("outbox"),
        waiting,
        "nothing settled"
    );
    let pushes = stub
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/push"))
        .count();
    assert_eq!(pushes, 1, "asked once");
}

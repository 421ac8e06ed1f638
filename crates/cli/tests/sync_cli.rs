//! The sync commands of the `voordeur` binary: enrolment, sync, status, conflicts and
//! deletes, against a stub HTTP server on loopback (the real server's end-to-end tests
//! live in `tests/`). Every command is a fresh process on the same device folder.

#[path = "../../sync/tests/support/stub.rs"]
mod stub;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use stub::{Reply, Stub};
use voordeur_core::protocol::{Accepted, PullResponse, PushRequest, PushResponse};
use voordeur_core::*;
use voordeur_store::Store;

mod common;
use common::{template_file, Device, TEMPLATE_ID};

/// What these tests do to a device beyond the shared helpers.
trait SyncDevice {
    fn store(&self) -> Store;
    fn household(&self, address: &str) -> String;
}

impl SyncDevice for Device {
    fn store(&self) -> Store {
        Store::open_dir(self.dir.path(), None).expect("open store")
    }

    fn household(&self, address: &str) -> String {
        self.create(&[
            "household",
            "add",
            "--address",
            address,
            "--postcode",
            "9712ab",
        ])
    }
}

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A stub server: code `ABCD-1234` enrols; push accepts everything; pull serves
/// nothing; every request gets 401 once `revoked` is set.
fn server(revoked: Arc<AtomicBool>) -> Stub {
    Stub::start(move |req| {
        if revoked.load(Ordering::SeqCst) {
            return Reply::error(401, "unauthorized", "device revoked");
        }
        match req.path.as_str() {
            "/v1/enrol" if req.json()["code"] == "ABCD-1234" => Reply::json(
                200,
                json!({
                    "token": "tok-1",
                    "device_id": req.json()["device_id"],
                    "user": {
                        "id": "01930000-0000-7000-8000-0000000000a1",
                        "name": "Sanne Bakker",
                        "role": "worker",
                        "team_id": "01930000-0000-7000-8000-0000000000e1",
                        "team_name": "Wijkteam Oost",
                    },
                }),
            ),
            "/v1/enrol" => Reply::error(401, "invalid_code", "code unknown, used or expired"),
            "/v1/me" => Reply::json(
                200,
                json!({
                    "id": "01930000-0000-7000-8000-0000000000a1",
                    "name": "Sanne Bakker",
                    "role": "worker",
                    "team_id": "01930000-0000-7000-8000-0000000000e1",
                    "team_name": "Wijkteam Oost",
                }),
            ),
            "/v1/push" => {
                let push: PushRequest = serde_json::from_slice(&req.body).expect("push");
                let accepted = push
                    .changes
                    .iter()
                    .map(|c| Accepted::of(c, c.hlc))
                    .collect();
                Reply::json(
                    200,
                    serde_json::to_value(PushResponse {
                        accepted,
                        rejected: vec![],
                        conflicts: 0,
                    })
                    .expect("json"),
                )
            }
            "/v1/pull" => Reply::json(
                200,
                serde_json::to_value(PullResponse {
                    changes: vec![],
                    cursor: 3,
                    more: false,
                })
                .expect("json"),
            ),
            _ => Reply::error(404, "not_found", "no such route"),
        }
    })
}

#[test]
fn a_device_that_is_not_enrolled_says_so_and_keeps_working_offline() {
    let device = Device::new();
    device.fails(
        &["sync"],
        2,
        "this device is not enrolled; run voordeur enroll",
    );
    device.household("Lindenlaan 12");
    let status = device.json(&["status"]);
    assert_eq!(status["server_url"], Value::Null);
    assert_eq!(status["waiting"], 5);
    assert!(device.ok(&["status"]).contains("not enrolled"));
    let unreachable = format!("http://127.0.0.1:{}", unused_port());
    device.fails(
        &["enroll", "--server", &unreachable, "--code", "ABCD-1234"],
        3,
        "server not reachable: ",
    );
    device.fails(
        &[
            "enroll",
            "--server",
            "voordeur.example",
            "--code",
            "ABCD-1234",
        ],
        2,
        "not an http:// or https:// URL",
    );
}

#[test]
fn enrol_sync_and_a_revoked_device() {
    let revoked = Arc::new(AtomicBool::new(false));
    let stub = server(revoked.clone());
    let device = Device::new();
    device.fails(
        &["enroll", "--server", &stub.url, "--code", "WRONG"],
        4,
        "enrolment refused: code unknown, used or expired",
    );
    let text = device.ok(&["enroll", "--server", &stub.url, "--code", "ABCD-1234"]);
    assert!(
        text.contains("Sanne Bakker (worker), team Wijkteam Oost"),
        "{text}"
    );
    let h = device.household("Lindenlaan 12");
    // The household belongs to the enrolled user's team.
    let export: Value = serde_json::from_str(&device.ok(&["export"])).expect("json");
    assert_eq!(
        export["households"][0]["team_id"],
        "01930000-0000-7000-8000-0000000000e1"
    );
    assert_eq!(export["households"][0]["id"], h.as_str());

    assert_eq!(
        device.ok(&["sync"]).trim(),
        "pushed 5, pulled 0, conflicts 0"
    );
    device.household("Dorpsstraat 3");
    let report = device.json(&["sync"]);
    assert_eq!(
        report,
        json!({ "pushed": 5, "pulled": 0, "rejected": [], "conflicts": 0 })
    );
    let status = device.json(&["status"]);
    assert_eq!(status["user"], "Sanne Bakker");
    assert_eq!(status["role"], "worker");
    assert_eq!(status["waiting"], 0);
    assert_eq!(status["cursor"], 3);
    assert!(status["last_sync"].is_string());
    let text = device.ok(&["status"]);
    assert!(
        text.contains(&stub.url) && text.contains("waiting:   0"),
        "{text}"
    );

    revoked.store(true, Ordering::SeqCst);
    device.household("Kerkstraat 5");
    device.fails(&["sync"], 4, "this device is no longer enrolled");
    assert_eq!(device.json(&["status"])["waiting"], 5);
}

#[test]
fn notes_and_households_are_deleted_with_tombstones() {
    let device = Device::new();
    let tpl = template_file();
    device.create(&["template", "import", tpl.to_str().expect("path")]);
    let h = device.household("Lindenlaan 12");
    let visit = device.create(&[
        "visit",
        "start",
        "--household",
        &h,
        "--template",
        TEMPLATE_ID,
    ]);
    let note = device.create(&["visit", "note", &visit, "Bewoonster wil hulp."]);
    device.ok(&["note", "delete", &note]);
    let shown = device.json(&["visit", "show", &visit]);
    assert_eq!(shown["notes"], json!([]));
    device.fails(&["note", "delete", &note], 2, "not found");
    device.ok(&["household", "delete", &h]);
    assert_eq!(device.json(&["household", "list"]), json!([]));
    device.fails(&["household", "delete", &h], 2, "not found");
    device.fails(&["household", "delete", "geen-id"], 2, "not a valid id");
    let export: Value = serde_json::from_str(&device.ok(&["export"])).expect("json");
    assert_eq!(export["households"][0]["deleted"], 1);
    assert_eq!(export["notes"][0]["deleted"], 1);
}

/// The changes a server sends for a new conflict record.
fn conflict(
    entity: EntityKind,
    record: &str,
    field: &str,
    values: [Value; 2],
) -> (String, Vec<Change>) {
    let id = ConflictId::new();
    let server = DeviceId::new();
    let competing: Vec<ConflictValue> = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let device = DeviceId::new();
            ConflictValue {
                value,
                hlc: Hlc {
                    wall_ms: 1_767_225_600_000 + i as u64,
                    counter: 0,
                    device,
                },
                device,
                author: Some(UserId::new()),
                change_id: ChangeId::new(),
            }
        })
        .collect();
    let changes = [
        ("entity", json!(entity)),
        ("record_id", json!(record)),
        ("field", json!(field)),
        ("values", json!(competing)),
        ("status", json!("open")),
    ]
    .into_iter()
    .map(|(f, value)| Change {
        id: ChangeId::new(),
        entity: EntityKind::Conflict,
        record: id.0,
        field: f.into(),
        value,
        hlc: Hlc {
            wall_ms: 1_767_225_700_000,
            counter: 0,
            device: server,
        },
        base: None,
        device: server,
        author: None,
    })
    .collect();
    (id.to_string(), changes)
}

#[test]
fn conflicts_are_listed_and_resolved() {
    let device = Device::new();
    let tpl = template_file();
    device.create(&["template", "import", tpl.to_str().expect("path")]);
    let h = device.household("Lindenlaan 12");
    let visit = device.create(&[
        "visit",
        "start",
        "--household",
        &h,
        "--template",
        TEMPLATE_ID,
    ]);
    assert_eq!(device.ok(&["conflicts"]).trim(), "no open conflicts");
    let (address, mut changes) = conflict(
        EntityKind::Household,
        &h,
        "address",
        [json!("Lindenlaan 12"), json!("Lindenlaan 14")],
    );
    let (answer, more) = conflict(
        EntityKind::Visit,
        &visit,
        "answer.geld.post_ongeopend",
        [json!(true), json!(false)],
    );
    changes.extend(more);
    device
        .store()
        .apply_remote(&changes, 2)
        .expect("conflicts arrive");

    let list = device.json(&["conflicts"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["id"], address.as_str());
    assert_eq!(list[0]["values"][1]["value"], "Lindenlaan 14");
    let text = device.ok(&["conflicts"]);
    assert!(text.contains("\"Lindenlaan 14\"  by "), "{text}");
    assert!(text.contains("at 2026-01-01T00:00:00Z"), "{text}");
    assert_eq!(device.json(&["status"])["open_conflicts"], 2);

    device.fails(
        &["conflict", "resolve", &answer, "--value", "misschien"],
        2,
        "yes or no",
    );
    device.fails(
        &[
            "conflict",
            "resolve",
            "01930000-0000-7000-8000-00000000dead",
            "--value",
            "x",
        ],
        2,
        "not found",
    );
    let done = device.json(&["conflict", "resolve", &answer, "--value", "nee"]);
    assert_eq!(done["value"], false);
    device.ok(&["conflict", "resolve", &address, "--value", "Lindenlaan 14"]);
    let household = device.json(&["household", "show", &h]);
    assert_eq!(household["household"]["address"], "Lindenlaan 14");
    let shown = device.json(&["visit", "show", &visit]);
    assert_eq!(shown["answers"][0]["value"], false);
    assert_eq!(device.json(&["conflicts"]), json!([]));
    let all = device.json(&["conflicts", "--all"]);
    assert_eq!(all[0]["status"], "resolved");
    device.fails(
        &["conflict", "resolve", &address, "--value", "Lindenlaan 12"],
        2,
        "already resolved",
    );
    // Each resolution is two changes waiting for the server.
    let status = device.json(&["status"]);
    assert_eq!(status["open_conflicts"], 0);
    let pending = device.store().pending(1_000).expect("pending");
    let tail: Vec<(&str, &Value)> = pending[pending.len() - 4..]
        .iter()
        .map(|c| (c.field.as_str(), &c.value))
        .collect();
    assert_eq!(
        tail,
        [
            ("answer.geld.post_ongeopend", &json!(false)),
            ("status", &json!("resolved")),
            ("address", &json!("Lindenlaan 14")),
            ("status", &json!("resolved")),
        ]
    );
}

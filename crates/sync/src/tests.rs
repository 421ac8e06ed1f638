//! The engine against the in-memory server model, with faults injected per call.

use super::*;
use crate::fake::{Call, FakeServer};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;
use voordeur_core::hlc::ManualTime;
use voordeur_core::protocol::{PullResponse, PushResponse};
use voordeur_core::{ChangeId, EntityKind, HouseholdId};
use voordeur_store::NewHousehold;

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600_000;
const YEAR: u64 = 365 * 86_400_000;

struct Device {
    _dir: tempfile::TempDir,
    store: Store,
    time: Arc<ManualTime>,
}

fn device(at: u64) -> Device {
    let dir = tempfile::tempdir().expect("tempdir");
    let time = Arc::new(ManualTime::new(at));
    let store = Store::open_with_time(&dir.path().join("d.db"), None, Box::new(time.clone()))
        .expect("open");
    Device {
        _dir: dir,
        store,
        time,
    }
}

fn household(store: &mut Store, address: &str) -> HouseholdId {
    store
        .add_household(NewHousehold {
            address: address.into(),
            postcode: "9712 AB".into(),
            city: Some("Groningen".into()),
            ..NewHousehold::default()
        })
        .expect("household")
}

/// `n` households of 5 fields each, committed in one transaction.
fn bulk(store: &mut Store, n: usize) {
    let mut changes = Vec::new();
    for i in 0..n {
        let record = Uuid::now_v7();
        for (field, value) in [
            ("address", json!(format!("Lindenlaan {i}"))),
            ("postcode", json!("9712 AB")),
            ("city", json!("Groningen")),
            ("neighbourhood", json!("Oost")),
            ("team_id", Value::Null),
        ] {
            changes.push(
                store
                    .make_change(EntityKind::Household, record, field, value)
                    .expect("change"),
            );
        }
    }
    store.commit(&changes).expect("commit");
}

fn run(store: &mut Store, link: &dyn Transport) -> Result<(SyncReport, Vec<Progress>), SyncError> {
    let mut events = Vec::new();
    let report = sync(store, link, &mut |p| events.push(p))?;
    Ok((report, events))
}

fn export(store: &Store) -> String {
    store.export_json().expect("export")
}

#[test]
fn sync_pushes_before_it_pulls_and_devices_converge() {
    let server = FakeServer::new(T0);
    let mut a = device(T0);
    let mut b = device(T0);
    let (la, lb) = (
        server.link(a.store.device_id()),
        server.link(b.store.device_id()),
    );
    for address in ["Lindenlaan 1", "Lindenlaan 2", "Lindenlaan 3"] {
        household(&mut a.store, address);
    }
    household(&mut b.store, "Dorpsstraat 1");
    household(&mut b.store, "Dorpsstraat 2");

    let (report, _) = run(&mut a.store, &la).expect("sync a");
    assert_eq!((report.pushed, report.pulled), (15, 0));
    let (report, events) = run(&mut b.store, &lb).expect("sync b");
    assert_eq!((report.pushed, report.pulled), (10, 15));
    assert_eq!(lb.calls(), vec![Call::Push(10), Call::Pull(0)]);
    assert_eq!(
        events,
        vec![
            Progress::Pushing {
                done: 10,
                total: 10
            },
            Progress::Pulling { received: 15 }
        ]
    );
    let (report, _) = run(&mut a.store, &la).expect("sync a again");
    assert_eq!((report.pushed, report.pulled), (0, 10));
    assert_eq!(export(&a.store), export(&b.store));
    assert_eq!(
        a.store
            .search_households("dorpsstraat", 10)
            .expect("search")
            .len(),
        2
    );
    let status = a.store.sync_status().expect("status");
    assert_eq!((status.waiting, status.cursor), (0, 25));
    assert!(status.last_sync.is_some());
}

/// Households beyond one batch's worth in the cut tests (five changes each).
const REST_HOUSEHOLDS: usize = 100;
/// Their changes: what a second batch carries.
const REST: usize = 5 * REST_HOUSEHOLDS;

#[test]
fn a_cut_push_leaves_earlier_batches_acknowledged_and_the_rest_waiting() {
    let server = FakeServer::new(T0);
    let mut a = device(T0);
    bulk(&mut a.store, REST_HOUSEHOLDS + MAX_BATCH / 5); // two batches
    let link = server.link(a.store.device_id());
    link.faults.borrow_mut().cut_push.insert(2);
    let mut events = Vec::new();
    let err = sync(&mut a.store, &link, &mut |p| events.push(p)).expect_err("cut");
    assert!(matches!(err, SyncError::Offline(_)));
    assert_eq!(
        events,
        vec![Progress::Pushing {
            done: MAX_BATCH,
            total: MAX_BATCH + REST
        }]
    );
    assert_eq!(a.store.outbox_len().expect("len"), REST as u64);
    assert_eq!(server.len(), MAX_BATCH);
    assert_eq!(link.calls(), vec![Call::Push(MAX_BATCH), Call::Push(REST)]);

    // Now the server takes the batch but its answer is lost: the batch stays waiting
    // and is sent again, and the server does not store it twice.
    link.faults.borrow_mut().lose_push_answer.insert(3);
    assert!(run(&mut a.store, &link).is_err());
    assert_eq!(a.store.outbox_len().expect("len"), REST as u64);
    assert_eq!(server.len(), MAX_BATCH + REST);
    let (report, _) = run(&mut a.store, &link).expect("sync");
    assert_eq!(report.pushed, REST);
    assert_eq!(a.store.outbox_len().expect("len"), 0);
    assert_eq!(server.len(), MAX_BATCH + REST);
}

#[test]
fn a_cut_pull_resumes_from_the_last_applied_batch() {
    let server = FakeServer::new(T0);
    let mut a = device(T0);
    bulk(&mut a.store, REST_HOUSEHOLDS + MAX_BATCH / 5);
    let la = server.link(a.store.device_id());
    run(&mut a.store, &la).expect("sync a");

    let mut b = device(T0);
    let link = server.link(b.store.device_id());
    link.faults.borrow_mut().cut_pull.insert(2);
    assert!(matches!(
        run(&mut b.store, &link),
        Err(SyncError::Offline(_))
    ));
    assert_eq!(b.store.cursor().expect("cursor"), MAX_BATCH as u64);
    assert_eq!(
        link.calls(),
        vec![Call::Pull(0), Call::Pull(MAX_BATCH as u64)]
    );
    let (report, _) = run(&mut b.store, &link).expect("resume");
    assert_eq!(report.pulled, REST);
    assert_eq!(link.calls()[2], Call::Pull(MAX_BATCH as u64));
    assert_eq!(b.store.cursor().expect("cursor"), (MAX_BATCH + REST) as u64);
    assert_eq!(export(&a.store), export(&b.store));
}

#[test]
fn a_clock_far_ahead_is_restamped_so_a_later_edit_elsewhere_still_wins() {
    let server = FakeServer::new(T0);
    let mut a = device(T0 + YEAR); // a tablet whose clock is a year ahead
    let mut b = device(T0 + 1_000);
    let (la, lb) = (
        server.link(a.store.device_id()),
        server.link(b.store.device_id()),
    );
    let h = household(&mut a.store, "Lindenlaan 12");
    run(&mut a.store, &la).expect("sync a");
    run(&mut b.store, &lb).expect("sync b");
    assert_eq!(export(&a.store), export(&b.store));
    let versions: Value = serde_json::from_str(&export(&a.store)).expect("json");
    for v in versions["field_versions"].as_array().expect("versions") {
        let hlc: voordeur_core::Hlc = v["hlc"].as_str().expect("hlc").parse().expect("hlc");
        assert_eq!(hlc.wall_ms, T0, "re-stamped by the server");
    }

    b.time.advance(1_000);
    let edit = b
        .store
        .make_change(
            EntityKind::Household,
            h.0,
            "address",
            json!("Lindenlaan 14"),
        )
        .expect("change");
    b.store.commit(&[edit]).expect("edit");
    run(&mut b.store, &lb).expect("sync b");
    run(&mut a.store, &la).expect("sync a");
    assert_eq!(
        a.store.household(h).expect("household").address,
        "Lindenlaan 14"
    );
    assert_eq!(export(&a.store), export(&b.store));
}

#[test]
fn refused_changes_are_reported_and_kept_aside() {
    let server = FakeServer::new(T0);
    server.refuse_field("neighbourhood");
    let mut a = device(T0);
    bulk(&mut a.store, 3);
    let link = server.link(a.store.device_id());
    let (report, _) = run(&mut a.store, &link).expect("sync");
    assert_eq!(report.pushed, 12);
    assert_eq!(report.rejected.len(), 3);
    assert_eq!(a.store.outbox_len().expect("len"), 0);
    let kept = a.store.rejected_changes().expect("rejected");
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|r| r.change.field == "neighbourhood"));
}

/// A server that answers without making progress.
struct Stuck {
    push: PushResponse,
    pull: PullResponse,
}

impl Transport for Stuck {
    fn push(&self, _: &PushRequest) -> Result<PushResponse, SyncError> {
        Ok(self.push.clone())
    }
    fn pull(&self, _: u64, _: usize) -> Result<PullResponse, SyncError> {
        Ok(self.pull.clone())
    }
}

#[test]
fn a_server_that_makes_no_progress_is_a_protocol_error_not_a_loop() {
    let stuck = Stuck {
        push: PushResponse {
            accepted: vec![voordeur_core::protocol::Accepted {
                id: ChangeId::new(),
                hlc: Some(voordeur_core::Hlc::zero(voordeur_core::DeviceId::new())),
            }],
            rejected: vec![],
            conflicts: 0,
        },
        pull: PullResponse {
            changes: vec![],
            cursor: 0,
            more: true,
        },
    };
    let mut a = device(T0);
    household(&mut a.store, "Lindenlaan 1");
    assert!(matches!(
        run(&mut a.store, &stuck),
        Err(SyncError::Protocol(_))
    ));
    assert_eq!(a.store.outbox_len().expect("len"), 5);
    let mut b = device(T0);
    assert!(matches!(
        run(&mut b.store, &stuck),
        Err(SyncError::Protocol(_))
    ));
}

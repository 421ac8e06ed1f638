//! Tests of the commands against a real store in a temporary folder, and of background
//! sync against a real `voordeur-server` started in this process on 127.0.0.1.

use crate::error::ErrorKind;
use crate::events::{Event, RecordedEvents};
use crate::state::{AppState, DeviceStore};
use crate::view::{SyncPhase, SyncState, SyncStateKind};
use crate::AppError;
use chrono::{Duration as Days, Local};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voordeur_core::Role;
use voordeur_store::{NewHousehold, NewResident, Store};

const TEMPLATE: &str = include_str!("../../templates/huisbezoek-basis.json");
const TEMPLATE_ID: &str = "01930000-0000-7000-8000-000000000001";

struct Device {
    _dir: tempfile::TempDir,
    state: AppState,
    events: Arc<RecordedEvents>,
}

/// The PIN the tests enrol with.
const PIN: &str = "24680";

fn device() -> Device {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = Arc::new(RecordedEvents::default());
    let keys = crate::keystore::memory::MemoryKeyStore::default();
    let state = AppState::new(DeviceStore::open(Some(dir.path()), &keys), events.clone());
    Device {
        _dir: dir,
        state,
        events,
    }
}

/// A device with the sample template and one household with a resident.
fn seeded() -> (Device, String) {
    let d = device();
    let household = {
        let mut store = d.state.store.lock().expect("store");
        store.import_template(TEMPLATE).expect("template");
        let h = store
            .add_household(NewHousehold {
                address: "Kerkstraat 12".into(),
                postcode: "9711lm".into(),
                city: Some("Groningen".into()),
                ..NewHousehold::default()
            })
            .expect("household");
        store
            .add_resident(NewResident {
                household: h,
                name: "Fatima de Vries".into(),
                birth_year: Some(1958),
                contact: None,
            })
            .expect("resident");
        h.to_string()
    };
    (d, household)
}

fn kind<T: std::fmt::Debug>(r: Result<T, AppError>) -> (ErrorKind, Option<Vec<String>>) {
    let e = r.expect_err("an error");
    (e.kind(), e.items())
}

fn last_status(events: &RecordedEvents) -> Option<SyncState> {
    events.all().into_iter().rev().find_map(|e| match e {
        Event::SyncStatus(s) => Some(s),
        Event::DataChanged(_) => None,
    })
}

#[test]
fn a_household_page_shows_residents_visits_signals_and_follow_ups() {
    let (d, household) = seeded();
    let s = &d.state;
    let list = s.list_households("kerk", None).expect("search");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].residents, vec!["Fatima de Vries".to_string()]);
    assert_eq!(s.list_households("fatima", None).expect("by name").len(), 1);

    let templates = s.list_templates().expect("templates");
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].id.to_string(), TEMPLATE_ID);
    assert_eq!(templates[0].name.nl, "Huisbezoek basis");

    let visit = s.start_visit(&household, TEMPLATE_ID).expect("visit");
    s.raise_signal(&household, Some(&visit), "debts", "high", Some("  ".into()))
        .expect("signal");
    let due = (Local::now().date_naive() + Days::days(7)).to_string();
    s.add_follow_up(&household, Some(&visit), &due, "Bellen met budgetcoach")
        .expect("follow-up");

    let page = s.household_detail(&household).expect("detail");
    assert_eq!(page.household.postcode, "9711 LM");
    assert_eq!(page.residents.len(), 1);
    assert_eq!(page.visits.len(), 1);
    assert_eq!(page.visits[0].id.to_string(), visit);
    assert_eq!(page.open_signals.len(), 1);
    assert_eq!(page.open_signals[0].description, None);
    assert_eq!(page.open_follow_ups.len(), 1);
    assert!(!page.open_follow_ups[0].overdue);

    let opened = s.open_visit(&visit).expect("open");
    assert_eq!(opened.household.address, "Kerkstraat 12");
    assert_eq!(opened.template.id.to_string(), TEMPLATE_ID);
    assert!(opened.detail.answers.is_empty());

    // Ids that are not ids, and ids of nothing.
    assert_eq!(kind(s.household_detail("12")).0, ErrorKind::InvalidInput);
    assert_eq!(
        kind(s.household_detail("01930000-0000-7000-8000-0000000000ff")).0,
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(s.start_visit(&household, "01930000-0000-7000-8000-0000000000ff")).0,
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(s.raise_signal(&household, None, "gossip", "high", None)).0,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.add_follow_up(&household, None, "27-11-2026", "x")).0,
        ErrorKind::InvalidInput
    );
}

#[test]
fn every_item_kind_is_answered_and_a_wrong_value_names_its_item() {
    let (d, household) = seeded();
    let s = &d.state;
    let visit = s.start_visit(&household, TEMPLATE_ID).expect("visit");
    let cases = [
        ("geld.post_ongeopend", json!(true), json!(true)),
        ("geld.inkomstenbron", json!("uitkering"), json!("uitkering")),
        (
            "geld.toeslagen",
            json!(["zorgtoeslag", "huurtoeslag", "zorgtoeslag"]),
            json!(["huurtoeslag", "zorgtoeslag"]),
        ),
        ("wonen.staat_woning", json!(3.0), json!(3)),
        ("wonen.aantal_bewoners", json!(2), json!(2)),
        (
            "afsluiting.samenvatting",
            json!("Gaat redelijk."),
            json!("Gaat redelijk."),
        ),
        (
            "afsluiting.volgend_contact",
            json!("2026-12-01"),
            json!("2026-12-01"),
        ),
    ];
    for (item, value, canonical) in &cases {
        let stored = s.answer(&visit, item, value.clone()).expect(item);
        assert_eq!(&stored, canonical, "{item}");
    }
    let opened = s.open_visit(&visit).expect("open");
    assert_eq!(opened.detail.answers.len(), cases.len());

    // null clears an answer.
    assert_eq!(
        s.answer(&visit, "wonen.aantal_bewoners", Value::Null)
            .expect("clear"),
        Value::Null
    );

    let wrong = [
        ("geld.post_ongeopend", json!("misschien")),
        ("geld.inkomstenbron", json!("loterij")),
        ("geld.toeslagen", json!(["zakgeld"])),
        ("wonen.staat_woning", json!(9)),
        ("wonen.aantal_bewoners", json!("veel")),
        ("afsluiting.volgend_contact", json!("2026-02-30")),
        ("geen.item", json!(1)),
    ];
    for (item, value) in wrong {
        let e = s.answer(&visit, item, value).expect_err(item);
        assert_eq!(e.kind(), ErrorKind::InvalidAnswer, "{item}");
        assert_eq!(e.items(), Some(vec![item.to_string()]));
        let body = serde_json::to_value(&e).expect("serialise");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(item)),
            "{body}"
        );
    }
}

#[test]
fn completing_needs_every_shown_required_item() {
    let (d, household) = seeded();
    let s = &d.state;
    let visit = s.start_visit(&household, TEMPLATE_ID).expect("visit");
    let required = [
        "geld.post_ongeopend",
        "geld.achterstanden",
        "wonen.staat_woning",
        "sociaal.noodcontact",
        "gezondheid.huisarts",
        "kinderen.aanwezig",
        "veiligheid.voelt_veilig",
        "afsluiting.zorgniveau",
        "afsluiting.toestemming",
        "afsluiting.samenvatting",
    ];
    let (k, items) = kind(s.complete_visit(&visit));
    assert_eq!(k, ErrorKind::MissingRequired);
    assert_eq!(
        items,
        Some(required.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );

    for (item, value) in [
        ("geld.post_ongeopend", json!(false)),
        ("geld.achterstanden", json!(false)),
        ("wonen.staat_woning", json!(4)),
        ("sociaal.noodcontact", json!(true)),
        ("gezondheid.huisarts", json!(true)),
        ("kinderen.aanwezig", json!(true)),
        ("veiligheid.voelt_veilig", json!(true)),
        ("afsluiting.zorgniveau", json!(2)),
        ("afsluiting.toestemming", json!(true)),
        ("afsluiting.samenvatting", json!("Rustig gesprek.")),
    ] {
        s.answer(&visit, item, value).expect(item);
    }
    // Children present: their number is now shown and required.
    let (k, items) = kind(s.complete_visit(&visit));
    assert_eq!(k, ErrorKind::MissingRequired);
    assert_eq!(items, Some(vec!["kinderen.aantal".to_string()]));
    s.answer(&visit, "kinderen.aantal", json!(2))
        .expect("aantal");
    s.complete_visit(&visit).expect("complete");

    let opened = s.open_visit(&visit).expect("open");
    assert_eq!(
        opened.detail.visit.status,
        voordeur_core::VisitStatus::Completed
    );
    assert!(opened.detail.visit.ended_at.is_some());
    assert_eq!(
        kind(s.answer(&visit, "geld.achterstanden", json!(true))).0,
        ErrorKind::VisitCompleted
    );
}

#[test]
fn notes_are_added_and_edited() {
    let (d, household) = seeded();
    let s = &d.state;
    let visit = s.start_visit(&household, TEMPLATE_ID).expect("visit");
    let note = s.add_note(&visit, "Post lag op de mat.").expect("note");
    s.edit_note(&note, "Post lag ongeopend op de mat.")
        .expect("edit");
    let opened = s.open_visit(&visit).expect("open");
    assert_eq!(opened.detail.notes.len(), 1);
    assert_eq!(opened.detail.notes[0].text, "Post lag ongeopend op de mat.");
    assert_eq!(kind(s.add_note(&visit, "   ")).0, ErrorKind::InvalidInput);
    assert_eq!(
        kind(s.edit_note("01930000-0000-7000-8000-0000000000ff", "x")).0,
        ErrorKind::NotFound
    );
}

#[test]
fn my_follow_ups_put_overdue_and_due_first() {
    let (d, household) = seeded();
    let s = &d.state;
    let today = Local::now().date_naive();
    for (days, text) in [(10, "later"), (-3, "te laat"), (0, "vandaag")] {
        let due = (today + Days::days(days)).to_string();
        s.add_follow_up(&household, None, &due, text)
            .expect("follow-up");
    }
    let list = s.my_follow_ups().expect("follow-ups");
    let texts: Vec<&str> = list.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, ["te laat", "vandaag", "later"]);
    let overdue: Vec<bool> = list.iter().map(|f| f.overdue).collect();
    assert_eq!(overdue, [true, false, false]);
}

#[test]
fn every_local_write_reports_the_changes_waiting() {
    let (d, household) = seeded();
    let s = &d.state;
    let status = s.app_status().expect("status");
    assert!(!status.enrolled);
    assert_eq!(status.sync.state, SyncStateKind::NotEnrolled);
    let before = status.sync.waiting;
    assert!(before > 0, "the seeded records wait for a server");

    let visit = s.start_visit(&household, TEMPLATE_ID).expect("visit");
    let after_start = last_status(&d.events).expect("an event");
    assert_eq!(after_start.state, SyncStateKind::NotEnrolled);
    assert!(after_start.waiting > before);
    s.answer(&visit, "geld.post_ongeopend", json!(true))
        .expect("answer");
    let after_answer = last_status(&d.events).expect("an event");
    assert_eq!(after_answer.waiting, after_start.waiting + 1);
    assert_eq!(
        s.app_status().expect("status").sync.waiting,
        after_answer.waiting
    );
    // A refused write changes nothing and says nothing.
    let events = d.events.all().len();
    s.answer(&visit, "geld.post_ongeopend", json!(3))
        .expect_err("refused");
    assert_eq!(d.events.all().len(), events);
}

#[test]
fn enrolment_errors_are_told_apart() {
    let d = device();
    let s = &d.state;
    assert_eq!(
        kind(s.enrol("ftp://example.org", "abc", PIN)).0,
        ErrorKind::InvalidUrl
    );
    assert_eq!(
        kind(s.enrol("niet een adres", "abc", PIN)).0,
        ErrorKind::InvalidUrl
    );
    assert_eq!(
        kind(s.enrol("http://127.0.0.1:9", " ", PIN)).0,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.enrol("http://127.0.0.1:9", "ABCD-EFGH", "1234")).0,
        ErrorKind::InvalidPin
    );
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let e = s
        .enrol(&format!("http://127.0.0.1:{port}"), "ABCD-EFGH", PIN)
        .expect_err("offline");
    assert_eq!(e.kind(), ErrorKind::Offline);
    assert!(
        e.to_string().starts_with("the server could not be reached"),
        "{e}"
    );
    assert!(!s.app_status().expect("status").enrolled);
}

// -- background sync against a real server -------------------------------------------

struct Server {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A server on the database at `db` (demo data seeded once), listening on `port`
    /// (0: any free port). Returns it with fresh enrolment codes by user name.
    fn start(db: &Path, port: u16) -> (Server, Vec<(String, String)>) {
        let database =
            voordeur_server::Database::open(&db.display().to_string()).expect("server database");
        let state = voordeur_server::state(database).expect("server state");
        let codes = voordeur_server::demo::seed_demo(&state.db, &state.clock, state.now_ms())
            .expect("demo seed");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("tokio");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("bind");
                let port = listener.local_addr().expect("address").port();
                port_tx.send(port).expect("report the port");
                tokio::select! {
                    served = axum::serve(listener, voordeur_server::router(state)) => {
                        served.expect("serve");
                    }
                    _ = stop_rx => {}
                }
            });
            // Dropping the runtime closes every open connection.
            drop(runtime);
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        (
            Server {
                port,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            codes,
        )
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn code_of(codes: &[(String, String)], user: &str) -> String {
    codes
        .iter()
        .find(|(u, _)| u == user)
        .map(|(_, c)| c.clone())
        .expect("a code for the user")
}

/// Wait until the published sync state satisfies `done`.
fn wait_for(d: &Device, what: &str, done: impl Fn(&SyncState) -> bool) -> SyncState {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = d.state.sync_handle().state();
        if done(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last state {state:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn background_sync_reaches_up_to_date_goes_offline_and_recovers() {
    let server_dir = tempfile::tempdir().expect("tempdir");
    let server_db = server_dir.path().join("server.db");
    let (server, codes) = Server::start(&server_db, 0);

    let d = device();
    let worker = d
        .state
        .start_sync(Duration::from_secs(3600))
        .expect("a database")
        .expect("thread");
    wait_for(&d, "not enrolled", |s| {
        s.state == SyncStateKind::NotEnrolled
    });

    // Wrong code first.
    assert_eq!(
        kind(d.state.enrol(&server.url(), "FOUT-CODE", PIN)).0,
        ErrorKind::EnrolmentRefused
    );
    let user = d
        .state
        .enrol(&server.url(), &code_of(&codes, "anna"), PIN)
        .expect("enrol");
    assert_eq!((user.name.as_str(), user.role), ("anna", Role::Worker));
    let status = d.state.app_status().expect("status");
    assert!(
        status.pin_set && !status.locked,
        "enrolling in the app sets the PIN"
    );
    let synced = wait_for(&d, "up to date", |s| s.state == SyncStateKind::UpToDate);
    assert_eq!(synced.waiting, 0);
    assert!(synced.last_sync.is_some());
    assert!(synced.error.is_none());

    let events = d.events.all();
    assert!(events.iter().any(|e| matches!(e,
        Event::SyncStatus(s) if s.state == SyncStateKind::Syncing
            && s.progress.is_some_and(|p| p.phase == SyncPhase::Pull && p.done > 0))));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::DataChanged(c) if c.pulled > 0)));

    let status = d.state.app_status().expect("status");
    assert!(status.enrolled);
    assert_eq!(status.user.map(|u| u.name), Some("anna".into()));
    assert_eq!(status.server_url.as_deref(), Some(server.url().as_str()));

    // The team's households and the sample template arrived.
    let households = d.state.list_households("", None).expect("households");
    assert_eq!(households.len(), 30);
    let templates = d.state.list_templates().expect("templates");
    assert!(templates.iter().any(|t| t.id.to_string() == TEMPLATE_ID));

    // A completed visit is pushed at once.
    let household = households[0].id.to_string();
    let visit = d.state.start_visit(&household, TEMPLATE_ID).expect("visit");
    for (item, value) in [
        ("geld.post_ongeopend", json!(true)),
        ("geld.achterstanden", json!(false)),
        ("wonen.staat_woning", json!(4)),
        ("sociaal.noodcontact", json!(true)),
        ("gezondheid.huisarts", json!(true)),
        ("kinderen.aanwezig", json!(false)),
        ("veiligheid.voelt_veilig", json!(true)),
        ("afsluiting.zorgniveau", json!(2)),
        ("afsluiting.toestemming", json!(true)),
        ("afsluiting.samenvatting", json!("Rustig gesprek.")),
    ] {
        d.state.answer(&visit, item, value).expect(item);
    }
    assert_eq!(
        last_status(&d.events).map(|s| s.state),
        Some(SyncStateKind::Waiting)
    );
    d.state.complete_visit(&visit).expect("complete");
    wait_for(&d, "the visit pushed", |s| {
        s.state == SyncStateKind::UpToDate && s.waiting == 0
    });

    // A second device of the same team receives the visit with every answer.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let mut other = Store::open_dir(other_dir.path(), None).expect("second device");
    voordeur_sync::enrol(&mut other, &server.url(), &code_of(&codes, "bilal"))
        .expect("enrol bilal");
    let transport = voordeur_sync::transport_for(&other).expect("transport");
    voordeur_sync::sync(&mut other, &transport, &mut |_| {}).expect("sync bilal");
    let received = other
        .visit_detail(visit.parse().expect("visit id"))
        .expect("the visit arrived");
    assert_eq!(received.answers.len(), 10);
    assert_eq!(received.visit.status, voordeur_core::VisitStatus::Completed);

    // The server goes away: a note waits, and sync says offline with the count.
    let port = server.port;
    server.stop();
    d.state.add_note(&visit, "Nagebeld.").expect("note");
    let waiting = last_status(&d.events).expect("status after the note");
    assert_eq!(waiting.state, SyncStateKind::Waiting);
    assert_eq!(waiting.waiting, 4, "a note is four field changes");
    d.state.sync_now().expect("sync now");
    let offline = wait_for(&d, "offline", |s| s.state == SyncStateKind::Offline);
    assert_eq!(offline.waiting, 4);
    assert_eq!(
        offline.error.as_ref().map(|e| e.code.as_str()),
        Some("offline")
    );

    // Back online on the same address: the note goes up.
    let (server, _) = Server::start(&server_db, port);
    d.state.sync_now().expect("sync now");
    let back = wait_for(&d, "up to date again", |s| {
        s.state == SyncStateKind::UpToDate
    });
    assert_eq!(back.waiting, 0);

    // An admin revokes the tablet: the next sync erases everything on it, and the app
    // is back at the first-run screen.
    let device = d.state.store.lock().expect("store").device_id().to_string();
    voordeur_server::Database::open(&server_db.display().to_string())
        .expect("server database")
        .tx(|t| voordeur_server::auth::revoke_device(t, &device, 1))
        .expect("revoke");
    d.state.sync_now().expect("sync now");
    let revoked = wait_for(&d, "revoked", |s| s.state == SyncStateKind::Error);
    assert_eq!(
        revoked.error.as_ref().map(|e| e.code.as_str()),
        Some("device_revoked")
    );
    assert!(d
        .state
        .list_households("", None)
        .expect("households")
        .is_empty());
    assert!(!d.state.app_status().expect("status").enrolled);
    assert_eq!(
        d.state
            .store
            .lock()
            .expect("store")
            .outbox_len()
            .expect("outbox"),
        0
    );
    // Enrolled again with a new code, the tablet works as a new device.
    let code = voordeur_server::Database::open(&server_db.display().to_string())
        .expect("server database")
        .tx(|t| {
            voordeur_server::auth::create_enrol_code(
                t,
                "anna",
                chrono::Utc::now().timestamp_millis(),
            )
        })
        .expect("code");
    d.state
        .enrol(&server.url(), &code, PIN)
        .expect("enrol again");
    wait_for(&d, "up to date after enrolling again", |s| {
        s.state == SyncStateKind::UpToDate
    });
    assert_eq!(
        d.state.list_households("", None).expect("households").len(),
        30
    );
    let now = d.state.store.lock().expect("store").device_id().to_string();
    assert_ne!(now, device, "a new device id after the wipe");

    d.state.stop_sync();
    worker.join().expect("the sync thread ends");
    server.stop();
}

/// The app lock, enforced by the shell: after the PIN is set (at enrolment in the app)
/// a locked app refuses every command on resident data, until the right PIN; idle time
/// locks it; a new start is locked; wrong PINs are counted.
#[test]
fn the_lock_keeps_resident_data_behind_the_pin() {
    let server_dir = tempfile::tempdir().expect("tempdir");
    let (server, codes) = Server::start(&server_dir.path().join("server.db"), 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = crate::keystore::memory::MemoryKeyStore::default();
    let t = std::sync::Arc::new(std::sync::Mutex::new(Instant::now()));
    let read = std::sync::Arc::clone(&t);
    let after = Duration::from_secs(300);
    let state = AppState::new(
        DeviceStore::open(Some(dir.path()), &keys),
        Arc::new(RecordedEvents::default()),
    )
    .with_lock(crate::lock::AppLock::new(
        after,
        Box::new(move || *read.lock().expect("clock")),
    ));
    // Not enrolled, no PIN: nothing to lock.
    assert!(!state.app_status().expect("status").locked);
    state
        .enrol(&server.url(), &code_of(&codes, "anna"), PIN)
        .expect("enrol");
    let transport = {
        let store = state.store.lock().expect("store");
        voordeur_sync::transport_for(&store).expect("transport")
    };
    {
        let mut store = state.store.lock().expect("store");
        voordeur_sync::sync(&mut store, &transport, &mut |_| {}).expect("sync");
    }
    let households = state.list_households("", None).expect("open");
    assert_eq!(households.len(), 30);
    let h = households[0].id.to_string();

    state.lock_now().expect("lock");
    assert!(state.app_status().expect("status").locked);
    for refused in [
        state.list_households("", None).map(|_| ()),
        state.household_detail(&h).map(|_| ()),
        state.my_follow_ups().map(|_| ()),
        state.list_conflicts().map(|_| ()),
    ] {
        assert_eq!(kind(refused).0, ErrorKind::Locked);
    }
    assert_eq!(kind(state.unlock("11111")).0, ErrorKind::WrongPin);
    state.unlock(PIN).expect("unlock");
    assert_eq!(state.list_households("", None).expect("open").len(), 30);

    // Idle for the whole timeout: locked; activity before that keeps it open.
    *t.lock().expect("clock") += after - Duration::from_secs(1);
    state.still_here().expect("still here");
    *t.lock().expect("clock") += after - Duration::from_secs(1);
    state.list_households("", None).expect("still open");
    *t.lock().expect("clock") += after;
    assert_eq!(kind(state.list_households("", None)).0, ErrorKind::Locked);
    assert_eq!(kind(state.still_here()).0, ErrorKind::Locked);

    // Five wrong PINs: the next try must wait, even with the right PIN.
    for _ in 0..crate::lock::FREE_TRIES {
        assert_eq!(kind(state.unlock("00000")).0, ErrorKind::WrongPin);
    }
    assert_eq!(kind(state.unlock(PIN)).0, ErrorKind::TooManyTries);
    *t.lock().expect("clock") += crate::lock::WAIT_AFTER_FAILURES;
    state.unlock(PIN).expect("unlock after the wait");

    // A new start of the app on the same folder is locked.
    drop(state);
    let again = AppState::new(
        DeviceStore::open(Some(dir.path()), &keys),
        Arc::new(RecordedEvents::default()),
    );
    let status = again.app_status().expect("status");
    assert!(status.enrolled && status.pin_set && status.locked);
    assert_eq!(kind(again.list_households("", None)).0, ErrorKind::Locked);
    again.unlock(PIN).expect("unlock");
    assert_eq!(again.list_households("", None).expect("open").len(), 30);
    server.stop();
}

/// A tablet that has not synced for more than the allowed days shows no resident data
/// until it syncs again; the sync itself is allowed and opens it.
#[test]
fn too_long_without_sync_refuses_data_until_the_next_sync() {
    let server_dir = tempfile::tempdir().expect("tempdir");
    let (server, codes) = Server::start(&server_dir.path().join("server.db"), 0);
    let d = device();
    let s = &d.state;
    s.enrol(&server.url(), &code_of(&codes, "anna"), PIN)
        .expect("enrol");
    let sync = |s: &AppState| {
        let mut store = s.store.lock().expect("store");
        let transport = voordeur_sync::transport_for(&store).expect("transport");
        voordeur_sync::sync(&mut store, &transport, &mut |_| {}).expect("sync");
    };
    sync(s);
    assert_eq!(s.list_households("", None).expect("open").len(), 30);
    let old = (chrono::Utc::now() - chrono::Duration::days(15)).to_rfc3339();
    s.store
        .lock()
        .expect("store")
        .set_meta(voordeur_store::meta_keys::LAST_SYNC, &old)
        .expect("meta");
    let e = s.list_households("", None).expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::SyncRequired);
    assert!(e.to_string().contains("15 days"), "{e}");
    assert_eq!(kind(s.my_follow_ups()).0, ErrorKind::SyncRequired);
    sync(s);
    assert_eq!(s.list_households("", None).expect("open again").len(), 30);
    server.stop();
}

/// A team with more households than one list asks for: the list says how many there
/// are, gives the first page, and more on request.
#[test]
fn the_list_counts_every_household_and_gives_more_on_request() {
    let d = device();
    let s = &d.state;
    {
        let mut store = s.store.lock().expect("store");
        for i in 0..620 {
            store
                .add_household(NewHousehold {
                    address: format!("Lindenlaan {i}"),
                    postcode: "9711 AB".into(),
                    ..NewHousehold::default()
                })
                .expect("household");
        }
    }
    assert_eq!(s.count_households("").expect("count"), 620);
    assert_eq!(s.list_households("", None).expect("first page").len(), 500);
    assert_eq!(s.list_households("", Some(1_000)).expect("more").len(), 620);
    assert_eq!(
        s.list_households("", Some(0)).expect("at least one").len(),
        1
    );
    assert_eq!(s.count_households("lindenlaan 61").expect("count"), 11);
    assert_eq!(s.count_households("geen").expect("count"), 0);
}

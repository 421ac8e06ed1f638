//! Deterministic simulation of sync: N devices on one server (the real engine on an
//! in-memory SQLite), random edits of the same visit and notes, syncs in random order
//! through a transport that drops requests, loses responses, duplicates pushes and
//! duplicates and reorders pulled batches, with skewed fake clocks (one device years
//! ahead). After a final full sync every device must hold byte-identical state, and
//! every value ever written must be current, seen and overwritten by a later write, or
//! held in a conflict.
//!
//! Every seed is reproducible: operations, schedule, faults, clocks and device ids all
//! come from it (record and change ids are fresh UUIDv7s; they never decide an order
//! that matters). `VOORDEUR_SIM_SEEDS=N` runs more seeds (default 500);
//! `VOORDEUR_SIM_SEED=S` runs one.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;
use voordeur_core::protocol::{PullResponse, PushRequest, PushResponse};
use voordeur_core::*;
use voordeur_server::auth::{self, Caller};
use voordeur_server::db::{Database, Val};
use voordeur_server::{demo, engine};
use voordeur_store::Store;
use voordeur_sync::{SyncError, Transport};

const START_MS: u64 = 1_790_000_000_000;
const ITEMS: &[(&str, &[&str])] = &[
    ("wonen.staat_woning", &["1", "2", "3", "4", "5"]),
    ("geld.achterstanden", &["ja", "nee"]),
    ("sociaal.contact", &["dagelijks", "wekelijks", "zelden"]),
    (
        "geld.toeslagen",
        &["huurtoeslag", "zorgtoeslag", "huurtoeslag,zorgtoeslag"],
    ),
    (
        "afsluiting.samenvatting",
        &["rustig", "zorgen", "afspraak gemaakt"],
    ),
];

struct Server {
    db: Database,
    clock: Clock,
    time: Arc<ManualTime>,
}

/// The real server engine, called in-process; faults are decided per call from the
/// simulation's random stream.
struct Link<'a> {
    server: &'a Server,
    caller: Caller,
    rng: &'a RefCell<StdRng>,
    faults: bool,
}

fn offline() -> SyncError {
    SyncError::Offline("simulated network failure".into())
}

impl Link<'_> {
    fn roll(&self) -> f64 {
        if self.faults {
            self.rng.borrow_mut().random()
        } else {
            1.0
        }
    }

    fn do_push(&self, req: &PushRequest) -> Result<PushResponse, SyncError> {
        self.server
            .db
            .tx(|t| engine::push(t, &self.caller, req.changes.clone(), &self.server.clock))
            .map_err(|e| SyncError::Protocol(e.to_string()))
    }
}

impl Transport for Link<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, SyncError> {
        let r = self.roll();
        if r < 0.08 {
            return Err(offline()); // never arrived
        }
        if r < 0.16 {
            self.do_push(req)?;
            return Err(offline()); // applied, response lost
        }
        if r < 0.24 {
            self.do_push(req)?; // delivered twice
        }
        self.do_push(req)
    }

    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError> {
        let r = self.roll();
        if r < 0.08 {
            return Err(offline());
        }
        // Small batches so that pulls span several round trips.
        let limit = limit.min(7);
        let mut resp = self
            .server
            .db
            .tx(|t| engine::pull(t, &self.caller, since, limit))
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        if r < 0.16 {
            let mut rng = self.rng.borrow_mut();
            let n = resp.changes.len();
            for i in (1..n).rev() {
                resp.changes.swap(i, rng.random_range(0..=i));
            }
            let dup = resp.changes.clone();
            resp.changes.extend(dup);
        }
        Ok(resp)
    }
}

struct Device {
    store: Store,
    time: Arc<ManualTime>,
    caller: Caller,
}

fn seeded_uuid(rng: &mut StdRng) -> Uuid {
    let bits: u128 = rng.random();
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
}

struct World {
    server: Server,
    devices: Vec<Device>,
    rng: RefCell<StdRng>,
    visit: VisitId,
    notes: Vec<NoteId>,
}

impl World {
    fn sync(&mut self, d: usize, faults: bool) -> Result<(), SyncError> {
        let World {
            server,
            devices,
            rng,
            ..
        } = self;
        let dev = &mut devices[d];
        let link = Link {
            server,
            caller: dev.caller.clone(),
            rng,
            faults,
        };
        voordeur_sync::sync(&mut dev.store, &link, &mut |_| {}).map(|_| ())
    }

    fn roll(&self, n: usize) -> usize {
        self.rng.borrow_mut().random_range(0..n)
    }
}

fn setup(seed: u64, n_devices: usize) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let server_time = Arc::new(ManualTime::new(START_MS));
    let server_device = DeviceId(seeded_uuid(&mut rng));
    let db = Database::open(":memory:").expect("server db");
    let server = Server {
        db,
        clock: Clock::new(server_device, Box::new(server_time.clone())),
        time: server_time,
    };
    let now = i64::try_from(START_MS).unwrap_or(0);
    demo::publish_template(&server.db, &server.clock, demo::SAMPLE_TEMPLATE).expect("template");
    server
        .db
        .tx(|t| auth::add_user(t, "lead", Role::TeamLead, Some("noord")).map(|_| ()))
        .expect("team");
    demo::import_households(
        &server.db,
        &server.clock,
        "noord",
        &demo::demo_households(0, 2),
    )
    .expect("households");
    let mut devices = Vec::new();
    for i in 0..n_devices {
        // Skewed clocks: a few seconds to hours off, and device 1 ten years ahead.
        let skew: i64 = match i {
            1 => 10 * 365 * 24 * 3_600_000,
            _ => rng.random_range(-3_600_000..3_600_000),
        };
        let time = Arc::new(ManualTime::new(START_MS.saturating_add_signed(skew)));
        let device = DeviceId(seeded_uuid(&mut rng));
        let store = Store::open_in_memory(device, Box::new(time.clone())).expect("device store");
        let name = format!("worker{i}");
        let caller = server
            .db
            .tx(|t| {
                auth::add_user(t, &name, Role::Worker, Some("noord"))?;
                let code = auth::create_enrol_code(t, &name, now)?;
                let resp = auth::enrol(t, &code, device, None, now)?;
                auth::authenticate(t, &resp.token)
            })
            .expect("enrol");
        devices.push(Device {
            store,
            time,
            caller,
        });
    }
    let mut world = World {
        server,
        devices,
        rng: RefCell::new(rng),
        visit: VisitId(Uuid::nil()),
        notes: Vec::new(),
    };
    for d in 0..n_devices {
        world.sync(d, false).expect("first sync");
    }
    // Device 0 starts the shared visit and a note; everyone receives them.
    let dev0 = &mut world.devices[0];
    let h = dev0.store.search_households("", 1).expect("list")[0].id;
    let tid = dev0.store.templates().expect("templates")[0].id;
    world.visit = dev0.store.start_visit(h, tid).expect("visit");
    let note = dev0
        .store
        .add_note(world.visit, "een\ntwee\ndrie\nvier")
        .expect("note");
    world.notes.push(note);
    for d in 0..n_devices {
        world.sync(d, false).expect("sync visit");
    }
    world
}

/// One random step of one device. Errors of edits (a note deleted meanwhile, a
/// conflict resolved elsewhere) are the app refusing, not failures.
fn step(world: &mut World) {
    let d = world.roll(world.devices.len());
    let op = world.roll(100);
    let visit = world.visit;
    match op {
        0..=34 => {
            let (item, values) = ITEMS[world.roll(ITEMS.len())];
            let v = values[world.roll(values.len())];
            let _ = world.devices[d].store.answer_input(visit, item, v);
        }
        35..=49 => {
            let note = world.notes[world.roll(world.notes.len())];
            let line = world.roll(5);
            let word = ["rood", "groen", "blauw", "geel"][world.roll(4)];
            let store = &mut world.devices[d].store;
            if let Ok(detail) = store.visit_detail(visit) {
                if let Some(n) = detail.notes.iter().find(|n| n.id == note) {
                    let mut lines: Vec<String> = n.text.lines().map(String::from).collect();
                    if line < lines.len() {
                        lines[line] = format!("{} {word}", lines[line]);
                    } else {
                        lines.push(word.to_string());
                    }
                    let _ = store.edit_note(note, &lines.join("\n"));
                }
            }
        }
        50..=54 => {
            if let Ok(id) = world.devices[d].store.add_note(visit, "nieuw\nnotitie") {
                world.notes.push(id);
            }
        }
        55..=57 => {
            let note = world.notes[world.roll(world.notes.len())];
            let _ = world.devices[d].store.delete_note(note);
        }
        58..=64 => {
            let conflicts = world.devices[d].store.conflicts(true).unwrap_or_default();
            if !conflicts.is_empty() {
                let c = &conflicts[world.roll(conflicts.len())];
                let v = c.values[world.roll(c.values.len())].value.clone();
                let _ = world.devices[d].store.resolve_conflict(c.id, v);
            }
        }
        65..=74 => {
            let ms = 1 + world.roll(120_000) as u64;
            world.devices[d].time.advance(ms);
            world.server.time.advance(ms / 2);
        }
        _ => {
            let _ = world.sync(d, true);
        }
    }
}

fn final_sync(world: &mut World) {
    // Twice around: what one device pushes in round one reaches the others in round two.
    for _ in 0..3 {
        for d in 0..world.devices.len() {
            world.sync(d, false).expect("final sync without faults");
        }
    }
}

/// The server's log, one row per change: change id, entity, record, field, value (JSON
/// text), clock, base, device.
fn log_rows(db: &Database) -> Vec<Vec<Val>> {
    db.tx(voordeur_server::engine::logged_changes)
        .expect("log")
        .into_iter()
        .map(|(_, c)| {
            vec![
                c.id.to_string().into(),
                c.entity.as_str().into(),
                c.record.to_string().into(),
                c.field.into(),
                c.value.to_string().into(),
                c.hlc.to_string().into(),
                c.base.map(|b| b.to_string()).into(),
                c.device.to_string().into(),
            ]
        })
        .collect()
}

/// Every value ever written is current, was seen and overwritten by a later write, or
/// is held in a conflict.
fn check_nothing_lost(world: &World, seed: u64) {
    let rows = log_rows(&world.server.db);
    let current: HashSet<String> = world
        .server
        .db
        .tx(voordeur_server::engine::current_fields)
        .expect("fields")
        .into_iter()
        .flat_map(|(_, _, fields)| fields.into_values().map(|f| f.change_id.to_string()))
        .collect();
    // Change ids and values held in conflicts, per field.
    let mut in_conflict: HashSet<String> = HashSet::new();
    let mut conflict_values: HashMap<(String, String, String), Vec<Value>> = HashMap::new();
    let conflict_field = |record: &str, field: &str| -> Option<Value> {
        rows.iter()
            .rev()
            .find(|r| {
                r[1].text() == Some("conflict")
                    && r[2].text() == Some(record)
                    && r[3].text() == Some(field)
            })
            .and_then(|r| r[4].text())
            .and_then(|s| serde_json::from_str(s).ok())
    };
    for r in &rows {
        if r[1].text() == Some("conflict") && r[3].text() == Some("values") {
            let record = r[2].text().unwrap_or_default();
            let values: Vec<ConflictValue> =
                serde_json::from_str(r[4].text().unwrap_or("[]")).unwrap_or_default();
            let key = (
                conflict_field(record, "entity")
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                conflict_field(record, "record_id")
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                conflict_field(record, "field")
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
            );
            in_conflict.extend(values.iter().map(|v| v.change_id.to_string()));
            conflict_values
                .entry(key)
                .or_default()
                .extend(values.into_iter().map(|v| v.value));
        }
    }
    let mut by_field: HashMap<(String, String, String), Vec<&Vec<Val>>> = HashMap::new();
    for r in &rows {
        let key = (
            r[1].text().unwrap_or_default().to_string(),
            r[2].text().unwrap_or_default().to_string(),
            r[3].text().unwrap_or_default().to_string(),
        );
        by_field.entry(key).or_default().push(r);
    }
    let server_device = world.server.clock.device().to_string();
    for (key, rows) in &by_field {
        let held = conflict_values.get(key).cloned().unwrap_or_default();
        for w in rows {
            let id = w[0].text().unwrap_or_default();
            if w[7].text() == Some(server_device.as_str())
                || current.contains(id)
                || in_conflict.contains(id)
            {
                continue;
            }
            let hlc = w[5].text().unwrap_or_default();
            let seen_later = rows.iter().any(|o| {
                let later = o[5].text().unwrap_or_default() > hlc;
                let saw = o[6].text().is_some_and(|b| b >= hlc) || o[7] == w[7];
                later && saw
            });
            // The same value is still there: current, or held in a conflict.
            let value: Value = w[4]
                .text()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let same_value_current = held.contains(&value)
                || rows
                    .iter()
                    .any(|o| current.contains(o[0].text().unwrap_or_default()) && o[4] == w[4]);
            if !(seen_later || same_value_current) {
                for o in rows.iter() {
                    eprintln!(
                        "  {} hlc={} base={:?} dev={} value={:?} current={} in_conflict={}",
                        o[0].text().unwrap_or_default(),
                        o[5].text().unwrap_or_default(),
                        o[6].text(),
                        o[7].text().unwrap_or_default(),
                        o[4],
                        current.contains(o[0].text().unwrap_or_default()),
                        in_conflict.contains(o[0].text().unwrap_or_default())
                    );
                }
            }
            assert!(
                seen_later || same_value_current,
                "seed {seed}: change {id} to {:?}.{:?} = {:?} was lost",
                w[1],
                w[3],
                w[4]
            );
        }
    }
}

/// What a seed exercised: conflicts opened, re-stamped changes, faults survived.
#[derive(Default, Debug)]
struct Stats {
    conflicts: usize,
    merged_notes: usize,
}

fn run_seed(seed: u64) -> Stats {
    let n_devices = 3 + (seed % 2) as usize;
    let mut world = setup(seed, n_devices);
    let steps = 40 + world.roll(40);
    for _ in 0..steps {
        step(&mut world);
    }
    final_sync(&mut world);
    let exports: Vec<String> = world
        .devices
        .iter()
        .map(|d| d.store.export_json().expect("export"))
        .collect();
    for (i, e) in exports.iter().enumerate().skip(1) {
        assert!(
            e == &exports[0],
            "seed {seed}: device {i} differs from device 0"
        );
    }
    for d in &world.devices {
        assert_eq!(
            d.store.outbox_len().expect("outbox"),
            0,
            "seed {seed}: changes left behind"
        );
        assert!(
            d.store.rejected_changes().expect("rejected").is_empty(),
            "seed {seed}: the server rejected a change"
        );
        assert_eq!(d.store.integrity_check().expect("check"), "ok");
    }
    check_nothing_lost(&world, seed);
    let rows = log_rows(&world.server.db);
    let server_device = world.server.clock.device().to_string();
    Stats {
        conflicts: rows
            .iter()
            .filter(|r| r[1].text() == Some("conflict") && r[3].text() == Some("status"))
            .count(),
        merged_notes: rows
            .iter()
            .filter(|r| {
                r[1].text() == Some("note")
                    && r[3].text() == Some("text")
                    && r[7].text() == Some(server_device.as_str())
            })
            .count(),
    }
}

#[test]
fn devices_converge_and_lose_nothing_under_faults() {
    if let Some(seed) = std::env::var("VOORDEUR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("{:?}", run_seed(seed));
        return;
    }
    let seeds: u64 = std::env::var("VOORDEUR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mut total = Stats::default();
    for seed in 0..seeds {
        let s = run_seed(seed);
        total.conflicts += s.conflicts;
        total.merged_notes += s.merged_notes;
    }
    println!("{seeds} seeds: {total:?}");
    // The runs must exercise what they claim to test.
    assert!(total.conflicts > 0, "no seed produced a conflict");
    assert!(total.merged_notes > 0, "no seed merged a note line-wise");
}

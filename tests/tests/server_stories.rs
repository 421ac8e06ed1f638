//! The server's storage stories: one suite, run against SQLite and PostgreSQL.
//!
//! Each story is a function of the backend; `stories!` makes a module per story with a
//! `sqlite` and a `postgres` test (`cargo test enrolment`, `cargo test postgres`). The
//! server runs in-process, driven through its router; devices are made by hand, so
//! every clock, base and id is the test's choice. Each story asserts what a worker,
//! a team lead or an operator would check.

use axum::body::Body;
use axum::http::StatusCode;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};
use uuid::Uuid;
use voordeur_core::change::EntityKind::*;
use voordeur_core::protocol::{
    push_batches_body, EnrolResponse, PullResponse, PushBatchesResponse, PushRequest, PushResponse,
    ShortPushResponse, UserInfo, ANSWER_HEADER, MAX_BATCH, MAX_BATCH_HEADER, MAX_PUSH_BATCHES,
    NDJSON, PUSH_BATCHES_HEADER, REQUEST_ENCODINGS, SHORT_ANSWER,
};
use voordeur_core::{Change, ChangeId, ConflictStatus, DeviceId, Hlc, Role};
use voordeur_server::{auth, engine};
use voordeur_tests::replica::Replica;
use voordeur_tests::server::{json_body, v1, Device, TestServer};
use voordeur_tests::Backend;

macro_rules! stories {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[test]
            fn sqlite() {
                super::$story(voordeur_tests::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$story(voordeur_tests::Backend::Postgres)
            }
        }
    )*};
}

stories!(
    enrolment,
    push_pull_round_trip,
    idempotent_replay,
    field_merge_and_conflicts,
    note_line_merge,
    delete_then_concurrent_edit,
    edit_then_concurrent_delete,
    edits_concurrent_with_a_delete_keep_the_clock_winner,
    clock_far_ahead,
    short_push_answer,
    push_batches_in_one_request,
    batches_carry_on_only_while_nothing_was_written_between,
    bad_input_changes_nothing,
    a_refused_new_record_leaves_no_trace,
    gzip,
    gzip_bomb_is_refused,
    zstd,
    zstd_bomb_is_refused,
    openapi_and_health,
    one_code_enrols_one_device_under_concurrency,
    one_template_version_under_concurrency,
    a_nul_character_is_bad_input_not_a_server_error,
    a_household_moves_to_another_team,
    a_version_1_database_is_migrated_to_blocks,
    pull_batches_end_inside_blocks,
    a_resident_who_moves_house_moves_with_the_new_household,
    a_state_stored_as_json_before_is_read_and_rewritten_in_binary,
    entries_spelt_otherwise_are_logged_as_the_server_writes_them,
    the_batches_of_a_request_commit_without_waiting_but_one,
);

/// Real concurrency needs a database several server processes share: PostgreSQL only.
#[test]
fn postgres_concurrent_writers_and_pullers_miss_nothing() {
    concurrent_writers_and_pullers(Backend::Postgres);
}

/// The same with two real `voordeur-server` processes on one PostgreSQL database,
/// devices pushing and pulling through both over loopback HTTP at once.
#[test]
fn postgres_two_server_processes_miss_nothing() {
    let base = TestServer::start(Backend::Postgres);
    let (one, two) = (base.os_process(), base.os_process());
    writers_and_pullers_through(&one, &two);
}

/// PostgreSQL restarted, or idle connections cut by a proxy: the next requests work.
#[test]
fn postgres_cut_connections_cost_no_request() {
    cut_connections_cost_no_request(Backend::Postgres);
}

/// PostgreSQL compresses the large texts (log blocks, record states) with lz4, not its
/// slower default, pglz; and they still read back whole.
#[test]
fn postgres_compresses_blocks_and_states_with_lz4() {
    let town = Town::new(Backend::Postgres);
    let compression = |table: &str, column: &str| {
        town.s.query(
            &format!(
                "SELECT attcompression::text FROM pg_attribute
                 WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
            ),
            &[],
        )[0][0]
            .text()
            .map(String::from)
    };
    assert_eq!(compression("log", "changes").as_deref(), Some("l"));
    assert_eq!(compression("records", "state").as_deref(), Some("l"));
    // A note long enough to be compressed comes back as written.
    let text: String = (0..400)
        .map(|i| format!("regel {i} van het verslag\n"))
        .collect();
    let (h, created) = new_household(&town.anna, "Lindenlaan 4");
    town.s.push_ok(&town.anna, &created);
    let long = town.anna.change(Household, h, "address", json!(text), None);
    town.s.push_ok(&town.anna, &[long]);
    assert_eq!(
        town.s.field(Household, h, "address").map(|f| f.0),
        Some(json!(text))
    );
    let (pulled, _) = town.s.pull_all(&town.bilal, 0);
    assert!(pulled.iter().any(|c| c.value == json!(text)));
}

const HOUR_MS: i64 = 60 * 60 * 1000;
const TEN_YEARS_MS: u64 = 10 * 365 * 24 * 60 * 60 * 1000;

/// The demo municipality in small: teams noord and zuid, one device per person.
struct Town {
    s: TestServer,
    anna: Device,
    bilal: Device,
    carmen: Device,
    emre: Device,
    daan: Device,
}

impl Town {
    fn new(backend: Backend) -> Town {
        let s = TestServer::start(backend);
        let anna = s.user("anna", Role::Worker, Some("noord"));
        let bilal = s.user("bilal", Role::Worker, Some("noord"));
        let carmen = s.user("carmen", Role::TeamLead, Some("noord"));
        let emre = s.user("emre", Role::Worker, Some("zuid"));
        let daan = s.user("daan", Role::Admin, None);
        Town {
            s,
            anna,
            bilal,
            carmen,
            emre,
            daan,
        }
    }

    /// Everything `device` can pull, applied to a fresh replica.
    fn replica(&self, device: &Device) -> Replica {
        let (changes, _) = self.s.pull_all(device, 0);
        let mut r = Replica::new();
        r.apply(&changes);
        r
    }
}

/// A new household of `device`'s team: address, postcode and city.
fn new_household(device: &Device, address: &str) -> (Uuid, Vec<Change>) {
    let h = Uuid::now_v7();
    let changes = vec![
        device.change(Household, h, "address", json!(address), None),
        device.change(Household, h, "postcode", json!("9711 AB"), None),
        device.change(Household, h, "city", json!("Noorderstad"), None),
    ];
    (h, changes)
}

/// A household with a visit and a note with `text`, made and pushed by `device`;
/// returns the note's id and the clock of its text.
fn household_with_note(s: &TestServer, device: &Device, text: &str) -> (Uuid, Hlc) {
    let (h, mut changes) = new_household(device, "Molenweg 3");
    let (v, n) = (Uuid::now_v7(), Uuid::now_v7());
    changes.extend([
        device.change(Visit, v, "household_id", json!(h), None),
        device.change(
            Visit,
            v,
            "template_id",
            json!("01930000-0000-7000-8000-000000000001"),
            None,
        ),
        device.change(Visit, v, "template_version", json!(1), None),
        device.change(Visit, v, "status", json!("draft"), None),
        device.change(Note, n, "visit_id", json!(v), None),
        device.change(Note, n, "text", json!(text), None),
    ]);
    let text_hlc = changes.last().expect("text change").hlc;
    s.push_ok(device, &changes);
    (n, text_hlc)
}

fn ids(changes: &[Change]) -> Vec<ChangeId> {
    changes.iter().map(|c| c.id).collect()
}

// ---------------------------------------------------------------- enrolment

fn enrolment(backend: Backend) {
    let s = TestServer::start(backend);
    s.add_user("anna", Role::Worker, Some("noord"));

    // A code gives a token and says who the device belongs to.
    let code = s.code("anna");
    let device = DeviceId::new();
    let reply = s.enrol_with(&code, device);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let enrolled: EnrolResponse = reply.parse();
    assert!(enrolled.token.len() >= 32, "a long random token");
    assert_eq!(enrolled.device_id, device);
    assert_eq!(enrolled.user.name, "anna");
    assert_eq!(enrolled.user.role, Role::Worker);
    assert_eq!(enrolled.user.team_name.as_deref(), Some("noord"));
    assert_eq!(enrolled.user.team_id, Some(s.team_id("noord")));
    let me = s.send(
        v1("GET", "/v1/me", Some(&enrolled.token))
            .body(Body::empty())
            .expect("request"),
    );
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    // How many changes a push may carry, for the device to size its batches.
    assert_eq!(
        me.headers
            .get(MAX_BATCH_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(MAX_BATCH.to_string().as_str())
    );
    // And how many batches one request may carry.
    assert_eq!(
        me.headers
            .get(PUSH_BATCHES_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(MAX_PUSH_BATCHES.to_string().as_str())
    );
    assert_eq!(me.parse::<UserInfo>(), enrolled.user);

    // The same code again, from another device or the same one: refused.
    s.enrol_with(&code, DeviceId::new())
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    s.enrol_with(&code, device)
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A code made 25 hours ago has expired.
    let old = s.code_at("anna", s.now_ms() - 25 * HOUR_MS);
    s.enrol_with(&old, DeviceId::new())
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // A code nobody made.
    s.enrol_with("ABCD-EFGH", DeviceId::new())
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // An unknown token.
    s.pull_reply("not-a-token", 0, None)
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    s.push_reply("not-a-token", &[])
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A lost tablet is revoked: its next sync fails with 401 `device_revoked` (the
    // tablet wipes itself on that code) and changes nothing.
    let tablet = s.enrol("anna");
    let (_, changes) = new_household(&tablet, "Lindenlaan 1");
    s.push_ok(&tablet, &changes[..1]);
    s.revoke(&tablet);
    let before = s.snapshot();
    s.push_reply(&tablet.token, &changes[1..])
        .assert_error(StatusCode::UNAUTHORIZED, "device_revoked");
    s.pull_reply(&tablet.token, 0, None)
        .assert_error(StatusCode::UNAUTHORIZED, "device_revoked");
    assert_eq!(s.snapshot(), before, "a revoked device changes nothing");
    // Anna's first tablet is not affected.
    assert_eq!(
        s.pull_reply(&enrolled.token, 0, None).status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- push and pull

fn push_pull_round_trip(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let template = s.publish_sample_template();
    let anna = &town.anna;
    let noord = s.team_id("noord");

    let (h, r, v, n) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let changes = vec![
        anna.change(Household, h, "address", json!("Lindenlaan 12"), None),
        anna.change(Household, h, "postcode", json!("9711 AB"), None),
        anna.change(Household, h, "team_id", json!(noord.to_string()), None),
        anna.change(Resident, r, "household_id", json!(h), None),
        anna.change(Resident, r, "name", json!("Fatima Jansen"), None),
        anna.change(Resident, r, "birth_year", json!(1961), None),
        anna.change(Visit, v, "household_id", json!(h), None),
        anna.change(Visit, v, "template_id", json!(template.id), None),
        anna.change(Visit, v, "template_version", json!(template.version), None),
        anna.change(Visit, v, "status", json!("draft"), None),
        anna.change(Visit, v, "answer.geld.post_ongeopend", json!(true), None),
        anna.change(Note, n, "visit_id", json!(v), None),
        anna.change(Note, n, "text", json!("Stapel post bij de deur."), None),
    ];
    let pushed = s.push_ok(anna, &changes);
    assert_eq!(pushed.conflicts, 0);
    assert_eq!(
        pushed.accepted.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids(&changes),
        "accepted in the order pushed"
    );
    for (a, c) in pushed.accepted.iter().zip(&changes) {
        assert_eq!(a.hlc, None, "a clock within bounds is kept");
        assert_eq!(a.stored(c.hlc), c.hlc);
    }

    // Bilal, same team, another device: the template, then everything Anna did, in
    // her order, with her as the author.
    let first = s.pull(&town.bilal, 0, None);
    assert!(!first.more);
    assert!(first.cursor > 0);
    let (templates, theirs): (Vec<_>, Vec<_>) =
        first.changes.iter().partition(|c| c.entity == Template);
    assert_eq!(templates.len(), 1, "the published template");
    assert_eq!(templates[0].record, template.record_id());
    assert_eq!(theirs.len(), changes.len());
    for (got, sent) in theirs.iter().zip(&changes) {
        assert_eq!(got.id, sent.id);
        assert_eq!(
            (got.entity, got.record, &got.field, &got.value, got.hlc, got.device),
            (
                sent.entity,
                sent.record,
                &sent.field,
                &sent.value,
                sent.hlc,
                sent.device
            )
        );
        assert_eq!(got.author, Some(anna.user.id), "the server sets the author");
    }
    // Nothing new: nothing served, the cursor stays.
    let again = s.pull(&town.bilal, first.cursor, None);
    assert!(again.changes.is_empty());
    assert_eq!(again.cursor, first.cursor);
    assert!(!again.more);
    // Anna does not get her own changes back.
    let own = s.pull(anna, 0, None);
    assert!(own.changes.iter().all(|c| c.device != anna.id));

    // Emre (team zuid) gets the template and none of team noord's households.
    let (emre, _) = s.pull_all(&town.emre, 0);
    assert_eq!(emre.len(), 1, "only the template: {emre:?}");
    assert_eq!(emre[0].entity, Template);
    // The admin gets templates, no resident data.
    let (admin, _) = s.pull_all(&town.daan, 0);
    assert_eq!(admin.len(), 1, "only the template: {admin:?}");
    assert_eq!(admin[0].entity, Template);

    // In batches of 3: everything exactly once, `more` until the end.
    let mut cursor = 0;
    let mut batched = Vec::new();
    for round in 0.. {
        assert!(round < 100, "pulling in batches never ends");
        let page = s.pull(&town.carmen, cursor, Some(3));
        assert!(page.changes.len() <= 3);
        assert!(page.cursor > cursor || !page.more);
        cursor = page.cursor;
        batched.extend(page.changes.iter().map(|c| c.id));
        if !page.more {
            break;
        }
        assert_eq!(page.changes.len(), 3, "a page before the end is full");
    }
    assert_eq!(batched, ids(&first.changes), "every change once, in order");
    assert_eq!(cursor, first.cursor);
}

// ---------------------------------------------------------------- idempotency

fn idempotent_replay(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h, mut changes) = new_household(anna, "Kerkplein 4");
    let r = Uuid::now_v7();
    changes.push(anna.change(Resident, r, "household_id", json!(h), None));
    changes.push(anna.change(Resident, r, "name", json!("Kees Bakker"), None));

    let first = s.push_ok(anna, &changes);
    let rows = s.snapshot();
    // The answer was lost; the tablet sends the same batch again.
    let second = s.push_ok(anna, &changes);
    assert_eq!(second.accepted, first.accepted, "same ids, same clocks");
    assert_eq!(second.conflicts, 0);
    assert_eq!(s.snapshot(), rows, "nothing applied twice");

    // A replay mixed with a new change: the new one is applied, the old one not again.
    let extra = anna.change(Household, h, "neighbourhood", json!("Noord 1"), None);
    let mixed = s.push_ok(anna, &[changes[0].clone(), extra.clone()]);
    assert_eq!(mixed.accepted[0], first.accepted[0]);
    assert_eq!(s.logged(), rows[0] + 1);

    let (pulled, _) = s.pull_all(&town.bilal, 0);
    let mut expected = ids(&changes);
    expected.push(extra.id);
    assert_eq!(ids(&pulled), expected, "each change once, in order");
}

// ---------------------------------------------------------------- merge

fn field_merge_and_conflicts(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal, carmen) = (&town.anna, &town.bilal, &town.carmen);
    let anna2 = s.enrol("anna");
    let (h, created) = new_household(anna, "Lindenlaan 1");
    s.push_ok(anna, &created);
    s.pull_all(bilal, 0);
    s.pull_all(&anna2, 0);
    let base = |field: &str| {
        created
            .iter()
            .find(|c| c.field == field)
            .map(|c| c.hlc)
            .expect("created field")
    };

    // Different fields of the same household, concurrently: both win, no conflict.
    let a = anna.change(
        Household,
        h,
        "address",
        json!("Lindenlaan 1A"),
        Some(base("address")),
    );
    let b = bilal.change(Household, h, "city", json!("Groningen"), Some(base("city")));
    assert_eq!(s.push_ok(anna, &[a]).conflicts, 0);
    assert_eq!(s.push_ok(bilal, &[b]).conflicts, 0);
    let view = town.replica(carmen);
    assert_eq!(
        view.value(Household, h, "address"),
        Some(&json!("Lindenlaan 1A"))
    );
    assert_eq!(view.value(Household, h, "city"), Some(&json!("Groningen")));
    assert!(view.conflicts().is_empty());

    // The same field, different values, the same base: one conflict keeping both.
    let pc = base("postcode");
    let a = anna.change(Household, h, "postcode", json!("9711 AC"), Some(pc));
    let b = bilal.change(Household, h, "postcode", json!("9711 AD"), Some(pc));
    assert_eq!(s.push_ok(anna, std::slice::from_ref(&a)).conflicts, 0);
    assert_eq!(s.push_ok(bilal, std::slice::from_ref(&b)).conflicts, 1);
    let view = town.replica(carmen);
    let conflicts = view.conflicts();
    assert_eq!(conflicts.len(), 1, "exactly one conflict: {conflicts:?}");
    let conflict = &conflicts[0];
    assert_eq!(conflict.entity, Household);
    assert_eq!(conflict.record_id, h);
    assert_eq!(conflict.field, "postcode");
    assert_eq!(conflict.status, ConflictStatus::Open);
    let kept: HashSet<_> = conflict
        .values
        .iter()
        .map(|v| (v.value.clone(), v.device, v.change_id))
        .collect();
    assert_eq!(
        kept,
        HashSet::from([
            (a.value.clone(), anna.id, a.id),
            (b.value.clone(), bilal.id, b.id)
        ])
    );
    let winner = if a.hlc > b.hlc { &a } else { &b };
    assert_eq!(view.value(Household, h, "postcode"), Some(&winner.value));
    assert_eq!(
        s.field(Household, h, "postcode"),
        Some((winner.value.clone(), winner.hlc)),
        "the server shows the clock winner too"
    );

    // A third concurrent value joins the same conflict.
    let c = anna2.change(Household, h, "postcode", json!("9711 AE"), Some(pc));
    assert_eq!(s.push_ok(&anna2, std::slice::from_ref(&c)).conflicts, 1);
    let view = town.replica(carmen);
    let conflicts = view.conflicts();
    assert_eq!(conflicts.len(), 1, "still one conflict: {conflicts:?}");
    assert_eq!(conflicts[0].id, conflict.id);
    assert_eq!(conflicts[0].values.len(), 3);
    assert!(conflicts[0]
        .values
        .iter()
        .any(|v| v.change_id == c.id && v.device == anna2.id && v.value == c.value));
    let winner = [&a, &b, &c]
        .into_iter()
        .max_by_key(|x| x.hlc)
        .expect("three");
    assert_eq!(view.value(Household, h, "postcode"), Some(&winner.value));

    // Carmen resolves it: she keeps Bilal's value, having seen the winner.
    let conflict_id = conflict.id.0;
    let resolve = [
        carmen.change(
            Conflict,
            conflict_id,
            "status",
            json!("resolved"),
            view.hlc(Conflict, conflict_id, "status"),
        ),
        carmen.change(
            Household,
            h,
            "postcode",
            json!("9711 AD"),
            view.hlc(Household, h, "postcode"),
        ),
    ];
    let resolved = s.push_ok(carmen, &resolve);
    assert_eq!(resolved.conflicts, 0, "resolving opens no new conflict");
    assert_eq!(s.count("open_conflicts"), 0);
    let view = town.replica(&town.bilal);
    let conflicts = view.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].status, ConflictStatus::Resolved);
    assert_eq!(
        view.value(Household, h, "postcode"),
        Some(&json!("9711 AD"))
    );
}

fn note_line_merge(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal) = (&town.anna, &town.bilal);
    let text = "regel een\nregel twee\nregel drie";

    // Edits on different lines merge.
    let (n, base) = household_with_note(s, anna, text);
    s.pull_all(bilal, 0);
    let a = anna.change(
        Note,
        n,
        "text",
        json!("regel EEN\nregel twee\nregel drie"),
        Some(base),
    );
    let b = bilal.change(
        Note,
        n,
        "text",
        json!("regel een\nregel twee\nregel DRIE"),
        Some(base),
    );
    assert_eq!(s.push_ok(anna, &[a]).conflicts, 0);
    assert_eq!(s.push_ok(bilal, &[b]).conflicts, 0);
    let view = town.replica(&town.carmen);
    assert_eq!(
        view.value(Note, n, "text"),
        Some(&json!("regel EEN\nregel twee\nregel DRIE")),
        "both edits kept"
    );
    assert!(view.conflicts().is_empty());
    assert_eq!(
        s.field(Note, n, "text").map(|f| f.0),
        Some(json!("regel EEN\nregel twee\nregel DRIE"))
    );
    // Anna and Bilal receive the merged text too.
    let anna_view = town.replica(anna);
    assert_eq!(
        anna_view.value(Note, n, "text"),
        Some(&json!("regel EEN\nregel twee\nregel DRIE"))
    );

    // Edits of the same line conflict.
    let (n2, base) = household_with_note(s, anna, text);
    s.pull_all(bilal, 0);
    let a = anna.change(
        Note,
        n2,
        "text",
        json!("regel Een!\nregel twee\nregel drie"),
        Some(base),
    );
    let b = bilal.change(
        Note,
        n2,
        "text",
        json!("regel één\nregel twee\nregel drie"),
        Some(base),
    );
    s.push_ok(anna, &[a]);
    assert_eq!(s.push_ok(bilal, &[b]).conflicts, 1);
    let conflicts = town.replica(&town.carmen).conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (
            conflicts[0].entity,
            conflicts[0].record_id,
            &*conflicts[0].field
        ),
        (Note, n2, "text")
    );
    assert_eq!(conflicts[0].values.len(), 2);
}

// ---------------------------------------------------------------- delete vs edit

fn delete_vs_edit(backend: Backend, delete_first: bool) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal) = (&town.anna, &town.bilal);
    let (n, created) = household_with_note(s, anna, "Afspraak met de buurtcoach.");
    s.pull_all(bilal, 0);

    let delete = anna.change(Note, n, "deleted", json!(true), Some(created));
    let edit = bilal.change(
        Note,
        n,
        "text",
        json!("Afspraak met de buurtcoach op dinsdag."),
        Some(created),
    );
    let (first, second) = if delete_first {
        ((anna, &delete), (bilal, &edit))
    } else {
        ((bilal, &edit), (anna, &delete))
    };
    assert_eq!(
        s.push_ok(first.0, std::slice::from_ref(first.1)).conflicts,
        0
    );
    assert_eq!(
        s.push_ok(second.0, std::slice::from_ref(second.1))
            .conflicts,
        1,
        "a delete concurrent with an edit is a conflict"
    );

    let conflicts = town.replica(&town.carmen).conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!((c.entity, c.record_id, &*c.field), (Note, n, "deleted"));
    assert_eq!(c.status, ConflictStatus::Open);
    let kept: HashSet<_> = c
        .values
        .iter()
        .map(|v| (v.value.clone(), v.device))
        .collect();
    assert_eq!(
        kept,
        HashSet::from([(json!(true), anna.id), (json!(false), bilal.id)])
    );
}

fn delete_then_concurrent_edit(backend: Backend) {
    delete_vs_edit(backend, true);
}

fn edit_then_concurrent_delete(backend: Backend) {
    delete_vs_edit(backend, false);
}

/// Two devices edit a note's text without seeing a delete or each other; the later
/// edit arrives first. The server's current value must be the clock winner (what
/// every device shows), and the losing text must be kept in a conflict.
fn edits_concurrent_with_a_delete_keep_the_clock_winner(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal, carmen) = (&town.anna, &town.bilal, &town.carmen);
    let (n, created) = household_with_note(s, anna, "Eerste versie.");
    s.pull_all(bilal, 0);
    s.pull_all(carmen, 0);
    s.push_ok(
        anna,
        &[anna.change(Note, n, "deleted", json!(true), Some(created))],
    );

    // Carmen's edit is made first (lower clock) but arrives last.
    let early = carmen.change(Note, n, "text", json!("Versie van Carmen."), Some(created));
    std::thread::sleep(Duration::from_millis(5));
    let late = bilal.change(Note, n, "text", json!("Versie van Bilal."), Some(created));
    assert!(late.hlc > early.hlc);
    s.push_ok(bilal, std::slice::from_ref(&late));
    s.push_ok(carmen, std::slice::from_ref(&early));

    let view = town.replica(&town.anna);
    assert_eq!(
        view.value(Note, n, "text"),
        Some(&late.value),
        "devices show the clock winner"
    );
    assert_eq!(
        s.field(Note, n, "text"),
        Some((late.value.clone(), late.hlc)),
        "the server's current text must be the clock winner that every device shows \
         (convergence), not the last change to arrive"
    );
    let kept: Vec<_> = view
        .conflicts()
        .iter()
        .flat_map(|c| c.values.iter().map(|v| v.value.clone()))
        .collect();
    assert!(
        kept.contains(&early.value),
        "the losing concurrent text must be kept in a conflict, not lost: {kept:?}"
    );
}

// ---------------------------------------------------------------- clocks

/// A device that asks for the short answer to a push gets only what differs from "all
/// accepted as sent": the re-stamped and the refused changes. Read against what it
/// sent, that is the answer the same push gets in full.
fn short_push_answer(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h, mut batch) = new_household(anna, "Kortelaan 1");
    let mut ahead = anna.change(Household, h, "postcode", json!("1234 AB"), None);
    ahead.hlc.wall_ms += TEN_YEARS_MS;
    let bad = anna.change(Household, h, "wachtwoord", json!("geheim"), None);
    batch.extend([ahead.clone(), bad.clone()]);
    let reply = s.send(json_body(
        v1("POST", "/v1/push", Some(&anna.token)).header(ANSWER_HEADER, SHORT_ANSWER),
        &serde_json::to_value(PushRequest {
            changes: batch.clone(),
        })
        .expect("a push body"),
    ));
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply
            .headers
            .get(ANSWER_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(SHORT_ANSWER)
    );
    let short: ShortPushResponse = reply.parse();
    assert_eq!(
        short.restamped.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![ahead.id]
    );
    assert_eq!(
        short.rejected.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![bad.id]
    );
    let full = short.into_full(&ids(&batch));
    assert_eq!(full.accepted.len(), batch.len() - 1);
    // The same push again, answered in full: the same answer.
    let again = s.push(anna, &batch);
    assert_eq!(again.accepted, full.accepted);
    assert_eq!(again.rejected, full.rejected);
}

/// `POST /v1/push/batches` with `body`, as newline-delimited JSON.
fn push_batches_reply(
    s: &TestServer,
    device: &Device,
    body: Vec<u8>,
) -> voordeur_tests::server::Reply {
    s.send(
        v1("POST", "/v1/push/batches", Some(&device.token))
            .header("content-type", NDJSON)
            .body(Body::from(body))
            .expect("request"),
    )
}

fn batches_body(batches: &[&[Change]]) -> Vec<u8> {
    let batches: Vec<PushRequest> = batches
        .iter()
        .map(|b| PushRequest {
            changes: b.to_vec(),
        })
        .collect();
    push_batches_body(&batches).expect("a body of batches")
}

fn push_batches_in_one_request(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h1, first) = new_household(anna, "Kortelaan 1");
    let mut ahead = anna.change(Household, h1, "postcode", json!("1234 AB"), None);
    ahead.hlc.wall_ms += TEN_YEARS_MS;
    let bad = anna.change(Household, h1, "wachtwoord", json!("geheim"), None);
    let second = vec![ahead.clone(), bad.clone()];
    let (h2, third) = new_household(anna, "Kortelaan 2");
    let logged = s.logged();

    // Three batches in one request: each answered as if pushed alone, in order.
    let body = batches_body(&[&first, &second, &third]);
    let reply = push_batches_reply(s, anna, body.clone());
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer: PushBatchesResponse = reply.parse();
    assert_eq!(answer.answers.len(), 3);
    assert!(answer.answers[0].restamped.is_empty() && answer.answers[0].rejected.is_empty());
    assert_eq!(
        answer.answers[1]
            .restamped
            .iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        vec![ahead.id],
        "the clock far ahead is re-stamped"
    );
    assert_eq!(
        answer.answers[1]
            .rejected
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![bad.id],
        "the unknown field is refused, with the rest applied"
    );
    assert_eq!(answer.answers[2], answer.answers[0]);
    assert_eq!(s.logged(), logged + 7, "every accepted change logged once");
    let bilal = town.replica(&town.bilal);
    assert_eq!(
        bilal.value(Household, h2, "address"),
        Some(&json!("Kortelaan 2"))
    );
    assert_eq!(
        bilal.value(Household, h1, "postcode"),
        Some(&json!("1234 AB"))
    );
    // The log holds each change as it was sent (the server keeps the text of what it
    // takes unaltered), and the re-stamped one with the clock the server gave it.
    let restamped = answer.answers[1].restamped[0].stored(ahead.hlc);
    assert_ne!(restamped, ahead.hlc);
    let overwritten = |c: &&Change| c.record == h1 && c.field == "postcode";
    for c in first
        .iter()
        .filter(|c| !overwritten(c))
        .chain(&third)
        .chain([&ahead])
    {
        let mut expected = c.clone();
        expected.author = Some(anna.user.id);
        if c.id == ahead.id {
            expected.hlc = restamped;
        }
        let pulled = bilal.get(c.entity, c.record, &c.field);
        assert_eq!(pulled, Some(&expected), "{}", c.field);
    }

    // The same request again: the same answers, nothing logged twice.
    let again = push_batches_reply(s, anna, body.clone());
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.parse::<PushBatchesResponse>(), answer);
    assert_eq!(s.logged(), logged + 7);

    // An unreadable second batch: the first stays applied, the answer says why.
    let (_, fourth) = new_household(anna, "Kortelaan 4");
    let mut broken = batches_body(&[&fourth]);
    broken.extend_from_slice(b"{\"blocks\": 5}\n");
    push_batches_reply(s, anna, broken)
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_request");
    assert_eq!(s.logged(), logged + 10, "the batch before it is applied");

    // Refused before anything is applied: an unknown field in the first batch, text
    // that is not JSON, another content type.
    let (_, fifth) = new_household(anna, "Kortelaan 5");
    let mut unknown: Value = serde_json::from_slice(&batches_body(&[&fifth])).expect("a batch");
    unknown["extra"] = json!(1);
    push_batches_reply(s, anna, format!("{unknown}\n").into_bytes())
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_request");
    push_batches_reply(s, anna, b"{\"blocks\": [{".to_vec())
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let as_json = s.send(
        v1("POST", "/v1/push/batches", Some(&anna.token))
            .header("content-type", "application/json")
            .body(Body::from(batches_body(&[&fifth])))
            .expect("request"),
    );
    as_json.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request");
    assert_eq!(s.logged(), logged + 10, "nothing applied");

    // A body that grows over the limit as it arrives (in pieces, as over a network):
    // 413, and the batch that came before stays applied, as a separate push would.
    let mut pieces = vec![batches_body(&[&fifth])];
    let padding = vec![b' '; 1024 * 1024];
    while pieces.iter().map(Vec::len).sum::<usize>() <= voordeur_server::api::MAX_BODY {
        pieces.push(padding.clone());
    }
    let stream = futures_util::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(p))),
    );
    let too_large = s.send(
        v1("POST", "/v1/push/batches", Some(&anna.token))
            .header("content-type", NDJSON)
            .body(Body::from_stream(stream))
            .expect("request"),
    );
    too_large.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(
        s.logged(),
        logged + 13,
        "the batch before the limit is applied"
    );

    // More batches than the server takes: those before the limit are applied.
    let households: Vec<Vec<Change>> = (0..=MAX_PUSH_BATCHES)
        .map(|i| new_household(anna, &format!("Beukenlaan {i}")).1)
        .collect();
    let batches: Vec<&[Change]> = households.iter().map(Vec::as_slice).collect();
    push_batches_reply(s, anna, batches_body(&batches))
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_request");
    assert_eq!(
        s.logged(),
        logged + 13 + 3 * MAX_PUSH_BATCHES as i64,
        "the first {MAX_PUSH_BATCHES} batches are applied, not the one after"
    );
    // Without a token: 401.
    let anonymous = s.send(
        v1("POST", "/v1/push/batches", None)
            .header("content-type", NDJSON)
            .body(Body::from(body))
            .expect("request"),
    );
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// The batches of one request carry what they read from one to the next
/// (`engine::push_carrying`): a change pushed again is still known, and anything
/// written between two batches by someone else is read, not the carried state.
fn batches_carry_on_only_while_nothing_was_written_between(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal) = (&town.anna, &town.bilal);
    let caller = |d: &Device| {
        s.state
            .db
            .tx(|t| auth::authenticate(t, &d.token))
            .expect("caller")
    };
    let anna_caller = caller(anna);
    let push = |changes: Vec<Change>, carry: Option<engine::Carry>| {
        s.state
            .db
            .tx(|t| {
                engine::push_carrying(
                    t,
                    &anna_caller,
                    engine::Pushed::new(changes),
                    &s.state.clock,
                    carry,
                )
            })
            .expect("push")
    };
    let (h, first) = new_household(anna, "Kortelaan 9");
    let (_, carry) = push(first.clone(), None);
    let logged = s.logged();
    // The stored state changed behind the counter's back (no push does that): a batch
    // that carries on does not read it again, so what it writes comes from what the
    // first batch left.
    s.query(
        "UPDATE records SET state = '{}' WHERE record_id = $1",
        &[h.to_string().into()],
    );
    // Nothing in between: a change of the first batch pushed again is known.
    let city = anna.change(Household, h, "city", json!("Zuiderstad"), None);
    let (again, carry) = push(vec![first[0].clone(), city], Some(carry));
    assert_eq!(again.accepted.len(), 2);
    assert_eq!(
        s.logged(),
        logged + 1,
        "the repeated change is not logged twice"
    );
    let address = s
        .state
        .db
        .tx(|t| engine::current_value(t, Household, h, "address"))
        .expect("address");
    assert_eq!(
        address.map(|f| f.value),
        Some(json!("Kortelaan 9")),
        "the second batch carried the first one's state"
    );

    // Bilal, who saw anna's postcode, changes it between two of her batches; her next
    // change of it did not see his: a conflict, whatever her batches carried.
    let base = Some(first[1].hlc);
    s.push_ok(
        bilal,
        &[bilal.change(Household, h, "postcode", json!("1111 AA"), base)],
    );
    let postcode = anna.change(Household, h, "postcode", json!("2222 BB"), None);
    let (answer, _) = push(vec![postcode], Some(carry));
    assert_eq!(
        answer.conflicts, 1,
        "bilal's change between the batches is seen"
    );
    let view = town.replica(&town.carmen);
    assert_eq!(view.open_conflicts().len(), 1);
}

fn clock_far_ahead(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal) = (&town.anna, &town.bilal);
    let h = Uuid::now_v7();
    let mut ahead = anna.change(Household, h, "address", json!("Toekomstlaan 1"), None);
    ahead.hlc.wall_ms += TEN_YEARS_MS;
    let pushed = s.push_ok(anna, std::slice::from_ref(&ahead));
    let stored = pushed.accepted[0].stored(ahead.hlc);
    let now = u64::try_from(s.now_ms()).expect("time after 1970");
    assert_ne!(stored, ahead.hlc, "re-stamped");
    assert!(
        stored.wall_ms.abs_diff(now) < 60_000,
        "re-stamped near the server's time: {stored} vs {now}"
    );
    // Replaying it answers with the same stamp.
    assert_eq!(
        s.push_ok(anna, std::slice::from_ref(&ahead)).accepted,
        pushed.accepted
    );

    // Bilal receives the re-stamped change and edits after seeing it: his edit wins.
    let (pulled, _) = s.pull_all(bilal, 0);
    let got = pulled.iter().find(|c| c.id == ahead.id).expect("pulled");
    assert_eq!(got.hlc, stored);
    let edit = bilal.change(Household, h, "address", json!("Hedenweg 2"), Some(stored));
    let r = s.push_ok(bilal, std::slice::from_ref(&edit));
    assert_eq!(r.conflicts, 0);
    assert_eq!(r.accepted[0].hlc, None, "kept as sent");
    let view = town.replica(&town.carmen);
    assert_eq!(
        view.value(Household, h, "address"),
        Some(&json!("Hedenweg 2"))
    );
    assert_eq!(
        s.field(Household, h, "address").map(|f| f.0),
        Some(json!("Hedenweg 2"))
    );
}

// ---------------------------------------------------------------- bad input

fn bad_input_changes_nothing(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let zuid_household = s.import_households("zuid", 1)[0];
    let (h, created) = new_household(anna, "Schoolstraat 8");
    s.push_ok(anna, &created);
    let raw = |body: Vec<u8>| {
        s.send(
            v1("POST", "/v1/push", Some(&anna.token))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
    };

    let before = s.snapshot();
    // Malformed JSON.
    raw(b"{\"blocks\": [".to_vec()).assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // A body over the limit.
    let mut big = b"{\"blocks\": [], \"pad\": \"".to_vec();
    big.resize(17 * 1024 * 1024, b'x');
    big.extend_from_slice(b"\"}");
    raw(big).assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // An unknown top-level field.
    let reply = raw(br#"{"blocks": [], "force": true}"#.to_vec());
    assert!(reply.status.is_client_error(), "{reply:?}");
    assert!(reply.json()["error"].is_string());
    assert_eq!(s.snapshot(), before);

    // One bad change in a batch: that change is refused, the rest applied.
    let good1 = anna.change(Household, h, "neighbourhood", json!("Noord 2"), None);
    let bad = anna.change(Household, h, "wachtwoord", json!("geheim"), None);
    let good2 = anna.change(Household, h, "closed", json!(false), None);
    let r = s.push(anna, &[good1.clone(), bad.clone(), good2.clone()]);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].id, bad.id);
    assert!(
        r.rejected[0].reason.contains("wachtwoord"),
        "{}",
        r.rejected[0].reason
    );
    assert_eq!(
        r.accepted.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![good1.id, good2.id]
    );
    assert_eq!(s.logged(), before[0] + 2);

    // Each of these is refused with a reason, and changes nothing.
    let stranger = DeviceId::new();
    let mut foreign = anna.change(Household, h, "address", json!("Schoolstraat 9"), None);
    foreign.device = town.bilal.id;
    foreign.hlc.device = town.bilal.id;
    let mut unknown_device = anna.change(Household, h, "address", json!("X 1"), None);
    unknown_device.device = stranger;
    let refused: Vec<(&str, Change)> = vec![
        (
            "a value of the wrong type",
            anna.change(Household, h, "address", json!(12), None),
        ),
        (
            "a date that is no date",
            anna.change(FollowUp, Uuid::now_v7(), "due", json!("2026-13-01"), None),
        ),
        (
            "a visit of a household that does not exist",
            anna.change(
                Visit,
                Uuid::now_v7(),
                "household_id",
                json!(Uuid::now_v7()),
                None,
            ),
        ),
        (
            "a change to a household of team zuid",
            anna.change(
                Household,
                zuid_household,
                "address",
                json!("Havenkade 1"),
                None,
            ),
        ),
        (
            "a visit in a household of team zuid",
            anna.change(
                Visit,
                Uuid::now_v7(),
                "household_id",
                json!(zuid_household),
                None,
            ),
        ),
        ("a change made by another device", foreign),
        ("a change of a device that does not exist", unknown_device),
        (
            "a template from a worker",
            anna.change(Template, Uuid::now_v7(), "body", json!({}), None),
        ),
    ];
    for (what, change) in refused {
        let before = s.snapshot();
        let r = s.push(anna, std::slice::from_ref(&change));
        assert!(r.accepted.is_empty(), "{what}: accepted");
        assert_eq!(r.rejected.len(), 1, "{what}");
        assert_eq!(r.rejected[0].id, change.id, "{what}");
        assert!(!r.rejected[0].reason.is_empty(), "{what}: a reason");
        assert_eq!(s.snapshot(), before, "{what}: nothing changed");
    }

    // An admin does not write resident data.
    let before = s.snapshot();
    let r = s.push(
        &town.daan,
        &[town.daan.change(
            Household,
            Uuid::now_v7(),
            "address",
            json!("Beukenhof 1"),
            None,
        )],
    );
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(s.snapshot(), before);

    // An outdated app: 426 "update required", never a half-applied sync.
    let change = anna.change(Household, h, "address", json!("Schoolstraat 10"), None);
    let body = serde_json::to_string(&PushRequest {
        changes: vec![change],
    })
    .expect("a push body");
    // No version, the version before the grouped wire format, and nonsense.
    for version in [None, Some("1"), Some("x")] {
        let mut b = axum::http::Request::builder()
            .method("POST")
            .uri("/v1/push")
            .header("authorization", format!("Bearer {}", anna.token))
            .header("content-type", "application/json");
        if let Some(v) = version {
            b = b.header("voordeur-protocol", v);
        }
        let reply = s.send(b.body(Body::from(body.clone())).expect("request"));
        reply.assert_error(StatusCode::UPGRADE_REQUIRED, "update_required");
    }
    assert_eq!(s.snapshot(), before);

    // A cursor that is not a number.
    s.send(
        v1("GET", "/v1/pull?since=abc", Some(&anna.token))
            .body(Body::empty())
            .expect("request"),
    )
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // An unknown endpoint.
    s.send(
        v1("GET", "/v1/households", Some(&anna.token))
            .body(Body::empty())
            .expect("request"),
    )
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // A used enrolment code.
    let code = s.code("bilal");
    assert_eq!(s.enrol_with(&code, DeviceId::new()).status, StatusCode::OK);
    s.enrol_with(&code, DeviceId::new())
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(s.snapshot(), before);
}

/// A change refused while creating a record must not leave the record registered:
/// "bad input changes nothing".
fn a_refused_new_record_leaves_no_trace(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let zuid = s.team_id("zuid");
    let h = Uuid::now_v7();
    let before = s.snapshot();
    let r = s.push(
        anna,
        &[anna.change(Household, h, "team_id", json!(zuid.to_string()), None)],
    );
    assert_eq!(
        r.rejected.len(),
        1,
        "a device cannot put a household in team zuid"
    );
    assert_eq!(
        s.snapshot(),
        before,
        "[log, fields, records] rows: the refused household must not be registered"
    );
}

// ---------------------------------------------------------------- gzip

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out).expect("gunzip");
    out
}

/// A content coding and the function that applies it (or reads it back).
type Coding<'a> = (&'a str, fn(&[u8]) -> Vec<u8>);

/// Anna pushes a new household with its body in `coding` (`encode`); Bilal pulls it,
/// accepting `accept`, and it comes in `answered` (read back with `decode`).
fn compressed_round_trip(
    town: &Town,
    (coding, encode): Coding<'_>,
    accept: &str,
    (answered, decode): Coding<'_>,
) {
    let s = &town.s;
    let anna = &town.anna;
    let (_, changes) = new_household(anna, "Populierenlaan 7");
    let body = encode(
        serde_json::to_string(&PushRequest {
            changes: changes.clone(),
        })
        .expect("a push body")
        .as_bytes(),
    );
    let reply = s.send(
        v1("POST", "/v1/push", Some(&anna.token))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(Body::from(body))
            .expect("request"),
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let pushed: PushResponse = reply.parse();
    assert_eq!(pushed.accepted.len(), changes.len());

    let reply = s.send(
        v1("GET", "/v1/pull?since=0", Some(&town.bilal.token))
            .header("accept-encoding", accept)
            .body(Body::empty())
            .expect("request"),
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply
            .headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some(answered)
    );
    let pulled: PullResponse = serde_json::from_slice(&decode(&reply.body)).expect("pull response");
    assert_eq!(ids(&pulled.changes), ids(&changes));
}

fn gzip(backend: Backend) {
    let town = Town::new(backend);
    compressed_round_trip(&town, ("gzip", gzip_bytes), "gzip", ("gzip", gunzip));
}

/// The body limit holds after decompression: 17 MiB in a small body in `coding` is
/// refused by both push routes with 413, and nothing changes.
fn bomb_is_refused(town: &Town, (coding, encode): Coding<'_>) {
    let s = &town.s;
    let mut json = b"{\"changes\": [], \"pad\": \"".to_vec();
    json.resize(17 * 1024 * 1024, b'x');
    json.extend_from_slice(b"\"}");
    let body = encode(&json);
    assert!(body.len() < 1024 * 1024);
    let before = s.snapshot();
    for (path, kind) in [
        ("/v1/push", "application/json"),
        ("/v1/push/batches", NDJSON),
    ] {
        let reply = s.send(
            v1("POST", path, Some(&town.anna.token))
                .header("content-type", kind)
                .header("content-encoding", coding)
                .body(Body::from(body.clone()))
                .expect("request"),
        );
        reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    }
    assert_eq!(s.snapshot(), before);
}

fn gzip_bomb_is_refused(backend: Backend) {
    bomb_is_refused(&Town::new(backend), ("gzip", gzip_bytes));
}

// ---------------------------------------------------------------- zstd

fn zstd_bytes(data: &[u8]) -> Vec<u8> {
    ::zstd::stream::encode_all(data, 1).expect("zstd")
}

/// What devices of this version do: `/v1/me` names zstd among the codings the server
/// takes, a zstd push is taken, and a pull asked for as devices ask (`gzip, zstd`)
/// comes in zstd. One that asks for gzip only gets gzip (see `gzip`).
fn zstd(backend: Backend) {
    let town = Town::new(backend);
    let reply = town.s.send(
        v1("GET", "/v1/me", Some(&town.anna.token))
            .body(Body::empty())
            .expect("request"),
    );
    assert_eq!(reply.status, StatusCode::OK);
    let named = reply
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok());
    assert_eq!(named, Some(REQUEST_ENCODINGS));
    let unzstd = |data: &[u8]| ::zstd::stream::decode_all(data).expect("a zstd body");
    compressed_round_trip(&town, ("zstd", zstd_bytes), "gzip, zstd", ("zstd", unzstd));
}

/// A zstd bomb is refused like a gzip one; and only the push routes, behind the
/// device's token, decode zstd.
fn zstd_bomb_is_refused(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    bomb_is_refused(&town, ("zstd", zstd_bytes));
    let before = s.snapshot();
    // Only the push routes, behind the device's token, decode zstd: elsewhere a zstd
    // body is not JSON.
    let reply = s.send(
        v1("POST", "/v1/enrol", None)
            .header("content-type", "application/json")
            .header("content-encoding", "zstd")
            .body(Body::from(zstd_bytes(
                // Read, this would be an unknown code: 401.
                json!({"code": "ABCD-1234", "device_id": Uuid::now_v7()})
                    .to_string()
                    .as_bytes(),
            )))
            .expect("request"),
    );
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(s.snapshot(), before);
}

// ---------------------------------------------------------------- operator endpoints

fn openapi_and_health(backend: Backend) {
    let s = TestServer::start(backend);
    let get = |path: &str| {
        s.send(
            axum::http::Request::builder()
                .uri(path)
                .body(Body::empty())
                .expect("request"),
        )
    };
    let spec = get("/v1/openapi.json");
    assert_eq!(spec.status, StatusCode::OK);
    let spec = spec.json();
    assert!(spec["paths"]["/v1/push"].is_object(), "{}", spec["paths"]);
    assert!(spec["paths"]["/v1/pull"].is_object(), "{}", spec["paths"]);
    assert!(
        spec["paths"]["/v1/push/batches"]["post"]["requestBody"]["content"][NDJSON].is_object(),
        "{}",
        spec["paths"]
    );
    let health = get("/health");
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], json!("ok"));
}

// ---------------------------------------------------------------- concurrency

/// Eight tablets enter the same code at the same moment, through two server
/// processes: exactly one is enrolled.
fn one_code_enrols_one_device_under_concurrency(backend: Backend) {
    let one = TestServer::start(backend);
    let two = one.another_process();
    one.add_user("anna", Role::Worker, Some("noord"));
    for round in 0..10 {
        let code = one.code("anna");
        let barrier = Barrier::new(8);
        let ok = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (server, code, barrier) =
                        (if i % 2 == 0 { &one } else { &two }, &code, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        server.enrol_with(code, DeviceId::new()).status
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("enrol thread"))
                .filter(|s| *s == StatusCode::OK)
                .count()
        });
        assert_eq!(ok, 1, "round {round}: {ok} devices enrolled with one code");
    }
}

fn concurrent_writers_and_pullers(backend: Backend) {
    let one = TestServer::start(backend);
    let two = one.another_process();
    writers_and_pullers_through(&one, &two);
}

/// Pushers and pullers through two servers on one database at once: a change that
/// commits late with a lower sequence number is never skipped by a puller whose cursor
/// has passed it; every puller gets every change exactly once.
fn writers_and_pullers_through(one: &TestServer, two: &TestServer) {
    const PUSHERS: usize = 4;
    const BATCHES: usize = 3;
    const BATCH: usize = 50;
    const PULLERS: usize = 2;
    let servers = [one, two];
    one.add_user("anna", Role::Worker, Some("noord"));
    one.add_user("bilal", Role::Worker, Some("noord"));
    let pushers: Vec<Device> = (0..PUSHERS).map(|_| one.enrol("anna")).collect();
    let pullers: Vec<Device> = (0..PULLERS).map(|_| two.enrol("bilal")).collect();
    let done = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(120);

    let (pushed, received) = std::thread::scope(|scope| {
        let push_threads: Vec<_> = pushers
            .iter()
            .enumerate()
            .map(|(i, device)| {
                scope.spawn(move || {
                    let mut ids = Vec::new();
                    for b in 0..BATCHES {
                        let changes: Vec<Change> = (0..BATCH)
                            .map(|k| {
                                device.change(
                                    Household,
                                    Uuid::now_v7(),
                                    "address",
                                    json!(format!("Straat {i}-{b}-{k}")),
                                    None,
                                )
                            })
                            .collect();
                        let server = servers[(i + b) % 2];
                        let r = server.push_ok(device, &changes);
                        ids.extend(r.accepted.iter().map(|a| a.id));
                    }
                    ids
                })
            })
            .collect();
        let pull_threads: Vec<_> = pullers
            .iter()
            .enumerate()
            .map(|(i, device)| {
                let done = &done;
                scope.spawn(move || {
                    let mut cursor = 0;
                    let mut got: Vec<ChangeId> = Vec::new();
                    let mut round = 0usize;
                    let pull = |round: usize, cursor: &mut u64, got: &mut Vec<ChangeId>| {
                        let r = servers[(i + round) % 2].pull(device, *cursor, Some(37));
                        assert!(r.cursor >= *cursor);
                        *cursor = r.cursor;
                        got.extend(r.changes.iter().map(|c| c.id));
                        r.more
                    };
                    while !done.load(Ordering::SeqCst) {
                        assert!(Instant::now() < deadline, "pushes did not finish in time");
                        pull(round, &mut cursor, &mut got);
                        round += 1;
                    }
                    let during = got.len();
                    // Everything is committed now: one last pull to the end.
                    for _ in 0..1_000 {
                        round += 1;
                        if !pull(round, &mut cursor, &mut got) {
                            break;
                        }
                    }
                    (got, during)
                })
            })
            .collect();
        let pushed: Vec<ChangeId> = push_threads
            .into_iter()
            .flat_map(|h| h.join().expect("pusher"))
            .collect();
        done.store(true, Ordering::SeqCst);
        let received: Vec<(Vec<ChangeId>, usize)> = pull_threads
            .into_iter()
            .map(|h| h.join().expect("puller"))
            .collect();
        (pushed, received)
    });

    assert_eq!(pushed.len(), PUSHERS * BATCHES * BATCH);
    let expected: HashSet<ChangeId> = pushed.iter().copied().collect();
    assert!(
        received
            .iter()
            .any(|(_, during)| *during > 0 && *during < expected.len()),
        "the pullers pulled while the pushes ran: {:?}",
        received.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    for (i, (got, _)) in received.iter().enumerate() {
        let mut counts: HashMap<ChangeId, usize> = HashMap::new();
        for id in got {
            *counts.entry(*id).or_default() += 1;
        }
        let twice = counts.values().filter(|n| **n > 1).count();
        let missing = expected
            .iter()
            .filter(|id| !counts.contains_key(id))
            .count();
        let extra = counts.keys().filter(|id| !expected.contains(id)).count();
        assert_eq!(
            (missing, twice, extra),
            (0, 0, 0),
            "puller {i}: (missing, received twice, unexpected) of {} pushed",
            expected.len()
        );
    }
}

/// Two operators publish different content as the same template version at the same
/// moment, through two server processes: one wins, the other is told to publish a new
/// version. Published versions are immutable.
fn one_template_version_under_concurrency(backend: Backend) {
    let one = TestServer::start(backend);
    let two = one.another_process();
    let sample: Value =
        serde_json::from_str(voordeur_server::demo::SAMPLE_TEMPLATE).expect("sample template");
    for version in 2..12 {
        let barrier = Barrier::new(2);
        let results: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&one, &two]
                .into_iter()
                .enumerate()
                .map(|(i, server)| {
                    let mut t = sample.clone();
                    t["version"] = json!(version);
                    t["name"]["nl"] = json!(format!("Huisbezoek variant {i}"));
                    let (barrier, text) = (&barrier, t.to_string());
                    scope.spawn(move || {
                        barrier.wait();
                        voordeur_server::demo::publish_template(
                            &server.state.db,
                            &server.state.clock,
                            &text,
                        )
                        .is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("publisher"))
                .collect()
        });
        assert_eq!(
            results.iter().filter(|ok| **ok).count(),
            1,
            "version {version}: both publishes succeeded, so one content overwrote the other"
        );
    }
}

/// A device name with a NUL character (PostgreSQL text cannot hold one) is bad input:
/// a 4xx or stored without it, never a 500.
fn a_nul_character_is_bad_input_not_a_server_error(backend: Backend) {
    let s = TestServer::start(backend);
    s.add_user("anna", Role::Worker, Some("noord"));
    let reply = s.send(json_body(
        v1("POST", "/v1/enrol", None),
        &json!({ "code": s.code("anna"), "device_id": DeviceId::new(), "device_name": "tab\u{0}let" }),
    ));
    assert!(
        reply.status.is_success() || reply.status.is_client_error(),
        "{}: {}",
        reply.status,
        reply.text()
    );
}

fn cut_connections_cost_no_request(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (_, changes) = new_household(&town.anna, "Sluisweg 5");
    s.push_ok(&town.anna, &changes[..1]);
    s.pull_all(&town.bilal, 0);
    // Cut every connection the server holds, as a database restart does.
    let mut admin = postgres::Client::connect(&s.url, postgres::NoTls).expect("connect");
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("terminate");
    assert!(!cut.is_empty(), "the server held connections");
    std::thread::sleep(Duration::from_millis(100));
    for change in &changes[1..] {
        let reply = s.push_reply(&town.anna.token, std::slice::from_ref(change));
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    let reply = s.pull_reply(&town.bilal.token, 0, None);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

// ---------------------------------------------------------------- scope changes

/// An admin moves a household with a visit, a note and a conflict from noord to zuid.
/// Emre's cursor is already past all of it: he still receives the whole current state
/// of every record under the household; noord's devices receive the household's new
/// team (their cue to erase it); from then on noord may not push to it and zuid may.
fn a_household_moves_to_another_team(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let (anna, bilal, emre) = (&town.anna, &town.bilal, &town.emre);
    let (note, _) = household_with_note(s, anna, "regel een");
    let visit_of_note = town.replica(bilal);
    let v = visit_of_note
        .value(Note, note, "visit_id")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<Uuid>().ok())
        .expect("the note's visit");
    let h = visit_of_note
        .value(Visit, v, "household_id")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<Uuid>().ok())
        .expect("the visit's household");
    // Households made on a device carry their team.
    let noord = s.team_id("noord").to_string();
    s.push_ok(
        anna,
        &[anna.change(Household, h, "team_id", json!(noord), None)],
    );
    // A conflict about the visit: the same answer, differently, unseen by each other.
    s.push_ok(
        anna,
        &[anna.change(Visit, v, "answer.wonen.staat_woning", json!(2), None)],
    );
    s.push_ok(
        bilal,
        &[bilal.change(Visit, v, "answer.wonen.staat_woning", json!(4), None)],
    );
    let (_, emre_cursor) = s.pull_all(emre, 0);
    let (_, anna_cursor) = s.pull_all(anna, 0);
    // Carmen, the team lead, has every value as the server holds it.
    let before = town.replica(&town.carmen);
    assert_eq!(before.open_conflicts().len(), 1);

    let zuid = s.team_id("zuid").to_string();
    let moved = s
        .state
        .db
        .tx(|t| voordeur_server::engine::move_household(t, &s.state.clock, h, &zuid))
        .expect("move");
    assert_eq!(
        moved.records, 4,
        "household, visit, note, conflict: {moved:?}"
    );

    // Emre, from his old cursor, receives every current field of every record, and
    // never the old team: a device that ended a pull batch on it would erase the
    // household it is receiving (batches of 3 here, so every boundary occurs).
    let mut got = Vec::new();
    let mut cursor = emre_cursor;
    for round in 0.. {
        assert!(round < 1_000, "pulling never ends");
        let page = s.pull(emre, cursor, Some(3));
        for c in &page.changes {
            if c.entity == Household && c.field == "team_id" {
                assert_eq!(c.value, json!(zuid), "zuid is told the old team");
            }
        }
        got.extend(page.changes);
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    let mut zuid_view = Replica::new();
    zuid_view.apply(&got);
    for ((entity, record, field), c) in before_fields(&before, h, v, note) {
        assert_eq!(
            zuid_view.value(entity, record, &field),
            Some(&c),
            "{entity} {record} {field} reached zuid"
        );
    }
    assert_eq!(
        zuid_view.open_conflicts().len(),
        1,
        "the open conflict moved along"
    );
    assert_eq!(zuid_view.value(Household, h, "team_id"), Some(&json!(zuid)));
    // Anna, from hers, receives the household's new team.
    let (told, _) = s.pull_all(anna, anna_cursor);
    assert!(told.iter().any(|c| c.entity == Household
        && c.record == h
        && c.field == "team_id"
        && c.value == json!(zuid)));
    assert!(
        told.iter().all(|c| c.record == h),
        "nothing else of the household"
    );

    // Noord may no longer write to it; zuid may.
    let refused = s.push_reply(
        &anna.token,
        &[anna.change(Visit, v, "answer.geld.achterstanden", json!(true), None)],
    );
    let refused: PushResponse = refused.parse();
    assert_eq!(refused.rejected.len(), 1, "{refused:?}");
    assert!(refused.rejected[0].reason.contains("outside your team"));
    let ok = s.push_ok(
        emre,
        &[emre.change(Visit, v, "answer.geld.achterstanden", json!(true), None)],
    );
    assert!(ok.rejected.is_empty());
    // Moving it to the team it is in changes nothing.
    let again = s
        .state
        .db
        .tx(|t| voordeur_server::engine::move_household(t, &s.state.clock, h, &zuid))
        .expect("move again");
    assert_eq!(again.records, 0);
}

/// The values of the household's, visit's and note's fields in a replica.
fn before_fields(
    r: &Replica,
    h: Uuid,
    v: Uuid,
    n: Uuid,
) -> Vec<((voordeur_core::EntityKind, Uuid, String), Value)> {
    let mut out = Vec::new();
    for (entity, record, fields) in [
        (Household, h, &["address", "postcode", "city"][..]),
        (
            Visit,
            v,
            &[
                "household_id",
                "template_id",
                "status",
                "answer.wonen.staat_woning",
            ][..],
        ),
        (Note, n, &["visit_id", "text"][..]),
    ] {
        for f in fields {
            let value = r
                .value(entity, record, f)
                .cloned()
                .unwrap_or_else(|| panic!("the replica has {entity} {f}"));
            out.push(((entity, record, f.to_string()), value));
        }
    }
    out
}

// ---------------------------------------------------------------- migration

/// A server database written by version 1 (one log row and one `fields` row per
/// change) opens as version 2 (blocks, one state per record) with nothing lost: the
/// same changes in the same order with the same numbers, the same current values, and
/// the records' parents known (a household still moves with its visit).
fn a_version_1_database_is_migrated_to_blocks(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = voordeur_tests::database_url(backend, dir.path());
    let (team, household, visit) = (
        "01930000-0000-7000-8000-00000000a001",
        "01930000-0000-7000-8000-00000000a002",
        "01930000-0000-7000-8000-00000000a003",
    );
    let (device, server) = (
        "01930000-0000-7000-8000-00000000d001",
        "01930000-0000-7000-8000-00000000d002",
    );
    let author = "01930000-0000-7000-8000-00000000e001";
    let hlc = |wall: u64, dev: &str| format!("{wall:015}-{:010}-{dev}", 0);
    // seq, change id, entity, record, field, value, clock, base
    let rows = [
        (
            1,
            "01930000-0000-7000-8000-00000000c001",
            "household",
            household,
            "address",
            // A text with a NUL character, as version 1 could store it.
            r#""Dorps\u0000straat 1""#,
            hlc(1_000, device),
            None,
        ),
        (
            2,
            "01930000-0000-7000-8000-00000000c002",
            "household",
            household,
            "team_id",
            &format!(r#""{team}""#),
            hlc(1_001, device),
            None,
        ),
        (
            3,
            "01930000-0000-7000-8000-00000000c003",
            "visit",
            visit,
            "household_id",
            &format!(r#""{household}""#),
            hlc(1_002, device),
            None,
        ),
        // Re-stamped by the server (its clock, the device's change), with a base.
        (
            4,
            "01930000-0000-7000-8000-00000000c004",
            "household",
            household,
            "address",
            r#""Dorpsstraat 2""#,
            hlc(2_000, server),
            Some(hlc(1_000, device)),
        ),
    ];
    let mut sql = String::new();
    sql.push_str(&format!("INSERT INTO teams VALUES ('{team}', 'noord');"));
    sql.push_str("INSERT INTO teams VALUES ('01930000-0000-7000-8000-00000000a009', 'zuid');");
    for (seq, id, entity, record, field, value, clock, base) in &rows {
        let base = base
            .as_ref()
            .map_or("NULL".to_string(), |b| format!("'{b}'"));
        sql.push_str(&format!(
            "INSERT INTO log VALUES ({seq}, '{id}', '{entity}', '{record}', '{field}', '{value}', '{clock}', {base}, '{device}', '{author}', '{team}');"
        ));
    }
    for (entity, record, field, value, clock, id) in [
        (
            "household",
            household,
            "address",
            r#""Dorpsstraat 2""#,
            hlc(2_000, server),
            "01930000-0000-7000-8000-00000000c004",
        ),
        (
            "household",
            household,
            "team_id",
            &format!(r#""{team}""#),
            hlc(1_001, device),
            "01930000-0000-7000-8000-00000000c002",
        ),
        (
            "visit",
            visit,
            "household_id",
            &format!(r#""{household}""#),
            hlc(1_002, device),
            "01930000-0000-7000-8000-00000000c003",
        ),
    ] {
        sql.push_str(&format!(
            "INSERT INTO fields VALUES ('{entity}', '{record}', '{field}', '{value}', '{clock}', '{id}', '{device}', '{author}');"
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO records VALUES ('household', '{household}', '{team}'), ('visit', '{visit}', '{team}');
         UPDATE counters SET value = 4 WHERE name = 'seq';
         INSERT INTO schema_migrations VALUES ('001_init.sql');"
    ));
    let create = "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY);";
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(&url).expect("open");
            conn.execute_batch(&format!(
                "{}; {create} {sql}",
                include_str!("../../migrations/server/sqlite/001_init.sql")
            ))
            .expect("a version 1 database");
        }
        Backend::Postgres => {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            client
                .batch_execute(&format!(
                    "{}; {create} {sql}",
                    include_str!("../../migrations/server/postgres/001_init.sql")
                ))
                .expect("a version 1 database");
        }
    }

    let db = voordeur_server::Database::open(&url).expect("migrate");
    let logged = db
        .tx(voordeur_server::engine::logged_changes)
        .expect("the log");
    assert_eq!(logged.len(), 4);
    for ((seq, c), (want_seq, id, entity, record, field, value, clock, base)) in
        logged.iter().zip(&rows)
    {
        assert_eq!(*seq, *want_seq as u64);
        assert_eq!(c.id.to_string(), *id);
        assert_eq!(c.entity.as_str(), *entity);
        assert_eq!(c.record.to_string(), *record);
        assert_eq!(c.field, *field);
        assert_eq!(
            c.value,
            serde_json::from_str::<Value>(value).expect("value")
        );
        assert_eq!(c.hlc.to_string(), *clock);
        assert_eq!(c.base.map(|b| b.to_string()), *base);
        assert_eq!(c.device.to_string(), device);
        assert_eq!(c.author.map(|a| a.to_string()).as_deref(), Some(author));
    }
    let address = db
        .tx(|t| {
            voordeur_server::engine::current_value(
                t,
                Household,
                household.parse().expect("id"),
                "address",
            )
        })
        .expect("read")
        .expect("the address is there");
    assert_eq!(address.value, json!("Dorpsstraat 2"));
    assert_eq!(address.hlc.to_string(), hlc(2_000, server));
    let clock = voordeur_server::server_clock(&db).expect("clock");
    let moved = db
        .tx(|t| {
            voordeur_server::engine::move_household(
                t,
                &clock,
                household.parse().expect("id"),
                "01930000-0000-7000-8000-00000000a009",
            )
        })
        .expect("move");
    assert_eq!(moved.records, 2, "the household and its visit");
}

/// A pull batch is full up to its limit whatever the size of the blocks: it may end
/// inside a block, and the next batch goes on from there. Every change once, in order.
fn pull_batches_end_inside_blocks(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let mut all = Vec::new();
    for i in 0..50 {
        // Blocks of 3 changes (one household each).
        all.extend(new_household(anna, &format!("Straat {i}")).1);
    }
    s.push_ok(anna, &all);
    let (before, _) = s.pull_all(&town.bilal, 0);
    let (got, cursor) = pull_in_batches(s, &town.bilal, 0, 20);
    assert_eq!(got, ids(&before));
    assert!(got.len() >= 150);

    // A batch of many small blocks: more than the server reads sizes of at once.
    let (h1, one) = new_household(anna, "Laan 1");
    let (h2, two) = new_household(anna, "Laan 2");
    s.push_ok(anna, &[one, two].concat());
    let edits: Vec<_> = (0..700)
        .map(|i| {
            let h = if i % 2 == 0 { h1 } else { h2 };
            anna.change(Household, h, "address", json!(format!("Laan {i}")), None)
        })
        .collect();
    s.push_ok(anna, &edits);
    let (everything, end) = s.pull_all(&town.bilal, cursor);
    assert!(everything.len() >= 706);
    let (got, cursor) = pull_in_batches(s, &town.bilal, cursor, 600);
    assert_eq!(got, ids(&everything));
    assert_eq!(cursor, end);
}

/// Pull from `since` in batches of `limit` until nothing more waits, each batch before
/// the last one full; the ids of the changes in order, and the cursor.
fn pull_in_batches(
    s: &TestServer,
    device: &Device,
    since: u64,
    limit: usize,
) -> (Vec<ChangeId>, u64) {
    let mut cursor = since;
    let mut got = Vec::new();
    for round in 0.. {
        assert!(round < 100, "pulling never ends");
        let page = s.pull(device, cursor, Some(limit));
        cursor = page.cursor;
        got.extend(page.changes.iter().map(|c| c.id));
        if !page.more {
            break;
        }
        assert_eq!(page.changes.len(), limit, "a batch before the end is full");
    }
    (got, cursor)
}

/// A resident moved to another household of the team belongs to that household from
/// then on: moving the new household to another team takes the resident along, moving
/// the old one does not.
fn a_resident_who_moves_house_moves_with_the_new_household(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h1, first) = new_household(anna, "Kerkstraat 1");
    let (h2, second) = new_household(anna, "Kerkstraat 2");
    s.push_ok(anna, &[first, second].concat());
    let r = Uuid::now_v7();
    let born = anna.change(Resident, r, "household_id", json!(h1.to_string()), None);
    s.push_ok(
        anna,
        &[
            born.clone(),
            anna.change(Resident, r, "name", json!("Kees Bakker"), None),
        ],
    );
    s.push_ok(
        anna,
        &[anna.change(
            Resident,
            r,
            "household_id",
            json!(h2.to_string()),
            Some(born.hlc),
        )],
    );
    let zuid = s.team_id("zuid").to_string();
    let moved = |h: Uuid| {
        s.state
            .db
            .tx(|t| voordeur_server::engine::move_household(t, &s.state.clock, h, &zuid))
            .expect("move")
            .records
    };
    assert_eq!(moved(h1), 1, "the old household goes alone");
    assert_eq!(moved(h2), 2, "the new household takes the resident along");
}

/// Record states written before the binary form (JSON text; on PostgreSQL converted to
/// bytes by migration 004) read as they did, and a record changed again is stored in
/// binary with nothing lost.
fn a_state_stored_as_json_before_is_read_and_rewritten_in_binary(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h, first) = new_household(anna, "Kortelaan 12");
    s.push_ok(anna, &first);
    let stored = |s: &TestServer| {
        s.query(
            "SELECT state FROM records WHERE record_id = $1",
            &[h.to_string().into()],
        )[0][0]
            .bytes()
            .map(<[u8]>::to_vec)
            .expect("a stored state")
    };
    assert_eq!(stored(s).first(), Some(&0), "written in binary");
    let fields = s
        .state
        .db
        .tx(|t| engine::current_fields(t))
        .expect("fields")
        .into_iter()
        .find(|(_, id, _)| *id == h)
        .map(|(_, _, fields)| fields)
        .expect("the household");
    assert_eq!(fields.len(), 3);
    // The household's state as version 2 of the server wrote it: a JSON object.
    let object: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, f)| {
            let v = json!({"v": f.value, "h": f.hlc.to_string(), "c": f.change_id, "d": f.device, "a": f.author});
            (k.clone(), v)
        })
        .collect();
    s.query(
        "UPDATE records SET state = $1 WHERE record_id = $2",
        &[
            Value::Object(object).to_string().into(),
            h.to_string().into(),
        ],
    );
    assert_eq!(stored(s).first(), Some(&b'{'));
    let read = s
        .state
        .db
        .tx(|t| engine::current_value(t, Household, h, "address"))
        .expect("address");
    assert_eq!(read.map(|f| f.value), Some(json!("Kortelaan 12")));

    // Changed again: stored in binary, every field kept.
    let city = anna.change(Household, h, "city", json!("Zuiderstad"), None);
    s.push_ok(anna, std::slice::from_ref(&city));
    assert_eq!(stored(s).first(), Some(&0));
    for (field, value) in [
        ("address", json!("Kortelaan 12")),
        ("postcode", json!("9711 AB")),
        ("city", json!("Zuiderstad")),
    ] {
        let f = s
            .state
            .db
            .tx(|t| engine::current_value(t, Household, h, field))
            .expect("field")
            .expect("present");
        assert_eq!(f.value, value, "{field}");
        let sent = first.iter().chain([&city]).rfind(|c| c.field == field);
        assert_eq!(Some(f.change_id), sent.map(|c| c.id), "{field}");
    }
}

/// A batch whose field entries are spelt otherwise than a device of ours writes them
/// (white space, an id in capitals, keys in another order, escapes, a fraction, an
/// object with a repeated key) is logged as the server writes those changes: the log,
/// and every pull of it, holds one spelling, whatever a device sent.
fn entries_spelt_otherwise_are_logged_as_the_server_writes_them(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let (h, household) = new_household(anna, "Kortelaan 14");
    s.push_ok(anna, &household);
    let v = Uuid::now_v7();
    let clock = |c: &Change| format!("[{}, {}]", c.hlc.wall_ms, c.hlc.counter);
    let (address, postcode, city, extra) = (
        anna.change(Visit, v, "household_id", json!(h), None),
        anna.change(Visit, v, "status", json!("draft"), None),
        anna.change(Visit, v, "answer.score", json!(1.5), None),
        anna.change(Visit, v, "answer.extra", json!({"a": 2}), None),
    );
    let entries = [
        // Ours: kept as sent.
        serde_json::to_string(&voordeur_core::wire::FieldChangeRef(&address)).expect("json"),
        format!(
            "{{ \"value\": \"dr\\u0061ft\", \"field\": \"status\", \"id\": \"{}\", \"at\": {} }}",
            postcode.id.0.hyphenated().to_string().to_uppercase(),
            clock(&postcode)
        ),
        format!(
            "{{\"id\":\"{}\",\"field\":\"answer.score\",\"value\":1.50,\"at\":{}}}",
            city.id,
            clock(&city)
        ),
        format!(
            "{{\"id\":\"{}\",\"field\":\"answer.extra\",\"value\":{{\"a\":1,\"a\":2}},\"at\":{}}}",
            extra.id,
            clock(&extra)
        ),
    ];
    let body = format!(
        "{{\"blocks\":[{{\"entity\":\"visit\",\"record\":\"{v}\",\"device\":\"{}\",\"author\":null,\"changes\":[{}]}}]}}\n",
        anna.id,
        entries.join(",")
    );
    let reply = push_batches_reply(s, anna, body.into_bytes());
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer: PushBatchesResponse = reply.parse();
    assert!(answer.answers[0].rejected.is_empty(), "{answer:?}");
    let logged: Vec<String> = s
        .query(
            "SELECT changes FROM log WHERE record_id = $1 ORDER BY seq",
            &[v.to_string().into()],
        )
        .iter()
        .map(|r| r[0].text().expect("a block").to_string())
        .collect();
    let mut sent = vec![address, postcode, city, extra];
    for c in &mut sent {
        c.author = Some(anna.user.id);
    }
    let ours = serde_json::to_string(&voordeur_core::wire::FieldChanges(&sent)).expect("json");
    assert_eq!(
        logged,
        vec![ours],
        "one block, spelt as the server writes it"
    );
    // And what another device pulls is what was sent.
    let bilal = town.replica(&town.bilal);
    for c in &sent {
        assert_eq!(bilal.get(Visit, v, &c.field), Some(c), "{}", c.field);
    }
}

/// The batches of one request commit without waiting for the disk (SQLite:
/// `synchronous=NORMAL`; PostgreSQL: `synchronous_commit` off), and one commit that waits
/// (and writes a row of its own, so that it waits) makes them durable before the answer.
fn the_batches_of_a_request_commit_without_waiting_but_one(backend: Backend) {
    let town = Town::new(backend);
    let s = &town.s;
    let anna = &town.anna;
    let flushes = || {
        s.query("SELECT value FROM counters WHERE name = 'flushes'", &[])
            .first()
            .and_then(|r| r[0].int())
            .unwrap_or(0)
    };
    let setting = |unsynced: bool| {
        let sql = match backend {
            Backend::Sqlite => "PRAGMA synchronous",
            Backend::Postgres => "SHOW synchronous_commit",
        };
        let read = |t: &mut dyn voordeur_server::db::Sql| t.query(sql, &[]);
        let rows = if unsynced {
            s.state.db.tx_unsynced(read)
        } else {
            s.state.db.tx(read)
        }
        .expect("the setting");
        match &rows[0][0] {
            voordeur_server::db::Val::Int(1) => "normal".to_string(),
            voordeur_server::db::Val::Int(2) => "full".to_string(),
            v => v.text().unwrap_or_default().to_string(),
        }
    };
    let (waits, not) = match backend {
        Backend::Sqlite => ("full", "normal"),
        Backend::Postgres => ("on", "off"),
    };
    assert_eq!(setting(true), not);
    assert_eq!(
        setting(false),
        waits,
        "a transaction after one that did not wait"
    );

    let before = flushes();
    let (_, one) = new_household(anna, "Kortelaan 5");
    let (_, two) = new_household(anna, "Kortelaan 7");
    let reply = push_batches_reply(s, anna, batches_body(&[&one, &two]));
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let answer: PushBatchesResponse = reply.parse();
    assert_eq!(answer.answers.len(), 2);
    assert_eq!(flushes(), before + 1, "one waiting commit for the request");
    let bilal = town.replica(&town.bilal);
    for c in one.iter().chain(&two) {
        assert!(
            bilal.get(Household, c.record, &c.field).is_some(),
            "{}",
            c.field
        );
    }
}

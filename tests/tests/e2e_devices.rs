//! End to end with real processes on loopback: one `voordeur-server` on SQLite with the
//! demo municipality, three `voordeur` devices (two workers and their team lead), each
//! a separate device folder, every step a fresh process — exactly what a person or a
//! support script would run.

use serde_json::Value;
use std::path::Path;
use voordeur_tests::procs::{start_server, Device, Server};

/// What this story reads from a device, on top of the shared helpers.
trait Look {
    fn open_conflicts(&self) -> Vec<Value>;
    fn answer(&self, visit: &str, item: &str) -> Value;
}

impl Look for Device {
    fn open_conflicts(&self) -> Vec<Value> {
        self.json(&["conflicts"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn answer(&self, visit: &str, item: &str) -> Value {
        let v = self.json(&["visit", "show", visit]);
        v["answers"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["item"] == item))
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    }
}

fn enrol(server: &Server, root: &Path, user: &str) -> Device {
    let device = Device::new(root.join(user));
    device.enrol(server, user);
    device
}

#[test]
fn three_devices_merge_conflict_resolve_and_converge() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = start_server(root.path());
    let anna = enrol(&server, root.path(), "anna");
    let bilal = enrol(&server, root.path(), "bilal");
    let carmen = enrol(&server, root.path(), "carmen");
    for d in [&anna, &bilal, &carmen] {
        d.sync();
    }
    // Every device of team noord has the demo households and the template.
    let households = anna.json(&["household", "list"]);
    let households = households.as_array().expect("list");
    assert_eq!(households.len(), 30);
    let h = households[0]["id"].as_str().expect("id").to_string();
    let templates = anna.json(&["template", "list"]);
    let t = templates[0]["id"].as_str().expect("template").to_string();

    // Anna starts a visit and writes a note; everyone receives it.
    let visit = anna.id(&["visit", "start", "--household", &h, "--template", &t]);
    anna.ok(&["visit", "answer", &visit, "geld.post_ongeopend", "ja"]);
    let note = anna.id(&["visit", "note", &visit, "regel een\nregel twee\nregel drie"]);
    anna.sync();
    bilal.sync();
    carmen.sync();
    assert_eq!(
        bilal.answer(&visit, "geld.post_ongeopend"),
        Value::Bool(true)
    );

    // Offline edits of different fields merge without a conflict.
    anna.ok(&["visit", "answer", &visit, "geld.achterstanden", "nee"]);
    bilal.ok(&["visit", "answer", &visit, "sociaal.noodcontact", "ja"]);
    anna.ok(&["note", "edit", &note, "regel EEN\nregel twee\nregel drie"]);
    bilal.ok(&["note", "edit", &note, "regel een\nregel twee\nregel DRIE"]);
    let waiting = anna.json(&["status"]);
    assert!(waiting["waiting"].as_u64().unwrap_or(0) >= 2, "{waiting}");
    anna.sync();
    bilal.sync();
    anna.sync();
    carmen.sync();
    for d in [&anna, &bilal, &carmen] {
        assert!(d.open_conflicts().is_empty(), "no conflict expected");
        assert_eq!(d.answer(&visit, "geld.achterstanden"), Value::Bool(false));
        assert_eq!(d.answer(&visit, "sociaal.noodcontact"), Value::Bool(true));
        let shown = d.json(&["visit", "show", &visit]);
        let text = shown["notes"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            text, "regel EEN\nregel twee\nregel DRIE",
            "line-wise merge of the note"
        );
    }

    // The same field edited differently on two devices: exactly one conflict, with both
    // values, on every device.
    anna.ok(&["visit", "answer", &visit, "wonen.staat_woning", "2"]);
    bilal.ok(&["visit", "answer", &visit, "wonen.staat_woning", "4"]);
    anna.sync();
    bilal.sync();
    anna.sync();
    carmen.sync();
    let mut conflict_id = String::new();
    for d in [&anna, &bilal, &carmen] {
        let conflicts = d.open_conflicts();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let c = &conflicts[0];
        assert_eq!(c["field"], "answer.wonen.staat_woning");
        let mut values: Vec<i64> = c["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(|v| v["value"].as_i64())
            .collect();
        values.sort();
        assert_eq!(values, vec![2, 4]);
        conflict_id = c["id"].as_str().expect("id").to_string();
    }
    // The provisional winner is the same everywhere.
    let shown = anna.answer(&visit, "wonen.staat_woning");
    assert_eq!(bilal.answer(&visit, "wonen.staat_woning"), shown);
    assert_eq!(carmen.answer(&visit, "wonen.staat_woning"), shown);

    // The team lead resolves it; everyone converges on her choice.
    carmen.ok(&["conflict", "resolve", &conflict_id, "--value", "3"]);
    carmen.sync();
    anna.sync();
    bilal.sync();
    for d in [&anna, &bilal, &carmen] {
        assert!(d.open_conflicts().is_empty());
        assert_eq!(d.answer(&visit, "wonen.staat_woning"), serde_json::json!(3));
    }

    // A delete against a concurrent edit is a conflict, not a silent winner.
    anna.ok(&["note", "delete", &note]);
    bilal.ok(&[
        "note",
        "edit",
        &note,
        "regel EEN\nregel twee\nregel DRIE\nextra",
    ]);
    anna.sync();
    bilal.sync();
    anna.sync();
    carmen.sync();
    for d in [&anna, &bilal, &carmen] {
        let conflicts = d.open_conflicts();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0]["field"], "deleted");
    }

    // After a final sync every device holds byte-identical state.
    for d in [&anna, &bilal, &carmen] {
        d.sync();
    }
    let a = anna.ok(&["export"]);
    assert_eq!(a, bilal.ok(&["export"]), "anna and bilal differ");
    assert_eq!(a, carmen.ok(&["export"]), "anna and carmen differ");
    for d in [&anna, &bilal, &carmen] {
        assert_eq!(d.json(&["status"])["waiting"], 0);
    }
}

/// A lost tablet: the admin revokes it with `voordeur-server device revoke` while the
/// server runs; the tablet's next sync fails with exit code 4 and erases everything on
/// it — records, outbox, enrolment — down to the bytes of the file. A device whose
/// token is merely unknown keeps its data (see the CLI tests).
#[test]
fn a_revoked_device_erases_its_data_at_its_next_sync() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = start_server(root.path());
    let anna = enrol(&server, root.path(), "anna");
    anna.sync();
    let households = anna.json(&["household", "list"]);
    let address = households[0]["address"]
        .as_str()
        .expect("address")
        .to_string();
    let h = households[0]["id"].as_str().expect("id").to_string();
    anna.ok(&["household", "delete", &h]);
    let db = anna.dir.join("voordeur.db");
    let file_has = |needle: &str| {
        let mut bytes = std::fs::read(&db).unwrap_or_default();
        bytes.extend(std::fs::read(anna.dir.join("voordeur.db-wal")).unwrap_or_default());
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    assert!(file_has(&address));
    let listed = admin(&server, &["device", "list"]);
    let id = listed
        .lines()
        .find(|l| l.contains("anna"))
        .and_then(|l| l.split_whitespace().next())
        .expect("anna's device in the list")
        .to_string();
    admin(&server, &["device", "revoke", &id]);

    let out = anna.run(&["sync"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked") && err.contains("erased"), "{err}");
    assert_eq!(anna.json(&["household", "list"]), serde_json::json!([]));
    let status = anna.json(&["status"]);
    assert_eq!(status["waiting"], 0);
    assert!(
        status["server_url"].is_null(),
        "not enrolled any more: {status}"
    );
    assert!(!file_has(&address), "the address is still in the file");
    // The device can be enrolled again and gets its team's data back.
    anna.enrol_with(&server, "anna", &server.new_code("anna"));
    anna.sync();
    assert_eq!(
        anna.json(&["household", "list"]).as_array().map(Vec::len),
        Some(30)
    );
}

/// `voordeur-server --db DB ARGS…`, an admin command while the server runs; it must
/// succeed. Returns stdout.
fn admin(server: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(voordeur_tests::procs::bin("voordeur-server"))
        .arg("--db")
        .arg(&server.db)
        .args(args)
        .env_remove("VOORDEUR_DB")
        .output()
        .expect("run voordeur-server");
    assert!(out.status.success(), "voordeur-server {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["id"].as_str().map(String::from))
        .collect()
}

/// Scope changes: an admin moves a household from team noord to team zuid. Anna's
/// device (noord) erases it and all under it at its next sync; Emre's device (zuid),
/// long past the sequence numbers of its history, receives all of it; an edit Anna
/// made before she learnt of the move is refused and kept, not lost.
#[test]
fn a_household_moved_to_another_team_leaves_one_and_reaches_the_other_whole() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = start_server(root.path());
    let anna = enrol(&server, root.path(), "anna");
    let emre = enrol(&server, root.path(), "emre");
    anna.sync();
    emre.sync();
    let noord = anna.json(&["household", "list"]);
    let h = ids(&noord)[0].clone();
    let address = noord[0]["address"].as_str().expect("address").to_string();
    let t = anna.json(&["template", "list"])[0]["id"]
        .as_str()
        .expect("template")
        .to_string();
    let visit = anna.id(&["visit", "start", "--household", &h, "--template", &t]);
    anna.ok(&["visit", "answer", &visit, "geld.post_ongeopend", "ja"]);
    anna.id(&["visit", "note", &visit, "Buurvrouw helpt met de post."]);
    anna.sync();
    emre.sync();
    assert!(!ids(&emre.json(&["household", "list"])).contains(&h));

    let said = admin(&server, &["household", "move", &h, "--team", "zuid"]);
    assert!(said.contains("moved household"), "{said}");
    // Anna answers once more before she syncs: the server refuses it now.
    anna.ok(&["visit", "answer", &visit, "geld.achterstanden", "nee"]);
    let report = anna.sync();
    assert_eq!(
        report["rejected"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let left = ids(&anna.json(&["household", "list"]));
    assert_eq!(left.len(), 29);
    assert!(!left.contains(&h));
    assert!(!anna.run(&["visit", "show", &visit]).status.success());
    let export = anna.ok(&["export"]);
    assert!(
        !export.contains(&address) && !export.contains(&visit),
        "noord keeps a trace"
    );
    assert_eq!(anna.json(&["status"])["rejected"], 1);

    emre.sync();
    let zuid = ids(&emre.json(&["household", "list"]));
    assert_eq!(zuid.len(), 31);
    assert!(zuid.contains(&h));
    let shown = emre.json(&["visit", "show", &visit]);
    assert_eq!(shown["answers"][0]["item"], "geld.post_ongeopend");
    assert_eq!(shown["answers"].as_array().map(Vec::len), Some(1));
    assert_eq!(shown["notes"][0]["text"], "Buurvrouw helpt met de post.");
    // Emre's team works on it from now on; a fresh zuid device gets the same.
    emre.ok(&["visit", "answer", &visit, "geld.achterstanden", "ja"]);
    emre.sync();
    let bilal_dir = root.path().join("emre-2");
    let second = Device::new(bilal_dir);
    second.enrol_with(&server, "emre", &server.new_code("emre"));
    second.sync();
    assert_eq!(second.ok(&["export"]), emre.ok(&["export"]));
}

/// A worker moves to another team (`voordeur-server user move`): at the next sync her
/// device erases the old team's households and receives the new team's, all of them.
#[test]
fn a_worker_moved_to_another_team_gets_its_households_and_loses_the_old() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = start_server(root.path());
    let anna = enrol(&server, root.path(), "anna");
    let emre = enrol(&server, root.path(), "emre");
    anna.sync();
    emre.sync();
    let noord = ids(&anna.json(&["household", "list"]));
    let mut zuid = ids(&emre.json(&["household", "list"]));
    assert_eq!((noord.len(), zuid.len()), (30, 30));
    let noord_address = anna.json(&["household", "list"])[0]["address"]
        .as_str()
        .expect("address")
        .to_string();

    let said = admin(
        &server,
        &["user", "move", "--name", "anna", "--team", "zuid"],
    );
    assert!(said.contains("moved user anna"), "{said}");
    anna.sync();
    let mut now = ids(&anna.json(&["household", "list"]));
    now.sort();
    zuid.sort();
    assert_eq!(
        now, zuid,
        "anna's device holds team zuid's households, all of them"
    );
    assert_eq!(anna.json(&["status"])["team_name"], "zuid");
    assert!(!anna.ok(&["export"]).contains(&noord_address));
    // And she works for zuid from now on: her new household reaches emre.
    let h = anna.id(&[
        "household",
        "add",
        "--address",
        "Zuiderweg 1",
        "--postcode",
        "9722 AA",
    ]);
    anna.sync();
    emre.sync();
    assert!(ids(&emre.json(&["household", "list"])).contains(&h));
}

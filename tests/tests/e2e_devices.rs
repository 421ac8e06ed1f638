//! End to end with real processes on loopback: one `voordeur-server` on SQLite with the
//! demo municipality, three `voordeur` devices (two workers and their team lead), each
//! a separate device folder, every step a fresh process — exactly what a person or a
//! support script would run.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The folder holding the workspace's binaries (`target/debug`), found from this test's
/// own executable (`target/debug/deps/…`), so `CARGO_TARGET_DIR` is respected.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    url: String,
    codes: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    let port = free_port();
    let out = dir.join("server.out");
    let child = Command::new(bin("voordeur-server"))
        .args(["--db"])
        .arg(dir.join("server.db"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::fs::File::create(&out).expect("out file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    // Owned by the guard from here on, so a failed start still stops the process.
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        codes: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("listening on") {
            server.codes = text
                .lines()
                .filter_map(|l| {
                    let mut p = l.split_whitespace();
                    (p.next() == Some("enrol")).then(|| {
                        (
                            p.next().unwrap_or_default().to_string(),
                            p.next().unwrap_or_default().to_string(),
                        )
                    })
                })
                .collect();
            return server;
        }
        assert!(Instant::now() < deadline, "server did not start: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Device {
    dir: PathBuf,
}

impl Device {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("voordeur"))
            .arg("--data")
            .arg(&self.dir)
            .args(args)
            .env_remove("VOORDEUR_DATA")
            .output()
            .expect("run voordeur")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "voordeur {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("json output")
    }

    fn id(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().expect("id").to_string()
    }

    fn sync(&self) -> Value {
        self.json(&["sync"])
    }

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
    let code = server
        .codes
        .iter()
        .find(|(u, _)| u == user)
        .map(|(_, c)| c.clone())
        .expect("code for user");
    let device = Device {
        dir: root.join(user),
    };
    let info = device.json(&["enroll", "--server", &server.url, "--code", &code]);
    assert_eq!(info["name"], user);
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

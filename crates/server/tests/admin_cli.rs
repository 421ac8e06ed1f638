//! The admin commands of `voordeur-server`, run as an operator would: against the same
//! database file as a running server, with bad input refused (exit 2) and nothing
//! changed.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use voordeur_core::{DeviceId, EntityKind};
use voordeur_server::auth;
use voordeur_server::db::{Database, Val};

fn server(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voordeur-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("VOORDEUR_DB")
        .output()
        .expect("run voordeur-server")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = server(db, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(db: &Path, args: &[&str], expected: &str) {
    let before = counts(db);
    let out = server(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert_eq!(counts(db), before, "{args:?} changed the database");
}

/// Rows in the tables an admin command may change.
fn counts(db: &Path) -> Vec<Val> {
    let db = Database::open(&db.to_string_lossy()).expect("open");
    db.tx(|t| {
        let mut out = Vec::new();
        for table in ["teams", "users", "enrol_codes", "devices", "log", "records"] {
            out.push(t.query(&format!("SELECT count(*) FROM {table}"), &[])?[0][0].clone());
        }
        Ok(out)
    })
    .expect("counts")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn health(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200")
}

#[test]
fn admin_commands_work_while_the_server_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let child = Command::new(env!("CARGO_BIN_EXE_voordeur-server"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let _running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !health(port) {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Users and codes, while the server serves.
    let id = ok(
        &db,
        &[
            "user", "add", "--name", "fenna", "--role", "worker", "--team", "west",
        ],
    );
    assert!(id.trim().parse::<uuid::Uuid>().is_ok(), "{id}");
    ok(&db, &["user", "add", "--name", "gert", "--role", "admin"]);
    let code = ok(&db, &["enrol-code", "--user", "fenna"]);
    let code = code.trim();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    refused(
        &db,
        &[
            "user", "add", "--name", "fenna", "--role", "worker", "--team", "west",
        ],
        "exists already",
    );
    refused(
        &db,
        &[
            "user", "add", "--name", "hans", "--role", "boss", "--team", "west",
        ],
        "not a valid Role",
    );
    refused(
        &db,
        &["user", "add", "--name", "hans", "--role", "worker"],
        "need a team",
    );
    refused(&db, &["enrol-code", "--user", "niemand"], "no user named");

    // A device enrolled with the code shows in the list and can be revoked once.
    let database = Database::open(&db.to_string_lossy()).expect("open");
    let device = DeviceId::new();
    database
        .tx(|t| {
            auth::enrol(
                t,
                code,
                device,
                Some("tablet 7"),
                chrono::Utc::now().timestamp_millis(),
            )
        })
        .expect("enrol");
    drop(database);
    let list = ok(&db, &["device", "list"]);
    assert!(
        list.contains(&device.to_string()) && list.contains("fenna") && list.contains("active"),
        "{list}"
    );
    ok(&db, &["device", "revoke", &device.to_string()]);
    assert!(ok(&db, &["device", "list"]).contains("revoked"));
    refused(
        &db,
        &["device", "revoke", &device.to_string()],
        "no enrolled, unrevoked device",
    );

    // Households from CSV: all rows or none.
    let csv = dir.path().join("households.csv");
    std::fs::write(
        &csv,
        "address,postcode,city,neighbourhood,residents\n\
         Lindenlaan 12,9712ab,Groningen,Oost,Fatima de Vries (1961); Jan de Vries\n\
         Molenweg 3,9713 CD,Groningen,,\n",
    )
    .expect("csv");
    let out = ok(
        &db,
        &[
            "import-households",
            csv.to_str().expect("path"),
            "--team",
            "west",
        ],
    );
    assert!(out.contains("imported 2 households"), "{out}");
    let database = Database::open(&db.to_string_lossy()).expect("open");
    let records = database
        .tx(voordeur_server::engine::current_fields)
        .expect("records");
    let mut postcodes: Vec<String> = records
        .iter()
        .filter(|(e, _, _)| *e == EntityKind::Household)
        .filter_map(|(_, _, f)| f.get("postcode")?.value.as_str().map(String::from))
        .collect();
    postcodes.sort();
    assert_eq!(postcodes, vec!["9712 AB", "9713 CD"]);
    let names = records
        .iter()
        .filter(|(e, _, f)| *e == EntityKind::Resident && f.contains_key("name"))
        .count();
    assert_eq!(names, 2);
    drop(database);
    std::fs::write(
        &csv,
        "address,postcode\nKerkstraat 1,1234 AB\nDorpsstraat 2,99999\n",
    )
    .expect("csv");
    refused(
        &db,
        &[
            "import-households",
            csv.to_str().expect("path"),
            "--team",
            "west",
        ],
        "CSV line 3",
    );
    refused(
        &db,
        &[
            "import-households",
            csv.to_str().expect("path"),
            "--team",
            "oost",
        ],
        "",
    );

    // Templates: publishing is idempotent, a published version is immutable.
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/huisbezoek-basis.json");
    ok(&db, &["publish-template", sample.to_str().expect("path")]);
    ok(&db, &["publish-template", sample.to_str().expect("path")]);
    let changed = dir.path().join("changed.json");
    let text = std::fs::read_to_string(&sample).expect("sample");
    std::fs::write(
        &changed,
        text.replacen("Huisbezoek basis", "Huisbezoek anders", 1),
    )
    .expect("write");
    refused(
        &db,
        &["publish-template", changed.to_str().expect("path")],
        "publish a new version",
    );

    assert!(health(port), "the server kept serving throughout");
}

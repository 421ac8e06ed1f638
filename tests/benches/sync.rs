//! Sync benchmark with real parts: the real server (`voordeur_server::router` under axum)
//! in its own process on a loopback port, real device stores on files, the real
//! `voordeur_sync::sync` over `HttpTransport`, for SQLite and PostgreSQL.
//!
//! Run with `cargo bench -p voordeur-tests --bench sync`. Environment:
//!
//! * `VOORDEUR_BENCH_VISITS` (default 10,000): completed visits on device A;
//! * `VOORDEUR_BENCH_HOUSEHOLDS` (default visits / 10): households imported on the
//!   server, which the visits are made at;
//! * `VOORDEUR_BENCH_BACKENDS` (default `sqlite,postgres`);
//! * `VOORDEUR_BENCH_NOOP` (default 30): how many no-op syncs to time.
//!
//! One bench binary plays every part, chosen by `VOORDEUR_BENCH_ROLE`:
//!
//! * no role: the conductor. Per backend it makes an empty server database (a file, or
//!   a fresh database in the throwaway PostgreSQL cluster of `voordeur_tests::pg`), adds
//!   two workers of one team, imports the households and publishes a 60-item template
//!   (the sample template padded with text items) with the server's own functions,
//!   starts the server process, and runs a counting TCP proxy in front of it: every
//!   byte between device and server passes the proxy, so "bytes on the wire" are the
//!   HTTP bytes as sent (headers and compressed bodies, zstd here; no TCP/IP framing).
//! * `server`: `voordeur_server::router` on 127.0.0.1:0, the way `voordeur-server serve`
//!   runs it (tokio's default multi-thread runtime).
//! * `client`: one phase of one device, in a fresh process, so its peak memory
//!   (`VmHWM`) is that phase's alone: `seed` (enrol, first sync for the template and
//!   the households, then 10,000 completed visits written with `make_change` +
//!   `commit` in batches), `push` (device A's sync up to the empty server), `enrol`,
//!   `pull` (fresh device B's first sync, all of it down) and `noop` (syncs with
//!   nothing to do; the median).
//!
//! The server's peak memory per phase is its `VmHWM`, reset before the phase by
//! writing 5 to `/proc/PID/clear_refs`. Time is the wall time of the `sync` call inside
//! the client process.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use voordeur_core::change::ANSWER_PREFIX;
use voordeur_core::{ChecklistTemplate, EntityKind, ItemKind, Role, VisitStatus};
use voordeur_server::{auth, demo, Database};
use voordeur_store::Store;

const ROLE: &str = "VOORDEUR_BENCH_ROLE";
const TEAM: &str = "bench";
/// Id of the 60-item bench template.
const BENCH_TEMPLATE: &str = "01930000-0000-7000-8000-0000000000b2";
const SAMPLE_TEMPLATE: &str = include_str!("../../templates/huisbezoek-basis.json");
/// Visits per store transaction while seeding.
const SEED_BATCH: usize = 100;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("server") => server_main(),
        Ok("client") => client_main(),
        _ => conductor_main(),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn env_str(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Peak resident memory of a process in kB (`VmHWM`).
fn vm_hwm_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    // utime and stime are fields 14 and 15; the command name before them may hold
    // spaces, so count from the closing parenthesis.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ticks: f64 =
                rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------------------------
// The template: the sample padded to 60 items with text items.

fn bench_template() -> String {
    let mut t: Value = serde_json::from_str(SAMPLE_TEMPLATE).expect("sample template");
    let have: usize = t["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["items"].as_array().map_or(0, Vec::len))
        .sum();
    let extra: Vec<Value> = (have..60)
        .map(|i| {
            json!({
                "id": format!("extra.tekst{i:02}"),
                "label": {"nl": format!("Aanvullende vraag {i}"), "en": format!("Extra question {i}")},
                "kind": {"type": "text"},
            })
        })
        .collect();
    t["id"] = json!(BENCH_TEMPLATE);
    t["name"] =
        json!({"nl": "Huisbezoek benchmark (60 vragen)", "en": "House visit benchmark (60 items)"});
    t["sections"].as_array_mut().expect("sections").push(json!({
        "id": "extra",
        "title": {"nl": "Aanvullend", "en": "Additional"},
        "items": extra,
    }));
    t.to_string()
}

const TEXTS: &[&str] = &[
    "Bewoner geeft aan dat de huur sinds maart achterloopt.",
    "Geen bijzonderheden.",
    "Dochter komt twee keer per week langs en helpt met de post.",
    "Afspraak gemaakt met de wijkverpleging voor volgende week.",
    "Wil graag hulp bij het aanvragen van huurtoeslag.",
    "Schimmel in de badkamer, verhuurder is al gebeld.",
];

/// A valid answer for every item of the template, varied by `n`.
fn answers(t: &ChecklistTemplate, n: usize) -> Vec<(String, Value)> {
    t.items()
        .enumerate()
        .map(|(i, it)| {
            let k = n + i;
            let v = match &it.kind {
                ItemKind::YesNo => json!(k.is_multiple_of(2)),
                ItemKind::SingleChoice { options } => json!(options[k % options.len()].value),
                ItemKind::MultipleChoice { options } => json!([options[k % options.len()].value]),
                ItemKind::Scale { min, max, .. } => {
                    json!(min + i64::try_from(k).unwrap_or(0) % (max - min + 1))
                }
                ItemKind::Number { .. } => json!(k % 5_000),
                ItemKind::Text => json!(TEXTS[k % TEXTS.len()]),
                ItemKind::Date => json!(format!("2026-{:02}-{:02}", 1 + k % 12, 1 + k % 28)),
            };
            (format!("{ANSWER_PREFIX}{}", it.id), v)
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Server process

fn server_main() {
    let url = env_str("VOORDEUR_BENCH_DB");
    let db = Database::open(&url).expect("open the server database");
    let state = voordeur_server::state(db).expect("server state");
    // The conductor closes our stdin when it is done (or gone): then stop.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        println!("PORT {port}");
        std::io::stdout().flush().expect("flush");
        axum::serve(listener, voordeur_server::router(state))
            .await
            .expect("serve");
    });
}

// ---------------------------------------------------------------------------------
// Client process: one phase of one device.

fn client_main() {
    let dir = PathBuf::from(env_str("VOORDEUR_BENCH_DIR"));
    let phase = env_str("VOORDEUR_BENCH_PHASE");
    let mut store = Store::open_dir(&dir, None).expect("open device store");
    let result = match phase.as_str() {
        "enrol" => {
            voordeur_sync::enrol(
                &mut store,
                &env_str("VOORDEUR_BENCH_SERVER"),
                &env_str("VOORDEUR_BENCH_CODE"),
            )
            .expect("enrol");
            json!({})
        }
        "seed" => seed(&mut store),
        "push" | "pull" if std::env::var("VOORDEUR_BENCH_PROFILE").is_ok() => profile(&mut store),
        "push" | "pull" => {
            let transport = voordeur_sync::transport_for(&store).expect("transport");
            let t = Instant::now();
            let report = voordeur_sync::sync(&mut store, &transport, &mut |_| {}).expect("sync");
            let secs = t.elapsed().as_secs_f64();
            assert!(
                report.rejected.is_empty(),
                "rejected: {:?}",
                report.rejected
            );
            let count = |sql: &str| -> i64 {
                store
                    .connection()
                    .query_row(sql, [], |r| r.get(0))
                    .expect("count")
            };
            json!({
                "secs": secs,
                "pushed": report.pushed,
                "pulled": report.pulled,
                "outbox": store.outbox_len().expect("outbox"),
                "answers": count("SELECT count(*) FROM visits, json_each(visits.answers)"),
                "notes": count("SELECT count(*) FROM notes"),
                "completed": count("SELECT count(*) FROM visits WHERE status = 'completed'"),
            })
        }
        "noop" => {
            let transport = voordeur_sync::transport_for(&store).expect("transport");
            let n = env_usize("VOORDEUR_BENCH_NOOP", 30).max(1);
            let mut ms = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let report =
                    voordeur_sync::sync(&mut store, &transport, &mut |_| {}).expect("sync");
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!((report.pushed, report.pulled), (0, 0), "not a no-op");
            }
            ms.sort_by(f64::total_cmp);
            json!({
                "n": n,
                "median_ms": ms[n / 2],
                "p90_ms": ms[(n * 9 / 10).min(n - 1)],
                "min_ms": ms[0],
            })
        }
        other => panic!("unknown phase {other}"),
    };
    let mut result = result;
    result["hwm_kb"] = json!(vm_hwm_kb("self"));
    result["cpu_s"] = json!(cpu_secs("self"));
    println!("RESULT {result}");
}

/// The steps of `voordeur_sync::sync`, through the same public calls, timed apart:
/// where a sync spends its time (`VOORDEUR_BENCH_PROFILE=1`).
fn profile(store: &mut Store) -> Value {
    use voordeur_core::protocol::{PushRequest, MAX_BATCH};
    use voordeur_sync::Transport;
    let transport = voordeur_sync::transport_for(store).expect("transport");
    let (mut pending, mut exchange, mut ack, mut pull, mut apply) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut pushed, mut pulled) = (0, 0);
    let secs = |t: Instant| t.elapsed().as_secs_f64();
    let all = Instant::now();
    loop {
        let t = Instant::now();
        let batch = store.pending(MAX_BATCH).expect("pending");
        pending += secs(t);
        if batch.is_empty() {
            break;
        }
        let t = Instant::now();
        let response = transport
            .push(&PushRequest { changes: batch })
            .expect("push");
        exchange += secs(t);
        let t = Instant::now();
        pushed += store.acknowledge(&response).expect("acknowledge").accepted;
        ack += secs(t);
    }
    loop {
        let since = store.cursor().expect("cursor");
        let t = Instant::now();
        let response = transport.pull(since, MAX_BATCH).expect("pull");
        pull += secs(t);
        let t = Instant::now();
        store
            .apply_remote(&response.changes, response.cursor)
            .expect("apply");
        apply += secs(t);
        pulled += response.changes.len();
        if !response.more {
            break;
        }
    }
    json!({
        "secs": secs(all), "pushed": pushed, "pulled": pulled,
        "pending_s": pending, "push_http_s": exchange, "acknowledge_s": ack,
        "pull_http_s": pull, "apply_remote_s": apply,
        "outbox": store.outbox_len().expect("outbox"),
        "answers": 0, "notes": 0, "completed": 0,
    })
}

/// Enrol, pull the template and the households, then write completed visits the way
/// the app does (start: 6 fields, 60 answers, 2 notes of 4 fields, complete: 2 fields),
/// `SEED_BATCH` visits per transaction.
fn seed(store: &mut Store) -> Value {
    voordeur_sync::enrol(
        store,
        &env_str("VOORDEUR_BENCH_SERVER"),
        &env_str("VOORDEUR_BENCH_CODE"),
    )
    .expect("enrol");
    let transport = voordeur_sync::transport_for(store).expect("transport");
    voordeur_sync::sync(store, &transport, &mut |_| {}).expect("first sync");
    let visits = env_usize("VOORDEUR_BENCH_VISITS", 10_000);
    let template = ChecklistTemplate::from_json(&bench_template()).expect("template");
    assert_eq!(template.items().count(), 60);
    let households: Vec<String> = {
        let mut stmt = store
            .connection()
            .prepare("SELECT id FROM households ORDER BY id")
            .expect("households");
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("households")
            .collect::<Result<Vec<_>, _>>()
            .expect("households");
        ids
    };
    assert!(
        !households.is_empty(),
        "the first sync brought no households"
    );
    let user = store.user_id();
    let t = Instant::now();
    let mut done = 0;
    while done < visits {
        let n = SEED_BATCH.min(visits - done);
        let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
        let mut changes = Vec::with_capacity(n * 74);
        for (j, &visit) in ids.iter().enumerate() {
            let k = done + j;
            let ch = |e: EntityKind, r: uuid::Uuid, f: &str, v: Value| {
                store.make_change(e, r, f, v).expect("change")
            };
            let now = "2026-01-15T10:00:00Z";
            for (f, v) in [
                ("household_id", json!(households[k % households.len()])),
                ("template_id", json!(template.id)),
                ("template_version", json!(template.version)),
                ("author_id", json!(user)),
                ("started_at", json!(now)),
                ("status", json!(VisitStatus::Draft)),
            ] {
                changes.push(ch(EntityKind::Visit, visit, f, v));
            }
            for (f, v) in answers(&template, k) {
                changes.push(ch(EntityKind::Visit, visit, &f, v));
            }
            for n in 0..2 {
                let note = uuid::Uuid::now_v7();
                for (f, v) in [
                    ("visit_id", json!(visit)),
                    ("author_id", json!(user)),
                    ("text", json!(TEXTS[(k + n) % TEXTS.len()])),
                    ("created_at", json!(now)),
                ] {
                    changes.push(ch(EntityKind::Note, note, f, v));
                }
            }
        }
        store.commit(&changes).expect("commit visits");
        let mut complete = Vec::with_capacity(n * 2);
        for &visit in &ids {
            for (f, v) in [
                ("status", json!(VisitStatus::Completed)),
                ("ended_at", json!("2026-01-15T11:00:00Z")),
            ] {
                complete.push(
                    store
                        .make_change(EntityKind::Visit, visit, f, v)
                        .expect("change"),
                );
            }
        }
        store.commit(&complete).expect("commit completion");
        done += n;
    }
    json!({
        "visits": visits,
        "households": households.len(),
        "outbox": store.outbox_len().expect("outbox"),
        "secs": t.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------------
// Counting proxy

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    requests: AtomicU64,
    compressed_up: AtomicU64,
    compressed_down: AtomicU64,
}

impl Counters {
    fn take(&self) -> [u64; 5] {
        [
            self.up.swap(0, Ordering::SeqCst),
            self.down.swap(0, Ordering::SeqCst),
            self.requests.swap(0, Ordering::SeqCst),
            self.compressed_up.swap(0, Ordering::SeqCst),
            self.compressed_down.swap(0, Ordering::SeqCst),
        ]
    }
}

fn count_in(hay: &[u8], needle: &[u8]) -> u64 {
    hay.windows(needle.len()).filter(|w| w == &needle).count() as u64
}

/// Copy one direction of a connection, counting bytes and a few header markers (the
/// last bytes of a read are carried into the next, so a marker split between reads is
/// still seen).
fn pump(mut from: TcpStream, mut to: TcpStream, counters: Arc<Counters>, up: bool) {
    const GZ: &[u8] = b"content-encoding: gzip\r\n";
    const ZSTD: &[u8] = b"content-encoding: zstd\r\n";
    const REQ: &[u8] = b" HTTP/1.1\r\n";
    let mut buf = vec![0u8; 256 * 1024];
    let keep = GZ.len().max(ZSTD.len());
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        let (bytes, gz) = if up {
            (&counters.up, &counters.compressed_up)
        } else {
            (&counters.down, &counters.compressed_down)
        };
        bytes.fetch_add(n as u64, Ordering::SeqCst);
        carry.extend_from_slice(&buf[..n]);
        let lower = carry.to_ascii_lowercase();
        gz.fetch_add(
            count_in(&lower, GZ) + count_in(&lower, ZSTD),
            Ordering::SeqCst,
        );
        if up {
            counters
                .requests
                .fetch_add(count_in(&carry, REQ), Ordering::SeqCst);
        }
        let tail = carry.len().saturating_sub(keep - 1);
        carry.drain(..tail);
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn start_proxy(server_port: u16) -> (u16, Arc<Counters>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (c1, c2) = (c.clone(), c.clone());
            let (client2, server2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(client, server, c1, true));
            std::thread::spawn(move || pump(server2, client2, c2, false));
        }
    });
    (port, counters)
}

// ---------------------------------------------------------------------------------
// Conductor

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: String,
    port: u16,
}

impl Server {
    fn start(url: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .env(ROLE, "server")
            .env("VOORDEUR_BENCH_DB", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| l.strip_prefix("PORT ").and_then(|p| p.parse().ok()))
            .expect("the server says its port");
        Server {
            pid: child.id().to_string(),
            child,
            stdin,
            port,
        }
    }

    /// Forget the peak so far: the next `hwm_kb` is the peak from now on.
    fn reset_hwm(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    fn hwm_kb(&self) -> u64 {
        vm_hwm_kb(&self.pid)
    }

    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn client(phase: &str, dir: &Path, server: &str, code: &str) -> Value {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(ROLE, "client")
        .env("VOORDEUR_BENCH_PHASE", phase)
        .env("VOORDEUR_BENCH_DIR", dir)
        .env("VOORDEUR_BENCH_SERVER", server)
        .env("VOORDEUR_BENCH_CODE", code)
        .stderr(Stdio::inherit())
        .output()
        .expect("run a client phase");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client {phase} failed: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_else(|| panic!("client {phase} gave no result: {text}"))
}

struct Phase {
    result: Value,
    wire: [u64; 5],
    server_kb: u64,
    server_cpu: f64,
}

fn measured(
    server: &Server,
    counters: &Counters,
    phase: &str,
    dir: &Path,
    url: &str,
    code: &str,
) -> Phase {
    counters.take();
    server.reset_hwm();
    let cpu = cpu_secs(&server.pid);
    let result = client(phase, dir, url, code);
    Phase {
        result,
        wire: counters.take(),
        server_kb: server.hwm_kb(),
        server_cpu: cpu_secs(&server.pid) - cpu,
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn run(backend: &str, visits: usize, households: usize) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match backend {
        "sqlite" => dir.path().join("server.db").to_string_lossy().into_owned(),
        "postgres" => voordeur_tests::pg::cluster().fresh_database(),
        other => panic!("unknown backend {other}"),
    };
    let (code_a, code_b) = {
        let db = Database::open(&url).expect("open the server database");
        let clock = voordeur_server::server_clock(&db).expect("clock");
        let now = chrono_now_ms();
        let codes = db
            .tx(|t| {
                auth::add_user(t, "bench-a", Role::Worker, Some(TEAM))?;
                auth::add_user(t, "bench-b", Role::Worker, Some(TEAM))?;
                Ok((
                    auth::create_enrol_code(t, "bench-a", now)?,
                    auth::create_enrol_code(t, "bench-b", now)?,
                ))
            })
            .expect("users");
        demo::import_households(&db, &clock, TEAM, &demo::demo_households(0, households))
            .expect("households");
        demo::publish_template(&db, &clock, &bench_template()).expect("publish template");
        codes
    };
    let server = Server::start(&url);
    let (proxy, counters) = start_proxy(server.port);
    let base = format!("http://127.0.0.1:{proxy}");
    let (dev_a, dev_b) = (dir.path().join("device-a"), dir.path().join("device-b"));

    std::env::set_var("VOORDEUR_BENCH_VISITS", visits.to_string());
    let seeded = client("seed", &dev_a, &base, &code_a);
    println!("[{backend}] seeded: {seeded}");
    let hwm_reset = server.reset_hwm();

    let push = measured(&server, &counters, "push", &dev_a, &base, "");
    println!(
        "[{backend}] push: {} wire {:?} server {} kB, server CPU {:.2} s",
        push.result, push.wire, push.server_kb, push.server_cpu
    );
    client("enrol", &dev_b, &base, &code_b);
    let pull = measured(&server, &counters, "pull", &dev_b, &base, "");
    println!(
        "[{backend}] pull: {} wire {:?} server {} kB, server CPU {:.2} s",
        pull.result, pull.wire, pull.server_kb, pull.server_cpu
    );
    let noop = measured(&server, &counters, "noop", &dev_b, &base, "");
    println!(
        "[{backend}] noop: {} wire {:?} server {} kB, server CPU {:.2} s",
        noop.result, noop.wire, noop.server_kb, noop.server_cpu
    );
    server.stop();

    let pushed = push.result["pushed"].as_u64().unwrap_or(0);
    let pulled = pull.result["pulled"].as_u64().unwrap_or(0);
    assert_eq!(
        push.result["outbox"],
        json!(0),
        "device A's outbox is empty"
    );
    assert_eq!(
        pull.result["answers"],
        json!(visits * 60),
        "device B holds every answer"
    );
    assert_eq!(pull.result["notes"], json!(visits * 2));
    assert_eq!(pull.result["completed"], json!(visits));
    if !hwm_reset {
        println!(
            "[{backend}] note: could not reset the server's VmHWM; server peaks are cumulative"
        );
    }
    let secs = |p: &Phase| p.result["secs"].as_f64().unwrap_or(f64::NAN);
    let n_noop = noop.result["n"].as_u64().unwrap_or(1);
    vec![
        format!(
            "| {backend} | push (A → empty server) | {pushed} | {:.2} s | {:.0} | {:.1} MB up / {:.1} MB down ({} requests, {} compressed up, {} compressed down) | {:.0} MB | {:.0} MB |",
            secs(&push),
            pushed as f64 / secs(&push),
            mb(push.wire[0]),
            mb(push.wire[1]),
            push.wire[2],
            push.wire[3],
            push.wire[4],
            push.result["hwm_kb"].as_f64().unwrap_or(0.0) / 1e3,
            push.server_kb as f64 / 1e3,
        ),
        format!(
            "| {backend} | pull (fresh B ← server) | {pulled} | {:.2} s | {:.0} | {:.1} MB up / {:.1} MB down ({} requests, {} compressed down) | {:.0} MB | {:.0} MB |",
            secs(&pull),
            pulled as f64 / secs(&pull),
            mb(pull.wire[0]),
            mb(pull.wire[1]),
            pull.wire[2],
            pull.wire[4],
            pull.result["hwm_kb"].as_f64().unwrap_or(0.0) / 1e3,
            pull.server_kb as f64 / 1e3,
        ),
        format!(
            "| {backend} | no-op sync (median of {n_noop}; p90 {:.1} ms) | 0 | {:.1} ms | – | {} B up / {} B down per sync ({} requests) | {:.0} MB | {:.0} MB |",
            noop.result["p90_ms"].as_f64().unwrap_or(f64::NAN),
            noop.result["median_ms"].as_f64().unwrap_or(f64::NAN),
            noop.wire[0] / n_noop,
            noop.wire[1] / n_noop,
            noop.wire[2],
            noop.result["hwm_kb"].as_f64().unwrap_or(0.0) / 1e3,
            noop.server_kb as f64 / 1e3,
        ),
    ]
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn conductor_main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: a small smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let visits = env_usize("VOORDEUR_BENCH_VISITS", if full { 10_000 } else { 20 });
    let households = env_usize("VOORDEUR_BENCH_HOUSEHOLDS", (visits / 10).max(1));
    let backends =
        std::env::var("VOORDEUR_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let t = Instant::now();
    let mut rows = Vec::new();
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        rows.extend(run(backend, visits, households));
    }
    println!();
    println!(
        "{visits} completed visits (76 changes each: 6 start, 60 answers, 2 notes × 4, 2 complete) at {households} households"
    );
    println!("| backend | phase | changes | time | changes/s | wire (HTTP bytes via proxy) | client peak | server peak |");
    println!("|---|---|---:|---:|---:|---|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    println!("(whole bench {:.0} s)", t.elapsed().as_secs_f64());
}

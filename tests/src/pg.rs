//! A throwaway PostgreSQL cluster for tests: one per test process, started on first use,
//! with a fresh empty database per test.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (containers, CI) the
//! server programs run as the `postgres` user. Statics are never dropped, so a detached
//! watchdog shell stops and deletes the cluster once the test process is gone.
//!
//! Tests against PostgreSQL are never skipped: without the binaries they fail, saying
//! how to install them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where Debian's postgresql-15 package puts the server programs. `VOORDEUR_PG_BIN`
/// overrides it.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// One running cluster, listening on 127.0.0.1.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    next_db: AtomicUsize,
}

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(PgCluster::start)
}

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

fn bin_dir() -> PathBuf {
    std::env::var_os("VOORDEUR_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A command for one of the PostgreSQL programs, as the `postgres` user when we are
/// root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: could not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgCluster {
    fn start() -> PgCluster {
        let bin = bin_dir();
        let (initdb, pg_ctl) = (bin.join("initdb"), bin.join("pg_ctl"));
        if !initdb.exists() || !pg_ctl.exists() {
            panic!(
                "PostgreSQL server programs not found in {} (initdb, pg_ctl): run `.ci/run` or \
                 `make deps` to install PostgreSQL 15, or point VOORDEUR_PG_BIN at them. \
                 The PostgreSQL tests are never skipped.",
                bin.display()
            );
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("voordeur-pg-{}-{nanos:09}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let root = is_root();
        if root {
            check(
                "chown of the cluster directory to postgres",
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&dir)
                    .output(),
            );
        }
        spawn_watchdog(&dir, &pg_ctl, root);

        let data = dir.join("data");
        check(
            "initdb",
            pg_command(&initdb)
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
                .stdin(Stdio::null())
                .output(),
        );

        // The port is free when we look; someone may take it before PostgreSQL binds it.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let out = pg_command(&pg_ctl)
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c max_connections=200",
                    dir.display()
                ))
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "start"])
                .stdin(Stdio::null())
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                return PgCluster {
                    dir,
                    port,
                    next_db: AtomicUsize::new(1),
                };
            }
            last_error = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed five times:\n{last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data, the log and the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of a database of this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("t{}", self.next_db.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }
}

/// Stop and delete the cluster when this process is gone. The loop ends by itself: it
/// polls whether the test process still exists.
fn spawn_watchdog(dir: &Path, pg_ctl: &Path, root: bool) {
    const SCRIPT: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
if [ "$4" = 1 ]; then
  runuser -u postgres -- "$3" -D "$2/data" stop -m immediate
else
  "$3" -D "$2/data" stop -m immediate
fi >/dev/null 2>&1
rm -rf "$2""#;
    let mut watchdog = Command::new("setsid")
        .args(["sh", "-c", SCRIPT, "voordeur-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(pg_ctl)
        .arg(if root { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cluster watchdog (setsid sh)");
    // It outlives this process by design; reap it should it end before.
    std::thread::spawn(move || watchdog.wait());
}

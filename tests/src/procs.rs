//! Real processes on loopback: the workspace's `voordeur-server` and `voordeur`
//! binaries, started the way a person or a support script would, each owned by a guard
//! that kills and reaps it when dropped — also when an assertion fails half-way.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::pg::free_port;

/// How long a server may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A binary of the workspace (`target/debug/NAME`), found from this test's own
/// executable (`target/debug/deps/…`), so `CARGO_TARGET_DIR` is respected.
pub fn bin(name: &str) -> PathBuf {
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

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    pub fn new(child: Child) -> Proc {
        Proc { child: Some(child) }
    }

    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait for the process to end by itself, at most `timeout`; `None` if it still
    /// runs (it is left running: the guard kills it).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap. Harmless when the process
    /// has already ended.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `voordeur-server` on SQLite, serving the demo municipality.
#[derive(Debug)]
pub struct Server {
    pub proc: Proc,
    pub url: String,
    pub port: u16,
    /// The database file.
    pub db: PathBuf,
    /// `(user, one-time enrolment code)` as printed at start-up.
    pub codes: Vec<(String, String)>,
}

impl Server {
    /// The enrolment code printed for `user` at this start.
    pub fn code(&self, user: &str) -> String {
        self.codes
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no enrolment code for {user}: {:?}", self.codes))
    }

    /// A new one-time enrolment code for `user`, from the admin command (which works
    /// on the database while the server runs).
    pub fn new_code(&self, user: &str) -> String {
        let out = Command::new(bin("voordeur-server"))
            .arg("--db")
            .arg(&self.db)
            .args(["enrol-code", "--user", user])
            .env_remove("VOORDEUR_DB")
            .stdin(Stdio::null())
            .output()
            .expect("run voordeur-server enrol-code");
        assert!(
            out.status.success(),
            "voordeur-server enrol-code --user {user} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Kill the server with SIGKILL (no graceful shutdown) and reap it.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

/// Start a demo server on `dir/server.db` on a free loopback port.
pub fn start_server(dir: &Path) -> Server {
    start_server_at(&dir.join("server.db"), free_port())
}

/// Start a demo server on a given database file and port (a restart uses the same
/// ones). Its output goes next to the database, to `server-PORT-N.out` / `.err`.
pub fn start_server_at(db: &Path, port: u16) -> Server {
    let dir = db.parent().expect("database folder");
    start_server_on(&db.display().to_string(), dir, port, true)
}

/// Start `voordeur-server serve` on any database URL (`--demo` seeds it, once), its
/// output in `log_dir`. `Server::db` is then the URL, as the admin commands take it.
pub fn start_server_on(db: &str, log_dir: &Path, port: u16, demo: bool) -> Server {
    let dir = log_dir;
    let mut n = 0;
    let (out, err) = loop {
        let out = dir.join(format!("server-{port}-{n}.out"));
        if !out.exists() {
            break (out, dir.join(format!("server-{port}-{n}.err")));
        }
        n += 1;
    };
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", listen.as_str()];
    if demo {
        args.push("--demo");
    }
    let child = Command::new(bin("voordeur-server"))
        .arg("--db")
        .arg(db)
        .args(&args)
        .env_remove("VOORDEUR_DB")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("server out file"))
        .stderr(std::fs::File::create(&err).expect("server err file"))
        .spawn()
        .expect("start voordeur-server");
    // Owned by the guard from here on, so a failed start still stops the process.
    let mut server = Server {
        proc: Proc::new(child),
        url: format!("http://127.0.0.1:{port}"),
        port,
        db: PathBuf::from(db),
        codes: Vec::new(),
    };
    let deadline = Instant::now() + START_DEADLINE;
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
        if let Some(status) = server.proc.try_wait() {
            panic!(
                "voordeur-server on port {port} ended at start ({status}): {text}\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "voordeur-server on port {port} did not start: {text}\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A device folder driven through the `voordeur` CLI, one process per command.
#[derive(Clone, Debug)]
pub struct Device {
    pub dir: PathBuf,
}

impl Device {
    pub fn new(dir: impl Into<PathBuf>) -> Device {
        Device { dir: dir.into() }
    }

    /// `voordeur --data DIR ARGS…`, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("voordeur"));
        c.arg("--data")
            .arg(&self.dir)
            .args(args)
            .env_remove("VOORDEUR_DATA")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run voordeur")
    }

    /// Run; it must succeed. Returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "voordeur {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run with `--json`; it must succeed. Returns the parsed stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("voordeur {all:?}: output is not JSON ({e}): {text}"))
    }

    /// The `id` of a created record.
    pub fn id(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().expect("id").to_string()
    }

    pub fn sync(&self) -> Value {
        self.json(&["sync"])
    }

    /// Enrol with the code the server printed for `user` at start-up; checks the
    /// answer names the user.
    pub fn enrol(&self, server: &Server, user: &str) -> Value {
        self.enrol_with(server, user, &server.code(user))
    }

    /// Enrol as `user` with a given code.
    pub fn enrol_with(&self, server: &Server, user: &str, code: &str) -> Value {
        let info = self.json(&["enroll", "--server", &server.url, "--code", code]);
        assert_eq!(info["name"], user, "enrolled as someone else: {info}");
        info
    }
}

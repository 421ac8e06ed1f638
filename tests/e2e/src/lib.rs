//! voordeur-e2e: the real app binary (`target/debug/voordeur-app`) under Xvfb, driven
//! over WebDriver — `tauri-driver` in front of `WebKitWebDriver` — with the sync server
//! and the headless client started as real processes by `voordeur-tests`' [`procs`].
//!
//! * [`Display`] — the X server the app draws on: `$DISPLAY` when set, else a fresh
//!   `Xvfb` on a free display number (1280×1280, so both tablet orientations fit);
//! * [`App`] — one `tauri-driver` (in its own process group, with `VOORDEUR_DATA` set
//!   for the app it launches) and one WebDriver session (fantoccini) on it;
//! * [`App::assert_accessible`] — axe-core (from `tests/e2e/node_modules`, which
//!   `npm ci` installs) injected into the page, run for WCAG 2.0/2.1 A and AA, every
//!   violation printed;
//! * screenshots into `tests/e2e/artifacts/`.
//!
//! Every process is owned by a guard that kills and reaps it when dropped, also when an
//! assertion fails half-way; every wait has a deadline.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use voordeur_tests::procs;
use voordeur_tests::procs::{free_port, Proc};

/// How long the X server, tauri-driver and a WebDriver session may take to start.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long a screen may take to show what a step expects.
pub const STEP: Duration = Duration::from_secs(20);

/// The WCAG tags axe checks: WCAG 2.0 and 2.1, levels A and AA (what Dutch public
/// bodies must meet).
pub const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// This crate's folder (`tests/e2e`).
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where screenshots go: `tests/e2e/artifacts/` (ignored by git), or
/// `$VOORDEUR_E2E_ARTIFACTS`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("VOORDEUR_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

/// The cargo target folder, found from this test's own executable
/// (`target/PROFILE/deps/…`), so `CARGO_TARGET_DIR` is respected.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// The app binary: `$VOORDEUR_APP`, else `target/debug/voordeur-app`.
pub fn app_binary() -> PathBuf {
    // A relative `$VOORDEUR_APP` is taken from the workspace root (tests run in
    // tests/e2e).
    let workspace = crate_dir().ancestors().nth(2).unwrap_or(crate_dir());
    let path = std::env::var_os("VOORDEUR_APP")
        .map(|p| workspace.join(p))
        .unwrap_or_else(|| target_dir().join("debug").join("voordeur-app"));
    assert!(
        path.exists(),
        "{} is missing: build it with `cd ui && npm run build && cargo build -p voordeur-app` \
         (make test-e2e does)",
        path.display()
    );
    std::fs::canonicalize(&path).expect("absolute app path")
}

/// `tauri-driver`: `$TAURI_DRIVER`, else on `PATH`, else `~/.cargo/bin/tauri-driver`.
pub fn tauri_driver_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tauri-driver"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
                .filter(|p| p.is_file())
        })
        .expect("tauri-driver is missing: `cargo install tauri-driver --locked` (make deps does)")
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

// ---------------------------------------------------------------------------------
// The X server

/// The X display the app draws on.
#[derive(Debug)]
pub struct Display {
    /// `:N`.
    pub name: String,
    /// Our own Xvfb, stopped when dropped; `None` when `$DISPLAY` was set.
    _xvfb: Option<Proc>,
}

impl Drop for Display {
    /// Stop our Xvfb with SIGTERM first, so it removes its `/tmp/.X<N>-lock` and
    /// socket (a SIGKILLed Xvfb leaves them behind, and they pile up run after run).
    fn drop(&mut self) {
        if let Some(xvfb) = self._xvfb.as_mut() {
            if let Some(pid) = xvfb.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
                xvfb.wait_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// Is display `n` taken: a lock file of a live process, or (without a lock) a socket?
/// A lock whose process is gone is stale: it and its socket are removed, so the display
/// is free again (and the socket appearing means our Xvfb is up, not the old one).
fn display_taken(n: u32) -> bool {
    let (lock, socket) = (format!("/tmp/.X{n}-lock"), format!("/tmp/.X11-unix/X{n}"));
    match std::fs::read_to_string(&lock) {
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(pid) if !Path::new(&format!("/proc/{pid}")).exists() => {
                let _ = std::fs::remove_file(&socket);
                std::fs::remove_file(&lock).is_err()
            }
            _ => true,
        },
        Err(_) => Path::new(&socket).exists(),
    }
}

impl Display {
    /// `$DISPLAY` when set (a developer's desktop, or an Xvfb someone started), else a
    /// new `Xvfb :N -screen 0 1280x1280x24` on a free display number.
    pub fn get() -> Display {
        match std::env::var("DISPLAY") {
            Ok(name) if !name.is_empty() => Display { name, _xvfb: None },
            _ => Display::xvfb(),
        }
    }

    /// A new Xvfb on the first free display number from :90 up, large enough for the
    /// window in both tablet orientations (1280×800 and 800×1280).
    pub fn xvfb() -> Display {
        for n in 90..190u32 {
            if display_taken(n) {
                continue;
            }
            let name = format!(":{n}");
            let child = Command::new("Xvfb")
                .args([&name, "-screen", "0", "1280x1280x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb (apt-get install xvfb; make deps does)");
            let mut proc = Proc::new(child);
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let end = Instant::now() + START_DEADLINE;
            loop {
                if proc.try_wait().is_some() {
                    // Lost a race for this number: try the next one.
                    break;
                }
                if socket.exists() {
                    return Display {
                        name,
                        _xvfb: Some(proc),
                    };
                }
                assert!(Instant::now() < end, "Xvfb {name} did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free X display number between :90 and :189");
    }

    /// A screenshot of the whole X screen (`import -window root`), the fallback when
    /// WebDriver cannot take one.
    pub fn import_root(&self, path: &Path) -> bool {
        Command::new("import")
            .args(["-display", &self.name, "-window", "root"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

// ---------------------------------------------------------------------------------
// tauri-driver

/// `tauri-driver` in its own process group: it starts `WebKitWebDriver`, which starts
/// the app; dropping the guard ends the whole group (TERM, then KILL) and reaps
/// tauri-driver.
#[derive(Debug)]
pub struct TauriDriver {
    proc: Proc,
    pgid: u32,
    stopped: bool,
    pub port: u16,
    pub log: PathBuf,
}

impl TauriDriver {
    /// Start tauri-driver on free ports; `env` goes to the app it launches.
    pub fn start(display: &Display, env: &[(String, OsString)], log_dir: &Path) -> TauriDriver {
        let port = free_port();
        let mut native = free_port();
        while native == port {
            native = free_port();
        }
        let log = log_dir.join(format!("tauri-driver-{port}.log"));
        let mut cmd = Command::new(tauri_driver_binary());
        cmd.args(["--port", &port.to_string()])
            .args(["--native-port", &native.to_string()])
            .arg("--native-driver")
            .arg(std::env::var_os("WEBKIT_WEBDRIVER").unwrap_or("/usr/bin/WebKitWebDriver".into()))
            .env("DISPLAY", &display.name)
            // The app's window must not be tied to a desktop session we do not own.
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("driver log"))
            .stderr(std::fs::File::create(log.with_extension("err")).expect("driver log"))
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start tauri-driver");
        let pgid = child.id();
        let mut driver = TauriDriver {
            proc: Proc::new(child),
            pgid,
            stopped: false,
            port,
            log,
        };
        let end = Instant::now() + START_DEADLINE;
        // Both: tauri-driver's own port, and WebKitWebDriver's behind it (until that
        // listens, tauri-driver drops the requests it forwards).
        while !(port_open(port) && port_open(native)) {
            if let Some(status) = driver.proc.try_wait() {
                panic!(
                    "tauri-driver ended at start ({status}): {}",
                    std::fs::read_to_string(driver.log.with_extension("err")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < end,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.pgid)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// End tauri-driver, WebKitWebDriver and the app: TERM to the group, KILL after a
    /// grace period, reap tauri-driver.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if self.proc.try_wait().is_none() {
            self.signal_group("-TERM");
            self.proc.wait_timeout(Duration::from_secs(5));
        }
        // Whatever of the group is left (WebKitWebDriver, the app).
        self.signal_group("-KILL");
        self.proc.kill();
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------
// The app over WebDriver

/// The app, launched by a WebDriver session on its own tauri-driver.
pub struct App {
    client: Option<Client>,
    /// Dropped after the session (fields drop in order): ends the app's processes.
    driver: TauriDriver,
    pub display_name: String,
    pub artifacts: PathBuf,
    /// Screenshot names are `PREFIX-NAME.png`.
    pub prefix: String,
}

impl App {
    /// Start tauri-driver (with `VOORDEUR_DATA=data_dir` for the app) and a session
    /// that launches `app`. Returns once the page is loaded (WebDriver's normal page
    /// load strategy).
    pub async fn launch(display: &Display, app: &Path, data_dir: &Path, prefix: &str) -> App {
        App::launch_with(display, app, data_dir, prefix, &[]).await
    }

    /// [`App::launch`] with more environment for the app (`VOORDEUR_SYNC_INTERVAL_SECS`…).
    ///
    /// The app's web storage (the chosen language…) lives under `XDG_DATA_HOME`: it is
    /// pointed into `data_dir/xdg` so that every run starts as a fresh install.
    pub async fn launch_with(
        display: &Display,
        app: &Path,
        data_dir: &Path,
        prefix: &str,
        extra_env: &[(&str, &str)],
    ) -> App {
        let artifacts = artifacts_dir();
        std::fs::create_dir_all(data_dir).expect("device folder");
        let mut env: Vec<(String, OsString)> = vec![("VOORDEUR_DATA".into(), data_dir.into())];
        for (var, sub) in [
            ("XDG_DATA_HOME", "data"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            let dir = data_dir.join("xdg").join(sub);
            std::fs::create_dir_all(&dir).expect("xdg folder");
            env.push((var.into(), dir.into()));
        }
        for (k, v) in extra_env {
            env.push(((*k).into(), (*v).into()));
        }
        let driver = TauriDriver::start(display, &env, data_dir);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".to_string(),
            json!({ "application": app.to_string_lossy() }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        // A refused or dropped connection while the drivers settle is tried again.
        let end = Instant::now() + START_DEADLINE;
        let client = loop {
            use fantoccini::error::NewSessionError as E;
            match tokio::time::timeout(START_DEADLINE, builder.connect(&driver.url())).await {
                Ok(Ok(c)) => break c,
                Ok(Err(e @ (E::Failed(_) | E::FailedC(_) | E::Lost(_))))
                    if Instant::now() < end =>
                {
                    eprintln!("no WebDriver session yet ({e}); trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(Err(e)) => panic!(
                    "no WebDriver session with the app: {e}\n{}",
                    std::fs::read_to_string(driver.log.with_extension("err")).unwrap_or_default()
                ),
                Err(_) => panic!("no WebDriver session within {START_DEADLINE:?}"),
            }
        };
        App {
            client: Some(client),
            driver,
            display_name: display.name.clone(),
            artifacts,
            prefix: prefix.to_string(),
        }
    }

    /// Start a session and time it: `(app, time from the session request to the
    /// element matched by `css` being present)`.
    pub async fn launch_timed(
        display: &Display,
        app: &Path,
        data_dir: &Path,
        css: &str,
    ) -> (App, Duration) {
        let start = Instant::now();
        let a = App::launch(display, app, data_dir, "bench").await;
        a.client()
            .wait()
            .at_most(STEP)
            .every(Duration::from_millis(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
        (a, start.elapsed())
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    /// The process id of the app (the child of WebKitWebDriver in tauri-driver's
    /// group whose command is the app binary).
    pub fn app_pid(&self, app: &Path) -> Option<u32> {
        let want = app.file_name()?.to_string_lossy().into_owned();
        let entries = std::fs::read_dir("/proc").ok()?;
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // pid (comm) state ppid pgrp …
                let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
                let pgrp = after.split_whitespace().nth(2);
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                pgrp == Some(&self.driver.pgid.to_string())
                    && exe.is_some_and(|p| p.file_name().is_some_and(|n| *n == *want))
            })
    }

    /// End the session (the app quits) and tauri-driver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
        self.driver.stop();
    }

    /// Run `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Poll `script` until it returns something truthy (not null, false, 0 or ""),
    /// at most `timeout`; returns that value. On time-out: a screenshot and a panic
    /// with the page's text.
    pub async fn wait_js(
        &self,
        what: &str,
        timeout: Duration,
        script: &str,
        args: Vec<Value>,
    ) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let v = self
                .client()
                .execute(script, args.clone())
                .await
                .unwrap_or(Value::Null);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= end {
                let shot = self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!(
                    "{what}: not seen within {timeout:?} (screenshot {}).\nPage text:\n{}",
                    shot.display(),
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the page's visible text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        self.wait_js(
            &format!("text {needle:?}"),
            STEP,
            "return document.body.innerText.includes(arguments[0]);",
            vec![json!(needle)],
        )
        .await;
    }

    /// Wait until the page's visible text matches the JavaScript regular expression
    /// `pattern`; returns the first match.
    pub async fn wait_text_matching(&self, pattern: &str, timeout: Duration) -> String {
        self.wait_js(
            &format!("text /{pattern}/"),
            timeout,
            "const m = document.body.innerText.match(new RegExp(arguments[0])); return m ? m[0] : null;",
            vec![json!(pattern)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// The first element matching `xpath`, waiting for it at most [`STEP`].
    pub async fn element(&self, xpath: &str) -> Element {
        match self
            .client()
            .wait()
            .at_most(STEP)
            .every(Duration::from_millis(100))
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let shot = self.screenshot(&format!("missing-{}", slug(xpath))).await;
                panic!(
                    "no element {xpath} ({e}; screenshot {}).\nPage text:\n{}",
                    shot.display(),
                    self.text().await
                )
            }
        }
    }

    /// The form control labelled `label` (by `<label for>`, a wrapping `<label>`,
    /// `aria-label` or `aria-labelledby`), the way a screen reader names it.
    pub async fn labelled(&self, label: &str) -> Element {
        let l = xpath_literal(label);
        let controls = "self::input or self::textarea or self::select or self::button";
        self.element(&format!(
            "(//*[({controls}) and @id=//label[normalize-space(.)={l}]/@for]\
             | //label[normalize-space(.)={l}]//*[{controls}]\
             | //*[({controls}) and normalize-space(@aria-label)={l}]\
             | //*[({controls}) and @aria-labelledby=//*[normalize-space(.)={l}]/@id])[1]"
        ))
        .await
    }

    /// A button (or link, or element with role button) whose accessible text is `name`.
    pub async fn button(&self, name: &str) -> Element {
        let l = xpath_literal(name);
        self.element(&format!(
            "(//button[normalize-space(.)={l} or normalize-space(@aria-label)={l}]\
             | //a[normalize-space(.)={l} or normalize-space(@aria-label)={l}]\
             | //*[@role='button' and (normalize-space(.)={l} or normalize-space(@aria-label)={l})])[1]"
        ))
        .await
    }

    /// Type into the control labelled `label` (real key events, as a person types).
    pub async fn type_into(&self, label: &str, text: &str) {
        let field = self.labelled(label).await;
        field.clear().await.expect("clear field");
        field.send_keys(text).await.expect("type");
    }

    /// Click an element, scrolled to the middle of the screen first (as a person
    /// scrolls to what they tap), so the sticky header does not cover it.
    pub async fn click(&self, e: &Element) {
        let arg = serde_json::to_value(e).expect("element reference");
        self.client()
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});",
                vec![arg],
            )
            .await
            .expect("scroll into view");
        e.click().await.expect("click");
    }

    /// Press and release one key (WebDriver actions: real key events, at whatever has
    /// the focus), as a person without a mouse does.
    pub async fn press(&self, key: Key) {
        let k: char = key.into();
        let keys = KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        self.client()
            .perform_actions(keys)
            .await
            .unwrap_or_else(|e| panic!("press {key:?}: {e}"));
    }

    /// Where the keyboard focus is: `{tag, id, text, ring, focusVisible, inView}`
    /// (`ring`: an outline is drawn on the element or on an ancestor that draws its
    /// ring, such as a household card; `inView`: inside the viewport), or null when
    /// nothing but the page has it.
    pub async fn focus(&self) -> Value {
        self.js(FOCUS_JS, vec![]).await
    }

    /// Press Tab (at most `max` times) until `test` — a JavaScript expression on the
    /// focused element `a` — holds; every stop on the way must show where the focus is
    /// (a visible ring). Returns [`App::focus`] of where it stopped.
    pub async fn tab_to(&self, what: &str, test: &str, max: usize) -> Value {
        let script = format!(
            "const a = document.activeElement; return Boolean(a && a !== document.body && ({test}));"
        );
        let mut path = Vec::new();
        for _ in 0..max {
            self.press(Key::Tab).await;
            let focus = self.focus().await;
            path.push(focus["text"].as_str().unwrap_or("").to_string());
            if !focus.is_null() {
                assert!(
                    focus["ring"] == json!(true) && focus["inView"] == json!(true),
                    "tabbing to {what}: the focus is not visible on {focus}"
                );
            }
            if self.js(&script, vec![]).await == json!(true) {
                return focus;
            }
        }
        let shot = self.screenshot(&format!("tab-{}", slug(what))).await;
        panic!(
            "{what}: not reached with {max} Tabs (screenshot {}); the focus went {path:?}",
            shot.display()
        );
    }

    /// Set the window to `width`×`height` and check the page really has that width
    /// (the viewport's height is the window's less nothing: no decorations under
    /// Xvfb without a window manager). Returns the viewport size.
    pub async fn resize(&self, width: u32, height: u32) -> (u64, u64) {
        self.client()
            .set_window_rect(0, 0, width, height)
            .await
            .expect("set window rect");
        let v = self
            .wait_js(
                &format!("viewport {width}x{height}"),
                STEP,
                "return window.innerWidth === arguments[0] ? [window.innerWidth, window.innerHeight] : null;",
                vec![json!(width)],
            )
            .await;
        (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
    }

    /// Save a screenshot as `artifacts/PREFIX-NAME.png`: WebDriver's, or the whole X
    /// screen when WebDriver cannot take one. Returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = self.artifacts.join(format!("{}-{}.png", self.prefix, name));
        // Two animation frames first, so the picture shows the page as it is now and
        // not the last frame painted before the step's changes.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.client().execute_async(
                "const done = arguments[arguments.length - 1];\
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            ),
        )
        .await;
        match self.client().screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("write screenshot"),
            Err(e) => {
                let display = Display {
                    name: self.display_name.clone(),
                    _xvfb: None,
                };
                assert!(
                    display.import_root(&path),
                    "no screenshot: WebDriver said {e} and `import -window root` failed"
                );
            }
        }
        path
    }

    /// Run axe-core on the page for [`WCAG_TAGS`]; returns the violations, each
    /// written out readably (rule, impact, help, every node with its target and what
    /// to fix). Empty when the page passes.
    pub async fn axe_violations(&self) -> Vec<String> {
        let loaded = self
            .js("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != Value::Bool(true) {
            // Injected as a script run by WebDriver: the page's CSP does not apply.
            let source = axe_source();
            self.client()
                .execute(&format!("{source}\n;return typeof window.axe;"), vec![])
                .await
                .expect("inject axe-core");
        }
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            self.client().execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })\
                   .then(r => done({ violations: r.violations.map(v => ({\
                     id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,\
                     nodes: v.nodes.map(n => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary })) })) }))\
                   .catch(e => done({ error: String(e && e.stack || e) }));",
                vec![json!(WCAG_TAGS)],
            ),
        )
        .await
        .expect("axe-core did not finish within 60 s")
        .expect("run axe-core");
        if let Some(e) = result.get("error") {
            panic!("axe-core failed: {e}");
        }
        result["violations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| {
                let mut s = format!(
                    "[{}] {} — {} ({})",
                    v["impact"].as_str().unwrap_or("?"),
                    v["id"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or(""),
                    v["helpUrl"].as_str().unwrap_or("")
                );
                for n in v["nodes"].as_array().into_iter().flatten() {
                    s.push_str(&format!(
                        "\n    at {}\n       {}\n       {}",
                        n["target"].as_str().unwrap_or(""),
                        n["html"].as_str().unwrap_or(""),
                        n["summary"]
                            .as_str()
                            .unwrap_or("")
                            .replace('\n', "\n       ")
                    ));
                }
                s
            })
            .collect()
    }

    /// axe-core must find no WCAG 2.1 A/AA violation on the page as it is now; `what`
    /// names the screen in the failure (with a screenshot).
    pub async fn assert_accessible(&self, what: &str) {
        let violations = self.axe_violations().await;
        if !violations.is_empty() {
            let shot = self.screenshot(&format!("axe-{}", slug(what))).await;
            panic!(
                "axe-core: {} WCAG 2.1 A/AA violation(s) on {what} (screenshot {}):\n{}",
                violations.len(),
                shot.display(),
                violations.join("\n")
            );
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // The session is not closed politely here (that needs the runtime); ending
        // the driver's process group ends the app. `close()` is the polite way.
        self.driver.stop();
    }
}

/// The focused element, described (see [`App::focus`]).
const FOCUS_JS: &str = "const a = document.activeElement;\
     if (!a || a === document.body) return null;\
     let ring = false;\
     for (let e = a; e && e !== document.body && !ring; e = e.parentElement) {\
       const s = getComputedStyle(e);\
       ring = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;\
     }\
     const r = a.getBoundingClientRect();\
     return { tag: a.tagName.toLowerCase(), id: a.id,\
       text: (a.getAttribute('aria-label') || a.innerText || a.value || '').replace(/\\s+/g, ' ').trim().slice(0, 80),\
       ring, focusVisible: a.matches(':focus-visible'),\
       inView: r.width > 0 && r.bottom > 0 && r.top < window.innerHeight };";

/// axe-core's browser build, from `tests/e2e/node_modules` (`npm ci` in tests/e2e).
pub fn axe_source() -> String {
    let path = crate_dir().join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `npm ci` in tests/e2e (make test-e2e does)",
            path.display()
        )
    })
}

/// A string as an XPath 1.0 literal (which has no escapes).
pub fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-")
}

/// Resident memory (VmRSS) of a process, in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The median of some durations.
pub fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_literals_quote_any_text() {
        assert_eq!(xpath_literal("Zoeken"), "'Zoeken'");
        assert_eq!(xpath_literal("it's"), "\"it's\"");
        assert_eq!(xpath_literal("a'b\"c"), "concat('a', \"'\", 'b\"c')");
    }

    #[test]
    fn medians() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("text \"30 huishoudens\""), "text-30-huishoudens");
    }
}

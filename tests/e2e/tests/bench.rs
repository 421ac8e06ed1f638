//! The app benchmark of issue 4, on the real app under Xvfb over WebDriver, with 5,000
//! households in the device store:
//!
//! 1. launch to an interactive household list: from the WebDriver session request
//!    (which starts the app) to the first household link present, median of runs;
//! 2. opening a visit: from setting the route in the page to its checklist shown — the
//!    visit opens on its first section (one section at a time), so: the section
//!    navigator with every section's button and the first section's last item present
//!    ([`VISIT_READY`]), and then the frame that draws them painted — timed in the page,
//!    median of runs;
//! 3. idle memory: VmRSS of the app process and of its WebKit processes after 10 s idle;
//! 4. the size of the app binary (and of the release binary when it is built).
//!
//! Not part of `make test-e2e`; run by hand (figures in BENCHMARKS.md):
//!
//! ```sh
//! cargo test -p voordeur-e2e --test bench -- --ignored --nocapture
//! VOORDEUR_APP=target/release/voordeur-app cargo test -p voordeur-e2e --test bench -- --ignored --nocapture
//! ```

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use voordeur_core::{EntityKind, HouseholdId, TemplateId};
use voordeur_e2e::procs::{start_server, Device};
use voordeur_e2e::{app_binary, median, vm_rss_kib, App, Display};
use voordeur_store::Store;

const HOUSEHOLDS: usize = 5_000;
const BATCH: usize = 1_000;
const LAUNCHES: usize = 5;
const VISIT_OPENS: usize = 7;
/// How long the screen a visit is opened from is left to settle first.
const SETTLE: Duration = Duration::from_millis(500);
/// The sample template (`templates/huisbezoek-basis.json`), as the demo server serves it.
const TEMPLATE: &str = "01930000-0000-7000-8000-000000000001";
/// The first household link of the list: present = the list is there to tap.
const LIST_READY: &str = "main li a[href^='#/household/']";
/// The visit screen is there to use: the section navigator down to the last section's
/// button, and the first section ("Geld en schulden") down to its last item shown with
/// the bench visit's answers (`geld.toeslagen_recht` only shows after "geen" toeslagen).
/// Every selector must match. `VOORDEUR_BENCH_VISIT_READY` (one selector) overrides it,
/// to time a build from before the sections with its old marker,
/// `[data-item="afsluiting.samenvatting"]`: the last item of the whole template.
const VISIT_READY: &[&str] = &[
    "[data-section-nav] [data-section='afsluiting']",
    "[data-section-panel='geld'] [data-item='geld.toeslagen']",
];
/// The page's own marks (`mark()` in ui/src/lib/prefetch.ts), ms from the page's start.
const PAGE_MARKS: &str = "return performance.getEntriesByType('mark')\
     .filter(m => m.name.startsWith('voordeur:'))\
     .map(m => m.name.slice(9) + ' ' + Math.round(m.startTime)).join(', ');";

const STREETS: &[&str] = &[
    "Kerkstraat",
    "Schoolstraat",
    "Molenstraat",
    "Dorpsstraat",
    "Beatrixlaan",
    "Stationsweg",
    "Kastanjelaan",
    "Eikenlaan",
    "Lindenlaan",
    "Rozenstraat",
    "Oranjestraat",
    "Zuiderdiep",
    "Herestraat",
    "Korreweg",
    "Damsterdiep",
    "Vondellaan",
];
const NAMES: &[&str] = &[
    "Jan de Jong",
    "Fatima Jansen",
    "Kees de Vries",
    "Anouk van den Berg",
    "Mohammed van Dijk",
    "Sanne Bakker",
    "Ayşe Visser",
    "Henk Smit",
    "Zoë Meijer",
    "Yusuf de Boer",
];

/// Add households (1–3 residents each) to an enrolled device's store, one transaction
/// per batch, through `make_change` + `commit` like the store benchmark does.
fn seed(store: &mut Store, n: usize) {
    let team = store.team_id().expect("team");
    let mut changes = Vec::new();
    for i in 0..n {
        let hid = HouseholdId::new();
        let c =
            |store: &Store, e, r, f: &str, v: Value| store.make_change(e, r, f, v).expect("change");
        let street = STREETS[i % STREETS.len()];
        let fields = [
            (
                "address",
                json!(format!("{street} {}", i / STREETS.len() + 1)),
            ),
            ("postcode", json!(format!("97{:02}AB", i % 100))),
            ("city", json!("Noorderstad")),
            ("neighbourhood", json!("Centrum")),
            ("team_id", json!(team)),
        ];
        for (f, v) in fields {
            changes.push(c(store, EntityKind::Household, hid.0, f, v));
        }
        for r in 0..(1 + i % 3) {
            let rid = uuid::Uuid::now_v7();
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "household_id",
                json!(hid),
            ));
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "name",
                json!(NAMES[(i + r) % NAMES.len()]),
            ));
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "birth_year",
                json!(1950 + (i % 50)),
            ));
            changes.push(c(store, EntityKind::Resident, rid, "contact", Value::Null));
        }
        if (i + 1) % BATCH == 0 || i + 1 == n {
            store.commit(&changes).expect("commit households");
            changes.clear();
        }
    }
}

/// VmRSS of `pid` and of every process below it (WebKit's web and network processes).
fn tree_rss_kib(pid: u32) -> (u64, u64) {
    let own = vm_rss_kib(pid).unwrap_or(0);
    let mut total = own;
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                total += vm_rss_kib(child).unwrap_or(0);
                queue.push(child);
            }
        }
    }
    (own, total)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Open the visit by setting the route in the page and time it there: `(present,
/// painted)`, see [`VISIT_READY`]. Prints the page's marks and the frames on the way.
async fn open_visit_timed(
    app: &App,
    visit: &voordeur_core::VisitId,
    ready: &[String],
    i: usize,
) -> (Duration, Duration) {
    let took = app
        .client()
        .execute_async(
            // Polled once a frame; once everything is present, one more frame: that
            // one starts after the frame showing it was painted.
            "const done = arguments[arguments.length - 1];\
             const ready = arguments[1];\
             const frames = [];\
             const t0 = performance.now();\
             location.hash = '#/visit/' + arguments[0];\
             (function poll() {\
               frames.push(Math.round(performance.now() - t0));\
               if (ready.every(css => document.querySelector(css))) {\
                 const present = performance.now() - t0;\
                 requestAnimationFrame(() => {\
                   const painted = performance.now() - t0;\
                   const at = n => Math.round(performance.getEntriesByName('voordeur:' + n)\
                     .filter(m => m.startTime >= t0).map(m => m.startTime - t0)[0] ?? -1);\
                   done([present, painted, at('visit-mount'), at('visit-data'), at('visit'), frames.join(' ')]);\
                 });\
               } else requestAnimationFrame(poll);\
             })();",
            vec![json!(visit), json!(ready)],
        )
        .await
        .expect("open the visit");
    let at = |i: usize| Duration::from_secs_f64(took[i].as_f64().unwrap_or(0.0) / 1000.0);
    let (present, painted) = (at(0), at(1));
    eprintln!(
        "open visit {i}: {:.1} ms painted ({:.1} ms present; in the page: screen mounted {}, \
         data {}, rendered {} ms; polled at {} ms)",
        painted.as_secs_f64() * 1000.0,
        present.as_secs_f64() * 1000.0,
        took[2],
        took[3],
        took[4],
        took[5].as_str().unwrap_or("")
    );
    (present, painted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test -p voordeur-e2e --test bench -- --ignored --nocapture"]
async fn app_with_5000_households() {
    let root = tempfile::tempdir().expect("tempdir");
    let server_dir = root.path().join("server");
    std::fs::create_dir_all(&server_dir).expect("server folder");
    let mut server = start_server(&server_dir);
    let dir = root.path().join("tablet");
    let device = Device::new(&dir);
    device.enrol(&server, "anna");
    device.sync();
    // On the doorstep: no connection (the app's start-up sync fails at once).
    server.kill();

    let t = Instant::now();
    let visit = {
        let mut store = Store::open_dir(&dir, None).expect("store");
        let have = device
            .json(&["household", "list"])
            .as_array()
            .map_or(0, Vec::len);
        seed(&mut store, HOUSEHOLDS - have);
        let first: HouseholdId = serde_json::from_value(
            device.json(&["household", "list", "--search", "Beukenhof"])[0]["id"].clone(),
        )
        .expect("household id");
        let template: TemplateId = serde_json::from_value(json!(TEMPLATE)).expect("template id");
        let visit = store.start_visit(first, template).expect("visit");
        for (item, value) in [
            ("geld.post_ongeopend", json!(true)),
            ("geld.achterstanden", json!(true)),
            ("geld.schuldbedrag", json!(2500)),
            ("wonen.staat_woning", json!(2)),
            ("sociaal.noodcontact", json!(true)),
            (
                "afsluiting.samenvatting",
                json!("Brief van de deurwaarder gezien."),
            ),
        ] {
            store.answer(visit, item, value).expect("answer");
        }
        visit
    };
    let count = device
        .json(&["household", "list", "--limit", "100000"])
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(count, HOUSEHOLDS);
    eprintln!(
        "seeded {HOUSEHOLDS} households in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let app_path = app_binary();
    let display = Display::get();
    let mut launches = Vec::new();
    let mut opens = Vec::new();
    let mut opens_present = Vec::new();
    let mut opens_light = Vec::new();
    let old_build = std::env::var("VOORDEUR_BENCH_VISIT_READY").ok();
    let visit_ready: Vec<String> = match &old_build {
        Some(css) => vec![css.clone()],
        None => VISIT_READY.iter().map(ToString::to_string).collect(),
    };
    let mut memory = (0, 0);
    for run in 0..LAUNCHES {
        let (app, took) = App::launch_timed(&display, &app_path, &dir, LIST_READY).await;
        let shown = app
            .wait_text_matching("[\\d.]+ huishoudens", Duration::from_secs(20))
            .await;
        if run == 0 {
            println!("BENCH the list shows: {shown}");
        }
        launches.push(took);
        let marks = app.js(PAGE_MARKS, vec![]).await;
        eprintln!(
            "launch {run}: {} (in the page, ms after its start: {})",
            ms(took),
            marks.as_str().unwrap_or("")
        );
        if run == 0 {
            app.resize(1280, 800).await;
            app.screenshot("list-5000").await;
            // Idle memory: 10 s with the list shown and nothing to do.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let pid = app.app_pid(&app_path).expect("app process");
            memory = tree_rss_kib(pid);
            for i in 0..VISIT_OPENS {
                let (present, painted) = open_visit_timed(&app, &visit, &visit_ready, i).await;
                opens.push(painted);
                opens_present.push(present);
                if i == 0 {
                    app.screenshot("visit").await;
                }
                app.js("location.hash = '#/';", vec![]).await;
                app.client()
                    .wait()
                    .at_most(Duration::from_secs(20))
                    .for_element(fantoccini::Locator::Css(LIST_READY))
                    .await
                    .expect("back to the list");
                // The whole first page of the list (60 cards; more on scrolling down),
                // so that every open tears down the same list.
                app.wait_js(
                    "the list's first page back",
                    Duration::from_secs(20),
                    "return document.querySelectorAll(arguments[0]).length >= 60;",
                    vec![json!(LIST_READY)],
                )
                .await;
                // And drawn: a worker's next tap comes later than the list's first
                // frame, whose drawing would otherwise be timed as part of the open.
                tokio::time::sleep(SETTLE).await;
            }
            // The same from the follow-ups screen: no household list to tear down.
            for i in 0..VISIT_OPENS {
                app.js("location.hash = '#/follow-ups';", vec![]).await;
                app.wait_text("Mijn afspraken").await;
                tokio::time::sleep(SETTLE).await;
                let (_, painted) = open_visit_timed(&app, &visit, &visit_ready, i).await;
                opens_light.push(painted);
            }
            app.js("location.hash = '#/';", vec![]).await;
        }
        if run == 0 && old_build.is_none() {
            // The visit at the portrait size too, and refused with required items open.
            app.resize(800, 1280).await;
            app.js(
                "location.hash = '#/visit/' + arguments[0];",
                vec![json!(visit)],
            )
            .await;
            app.wait_text("Onderdeel 1 van").await;
            app.screenshot("visit-800x1280").await;
            app.click(&app.button("Huisbezoek afronden").await).await;
            app.wait_text_matching("Nog \\d+ verplichte vragen open", Duration::from_secs(20))
                .await;
            app.screenshot("visit-refused-800x1280").await;
            app.resize(1280, 800).await;
            app.js("window.scrollTo(0, 0);", vec![]).await;
            app.screenshot("visit-refused-1280x800").await;
        }
        app.close().await;
    }

    let size = std::fs::metadata(&app_path).map_or(0, |m| m.len());
    let release = voordeur_e2e::target_dir()
        .join("release")
        .join("voordeur-app");
    let release_size = std::fs::metadata(&release).map(|m| m.len()).ok();
    println!("BENCH app: {}", app_path.display());
    println!(
        "BENCH launch to interactive list ({HOUSEHOLDS} households): median {} of {LAUNCHES} ({})",
        ms(median(&launches)),
        launches
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let list = |xs: &[Duration]| {
        xs.iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("BENCH open a visit: ready = {}", visit_ready.join(" + "));
    println!(
        "BENCH open a visit, to the frame showing it painted: median {:.1} ms of {VISIT_OPENS} ({})",
        median(&opens).as_secs_f64() * 1000.0,
        list(&opens)
    );
    println!(
        "BENCH open a visit, to it present in the page: median {:.1} ms of {VISIT_OPENS} ({})",
        median(&opens_present).as_secs_f64() * 1000.0,
        list(&opens_present)
    );
    println!(
        "BENCH open a visit from the follow-ups screen, painted: median {:.1} ms of {VISIT_OPENS} ({})",
        median(&opens_light).as_secs_f64() * 1000.0,
        list(&opens_light)
    );
    println!(
        "BENCH idle memory after 10 s: app process {} MiB, with its WebKit processes {} MiB",
        memory.0 / 1024,
        memory.1 / 1024
    );
    println!("BENCH binary size: {} ({})", mib(size), app_path.display());
    if let Some(r) = release_size {
        println!(
            "BENCH release binary size: {} ({})",
            mib(r),
            release.display()
        );
    }
}

//! The real app binary under Xvfb, driven over WebDriver, against a real
//! `voordeur-server` started by the test. Run with `make test-e2e` (it builds the UI
//! and the app first), or `cargo test -p voordeur-e2e -- --ignored --test-threads=1`.

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use voordeur_e2e::procs::{start_server, start_server_at, Device, Server};
use voordeur_e2e::{app_binary, App, Display, STEP};

/// The demo server in `root/server`.
fn server(root: &Path) -> Server {
    let dir = root.join("server");
    std::fs::create_dir_all(&dir).expect("server folder");
    start_server(&dir)
}

/// A device folder enrolled as `user` through the CLI and synced: what the app shows
/// when it opens on it.
fn enrolled_device(server: &Server, dir: &Path, user: &str) -> Device {
    let device = Device::new(dir);
    device.enrol(server, user);
    device.sync();
    device
}

/// The texts of the household list's items, as shown.
const LIST_ITEMS: &str =
    "return Array.from(document.querySelectorAll('main li')).map(li => li.innerText);";

/// The household list of a device enrolled and synced with the CLI: all 30 demo
/// households of team noord, search, both tablet sizes, screenshots, axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and the built app: make test-e2e"]
async fn household_list_and_search_at_both_tablet_sizes_pass_axe() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = server(root.path());
    let device_dir = root.path().join("tablet");
    let anna = enrolled_device(&server, &device_dir, "anna");
    let expected = anna.json(&["household", "list", "--search", "beukenhof"]);
    let expected = expected.as_array().expect("list").len();
    assert!(
        expected > 0 && expected < 30,
        "demo data: {expected} on Beukenhof"
    );

    let display = Display::get();
    let app = App::launch(&display, &app_binary(), &device_dir, "households").await;

    for (w, h) in [(1280, 800), (800, 1280)] {
        let (vw, vh) = app.resize(w, h).await;
        assert_eq!((vw, vh), (u64::from(w), u64::from(h)), "viewport");
        app.wait_text("30 huishoudens").await;
        let items = app.js(LIST_ITEMS, vec![]).await;
        assert_eq!(items.as_array().map(Vec::len), Some(30), "{items}");
        app.screenshot(&format!("list-{w}x{h}")).await;
        app.assert_accessible(&format!("the household list at {w}x{h}"))
            .await;
    }

    // The check itself works: an image without a text alternative is caught.
    app.js(
        "const i = document.createElement('img'); i.id = 'axe-probe';\
         i.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw='; document.querySelector('main').append(i);",
        vec![],
    )
    .await;
    let caught = app.axe_violations().await;
    assert!(
        caught
            .iter()
            .any(|v| v.contains("image-alt") && v.contains("#axe-probe")),
        "axe-core missed a planted violation: {caught:?}"
    );
    app.js("document.getElementById('axe-probe').remove();", vec![])
        .await;

    // Search as a person types: the list narrows to the households on Beukenhof, the
    // same ones the CLI finds on this device.
    app.resize(1280, 800).await;
    app.type_into("Zoeken", "beukenhof").await;
    let shown = app
        .wait_js(
            "only Beukenhof households",
            STEP,
            "const items = Array.from(document.querySelectorAll('main li')).map(li => li.innerText);\
             return items.length > 0 && items.length < 30 && items.every(t => /beukenhof/i.test(t)) ? items.length : null;",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(expected), "the app and the CLI find the same");
    app.screenshot("search-1280x800").await;
    app.assert_accessible("the search result at 1280x800").await;
    app.resize(800, 1280).await;
    app.screenshot("search-800x1280").await;
    app.assert_accessible("the search result at 800x1280").await;

    // A search that matches nothing says so.
    app.type_into("Zoeken", "zzzz-nergens").await;
    app.wait_text("zzzz-nergens").await;
    let items = app.js(LIST_ITEMS, vec![]).await;
    assert_eq!(items.as_array().map(Vec::len), Some(0), "{items}");
    app.assert_accessible("an empty search result").await;

    app.close().await;
}

/// How often the app syncs by itself while the test runs (the default is minutes).
const SYNC_INTERVAL_SECS: &str = "3";

/// The sync status in the header: `(state, visible text)`.
const SYNC_STATUS: &str = "const s = document.querySelector('header [data-state]');\
     return s ? [s.dataset.state, s.innerText.replace(/\\s+/g, ' ').trim()] : null;";

/// The PIN the worker chooses at enrolment.
const PIN: &str = "24680";

/// An element of the checklist item `item` (its `data-item` attribute), by XPath below it.
fn in_item(item: &str, below: &str) -> String {
    format!("//*[@data-item='{item}']{below}")
}

/// The checklist shows one section at a time: open the section of `item` (its id's
/// first part) with a tap on the section navigator, unless it is on screen already.
async fn open_section_of(app: &App, item: &str) {
    let section = item.split('.').next().unwrap_or(item);
    let shown = app
        .js(
            "return document.querySelector(`[data-section-panel='${arguments[0]}']`) !== null;",
            vec![json!(section)],
        )
        .await;
    if shown != json!(true) {
        let b = app
            .element(&format!("//button[@data-section='{section}']"))
            .await;
        app.click(&b).await;
        app.wait_js(
            &format!("section {section} shown"),
            STEP,
            "return document.querySelector(`[data-section-panel='${arguments[0]}']`) !== null;",
            vec![json!(section)],
        )
        .await;
    }
}

/// A tap on the button named `name` inside checklist item `item` (Ja/Nee, a scale step).
async fn tap(app: &App, item: &str, name: &str) {
    open_section_of(app, item).await;
    let b = app
        .element(&in_item(
            item,
            &format!("//button[normalize-space(.)='{name}']"),
        ))
        .await;
    app.click(&b).await;
    // The tap shows: the button is pressed.
    app.wait_js(
        &format!("{item} = {name} pressed"),
        STEP,
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue?.getAttribute('aria-pressed') === 'true';",
        vec![json!(in_item(item, &format!("//button[normalize-space(.)='{name}']")))],
    )
    .await;
}

/// Choose the option with value `value` of a single or multiple choice item (a tap on
/// its label, as a person does).
async fn choose(app: &App, item: &str, value: &str) {
    open_section_of(app, item).await;
    let label = app
        .element(&in_item(
            item,
            &format!("//label[.//input[@value='{value}']]"),
        ))
        .await;
    app.click(&label).await;
    app.wait_js(
        &format!("{item} includes {value}"),
        STEP,
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue?.checked === true;",
        vec![json!(in_item(item, &format!("//input[@value='{value}']")))],
    )
    .await;
}

/// Type into the text or number field of checklist item `item`.
async fn write(app: &App, item: &str, text: &str) {
    open_section_of(app, item).await;
    let field = app
        .element(&in_item(item, "//*[self::input or self::textarea]"))
        .await;
    app.click(&field).await;
    field.send_keys(text).await.expect("type");
}

/// The whole story of issue 4 on the real app: enrol on the first-run screen (a wrong
/// code first), find a household, lose the server, do a complete visit offline (the
/// required items refused inline first), see the changes waiting, get the server back,
/// see "up to date", and find the visit with every answer on a second device (the CLI,
/// as bilal). Screenshots of every screen at both tablet sizes, axe-core on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and the built app: make test-e2e"]
async fn offline_visit_reaches_the_server_and_a_second_device() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut server = server(root.path());
    let (db, port, url) = (server.db.clone(), server.port, server.url.clone());
    let tablet = root.path().join("tablet");

    let display = Display::get();
    let app = App::launch_with(
        &display,
        &app_binary(),
        &tablet,
        "visit",
        &[("VOORDEUR_SYNC_INTERVAL_SECS", SYNC_INTERVAL_SECS)],
    )
    .await;
    app.resize(1280, 800).await;

    // First run: enrol. A wrong code is refused next to the code field.
    app.wait_text("Dit apparaat aanmelden").await;
    app.screenshot("enrol-1280x800").await;
    app.assert_accessible("the first-run screen").await;
    app.resize(800, 1280).await;
    app.screenshot("enrol-800x1280").await;
    app.assert_accessible("the first-run screen at 800x1280")
        .await;
    app.type_into("Serveradres", &url).await;
    app.type_into("Aanmeldcode", "FOUT-CODE").await;
    app.type_into("Kies een pincode", PIN).await;
    app.type_into("Herhaal de pincode", PIN).await;
    app.click(&app.button("Aanmelden").await).await;
    app.wait_text("Deze code is onjuist").await;
    app.screenshot("enrol-wrong-code").await;
    app.assert_accessible("the first-run screen with a refused code")
        .await;
    app.type_into("Aanmeldcode", &server.code("anna")).await;
    app.click(&app.button("Aanmelden").await).await;

    // The household list, pulled from the server, and the status up to date.
    app.wait_text("Aangemeld als anna").await;
    app.wait_text("30 huishoudens").await;
    app.wait_js(
        "status up to date",
        STEP,
        "const s = document.querySelector('header [data-state]'); return s && s.dataset.state === 'up_to_date';",
        vec![],
    )
    .await;

    // Find a household.
    app.resize(1280, 800).await;
    app.type_into("Zoeken", "beukenhof").await;
    app.wait_js(
        "only Beukenhof households",
        STEP,
        "const items = Array.from(document.querySelectorAll('main li')).map(li => li.innerText);\
         return items.length > 0 && items.length < 30 && items.every(t => /beukenhof/i.test(t));",
        vec![],
    )
    .await;
    let link = app.element("(//main//li//h3//a)[1]").await;
    let address = link.text().await.expect("address");
    app.click(&link).await;
    app.wait_text("Bewoners").await;
    app.wait_text("Nog geen huisbezoeken.").await;
    app.screenshot("household-1280x800").await;
    app.assert_accessible("the household page").await;

    // The server goes away; the worker carries on.
    server.kill();

    app.click(&app.button("Nieuw huisbezoek").await).await;
    app.click(&app.button("Starten").await).await;
    let visit = app
        .wait_js(
            "the visit screen",
            STEP,
            "const m = location.hash.match(/^#\\/visit\\/(.+)$/);\
             return m && document.querySelectorAll('[data-item]').length > 0 ? decodeURIComponent(m[1]) : null;",
            vec![],
        )
        .await
        .as_str()
        .expect("visit id")
        .to_string();
    app.wait_text(&address).await;

    // Completing with nothing answered: refused, the first section with open required
    // items shown with each of them marked inline, and every section's open count on
    // the section navigator.
    app.click(&app.button("Huisbezoek afronden").await).await;
    let refused = app
        .wait_text_matching("Nog \\d+ verplichte vragen open", STEP)
        .await;
    let per_section = app
        .js(
            "return Array.from(document.querySelectorAll('[data-section][data-missing]'))\
               .map(b => [b.dataset.section, Number(b.dataset.missing)]);",
            vec![],
        )
        .await;
    let per_section: Vec<(String, u32)> = serde_json::from_value(per_section).expect("sections");
    let marked = app
        .js(
            "return Array.from(document.querySelectorAll('[data-item]'))\
               .filter(e => e.innerText.includes('Deze vraag is verplicht')).map(e => e.dataset.item);",
            vec![],
        )
        .await;
    let marked: Vec<String> = serde_json::from_value(marked).expect("items");
    let required_now = [
        "geld.post_ongeopend",
        "geld.achterstanden",
        "wonen.staat_woning",
        "sociaal.noodcontact",
        "gezondheid.huisarts",
        "kinderen.aanwezig",
        "veiligheid.voelt_veilig",
        "afsluiting.zorgniveau",
        "afsluiting.toestemming",
        "afsluiting.samenvatting",
    ];
    assert_eq!(marked, required_now[..2], "marked inline: {refused}");
    let mut expected_sections: Vec<(String, u32)> = Vec::new();
    for item in required_now {
        let section = item.split('.').next().unwrap_or(item).to_string();
        match expected_sections.last_mut() {
            Some((s, n)) if *s == section => *n += 1,
            _ => expected_sections.push((section, 1)),
        }
    }
    assert_eq!(per_section, expected_sections, "open items per section");
    assert!(
        refused.contains(&required_now.len().to_string()),
        "{refused}"
    );
    app.screenshot("visit-refused-1280x800").await;
    app.assert_accessible("the visit with open required items")
        .await;

    // The visit, answered as on a doorstep; conditional items appear as they apply.
    tap(&app, "geld.post_ongeopend", "Ja").await;
    tap(&app, "geld.achterstanden", "Ja").await;
    tap(&app, "geld.huurachterstand", "Nee").await;
    write(&app, "geld.schuldbedrag", "2.500").await;
    choose(&app, "geld.inkomstenbron", "uitkering").await;
    choose(&app, "geld.toeslagen", "huurtoeslag").await;
    choose(&app, "geld.toeslagen", "zorgtoeslag").await;
    tap(&app, "wonen.staat_woning", "2").await;
    tap(&app, "wonen.vervuiling", "Nee").await;
    tap(&app, "sociaal.noodcontact", "Ja").await;
    tap(&app, "gezondheid.huisarts", "Ja").await;
    tap(&app, "kinderen.aanwezig", "Ja").await;
    write(&app, "kinderen.aantal", "2").await;
    tap(&app, "veiligheid.voelt_veilig", "Ja").await;
    tap(&app, "afsluiting.zorgniveau", "3").await;
    tap(&app, "afsluiting.toestemming", "Ja").await;
    let summary = "Brief van de deurwaarder gezien. Samen naar schuldhulp.";
    write(&app, "afsluiting.samenvatting", summary).await;
    let note = "Buurvrouw helpt met de post.";
    app.type_into("Nieuwe notitie", note).await;
    app.click(&app.button("Notitie toevoegen").await).await;
    app.wait_js(
        "the note in the list",
        STEP,
        "return Array.from(document.querySelectorAll('main p')).some(p => p.innerText.trim() === arguments[0]);",
        vec![json!(note)],
    )
    .await;
    app.wait_js(
        "every answer saved",
        STEP,
        "const s = document.querySelector('main [role=status][data-state]');\
         return s && ['saved', 'idle'].includes(s.dataset.state) && /opgeslagen/i.test(s.innerText);",
        vec![],
    )
    .await;
    app.resize(800, 1280).await;
    app.screenshot("visit-answered-800x1280").await;
    app.assert_accessible("the answered visit at 800x1280")
        .await;

    app.click(&app.button("Huisbezoek afronden").await).await;
    app.wait_text("Het huisbezoek is afgerond.").await;
    app.js("window.scrollTo(0, 0);", vec![]).await;

    // Offline: the changes wait, and the header says so.
    let waiting = app
        .wait_text_matching("\\d+ wijziging(en)? wacht(en)?", Duration::from_secs(30))
        .await;
    let status = app.js(SYNC_STATUS, vec![]).await;
    app.screenshot("visit-completed-offline-800x1280").await;
    app.resize(1280, 800).await;
    app.screenshot("visit-completed-offline-1280x800").await;
    app.assert_accessible("the completed visit, offline").await;
    eprintln!("offline: {waiting} ({status})");

    // The server comes back (same database, same port): the app syncs by itself.
    let server = start_server_at(&db, port);
    app.wait_js(
        "status up to date after the server returned",
        Duration::from_secs(60),
        "const s = document.querySelector('header [data-state]'); return s && s.dataset.state === 'up_to_date' && /Bijgewerkt/.test(s.innerText);",
        vec![],
    )
    .await;
    let status = app.js(SYNC_STATUS, vec![]).await;
    assert!(!status.to_string().contains("wacht"), "{status}");
    app.screenshot("visit-synced-1280x800").await;
    app.close().await;

    // A second device — the CLI, enrolled as bilal of the same team — has the visit,
    // completed, with every answer and the note.
    let bilal = Device::new(root.path().join("bilal"));
    bilal.enrol(&server, "bilal");
    bilal.sync();
    let shown = bilal.json(&["visit", "show", &visit]);
    assert_eq!(shown["visit"]["status"], "completed", "{shown}");
    let mut answers: Vec<(String, Value)> = shown["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| {
            (
                a["item"].as_str().unwrap_or("").to_string(),
                a["value"].clone(),
            )
        })
        .collect();
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, Value)> = [
        ("geld.post_ongeopend", json!(true)),
        ("geld.achterstanden", json!(true)),
        ("geld.huurachterstand", json!(false)),
        ("geld.schuldbedrag", json!(2500)),
        ("geld.inkomstenbron", json!("uitkering")),
        ("geld.toeslagen", json!(["huurtoeslag", "zorgtoeslag"])),
        ("wonen.staat_woning", json!(2)),
        ("wonen.vervuiling", json!(false)),
        ("sociaal.noodcontact", json!(true)),
        ("gezondheid.huisarts", json!(true)),
        ("kinderen.aanwezig", json!(true)),
        ("kinderen.aantal", json!(2)),
        ("veiligheid.voelt_veilig", json!(true)),
        ("afsluiting.zorgniveau", json!(3)),
        ("afsluiting.toestemming", json!(true)),
        ("afsluiting.samenvatting", json!(summary)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    // Numbers compare as numbers (2500 and 2500.0 are the same answer).
    let norm = |xs: Vec<(String, Value)>| -> Vec<(String, Value)> {
        xs.into_iter()
            .map(|(k, v)| match v.as_f64() {
                Some(f) if v.is_number() => (k, json!(f)),
                _ => (k, v),
            })
            .collect()
    };
    assert_eq!(
        norm(answers),
        norm(expected),
        "bilal's copy of the visit: {shown}"
    );
    let notes: Vec<&str> = shown["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert_eq!(notes, vec![note], "{shown}");

    // At rest on the tablet: the database is encrypted with the key the app keeps in
    // the OS key store; no file in the device folder shows the visit's words.
    let tablet_db = tablet.join("voordeur.db");
    assert_eq!(
        voordeur_store::file_state(&tablet_db).expect("database file"),
        voordeur_store::FileState::Encrypted
    );
    assert!(matches!(
        voordeur_store::Store::open(&tablet_db, None),
        Err(voordeur_store::StoreError::Locked)
    ));
    for entry in std::fs::read_dir(&tablet).expect("device folder").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for words in [summary, note] {
            assert!(
                !bytes.windows(words.len()).any(|w| w == words.as_bytes()),
                "{} holds readable visit text",
                entry.path().display()
            );
        }
    }
}

/// The app lock and a restart: enrol in the app (choosing a PIN), answer a question of a
/// new visit, close the app. The next start is locked — no resident data on screen, a
/// wrong PIN refused in words — and after the right PIN the visit still has its answer.
/// Left alone, the app locks itself (here after 15 s: `VOORDEUR_LOCK_MINUTES=0.25`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and the built app: make test-e2e"]
async fn the_app_locks_and_a_visit_survives_a_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let server = server(root.path());
    let tablet = root.path().join("tablet");
    let display = Display::get();
    let env = [("VOORDEUR_LOCK_MINUTES", "0.25")];
    let app = App::launch_with(&display, &app_binary(), &tablet, "lock", &env).await;
    app.resize(1280, 800).await;
    app.wait_text("Dit apparaat aanmelden").await;
    app.type_into("Serveradres", &server.url).await;
    app.type_into("Aanmeldcode", &server.code("anna")).await;
    app.type_into("Kies een pincode", "1234").await;
    app.type_into("Herhaal de pincode", "1234").await;
    app.click(&app.button("Aanmelden").await).await;
    app.wait_text("Een pincode bestaat uit 5 tot 12 cijfers.")
        .await;
    app.type_into("Kies een pincode", PIN).await;
    app.type_into("Herhaal de pincode", "13579").await;
    app.click(&app.button("Aanmelden").await).await;
    app.wait_text("De twee pincodes zijn niet gelijk.").await;
    app.type_into("Herhaal de pincode", PIN).await;
    app.click(&app.button("Aanmelden").await).await;
    app.wait_text("30 huishoudens").await;

    let link = app.element("(//main//li//h3//a)[1]").await;
    let address = link.text().await.expect("address");
    app.click(&link).await;
    app.click(&app.button("Nieuw huisbezoek").await).await;
    app.click(&app.button("Starten").await).await;
    let visit_hash = app
        .wait_js(
            "the visit screen",
            STEP,
            "return /^#\\/visit\\//.test(location.hash) && document.querySelectorAll('[data-item]').length > 0 ? location.hash : null;",
            vec![],
        )
        .await
        .as_str()
        .expect("visit route")
        .to_string();
    tap(&app, "geld.post_ongeopend", "Ja").await;
    app.wait_js(
        "the answer saved",
        STEP,
        "const s = document.querySelector('main [role=status][data-state]'); return s && s.dataset.state === 'saved';",
        vec![],
    )
    .await;
    app.close().await;

    // A new start: locked, and nothing of the household on screen.
    let app = App::launch_with(&display, &app_binary(), &tablet, "lock-again", &env).await;
    app.resize(800, 1280).await;
    app.wait_text("Voordeur is vergrendeld").await;
    let shown = app.text().await;
    assert!(
        !shown.contains(&address),
        "resident data behind the lock: {shown}"
    );
    assert!(
        !shown.contains("Huishoudens"),
        "navigation behind the lock: {shown}"
    );
    app.screenshot("locked-800x1280").await;
    app.assert_accessible("the lock screen").await;
    app.type_into("Pincode", "11111").await;
    app.click(&app.button("Ontgrendelen").await).await;
    app.wait_text("Deze pincode klopt niet.").await;
    app.screenshot("wrong-pin-800x1280").await;
    app.type_into("Pincode", PIN).await;
    app.click(&app.button("Ontgrendelen").await).await;
    app.wait_text("huishoudens").await;

    // The visit in progress survived closing the app.
    app.js("location.hash = arguments[0];", vec![json!(visit_hash)])
        .await;
    app.wait_js(
        "the saved answer shown",
        STEP,
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue?.getAttribute('aria-pressed') === 'true';",
        vec![json!(in_item("geld.post_ongeopend", "//button[normalize-space(.)='Ja']"))],
    )
    .await;
    app.wait_text(&address).await;

    // Left alone, it locks itself and hides the visit.
    app.wait_js(
        "locked after idling",
        Duration::from_secs(40),
        "return document.body.innerText.includes('Voordeur is vergrendeld');",
        vec![],
    )
    .await;
    assert!(!app.text().await.contains(&address));
    app.close().await;
}

/// A calendar day `days` from today as the page counts days ("YYYY-MM-DD", local time,
/// as the app's own `todayIso`).
async fn day_from_today(app: &App, days: i64) -> String {
    app.js(
        "const d = new Date(Date.now() + arguments[0] * 86400000); const p = n => String(n).padStart(2, '0');\
         return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;",
        vec![json!(days)],
    )
    .await
    .as_str()
    .expect("day")
    .to_string()
}

/// A day "YYYY-MM-DD" written out as the locale writes a long date: "3 december 2026"
/// (nl-NL) or "3 December 2026" (en-GB).
fn long_day(iso: &str, locale: &str) -> String {
    const NL: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut parts = iso
        .split('-')
        .map(|p| p.parse::<usize>().expect("day part"));
    let (y, m, d) = (
        parts.next().expect("year"),
        parts.next().expect("month"),
        parts.next().expect("day"),
    );
    let months = if locale == "en" { EN } else { NL };
    format!("{d} {} {y}", months[m - 1])
}

/// Fill the date field labelled `label` with `iso`. The webview's date picker takes no
/// typed text over WebDriver, so the value is set as the picker sets it, with the
/// `input` and `change` events a pick sends.
async fn set_date(app: &App, label: &str, iso: &str) {
    let field = app.labelled(label).await;
    let arg = serde_json::to_value(&field).expect("element reference");
    app.js(
        "const f = arguments[0]; f.value = arguments[1];\
         f.dispatchEvent(new Event('input', { bubbles: true }));\
         f.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![arg, json!(iso)],
    )
    .await;
}

/// The follow-up cards of "Mijn afspraken", in the order shown: `(text, overdue, due line)`.
const FOLLOW_UP_CARDS: &str =
    "return Array.from(document.querySelectorAll('main li.card')).map(li => [\
       li.querySelector('.text').innerText.trim(), li.classList.contains('overdue'),\
       li.querySelector('.due').innerText.replace(/\\s+/g, ' ').trim()]);";

/// A worker's visit without a mouse, then with signals, follow-ups and both languages:
/// search a household, open it, start a visit and answer a yes/no item with Tab, Enter
/// and Space only (the focus visible at every stop and moved to each new screen); raise
/// a signal and add an overdue and a later follow-up during the visit; the household
/// page shows the open signal and both follow-ups; "Mijn afspraken" shows the overdue
/// one first; the header button switches to English (navigation, the checklist's own
/// English labels, dates and numbers as en-GB writes them) and back to Dutch.
/// axe-core on every new screen state, screenshots at 1280×800 and 800×1280.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and the built app: make test-e2e"]
async fn keyboard_visit_with_signal_follow_ups_and_both_languages() {
    use fantoccini::key::Key;

    let root = tempfile::tempdir().expect("tempdir");
    let server = server(root.path());
    let tablet = root.path().join("tablet");
    enrolled_device(&server, &tablet, "anna");
    let display = Display::get();
    let app = App::launch(&display, &app_binary(), &tablet, "worker").await;
    app.resize(1280, 800).await;
    app.wait_text("30 huishoudens").await;

    // Keyboard only: to the search field, type, on to the first household, open it.
    app.tab_to(
        "the search field",
        "a.matches('input[type=search]') && a.labels[0]?.innerText.trim() === 'Zoeken'",
        15,
    )
    .await;
    app.client()
        .active_element()
        .await
        .expect("focused field")
        .send_keys("beukenhof")
        .await
        .expect("type");
    app.wait_js(
        "only Beukenhof households",
        STEP,
        "const items = Array.from(document.querySelectorAll('main li')).map(li => li.innerText);\
         return items.length > 0 && items.length < 30 && items.every(t => /beukenhof/i.test(t));",
        vec![],
    )
    .await;
    let card = app
        .tab_to(
            "the first household",
            "a.tagName === 'A' && a.closest('main li') !== null",
            10,
        )
        .await;
    let address = card["text"].as_str().expect("address").to_string();
    app.screenshot("keyboard-household-focused-1280x800").await;
    app.press(Key::Enter).await;
    app.wait_text("Bewoners").await;
    app.wait_text(&address).await;
    let household_hash = app
        .js("return location.hash;", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        household_hash.starts_with("#/household/"),
        "{household_hash}"
    );
    let focus = app.focus().await;
    assert_eq!(
        focus["id"], "main",
        "the focus moved to the new screen: {focus}"
    );
    app.assert_accessible("the household page, reached by keyboard")
        .await;

    app.tab_to(
        "Nieuw huisbezoek",
        "a.tagName === 'BUTTON' && a.innerText.trim() === 'Nieuw huisbezoek'",
        10,
    )
    .await;
    app.press(Key::Enter).await;
    // The chooser took the place of the button: the focus is in it, on the checklist
    // chosen, and the next Tab reaches "Starten".
    let focus = app
        .wait_js(
            "the focus on the chosen checklist",
            STEP,
            "const a = document.activeElement; return a && a.type === 'radio' && a.checked ? a.closest('label').innerText : null;",
            vec![],
        )
        .await;
    assert!(
        focus.as_str().unwrap_or("").contains("Huisbezoek basis"),
        "{focus}"
    );
    app.tab_to(
        "Starten",
        "a.tagName === 'BUTTON' && a.innerText.trim() === 'Starten'",
        1,
    )
    .await;
    app.screenshot("keyboard-start-visit-1280x800").await;
    app.assert_accessible("choosing a checklist").await;
    app.press(Key::Enter).await;
    let visit_hash = app
        .wait_js(
            "the visit screen",
            STEP,
            "return /^#\\/visit\\//.test(location.hash) && document.querySelectorAll('[data-item]').length > 0 ? location.hash : null;",
            vec![],
        )
        .await
        .as_str()
        .expect("visit route")
        .to_string();
    let focus = app.focus().await;
    assert_eq!(focus["id"], "main", "the focus moved to the visit: {focus}");
    let ja = in_item("geld.post_ongeopend", "//button[normalize-space(.)='Ja']");
    let focus = app
        .tab_to(
            "Ja of the first question",
            &format!(
                "a === document.evaluate({}, document, null, 9, null).singleNodeValue",
                serde_json::to_string(&ja).expect("xpath")
            ),
            30,
        )
        .await;
    assert_eq!(focus["focusVisible"], true, "{focus}");
    app.screenshot("keyboard-yes-focused-1280x800").await;
    app.press(Key::Space).await;
    app.wait_js(
        "Ja pressed by the space bar",
        STEP,
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue?.getAttribute('aria-pressed') === 'true';",
        vec![json!(ja)],
    )
    .await;
    app.wait_js(
        "the answer saved",
        STEP,
        "const s = document.querySelector('main [role=status][data-state]'); return s && s.dataset.state === 'saved';",
        vec![],
    )
    .await;
    app.assert_accessible("the visit answered by keyboard")
        .await;

    // A number, to see it written the locale's way later.
    tap(&app, "geld.achterstanden", "Ja").await;
    write(&app, "geld.schuldbedrag", "1250,5").await;

    // A signal, raised during the visit.
    let signal_text = "Lekkage in de badkamer, schimmel op de muren.";
    let category = app.labelled("Onderwerp").await;
    app.click(&category).await;
    category
        .select_by_value("housing")
        .await
        .expect("choose a category");
    let high = app
        .element(
            "//form[.//h3[normalize-space(.)='Signaal melden']]//label[.//input[@value='high']]",
        )
        .await;
    app.click(&high).await;
    app.type_into("Toelichting (niet verplicht)", signal_text)
        .await;
    app.wait_js(
        "category and severity chosen",
        STEP,
        "const f = document.evaluate(\"//form[.//h3[normalize-space(.)='Signaal melden']]\", document, null, 9, null).singleNodeValue;\
         return f && f.querySelector('select').value === 'housing' && f.querySelector('input[value=high]').checked;",
        vec![],
    )
    .await;
    app.click(&app.button("Signaal melden").await).await;
    app.wait_text("Signaal gemeld.").await;
    app.screenshot("visit-signal-raised-1280x800").await;
    app.assert_accessible("the visit with a signal raised")
        .await;

    // Two follow-ups: one for later, then one already overdue (agreed for a day that
    // has passed: the letter should have been checked three days ago).
    let later_day = day_from_today(&app, 10).await;
    let overdue_day = day_from_today(&app, -3).await;
    let later = "Samen de huurtoeslag aanvragen.";
    let overdue = "Brief van de woningcorporatie nakijken.";
    for (text, day) in [(later, &later_day), (overdue, &overdue_day)] {
        app.type_into("Wat is er afgesproken?", text).await;
        set_date(&app, "Uiterlijk op", day).await;
        app.click(&app.button("Afspraak toevoegen").await).await;
        app.wait_js(
            "the follow-up added",
            STEP,
            "const f = document.evaluate(\"//form[.//h3[normalize-space(.)='Afspraak toevoegen']]\", document, null, 9, null).singleNodeValue;\
             return f && f.querySelector('textarea').value === '' && f.innerText.includes('Afspraak toegevoegd.');",
            vec![],
        )
        .await;
    }
    app.resize(800, 1280).await;
    app.screenshot("visit-follow-ups-added-800x1280").await;
    app.assert_accessible("the visit with follow-ups added at 800x1280")
        .await;

    // The household page shows the open signal and both follow-ups.
    app.js("location.hash = arguments[0];", vec![json!(household_hash)])
        .await;
    app.wait_text("Open signalen").await;
    for text in [
        "Wonen",
        "Ernst: Hoog",
        signal_text,
        later,
        overdue,
        "Te laat",
    ] {
        app.wait_text(text).await;
    }
    let signals = app
        .js(
            "return document.evaluate(\"//section[.//h2[normalize-space(.)='Open signalen']]\", document, null, 9, null).singleNodeValue.innerText;",
            vec![],
        )
        .await;
    let signals = signals.as_str().unwrap_or_default();
    assert!(
        signals.contains("Wonen")
            && signals.contains(signal_text)
            && !signals.contains("Geen open signalen"),
        "{signals}"
    );
    app.wait_text(&format!("Uiterlijk {}", long_day(&overdue_day, "nl")))
        .await;
    app.screenshot("household-signal-follow-ups-800x1280").await;
    app.assert_accessible("the household page with a signal and follow-ups")
        .await;
    app.resize(1280, 800).await;
    app.screenshot("household-signal-follow-ups-1280x800").await;

    // Mijn afspraken: the overdue one first, marked, then the later one.
    app.click(
        &app.element("//header//nav//a[normalize-space(.)='Mijn afspraken']")
            .await,
    )
    .await;
    app.wait_text("1 te laat").await;
    let cards = app
        .wait_js(
            "both follow-ups listed",
            STEP,
            &format!(
                "const c = (() => {{ {FOLLOW_UP_CARDS} }})(); return c.length === 2 ? c : null;"
            ),
            vec![],
        )
        .await;
    assert_eq!(
        cards,
        json!([
            [
                overdue,
                true,
                format!("! Te laat Uiterlijk {}", long_day(&overdue_day, "nl"))
            ],
            [
                later,
                false,
                format!("Uiterlijk {}", long_day(&later_day, "nl"))
            ]
        ]),
        "Mijn afspraken"
    );
    app.screenshot("follow-ups-1280x800").await;
    app.assert_accessible("Mijn afspraken").await;
    app.resize(800, 1280).await;
    app.screenshot("follow-ups-800x1280").await;
    app.assert_accessible("Mijn afspraken at 800x1280").await;

    // English, with the header button: navigation, screen and dates in English.
    app.click(&app.button("English").await).await;
    app.wait_text("My follow-ups").await;
    let nav = app
        .js(
            "return document.querySelector('header nav').innerText.replace(/\\s+/g, ' ').trim();",
            vec![],
        )
        .await;
    assert_eq!(nav, json!("Households My follow-ups Conflicts"));
    assert_eq!(
        app.js("return document.documentElement.lang;", vec![])
            .await,
        json!("en")
    );
    let cards = app.js(FOLLOW_UP_CARDS, vec![]).await;
    assert_eq!(
        cards,
        json!([
            [
                overdue,
                true,
                format!("! Overdue Due {}", long_day(&overdue_day, "en"))
            ],
            [later, false, format!("Due {}", long_day(&later_day, "en"))]
        ]),
        "My follow-ups"
    );
    app.wait_text("1 overdue").await;
    app.screenshot("follow-ups-english-800x1280").await;
    app.assert_accessible("My follow-ups in English").await;

    // The visit in English: the checklist's own English labels, the number as en-GB
    // writes it.
    app.js("location.hash = arguments[0];", vec![json!(visit_hash)])
        .await;
    app.wait_text("Basic house visit").await;
    app.wait_text("Is there unopened post, such as letters or payment reminders?")
        .await;
    app.wait_text("1. Money and debts").await;
    app.wait_text("Complete home visit").await;
    let amount = app
        .wait_js(
            "the amount in English",
            STEP,
            "const f = document.querySelector(\"[data-item='geld.schuldbedrag'] input\"); return f && f.value;",
            vec![],
        )
        .await;
    assert_eq!(amount, json!("1250.5"), "the number as en-GB writes it");
    let yes = app
        .js(
            "return document.querySelector(\"[data-item='geld.post_ongeopend'] button[aria-pressed=true]\")?.innerText.trim();",
            vec![],
        )
        .await;
    assert_eq!(yes, json!("Yes"));
    app.screenshot("visit-english-800x1280").await;
    app.assert_accessible("the visit in English").await;
    app.resize(1280, 800).await;
    app.screenshot("visit-english-1280x800").await;

    // And back to Dutch.
    app.click(&app.button("Nederlands").await).await;
    app.wait_text("Ligt er ongeopende post, zoals brieven of aanmaningen?")
        .await;
    app.wait_text("1. Geld en schulden").await;
    let nav = app
        .js(
            "return document.querySelector('header nav').innerText.replace(/\\s+/g, ' ').trim();",
            vec![],
        )
        .await;
    assert_eq!(nav, json!("Huishoudens Mijn afspraken Conflicten"));
    let amount = app
        .js(
            "return document.querySelector(\"[data-item='geld.schuldbedrag'] input\").value;",
            vec![],
        )
        .await;
    assert_eq!(amount, json!("1250,5"), "the number as nl-NL writes it");
    assert_eq!(
        app.js("return document.documentElement.lang;", vec![])
            .await,
        json!("nl")
    );
    app.assert_accessible("the visit back in Dutch").await;
    app.close().await;
}

/// Poll `check` (a CLI step on a device, run again each time) until it returns
/// `Some`, at most `timeout`.
fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The current value of checklist item `item` of `visit` on a CLI device.
fn cli_answer(device: &Device, visit: &str, item: &str) -> Value {
    let shown = device.json(&["visit", "show", visit]);
    shown["answers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["item"] == item)
        .map(|a| a["value"].clone())
        .unwrap_or(Value::Null)
}

/// The sides of the conflict shown on "Conflicten", in order: `(value, winner, by, when)`.
const CONFLICT_SIDES: &str = "return Array.from(document.querySelectorAll('main li.side')).map(li => {\
       const meta = Array.from(li.querySelectorAll('.meta')).map(p => p.innerText.trim());\
       return [li.querySelector('.value').innerText.trim(), li.classList.contains('winner'), meta[0], meta[1]]; });";

/// A real conflict and its resolution with one tap: the app (anna) and a CLI device
/// of the same team (bilal) both have a visit; while the server is down each answers
/// the same yes/no item differently; back online both sync. "Conflicten" shows the
/// question and the household, and the two values side by side with who (the app's
/// own worker by name, another author and each device by the short id the CLI
/// reports) and when; one tap keeps the value that is not shown now; after the
/// app's sync, the CLI device has no open conflict and the kept value is current.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and the built app: make test-e2e"]
async fn a_conflict_between_two_devices_is_resolved_with_one_tap() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut server = server(root.path());
    let (db, port) = (server.db.clone(), server.port);
    let tablet = root.path().join("tablet");
    enrolled_device(&server, &tablet, "anna");
    let bilal = enrolled_device(&server, &root.path().join("bilal"), "bilal");
    let item = "geld.post_ongeopend";

    let display = Display::get();
    let app = App::launch_with(
        &display,
        &app_binary(),
        &tablet,
        "conflict",
        &[("VOORDEUR_SYNC_INTERVAL_SECS", SYNC_INTERVAL_SECS)],
    )
    .await;
    app.resize(1280, 800).await;
    app.wait_text("30 huishoudens").await;
    let link = app.element("(//main//li//h3//a)[1]").await;
    let address = link.text().await.expect("address");
    app.click(&link).await;
    app.click(&app.button("Nieuw huisbezoek").await).await;
    app.click(&app.button("Starten").await).await;
    let visit = app
        .wait_js(
            "the visit screen",
            STEP,
            "const m = location.hash.match(/^#\\/visit\\/(.+)$/);\
             return m && document.querySelectorAll('[data-item]').length > 0 ? decodeURIComponent(m[1]) : null;",
            vec![],
        )
        .await
        .as_str()
        .expect("visit id")
        .to_string();

    // The visit reaches bilal's device through the server (the app syncs by itself).
    poll(
        "the visit on bilal's device",
        Duration::from_secs(60),
        || {
            bilal.sync();
            bilal
                .run(&["visit", "show", &visit])
                .status
                .success()
                .then_some(())
        },
    );

    // Both offline: the server is down while each answers the same item differently.
    server.kill();
    tap(&app, item, "Ja").await;
    app.wait_js(
        "the answer saved",
        STEP,
        "const s = document.querySelector('main [role=status][data-state]'); return s && s.dataset.state === 'saved';",
        vec![],
    )
    .await;
    bilal.ok(&["visit", "answer", &visit, item, "nee"]);

    // Back online: both sync; the server keeps both values in a conflict.
    let server = start_server_at(&db, port);
    let conflict = poll(
        "the conflict on bilal's device",
        Duration::from_secs(60),
        || {
            bilal.sync();
            let open = bilal.json(&["conflicts"]);
            (open.as_array().map(Vec::len) == Some(1)).then(|| open[0].clone())
        },
    );
    assert_eq!(conflict["field"], format!("answer.{item}"), "{conflict}");
    let short = |id: &Value| -> String {
        let hex: String = id
            .as_str()
            .unwrap_or("")
            .chars()
            .filter(|c| *c != '-')
            .collect();
        hex[hex.len().saturating_sub(8)..].to_string()
    };
    let mut expected_sides: Vec<(String, String)> = conflict["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            // Ja is anna's, from the app: the app names its own worker.
            let (shown, who) = if v["value"] == json!(true) {
                ("Ja", "anna".to_string())
            } else {
                ("Nee", short(&v["author"]))
            };
            (
                shown.to_string(),
                format!("Door {who} op apparaat {}", short(&v["device"])),
            )
        })
        .collect();
    expected_sides.sort();

    app.click(
        &app.element("//header//nav//a[normalize-space(.)='Conflicten']")
            .await,
    )
    .await;
    let sides = app
        .wait_js(
            "the conflict on Conflicten",
            Duration::from_secs(60),
            &format!(
                "const s = (() => {{ {CONFLICT_SIDES} }})(); return s.length === 2 ? s : null;"
            ),
            vec![],
        )
        .await;
    let sides: Vec<(String, bool, String, String)> = serde_json::from_value(sides).expect("sides");
    let mut shown: Vec<(String, String)> = sides
        .iter()
        .map(|(value, _, by, _)| (value.clone(), by.clone()))
        .collect();
    shown.sort();
    assert_eq!(shown, expected_sides, "who wrote which value");
    assert_eq!(
        sides.iter().filter(|s| s.1).count(),
        1,
        "one value shown now: {sides:?}"
    );
    for (_, _, _, when) in &sides {
        assert!(
            when.starts_with("Gewijzigd ") && when.chars().any(|c| c.is_ascii_digit()),
            "when: {when}"
        );
    }
    // What the conflict is about, in words: the question and the household.
    app.wait_text("Huisbezoek · Ligt er ongeopende post, zoals brieven of aanmaningen?")
        .await;
    app.wait_text(&address).await;
    app.screenshot("conflict-1280x800").await;
    app.assert_accessible("the conflicts screen").await;
    app.resize(800, 1280).await;
    app.screenshot("conflict-800x1280").await;
    app.assert_accessible("the conflicts screen at 800x1280")
        .await;

    // One tap keeps the value that is not shown now.
    let (keep, _, _, _) = sides.iter().find(|s| !s.1).expect("a value not shown now");
    let keep_value = json!(keep == "Ja");
    let button = app
        .element(&format!(
            "//main//li[contains(@class,'side')][.//*[contains(@class,'value') and normalize-space(.)='{keep}']]//button"
        ))
        .await;
    app.click(&button).await;
    app.wait_text("Conflict opgelost.").await;
    app.wait_text("Er zijn geen conflicten.").await;
    app.screenshot("conflict-resolved-800x1280").await;
    app.assert_accessible("the conflicts screen after resolving")
        .await;

    // The app syncs the resolution; bilal's device then has no open conflict and the
    // kept value is current there.
    poll(
        "the resolution on bilal's device",
        Duration::from_secs(60),
        || {
            bilal.sync();
            let open = bilal.json(&["conflicts"]);
            (open == json!([]) && cli_answer(&bilal, &visit, item) == keep_value).then_some(())
        },
    );
    // And the app shows the kept value in the visit.
    app.js(
        "location.hash = arguments[0];",
        vec![json!(format!("#/visit/{visit}"))],
    )
    .await;
    app.wait_js(
        "the kept value in the visit",
        STEP,
        "return document.evaluate(arguments[0], document, null, 9, null).singleNodeValue?.getAttribute('aria-pressed') === 'true';",
        vec![json!(in_item(item, &format!("//button[normalize-space(.)='{keep}']")))],
    )
    .await;
    app.close().await;
    drop(server);
}

//! Drives the real `voordeur` binary against a real device folder, as a person or a
//! script would: every command is a fresh process on the same SQLite file.

use serde_json::Value;

mod common;
use common::{template_file, Device, TEMPLATE_ID};

struct Fixture {
    device: Device,
    household: String,
    visit: String,
    note: String,
}

fn fixture() -> Fixture {
    let device = Device::new();
    let tpl = template_file();
    let tid = device.create(&["template", "import", tpl.to_str().expect("path")]);
    assert_eq!(tid, TEMPLATE_ID);
    let household = device.create(&[
        "household",
        "add",
        "--address",
        "Lindenlaan 12",
        "--postcode",
        "9712ab",
        "--city",
        "Groningen",
    ]);
    let visit = device.create(&[
        "visit",
        "start",
        "--household",
        &household,
        "--template",
        TEMPLATE_ID,
    ]);
    let note = device.create(&["visit", "note", &visit, "Bewoonster wil hulp bij post."]);
    Fixture {
        device,
        household,
        visit,
        note,
    }
}

#[test]
fn a_recorded_visit_survives_a_restart_and_appears_in_the_export() {
    let Fixture {
        device,
        household,
        visit,
        note,
    } = fixture();
    let resident = device.create(&[
        "resident",
        "add",
        "--household",
        &household,
        "--name",
        "Fatima de Vries",
        "--birth-year",
        "1961",
    ]);
    // One answer of every item kind, including conditional items whose condition holds.
    let answers: &[(&str, &str, Value)] = &[
        ("geld.post_ongeopend", "ja", Value::Bool(true)),
        ("geld.achterstanden", "ja", Value::Bool(true)),
        ("geld.schuldbedrag", "2450", serde_json::json!(2450)),
        (
            "geld.inkomstenbron",
            "uitkering",
            serde_json::json!("uitkering"),
        ),
        (
            "geld.toeslagen",
            "zorgtoeslag,huurtoeslag",
            serde_json::json!(["huurtoeslag", "zorgtoeslag"]),
        ),
        ("wonen.staat_woning", "2", serde_json::json!(2)),
        ("wonen.uitzetting", "ja", Value::Bool(true)),
        (
            "wonen.ontruimingsdatum",
            "2027-01-15",
            serde_json::json!("2027-01-15"),
        ),
        ("sociaal.noodcontact", "nee", Value::Bool(false)),
        ("gezondheid.huisarts", "ja", Value::Bool(true)),
        ("kinderen.aanwezig", "nee", Value::Bool(false)),
        ("veiligheid.voelt_veilig", "ja", Value::Bool(true)),
        ("afsluiting.zorgniveau", "4", serde_json::json!(4)),
        ("afsluiting.toestemming", "ja", Value::Bool(true)),
        (
            "afsluiting.samenvatting",
            "Huurachterstand, ontruiming dreigt. Schuldhulp ingeschakeld.",
            serde_json::json!("Huurachterstand, ontruiming dreigt. Schuldhulp ingeschakeld."),
        ),
    ];
    for (item, input, _) in answers {
        device.ok(&["visit", "answer", &visit, item, input]);
    }
    let note2 = device.create(&["visit", "note", &visit, "Brief van deurwaarder gezien."]);
    device.ok(&[
        "note",
        "edit",
        &note,
        "Bewoonster wil hulp bij post en formulieren.",
    ]);
    device.ok(&["visit", "complete", &visit]);
    let followup = device.create(&[
        "followup",
        "add",
        "--household",
        &household,
        "--due",
        "2026-12-01",
        "--visit",
        &visit,
        "Samen met schuldhulp langsgaan",
    ]);

    // A fresh process reads everything back from the file.
    let export: Value = serde_json::from_str(&device.export()).expect("export json");
    let hh = &export["households"][0];
    assert_eq!(hh["id"], household.as_str());
    assert_eq!(hh["address"], "Lindenlaan 12");
    assert_eq!(hh["postcode"], "9712 AB");
    assert_eq!(hh["city"], "Groningen");
    assert_eq!(export["residents"][0]["id"], resident.as_str());
    assert_eq!(export["residents"][0]["name"], "Fatima de Vries");
    assert_eq!(export["residents"][0]["birth_year"], 1961);
    let v = &export["visits"][0];
    assert_eq!(v["id"], visit.as_str());
    assert_eq!(v["status"], "completed");
    assert_eq!(v["template_id"], TEMPLATE_ID);
    let stored = export["answers"].as_array().expect("answers");
    assert_eq!(stored.len(), answers.len());
    for (item, _, expected) in answers {
        let a = stored
            .iter()
            .find(|a| a["item"] == *item)
            .unwrap_or_else(|| panic!("answer {item} missing"));
        assert_eq!(&a["value"], expected, "answer {item}");
        assert_eq!(a["visit_id"], visit.as_str());
    }
    let notes = export["notes"].as_array().expect("notes");
    assert_eq!(notes.len(), 2);
    let edited = notes
        .iter()
        .find(|n| n["id"] == note.as_str())
        .expect("note");
    assert_eq!(
        edited["text"],
        "Bewoonster wil hulp bij post en formulieren."
    );
    assert!(notes.iter().any(|n| n["id"] == note2.as_str()));
    let f = &export["follow_ups"][0];
    assert_eq!(f["id"], followup.as_str());
    assert_eq!(f["due"], "2026-12-01");
    assert_eq!(f["status"], "open");

    // The queries a worker uses find it too.
    let found: Value =
        serde_json::from_str(&device.ok(&["--json", "household", "list", "--search", "fatima"]))
            .expect("json");
    assert_eq!(found[0]["id"], household.as_str());
    let found: Value =
        serde_json::from_str(&device.ok(&["--json", "household", "list", "--search", "9712AB"]))
            .expect("json");
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    let shown: Value =
        serde_json::from_str(&device.ok(&["--json", "visit", "show", &visit])).expect("json");
    assert_eq!(
        shown["answers"].as_array().map(Vec::len),
        Some(answers.len())
    );
    assert_eq!(shown["notes"].as_array().map(Vec::len), Some(2));
    let fus: Value =
        serde_json::from_str(&device.ok(&["--json", "followup", "list", "--all"])).expect("json");
    assert_eq!(fus[0]["id"], followup.as_str());

    // The same export twice is byte-identical (stable order).
    assert_eq!(device.export(), device.export());
}

/// Each bad input exits 2 with one line on stderr naming the problem, and leaves the
/// database exactly as it was.
#[test]
fn bad_input_is_refused_with_exit_2_and_changes_nothing() {
    let Fixture {
        device,
        household,
        visit,
        ..
    } = fixture();
    let unknown = "01930000-0000-7000-8000-00000000dead";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["visit", "answer", unknown, "geld.post_ongeopend", "ja"],
            "not found",
        ),
        (
            vec![
                "visit",
                "start",
                "--household",
                unknown,
                "--template",
                TEMPLATE_ID,
            ],
            "not found",
        ),
        (
            vec!["resident", "add", "--household", "geen-id", "--name", "X"],
            "not a valid id",
        ),
        (vec!["note", "edit", unknown, "tekst"], "not found"),
        (
            vec!["visit", "answer", &visit, "geld.bestaat_niet", "ja"],
            "does not exist",
        ),
        (
            vec![
                "visit",
                "answer",
                &visit,
                "geld.post_ongeopend",
                "misschien",
            ],
            "yes or no",
        ),
        (
            vec!["visit", "answer", &visit, "wonen.staat_woning", "9"],
            "outside the scale",
        ),
        (
            vec!["visit", "answer", &visit, "geld.inkomstenbron", "loterij"],
            "not one of the options",
        ),
        (
            vec![
                "visit",
                "answer",
                &visit,
                "geld.toeslagen",
                "huurtoeslag,fietstoeslag",
            ],
            "not one of the options",
        ),
        (
            vec!["visit", "answer", &visit, "wonen.aantal_bewoners", "veel"],
            "expects a number",
        ),
        (
            vec![
                "visit",
                "answer",
                &visit,
                "afsluiting.volgend_contact",
                "31-12-2026",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "visit",
                "answer",
                &visit,
                "afsluiting.volgend_contact",
                "2026-02-30",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "followup",
                "add",
                "--household",
                &household,
                "--due",
                "morgen",
                "bellen",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "followup",
                "add",
                "--household",
                &household,
                "--due",
                "2026-13-01",
                "bellen",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "household",
                "add",
                "--address",
                "Dorpsstraat 3",
                "--postcode",
                "ABC",
            ],
            "postcode",
        ),
        (
            vec!["visit", "complete", &visit],
            "required items unanswered",
        ),
    ];
    for (args, expected) in cases {
        let before = device.export();
        let out = device.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(device.export(), before, "{args:?} changed the database");
    }
    // Completing with a required item missing names the items.
    let out = device.run(&["visit", "complete", &visit]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("geld.post_ongeopend"));
}

#[test]
fn a_completed_visit_can_no_longer_be_changed() {
    let Fixture { device, visit, .. } = fixture();
    for (item, value) in [
        ("geld.post_ongeopend", "nee"),
        ("geld.achterstanden", "nee"),
        ("wonen.staat_woning", "4"),
        ("sociaal.noodcontact", "ja"),
        ("gezondheid.huisarts", "ja"),
        ("kinderen.aanwezig", "nee"),
        ("veiligheid.voelt_veilig", "ja"),
        ("afsluiting.zorgniveau", "1"),
        ("afsluiting.toestemming", "ja"),
        ("afsluiting.samenvatting", "Geen zorgen."),
    ] {
        device.ok(&["visit", "answer", &visit, item, value]);
    }
    device.ok(&["visit", "complete", &visit]);
    let before = device.export();
    let out = device.run(&["visit", "answer", &visit, "geld.achterstanden", "ja"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("completed"));
    assert_eq!(device.export(), before);
}

/// A folder encrypted by the app opens only with its key (`--key`, as support would
/// pass it); without it, or with another, the CLI says so and changes nothing.
#[test]
fn an_encrypted_folder_needs_its_key() {
    let device = Device::new();
    let key = voordeur_store::new_database_key().expect("key");
    let address = "Zonnebloemstraat 12";
    device.ok(&[
        "--key",
        &key,
        "household",
        "add",
        "--address",
        address,
        "--postcode",
        "9711 AA",
    ]);
    let db = device.dir.path().join("voordeur.db");
    assert_eq!(
        voordeur_store::file_state(&db).expect("state"),
        voordeur_store::FileState::Encrypted
    );
    let out = device.run(&["household", "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong key"));
    let other = voordeur_store::new_database_key().expect("key");
    assert!(!device
        .run(&["--key", &other, "household", "list"])
        .status
        .success());
    let listed = device.json(&["--key", &key, "household", "list"]);
    assert_eq!(listed[0]["address"], address);
}

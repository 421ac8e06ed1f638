//! Server-side data entry: the demo municipality, CSV imports of households, and
//! publishing templates. All of it is written as changes of the server's own, so
//! devices receive it through the normal pull.

use crate::auth;
use crate::db::Database;
use crate::engine::server_write;
use crate::error::ServerError;
use serde_json::json;
use uuid::Uuid;
use voordeur_core::change::EntityKind;
use voordeur_core::*;

/// The sample template shipped with the product.
pub const SAMPLE_TEMPLATE: &str = include_str!("../../../templates/huisbezoek-basis.json");

/// Publish a template version for everyone. The same version with other content is
/// refused: published versions are immutable.
pub fn publish_template(
    db: &Database,
    clock: &Clock,
    json_text: &str,
) -> Result<ChecklistTemplate, ServerError> {
    let t = ChecklistTemplate::from_json(json_text)
        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    if t.status != TemplateStatus::Published {
        return Err(ServerError::BadRequest(
            "set \"status\": \"published\" to publish".into(),
        ));
    }
    let body = serde_json::to_value(&t).map_err(|e| ServerError::BadRequest(e.to_string()))?;
    let record = t.record_id();
    db.tx(|tx| {
        // Under the sequence lock, so two publishes of one version cannot both pass.
        crate::engine::lock_sequence(tx)?;
        let existing = crate::engine::current_value(tx, EntityKind::Template, record, "body")?;
        if let Some(old) = existing.map(|f| f.value) {
            if old == body {
                return Ok(());
            }
            return Err(ServerError::Conflict(format!(
                "template {} version {} is published with other content; publish a new version",
                t.id, t.version
            )));
        }
        server_write(
            tx,
            clock,
            None,
            &[(EntityKind::Template, record, vec![("body", body.clone())])],
        )
    })?;
    Ok(t)
}

/// One household to import, with the names of its residents.
#[derive(Clone, Debug)]
pub struct ImportHousehold {
    pub address: String,
    pub postcode: String,
    pub city: Option<String>,
    pub neighbourhood: Option<String>,
    pub residents: Vec<(String, Option<i32>)>,
}

/// Write households into a team's scope, in one transaction.
pub fn import_households(
    db: &Database,
    clock: &Clock,
    team: &str,
    households: &[ImportHousehold],
) -> Result<usize, ServerError> {
    db.tx(|t| {
        let team_id = auth::team_by_name(t, team)?
            .ok_or_else(|| ServerError::NotFound(format!("no team named {team:?}")))?
            .to_string();
        let mut records = Vec::new();
        for h in households {
            let hid = Uuid::now_v7();
            records.push((
                EntityKind::Household,
                hid,
                vec![
                    ("address", json!(h.address)),
                    ("postcode", json!(h.postcode)),
                    ("city", json!(h.city)),
                    ("neighbourhood", json!(h.neighbourhood)),
                    ("team_id", json!(team_id)),
                ],
            ));
            for (name, year) in &h.residents {
                records.push((
                    EntityKind::Resident,
                    Uuid::now_v7(),
                    vec![
                        ("household_id", json!(hid)),
                        ("name", json!(name)),
                        ("birth_year", json!(year)),
                    ],
                ));
            }
        }
        server_write(t, clock, Some(&team_id), &records)?;
        Ok(households.len())
    })
}

/// Read households from CSV with a header row: `address,postcode,city,neighbourhood,
/// residents` (residents separated by `;`, each optionally `Name (1961)`). Every row is
/// checked before anything is written; the first bad row is named.
pub fn parse_households_csv(text: &str) -> Result<Vec<ImportHousehold>, ServerError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ServerError::BadRequest(format!("CSV header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(address), Some(postcode)) = (col("address"), col("postcode")) else {
        return Err(ServerError::BadRequest(
            "CSV needs the columns address and postcode".into(),
        ));
    };
    let (city, neighbourhood, residents) = (col("city"), col("neighbourhood"), col("residents"));
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| ServerError::BadRequest(format!("CSV line {line}: {e}")))?;
        let get = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let addr = get(Some(address))
            .ok_or_else(|| ServerError::BadRequest(format!("CSV line {line}: address is empty")))?;
        let pc = get(Some(postcode)).unwrap_or_default();
        let pc = normalise_postcode(&pc).ok_or_else(|| {
            ServerError::BadRequest(format!(
                "CSV line {line}: {pc:?} is not a Dutch postcode like 1234 AB"
            ))
        })?;
        let residents = get(residents)
            .map(|r| {
                r.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.rsplit_once('(') {
                        Some((name, year)) => (
                            name.trim().to_string(),
                            year.trim_end_matches(')').trim().parse().ok(),
                        ),
                        None => (s.to_string(), None),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ImportHousehold {
            address: addr,
            postcode: pc,
            city: get(city),
            neighbourhood: get(neighbourhood),
            residents,
        });
    }
    Ok(out)
}

const STREETS: &[&str] = &[
    "Lindenlaan",
    "Kastanjestraat",
    "Molenweg",
    "Schoolstraat",
    "Dorpsstraat",
    "Beukenhof",
    "Havenkade",
    "Populierenlaan",
    "Kerkplein",
    "Sluisweg",
    "Eikenlaan",
    "Bloemstraat",
];
const NAMES: &[&str] = &[
    "Jansen",
    "de Vries",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Yilmaz",
    "El Amrani",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Kaya",
    "Dekker",
];
const FIRST: &[&str] = &[
    "Fatima", "Jan", "Anouk", "Mohamed", "Els", "Kees", "Priya", "Sanne", "Ahmet", "Wim", "Lotte",
    "Yusuf", "Ria", "Daan", "Noor", "Henk",
];

/// Fictional households of a team, the same on every run.
pub fn demo_households(team_index: usize, count: usize) -> Vec<ImportHousehold> {
    let (city, pc_base, area) = if team_index == 0 {
        ("Noorderstad", 9711, "Noord")
    } else {
        ("Zuiderveen", 9721, "Zuid")
    };
    (0..count)
        .map(|i| {
            let street = STREETS[(i + team_index * 5) % STREETS.len()];
            let letters = ["AB", "CD", "EF", "GH", "JK"][i % 5];
            let residents = (0..(1 + i % 3))
                .map(|r| {
                    let first = FIRST[(i * 3 + r * 7 + team_index) % FIRST.len()];
                    let last = NAMES[(i * 5 + team_index * 3) % NAMES.len()];
                    let year = 1940 + i32::try_from((i * 7 + r * 13) % 70).unwrap_or(0);
                    (format!("{first} {last}"), Some(year))
                })
                .collect();
            ImportHousehold {
                address: format!("{street} {}", 1 + (i * 7) % 120),
                postcode: format!("{} {letters}", pc_base + i % 8),
                city: Some(city.into()),
                neighbourhood: Some(format!("{area} {}", 1 + i % 3)),
                residents,
            }
        })
        .collect()
}

/// The demo municipality: teams noord and zuid, workers anna, bilal (noord) and emre
/// (zuid), team lead carmen (noord), admin daan, the sample template, 30 households a
/// team. Seeds once; later starts only hand out new codes. Returns `(user, code)`.
pub fn seed_demo(
    db: &Database,
    clock: &Clock,
    now_ms: i64,
) -> Result<Vec<(String, String)>, ServerError> {
    let users: &[(&str, Role, Option<&str>)] = &[
        ("anna", Role::Worker, Some("noord")),
        ("bilal", Role::Worker, Some("noord")),
        ("carmen", Role::TeamLead, Some("noord")),
        ("daan", Role::Admin, None),
        ("emre", Role::Worker, Some("zuid")),
    ];
    let seeded = db.tx(|t| Ok(auth::user_by_name(t, "anna").is_ok()))?;
    if !seeded {
        db.tx(|t| {
            for (name, role, team) in users {
                auth::add_user(t, name, *role, *team)?;
            }
            Ok(())
        })?;
        publish_template(db, clock, SAMPLE_TEMPLATE)?;
        import_households(db, clock, "noord", &demo_households(0, 30))?;
        import_households(db, clock, "zuid", &demo_households(1, 30))?;
    }
    db.tx(|t| {
        users
            .iter()
            .map(|(name, _, _)| Ok((name.to_string(), auth::create_enrol_code(t, name, now_ms)?)))
            .collect()
    })
}

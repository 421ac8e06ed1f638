//! Device store benchmarks on a real SQLite file (WAL, `synchronous=FULL`) in a temp dir.
//!
//! Run with `cargo bench -p voordeur-store --bench store`. Without `--bench` (as under
//! `cargo test --all-targets`) the same code runs once on a small data set.
//!
//! 1. `search/*`: `search_households` among 50,000 households (1-3 residents each).
//! 2. `visit_detail/*`: opening a visit with 60 answers and 5 notes.
//! 3. `write/*`: one `Store::answer` (record, field version and outbox row in one
//!    transaction) against a bare single-row `INSERT` in its own transaction on a
//!    connection with the same pragmas on the same disk; `commit_one_answer` is the
//!    same write without `answer`'s checks, to show what those cost. Throughput
//!    figures (100,000 answers per call and in one-visit batches, 100,000 raw inserts
//!    in one transaction) are timed by hand and printed as `THROUGHPUT` lines; the
//!    three single writes are also timed interleaved (`PAIRED` line), which keeps
//!    their ratio honest when the disk's fsync latency drifts.

use criterion::{black_box, BenchmarkId, Criterion};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;
use voordeur_core::change::ANSWER_PREFIX;
use voordeur_core::{EntityKind, HouseholdId, TemplateId, VisitId};
use voordeur_store::Store;

/// Id of the 60-item bench template (the sample template has 55 items).
const BENCH_TEMPLATE: &str = "01930000-0000-7000-8000-0000000000b1";
/// The sample template shipped in `templates/`.
const SAMPLE_TEMPLATE: &str = include_str!("../../../templates/huisbezoek-basis.json");

struct Scale {
    households: usize,
    households_per_tx: usize,
    answers_total: usize,
    /// Per-call answers: time this many first, then stop if the estimate for
    /// `answers_total` exceeds `per_call_budget`.
    per_call_probe: usize,
    per_call_budget: Duration,
    detail_visits: usize,
    /// Rounds of (answer, commit_one_answer, bare insert), timed in turn.
    paired_rounds: usize,
}

const FULL: Scale = Scale {
    households: 50_000,
    households_per_tx: 1_000,
    answers_total: 100_000,
    per_call_probe: 10_000,
    per_call_budget: Duration::from_secs(180),
    detail_visits: 50,
    paired_rounds: 1_500,
};

const SMOKE: Scale = Scale {
    households: 300,
    households_per_tx: 100,
    answers_total: 600,
    per_call_probe: 120,
    per_call_budget: Duration::from_secs(30),
    detail_visits: 2,
    paired_rounds: 30,
};

// ---------------------------------------------------------------------------------
// Deterministic data

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

const STREETS: &[&str] = &[
    "Kerkstraat",
    "Schoolstraat",
    "Molenstraat",
    "Dorpsstraat",
    "Julianastraat",
    "Wilhelminastraat",
    "Beatrixlaan",
    "Nieuwstraat",
    "Stationsweg",
    "Molenweg",
    "Industrieweg",
    "Kastanjelaan",
    "Eikenlaan",
    "Beukenlaan",
    "Berkenlaan",
    "Lindenlaan",
    "Lindenstraat",
    "Esdoornlaan",
    "Populierenlaan",
    "Meidoornstraat",
    "Rozenstraat",
    "Tulpstraat",
    "Irisstraat",
    "Narcisstraat",
    "Prins Bernhardlaan",
    "Oranjestraat",
    "Parallelweg",
    "Zuiderdiep",
    "Oosterstraat",
    "Westerstraat",
    "Noorderhaven",
    "Herestraat",
    "Vismarkt",
    "Poelestraat",
    "Violenstraat",
    "Paterswoldseweg",
    "Helperzoom",
    "Korreweg",
    "Damsterdiep",
    "Verlengde Hereweg",
    "Vondellaan",
    "Bilderdijkstraat",
    "Rembrandtlaan",
    "Vermeerstraat",
    "Mozartlaan",
    "Beethovenstraat",
    "Spoorstraat",
    "Havenstraat",
    "Marktstraat",
    "Van Limburg Stirumstraat",
];

const FIRST_NAMES: &[&str] = &[
    "Jan", "Piet", "Kees", "Henk", "Gerrit", "Wim", "Johan", "Sander", "Daan", "Sem", "Lucas",
    "Noah", "Bram", "Thijs", "Ruben", "Mohammed", "Ahmed", "Yusuf", "Mehmet", "Anna", "Maria",
    "Johanna", "Grietje", "Ingrid", "Marieke", "Anouk", "Sanne", "Lotte", "Emma", "Julia",
    "Sophie", "Tess", "Fleur", "Fatima", "Aisha", "Ayşe", "Zoë", "Esther", "Petra", "Wilma",
];

const SURNAMES: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "van der Wal",
    "Prins",
    "Blom",
    "Huisman",
    "Yılmaz",
    "El Amrani",
    "Bouzid",
    "Kaya",
    "Postma",
    "Wiersma",
    "Kramer",
    "Boersma",
    "Veenstra",
    "Hofstra",
    "Zijlstra",
    "Kuipers",
];

/// City, postcode digits range, weight.
const CITIES: &[(&str, u16, u16, usize)] = &[
    ("Groningen", 9711, 9747, 40),
    ("Haren", 9750, 9752, 5),
    ("Assen", 9401, 9409, 15),
    ("Leeuwarden", 8911, 8939, 20),
    ("Drachten", 9200, 9206, 10),
    ("Hoogezand", 9601, 9611, 10),
];

const NEIGHBOURHOODS: &[&str] = &[
    "Oosterpark",
    "Selwerd",
    "Vinkhuizen",
    "Lewenborg",
    "Beijum",
    "De Hoogte",
    "Korrewegwijk",
    "Centrum",
];

const POSTCODE_LETTERS: &[u8] = b"ABCEGHJKLMNPRTVWXZ";

struct SeedHousehold {
    address: String,
    postcode: String,
    city: &'static str,
    neighbourhood: &'static str,
    residents: Vec<(String, i64, Option<String>)>,
}

fn household(rng: &mut Rng) -> SeedHousehold {
    let total: usize = CITIES.iter().map(|c| c.3).sum();
    let mut w = rng.below(total);
    let mut city = CITIES[0];
    for c in CITIES {
        if w < c.3 {
            city = *c;
            break;
        }
        w -= c.3;
    }
    let digits = rng.range(usize::from(city.1), usize::from(city.2));
    let l1 = char::from(rng.pick(POSTCODE_LETTERS));
    let l2 = char::from(rng.pick(POSTCODE_LETTERS));
    let number = rng.range(1, 250);
    let suffix = match rng.below(10) {
        0 => "A",
        1 => "-2",
        _ => "",
    };
    let surname = rng.pick(SURNAMES);
    let residents = (0..rng.range(1, 3))
        .map(|i| {
            // Most members of a household share a surname.
            let last = if i == 0 || rng.below(4) > 0 {
                surname
            } else {
                rng.pick(SURNAMES)
            };
            let name = format!("{} {}", rng.pick(FIRST_NAMES), last);
            let year = i64::try_from(rng.range(1935, 2007)).unwrap_or(1970);
            let contact = (rng.below(2) == 0).then(|| format!("06-{:08}", rng.below(100_000_000)));
            (name, year, contact)
        })
        .collect();
    SeedHousehold {
        address: format!("{} {number}{suffix}", rng.pick(STREETS)),
        postcode: format!("{digits} {l1}{l2}"),
        city: city.0,
        neighbourhood: rng.pick(NEIGHBOURHOODS),
        residents,
    }
}

/// Seed households through `make_change` + `commit` (the same apply code as
/// `add_household` / `add_resident`), one transaction per batch.
fn seed_households(store: &mut Store, scale: &Scale, rng: &mut Rng) -> Vec<HouseholdId> {
    let mut ids = Vec::with_capacity(scale.households);
    let mut changes = Vec::new();
    for n in 0..scale.households {
        let h = household(rng);
        let hid = HouseholdId::new();
        let c = |store: &Store, e, r, f: &str, v| store.make_change(e, r, f, v).expect("change");
        changes.push(c(
            store,
            EntityKind::Household,
            hid.0,
            "address",
            json!(h.address),
        ));
        changes.push(c(
            store,
            EntityKind::Household,
            hid.0,
            "postcode",
            json!(h.postcode),
        ));
        changes.push(c(
            store,
            EntityKind::Household,
            hid.0,
            "city",
            json!(h.city),
        ));
        changes.push(c(
            store,
            EntityKind::Household,
            hid.0,
            "neighbourhood",
            json!(h.neighbourhood),
        ));
        changes.push(c(
            store,
            EntityKind::Household,
            hid.0,
            "team_id",
            Value::Null,
        ));
        for (name, year, contact) in h.residents {
            let rid = Uuid::now_v7();
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "household_id",
                json!(hid),
            ));
            changes.push(c(store, EntityKind::Resident, rid, "name", json!(name)));
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "birth_year",
                json!(year),
            ));
            changes.push(c(
                store,
                EntityKind::Resident,
                rid,
                "contact",
                json!(contact),
            ));
        }
        ids.push(hid);
        if (n + 1) % scale.households_per_tx == 0 || n + 1 == scale.households {
            store.commit(&changes).expect("commit households");
            changes.clear();
        }
    }
    ids
}

/// A published template with 60 items: 30 free-text and 30 number items in 6 sections.
fn bench_template() -> String {
    let sections: Vec<Value> = (0..6)
        .map(|s| {
            let items: Vec<Value> = (0..10)
                .map(|i| {
                    let id = format!("s{s}.item{i:02}");
                    let kind = if i % 2 == 0 {
                        json!({"type": "text"})
                    } else {
                        json!({"type": "number", "min": 0, "max": 100000})
                    };
                    json!({
                        "id": id,
                        "label": {"nl": format!("Vraag {s}.{i}"), "en": format!("Question {s}.{i}")},
                        "help": {"nl": "Toelichting bij de vraag.", "en": "Explanation."},
                        "kind": kind,
                        "required": i == 0
                    })
                })
                .collect();
            json!({
                "id": format!("s{s}"),
                "title": {"nl": format!("Onderdeel {s}"), "en": format!("Part {s}")},
                "items": items
            })
        })
        .collect();
    json!({
        "id": BENCH_TEMPLATE,
        "name": {"nl": "Benchmark 60 vragen", "en": "Benchmark 60 items"},
        "version": 1,
        "status": "published",
        "sections": sections
    })
    .to_string()
}

const TEXT_ANSWERS: &[&str] = &[
    "Bewoner geeft aan dat de huur sinds maart achterloopt.",
    "Geen bijzonderheden.",
    "Dochter komt twee keer per week langs en helpt met de post.",
    "Afspraak gemaakt met de wijkverpleging voor volgende week.",
    "Wil graag hulp bij het aanvragen van huurtoeslag.",
    "Schimmel in de badkamer, verhuurder is al gebeld.",
];

/// The 60 items of the bench template with a valid answer for each.
fn answers(template: &voordeur_core::ChecklistTemplate, rng: &mut Rng) -> Vec<(String, Value)> {
    template
        .items()
        .map(|it| {
            let v = match it.kind {
                voordeur_core::ItemKind::Number { .. } => json!(rng.below(5_000)),
                _ => json!(rng.pick(TEXT_ANSWERS)),
            };
            (it.id.clone(), v)
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Physical reference

/// A connection with the store's pragmas (WAL, synchronous=FULL) and a simple table.
fn bare_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open bare");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS bare(id INTEGER PRIMARY KEY, v TEXT NOT NULL);")
        .expect("create bare");
    conn
}

const BARE_PAYLOAD: &str = "\"Bewoner geeft aan dat de huur sinds maart achterloopt.\"";

fn bare_insert_tx(conn: &mut Connection) {
    let tx = conn.transaction().expect("begin");
    tx.prepare_cached("INSERT INTO bare(v) VALUES (?1)")
        .expect("prepare")
        .execute(params![BARE_PAYLOAD])
        .expect("insert");
    tx.commit().expect("commit");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

// ---------------------------------------------------------------------------------

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { &FULL } else { &SMOKE };
    let mut c = Criterion::default().configure_from_args();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_dir(&dir.path().join("device"), None).expect("open store");
    let mut rng = Rng(0x766f_6f72_6465_7572);

    // -- seed ------------------------------------------------------------------------
    let t = Instant::now();
    let households = seed_households(&mut store, scale, &mut rng);
    let seed_time = t.elapsed();
    println!(
        "SEED {} households in {:.1} s ({:.0} households/s, {} per transaction)",
        households.len(),
        seed_time.as_secs_f64(),
        rate(households.len(), seed_time),
        scale.households_per_tx
    );
    // A device receives its households by pull, which writes no outbox rows; the
    // seeding commits did. Treat them as pushed and acknowledged.
    let seeded_outbox = store.outbox_len().expect("outbox");
    store
        .connection()
        .execute("DELETE FROM outbox", [])
        .expect("clear outbox");
    println!(
        "SEED outbox cleared ({seeded_outbox} seeding changes); database file {:.0} MB",
        file_mb(&dir.path().join("device").join(voordeur_store::DB_FILE))
    );
    store
        .import_template(SAMPLE_TEMPLATE)
        .expect("sample template");
    let template = store
        .import_template(&bench_template())
        .expect("bench template");
    assert_eq!(template.items().count(), 60);
    let tid: TemplateId = template.id;

    let new_visit = |store: &mut Store, rng: &mut Rng| -> VisitId {
        let h = rng.pick(&households);
        store.start_visit(h, tid).expect("start visit")
    };

    // -- 100k answers, one visit (60 answers) per transaction via commit -------------
    let mut batched = Duration::ZERO;
    let mut written = 0;
    let mut detail_visits = Vec::new();
    while written < scale.answers_total {
        let visit = new_visit(&mut store, &mut rng);
        let mut batch = answers(&template, &mut rng);
        batch.truncate(scale.answers_total - written);
        let t = Instant::now();
        let changes: Vec<_> = batch
            .into_iter()
            .map(|(item, v)| {
                store
                    .make_change(
                        EntityKind::Visit,
                        visit.0,
                        &format!("{ANSWER_PREFIX}{item}"),
                        v,
                    )
                    .expect("change")
            })
            .collect();
        store.commit(&changes).expect("commit answers");
        batched += t.elapsed();
        written += changes.len();
        if changes.len() == 60 && detail_visits.len() < scale.detail_visits {
            detail_visits.push(visit);
        }
    }
    println!(
        "THROUGHPUT batched: {written} answers via commit, 60 per transaction: {:.2} s = {:.0} answers/s",
        batched.as_secs_f64(),
        rate(written, batched)
    );

    // 5 notes on each visit opened by the visit_detail bench.
    for &v in &detail_visits {
        for n in 0..5 {
            store
                .add_note(v, TEXT_ANSWERS[n % TEXT_ANSWERS.len()])
                .expect("note");
        }
    }

    // -- 100k answers through Store::answer, one transaction each -------------------
    let mut per_call = Duration::ZERO;
    let mut written = 0;
    let mut stopped_early = false;
    let mut probed = false;
    while written < scale.answers_total {
        let visit = new_visit(&mut store, &mut rng);
        for (item, v) in answers(&template, &mut rng) {
            if written == scale.answers_total {
                break;
            }
            let t = Instant::now();
            store.answer(visit, &item, v).expect("answer");
            per_call += t.elapsed();
            written += 1;
        }
        // Decide once, after the probe: finish all answers only if that fits the budget.
        if !probed && written >= scale.per_call_probe {
            probed = true;
            let estimate = per_call.mul_f64(scale.answers_total as f64 / written as f64);
            if estimate > scale.per_call_budget {
                stopped_early = true;
                break;
            }
        }
    }
    println!(
        "THROUGHPUT per-call: {written} answers via Store::answer, 1 per transaction: {:.2} s = {:.0} answers/s{}",
        per_call.as_secs_f64(),
        rate(written, per_call),
        if stopped_early {
            format!(
                " (stopped early: {} would take about {:.0} s)",
                scale.answers_total,
                per_call.as_secs_f64() * scale.answers_total as f64 / written as f64
            )
        } else {
            String::new()
        }
    );

    // -- physical reference: 100k raw rows in one transaction -----------------------
    let mut bare = bare_connection(&dir.path().join("bare.db"));
    let t = Instant::now();
    {
        let tx = bare.transaction().expect("begin");
        {
            let mut stmt = tx
                .prepare("INSERT INTO bare(v) VALUES (?1)")
                .expect("prepare");
            for _ in 0..scale.answers_total {
                stmt.execute(params![BARE_PAYLOAD]).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let raw = t.elapsed();
    println!(
        "THROUGHPUT raw: {} rows in one transaction: {:.3} s = {:.0} rows/s",
        scale.answers_total,
        raw.as_secs_f64(),
        rate(scale.answers_total, raw)
    );

    // -- paired: answer, commit_one_answer and bare insert interleaved ---------------
    // fsync latency on a shared disk drifts from second to second; timing the three
    // writes in turn (rotating which goes first) makes their ratio robust to that drift.
    {
        let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let mut visit = new_visit(&mut store, &mut rng);
        let mut pending = answers(&template, &mut rng);
        for round in 0..scale.paired_rounds {
            for k in 0..3 {
                let which = (round + k) % 3;
                if which < 2 && pending.is_empty() {
                    visit = new_visit(&mut store, &mut rng);
                    pending = answers(&template, &mut rng);
                }
                let t = Instant::now();
                match which {
                    0 => {
                        let (item, v) = pending.pop().expect("answer");
                        store.answer(visit, &item, v).expect("answer");
                    }
                    1 => {
                        let (item, v) = pending.pop().expect("answer");
                        let change = store
                            .make_change(
                                EntityKind::Visit,
                                visit.0,
                                &format!("{ANSWER_PREFIX}{item}"),
                                v,
                            )
                            .expect("change");
                        store.commit(&[change]).expect("commit");
                    }
                    _ => bare_insert_tx(&mut bare),
                }
                times[which].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let [a, c1, b] = times.map(median);
        println!(
            "PAIRED {} rounds: store_answer {a:.3} ms, commit_one_answer {c1:.3} ms, bare_insert {b:.3} ms (medians); ratio answer/bare {:.2}, commit/bare {:.2}",
            scale.paired_rounds,
            a / b,
            c1 / b
        );
    }

    println!(
        "SIZE database file {:.0} MB, outbox {} changes",
        file_mb(&dir.path().join("device").join(voordeur_store::DB_FILE)),
        store.outbox_len().expect("outbox")
    );

    // -- 1. search ------------------------------------------------------------------
    let queries: &[(&str, &str)] = &[
        ("street_linden", "linden"),
        ("postcode_9712", "9712"),
        ("surname_jansen", "jansen"),
        ("two_letters_li", "li"),
        ("empty_first_page", ""),
    ];
    for (name, q) in queries {
        let all = store.search_households(q, usize::MAX).expect("search");
        let page = store.search_households(q, 50).expect("search");
        assert!(!page.is_empty(), "query {q:?} finds nothing");
        println!("SEARCH {name}: {q:?} matches {} households", all.len());
    }
    {
        let mut g = c.benchmark_group("search");
        g.sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (name, q) in queries {
            g.bench_with_input(BenchmarkId::from_parameter(name), q, |b, q| {
                b.iter(|| black_box(store.search_households(black_box(q), 50).expect("search")))
            });
        }
        g.finish();
    }

    // -- 2. visit detail ------------------------------------------------------------
    {
        let check = store.visit_detail(detail_visits[0]).expect("detail");
        assert_eq!((check.answers.len(), check.notes.len()), (60, 5));
        let mut g = c.benchmark_group("visit_detail");
        g.sample_size(50)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        let mut i = 0;
        g.bench_function("60_answers_5_notes", |b| {
            b.iter(|| {
                i = (i + 1) % detail_visits.len();
                black_box(store.visit_detail(detail_visits[i]).expect("detail"))
            })
        });
        g.finish();
    }

    // -- 3. one answer vs one bare insert --------------------------------------------
    {
        let mut g = c.benchmark_group("write");
        g.sample_size(30)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(8));
        let mut visit = new_visit(&mut store, &mut rng);
        let mut pending = answers(&template, &mut rng);
        g.bench_function("store_answer", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A fresh visit every 60 answers, so every answer is a first answer.
                    let (item, v) = match pending.pop() {
                        Some(a) => a,
                        None => {
                            visit = new_visit(&mut store, &mut rng);
                            pending = answers(&template, &mut rng);
                            pending.pop().expect("60 answers")
                        }
                    };
                    let t = Instant::now();
                    black_box(store.answer(visit, &item, v).expect("answer"));
                    total += t.elapsed();
                }
                total
            })
        });
        // The same write without `answer`'s checks (visit status, template, item type):
        // `make_change` + `commit` of one answer change.
        g.bench_function("commit_one_answer", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (item, v) = match pending.pop() {
                        Some(a) => a,
                        None => {
                            visit = new_visit(&mut store, &mut rng);
                            pending = answers(&template, &mut rng);
                            pending.pop().expect("60 answers")
                        }
                    };
                    let t = Instant::now();
                    let change = store
                        .make_change(
                            EntityKind::Visit,
                            visit.0,
                            &format!("{ANSWER_PREFIX}{item}"),
                            v,
                        )
                        .expect("change");
                    store.commit(&[change]).expect("commit");
                    total += t.elapsed();
                }
                total
            })
        });
        g.bench_function("bare_insert", |b| b.iter(|| bare_insert_tx(&mut bare)));
        g.finish();
    }

    c.final_summary();
    drop(store);
    drop(bare);
    drop(dir);
}

//! The sample template `templates/huisbezoek-basis.json` loads and behaves as a
//! realistic house-visit checklist: every item kind, conditions, required items,
//! signals and bilingual labels.

use serde_json::{json, Value};
use voordeur_core::{
    Answers, ChecklistTemplate, Condition, Item, ItemKind, Label, Match, Severity, SignalCategory,
    TemplateId, TemplateStatus,
};

const SAMPLE: &str = include_str!("../../../templates/huisbezoek-basis.json");

fn sample() -> ChecklistTemplate {
    ChecklistTemplate::from_json(SAMPLE).expect("sample template loads")
}

fn item<'a>(t: &'a ChecklistTemplate, id: &str) -> &'a Item {
    t.item(id)
        .unwrap_or_else(|| panic!("item {id} is in the sample template"))
}

fn answers(pairs: &[(&str, Value)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// Every label of the template, with where it is, for the language checks.
fn all_labels(t: &ChecklistTemplate) -> Vec<(String, &Label)> {
    let mut out = vec![("name".to_string(), &t.name)];
    for s in &t.sections {
        out.push((format!("section {}", s.id), &s.title));
        for i in &s.items {
            out.push((i.id.clone(), &i.label));
            if let Some(h) = &i.help {
                out.push((format!("{} help", i.id), h));
            }
            match &i.kind {
                ItemKind::SingleChoice { options } | ItemKind::MultipleChoice { options } => {
                    for o in options {
                        out.push((format!("{} option {}", i.id, o.value), &o.label));
                    }
                }
                ItemKind::Scale {
                    min_label,
                    max_label,
                    ..
                } => {
                    for l in [min_label, max_label].into_iter().flatten() {
                        out.push((format!("{} scale label", i.id), l));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn sample_template_loads_with_its_fixed_identity() {
    let t = sample();
    assert_eq!(
        t.id,
        "01930000-0000-7000-8000-000000000001"
            .parse::<TemplateId>()
            .expect("fixed id parses")
    );
    assert_eq!(t.name.nl, "Huisbezoek basis");
    assert_eq!(t.name.en, "Basic house visit");
    assert_eq!(t.version, 1);
    assert_eq!(t.status, TemplateStatus::Published);
    let n = t.items().count();
    assert!((40..=60).contains(&n), "{n} items");
    assert!(t.sections.iter().all(|s| !s.items.is_empty()));
    // Item ids are namespaced by their section: `geld.post_ongeopend`.
    for s in &t.sections {
        for i in &s.items {
            assert!(
                i.id.starts_with(&format!("{}.", s.id)),
                "{} is not in section {}",
                i.id,
                s.id
            );
        }
    }
}

#[test]
fn every_item_kind_occurs_at_least_twice() {
    let t = sample();
    for kind in [
        "yes_no",
        "single_choice",
        "multiple_choice",
        "scale",
        "number",
        "text",
        "date",
    ] {
        let n = t.items().filter(|i| i.kind.name() == kind).count();
        assert!(n >= 2, "{kind} occurs {n} times");
    }
}

#[test]
fn condition_serialises_as_a_flat_object() {
    let cases = [
        (
            Match::Equals(json!(true)),
            json!({"item": "geld.achterstanden", "equals": true}),
        ),
        (
            Match::Includes("geen".into()),
            json!({"item": "geld.achterstanden", "includes": "geen"}),
        ),
        (
            Match::AtLeast(4.0),
            json!({"item": "geld.achterstanden", "at_least": 4.0}),
        ),
        (
            Match::AtMost(2.0),
            json!({"item": "geld.achterstanden", "at_most": 2.0}),
        ),
    ];
    for (test, expected) in cases {
        let c = Condition {
            item: "geld.achterstanden".into(),
            test,
        };
        let written = serde_json::to_value(&c).expect("condition serialises");
        assert_eq!(written, expected);
        let back: Condition = serde_json::from_value(written).expect("condition reads back");
        assert_eq!(back, c);
    }
    // Whole numbers in the file read as the f64 thresholds.
    let c: Condition = serde_json::from_value(json!({"item": "x", "at_least": 3}))
        .expect("integer threshold reads");
    assert_eq!(c.test, Match::AtLeast(3.0));
    // And the template itself survives a round trip.
    let t = sample();
    let again =
        ChecklistTemplate::from_json(&serde_json::to_string(&t).expect("template serialises"))
            .expect("serialised template loads");
    assert_eq!(again, t);
}

/// Conditions and signal rules must fit the item they test: a boolean for yes/no, an
/// existing option for choices, a threshold inside the scale. `check` does not catch a
/// misspelt option value, which would silently never match.
#[test]
fn conditions_and_signal_rules_fit_their_items() {
    fn fits(target: &Item, test: &Match) -> bool {
        let options = match &target.kind {
            ItemKind::SingleChoice { options } | ItemKind::MultipleChoice { options } => {
                options.iter().map(|o| o.value.as_str()).collect()
            }
            _ => Vec::new(),
        };
        match (&target.kind, test) {
            (ItemKind::YesNo, Match::Equals(v)) => v.is_boolean(),
            (ItemKind::SingleChoice { .. }, Match::Equals(Value::String(s))) => {
                options.contains(&s.as_str())
            }
            (ItemKind::MultipleChoice { .. }, Match::Includes(s)) => options.contains(&s.as_str()),
            // A threshold that every or no answer meets would make the test pointless.
            (ItemKind::Scale { min, max, .. }, Match::AtLeast(n)) => {
                (*min as f64) < *n && *n <= (*max as f64)
            }
            (ItemKind::Scale { min, max, .. }, Match::AtMost(n)) => {
                (*min as f64) <= *n && *n < (*max as f64)
            }
            (ItemKind::Number { .. }, Match::AtLeast(_) | Match::AtMost(_)) => true,
            _ => false,
        }
    }
    let t = sample();
    for i in t.items() {
        if let Some(c) = &i.show_if {
            let target = item(&t, &c.item);
            assert!(
                fits(target, &c.test),
                "{}: condition {:?} does not fit {}",
                i.id,
                c.test,
                c.item
            );
        }
        if let Some(rule) = &i.signal {
            assert!(
                fits(i, &rule.when),
                "{}: signal rule {:?} does not fit",
                i.id,
                rule.when
            );
        }
    }
}

#[test]
fn conditional_items_show_only_when_their_condition_holds() {
    let t = sample();
    let conditional = t.items().filter(|i| i.show_if.is_some()).count();
    assert!(conditional >= 6, "{conditional} conditional items");

    let none = Answers::new();
    // On a yes/no answer.
    let amount = item(&t, "geld.schuldbedrag");
    assert!(!t.is_relevant(amount, &none));
    assert!(!t.is_relevant(amount, &answers(&[("geld.achterstanden", json!(false))])));
    assert!(t.is_relevant(amount, &answers(&[("geld.achterstanden", json!(true))])));
    let school = item(&t, "kinderen.schoolverzuim");
    assert!(!t.is_relevant(school, &none));
    assert!(t.is_relevant(school, &answers(&[("kinderen.aanwezig", json!(true))])));
    // On a multiple choice.
    let entitled = item(&t, "geld.toeslagen_recht");
    assert!(!t.is_relevant(entitled, &none));
    assert!(!t.is_relevant(
        entitled,
        &answers(&[("geld.toeslagen", json!(["huurtoeslag", "zorgtoeslag"]))])
    ));
    assert!(t.is_relevant(entitled, &answers(&[("geld.toeslagen", json!(["geen"]))])));
    // On a scale, from below and from above.
    let squalor = item(&t, "wonen.vervuiling");
    assert!(!t.is_relevant(squalor, &none));
    assert!(!t.is_relevant(squalor, &answers(&[("wonen.staat_woning", json!(3))])));
    assert!(t.is_relevant(squalor, &answers(&[("wonen.staat_woning", json!(2))])));
    let meeting = item(&t, "afsluiting.teamoverleg");
    assert!(!t.is_relevant(meeting, &answers(&[("afsluiting.zorgniveau", json!(3))])));
    assert!(t.is_relevant(meeting, &answers(&[("afsluiting.zorgniveau", json!(4))])));
    assert!(t.is_relevant(meeting, &answers(&[("afsluiting.zorgniveau", json!(5))])));
}

#[test]
fn required_items_are_the_unconditional_ones_until_a_condition_holds() {
    let t = sample();
    let required = t.items().filter(|i| i.required).count();
    assert!((8..=12).contains(&required), "{required} required items");

    let expected: Vec<String> = t
        .items()
        .filter(|i| i.required && i.show_if.is_none())
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(t.missing_required(&Answers::new()), expected);
    assert!(expected.contains(&"afsluiting.samenvatting".to_string()));
    assert!(!expected.contains(&"kinderen.aantal".to_string()));

    // Answer every unconditional required item: nothing is missing, and a whitespace
    // summary still counts as missing.
    let mut given = Answers::new();
    for id in &expected {
        let value = match &item(&t, id).kind {
            ItemKind::YesNo => json!(false),
            ItemKind::Scale { min, .. } => json!(min),
            ItemKind::Text => json!("Kennismaking; bewoner redt zich goed."),
            other => panic!("{id}: no sample answer for {}", other.name()),
        };
        given.insert(id.clone(), value);
    }
    assert!(t.missing_required(&given).is_empty());
    given.insert("afsluiting.samenvatting".into(), json!("  "));
    assert_eq!(
        t.missing_required(&given),
        vec!["afsluiting.samenvatting".to_string()]
    );
    given.insert("afsluiting.samenvatting".into(), json!("Kort bezoek."));

    // Children in the household make their number required.
    given.insert("kinderen.aanwezig".into(), json!(true));
    assert_eq!(
        t.missing_required(&given),
        vec!["kinderen.aantal".to_string()]
    );
    given.insert("kinderen.aantal".into(), json!(2));
    assert!(t.missing_required(&given).is_empty());
}

#[test]
fn answers_suggest_signals() {
    let t = sample();
    let with_signal: Vec<&Item> = t.items().filter(|i| i.signal.is_some()).collect();
    assert!(with_signal.len() >= 8, "{} signal items", with_signal.len());
    let mut categories: Vec<SignalCategory> = with_signal
        .iter()
        .filter_map(|i| i.signal.as_ref().map(|s| s.category))
        .collect();
    categories.sort();
    categories.dedup();
    assert!(categories.len() >= 6, "categories {categories:?}");

    assert!(t.suggested_signals(&Answers::new()).is_empty());
    let post = t.suggested_signals(&answers(&[("geld.post_ongeopend", json!(true))]));
    assert_eq!(
        post,
        vec![(
            "geld.post_ongeopend".to_string(),
            SignalCategory::Debts,
            Severity::Medium
        )]
    );
    assert!(t
        .suggested_signals(&answers(&[("geld.post_ongeopend", json!(false))]))
        .is_empty());

    // Rent arrears counts only when arrears were reported at all.
    let arrears = t.suggested_signals(&answers(&[
        ("geld.achterstanden", json!(true)),
        ("geld.huurachterstand", json!(true)),
    ]));
    assert!(arrears.contains(&(
        "geld.huurachterstand".to_string(),
        SignalCategory::Debts,
        Severity::High
    )));
    let hidden = t.suggested_signals(&answers(&[
        ("geld.achterstanden", json!(false)),
        ("geld.huurachterstand", json!(true)),
    ]));
    assert!(hidden.is_empty(), "{hidden:?}");

    // A signal on "no", on a choice, on a multiple choice and on a scale.
    let mixed = t.suggested_signals(&answers(&[
        ("sociaal.noodcontact", json!(false)),
        ("geld.inkomstenbron", json!("geen")),
        (
            "wonen.overlast",
            json!(["last_van_buren", "klachten_over_bewoner"]),
        ),
        ("sociaal.eenzaamheid", json!(4)),
        ("gezondheid.lichamelijk", json!(4)),
    ]));
    let ids: Vec<&str> = mixed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "geld.inkomstenbron",
            "wonen.overlast",
            "sociaal.eenzaamheid",
            "sociaal.noodcontact"
        ]
    );
}

/// A full visit: one valid answer for every item (the benchmark-sized case).
#[test]
fn a_complete_visit_validates() {
    let t = sample();
    let mut all = Answers::new();
    for i in t.items() {
        let value = match &i.kind {
            ItemKind::YesNo => json!(true),
            ItemKind::SingleChoice { options } => json!(options[0].value),
            ItemKind::MultipleChoice { options } => {
                json!(options.iter().take(2).map(|o| &o.value).collect::<Vec<_>>())
            }
            ItemKind::Scale { max, .. } => json!(max),
            ItemKind::Number { min, .. } => json!(min.unwrap_or(0.0) + 1.0),
            ItemKind::Text => json!("Toelichting"),
            ItemKind::Date => json!("2026-03-02"),
        };
        let stored = t
            .validate_answer(&i.id, &value)
            .unwrap_or_else(|e| panic!("{}: {e}", i.id));
        all.insert(i.id.clone(), stored);
    }
    assert_eq!(all.len(), t.items().count());
    assert!(t.missing_required(&all).is_empty());
}

#[test]
fn labels_are_filled_in_and_translated() {
    let t = sample();
    let labels = all_labels(&t);
    for (place, l) in &labels {
        assert!(!l.nl.trim().is_empty(), "{place}: Dutch label is empty");
        assert!(!l.en.trim().is_empty(), "{place}: English label is empty");
        assert_eq!(l.get("nl"), l.nl);
        assert_eq!(l.get("en-GB"), l.en);
    }
    // Every question is translated; short option labels may coincide.
    for i in t.items() {
        assert_ne!(i.label.nl, i.label.en, "{}: label is not translated", i.id);
    }
    let same: Vec<&str> = labels
        .iter()
        .filter(|(_, l)| l.nl == l.en)
        .map(|(place, _)| place.as_str())
        .collect();
    assert!(
        same.len() * 20 <= labels.len(),
        "too many untranslated labels: {same:?}"
    );
}

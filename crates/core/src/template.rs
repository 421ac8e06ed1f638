//! Checklist templates and the validation of answers against them.
//!
//! A template is authored by an admin and published as an immutable version; a visit
//! keeps the version it was started with. Items have a kind, may be required, may be
//! shown only when another answer matches, and may raise a signal of a category.

use crate::domain::{Severity, SignalCategory};
use crate::ids::TemplateId;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A text in Dutch and English. Dutch is the default language of the product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub nl: String,
    pub en: String,
}

impl Label {
    pub fn get(&self, lang: &str) -> &str {
        if lang.starts_with("en") {
            &self.en
        } else {
            &self.nl
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Draft,
    Published,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ChecklistTemplate {
    pub id: TemplateId,
    pub name: Label,
    pub version: u32,
    pub status: TemplateStatus,
    pub sections: Vec<Section>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: Label,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable key within the template, e.g. `geld.post_ongeopend`.
    pub id: String,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Label>,
    pub kind: ItemKind,
    /// Absent in a template file means `false` (in TypeScript: `required?: boolean`).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub required: bool,
    /// The item is shown (and required) only when this condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<Condition>,
    /// An answer matching `when` suggests raising a signal of this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub value: String,
    pub label: Label,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ItemKind {
    YesNo,
    SingleChoice {
        options: Vec<ChoiceOption>,
    },
    MultipleChoice {
        options: Vec<ChoiceOption>,
    },
    Scale {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        min: i64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        max: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_label: Option<Label>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_label: Option<Label>,
    },
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    Text,
    Date,
}

impl ItemKind {
    pub fn name(&self) -> &'static str {
        match self {
            ItemKind::YesNo => "yes_no",
            ItemKind::SingleChoice { .. } => "single_choice",
            ItemKind::MultipleChoice { .. } => "multiple_choice",
            ItemKind::Scale { .. } => "scale",
            ItemKind::Number { .. } => "number",
            ItemKind::Text => "text",
            ItemKind::Date => "date",
        }
    }
}

/// A test on one answer's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Match {
    /// The answer equals this value (yes/no, a single choice, a number).
    Equals(Value),
    /// A multiple-choice answer includes this option.
    Includes(String),
    /// A number or scale answer is at least this much.
    AtLeast(f64),
    /// A number or scale answer is at most this much.
    AtMost(f64),
}

impl Match {
    pub fn matches(&self, answer: &Value) -> bool {
        match self {
            Match::Equals(v) => match (v.as_f64(), answer.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => v == answer,
            },
            Match::Includes(opt) => match answer {
                Value::Array(items) => items.iter().any(|i| i.as_str() == Some(opt)),
                Value::String(s) => s == opt,
                _ => false,
            },
            Match::AtLeast(n) => answer.as_f64().is_some_and(|a| a >= *n),
            Match::AtMost(n) => answer.as_f64().is_some_and(|a| a <= *n),
        }
    }
}

/// "Show this item when item X's answer matches".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub item: String,
    #[serde(flatten)]
    pub test: Match,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SignalRule {
    pub category: SignalCategory,
    pub severity: Severity,
    pub when: Match,
}

/// Why an answer does not fit its item.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AnswerError {
    #[error("item {item} does not exist in this template")]
    UnknownItem { item: String },
    #[error("item {item} expects yes or no, got {got:?}")]
    NotYesNo { item: String, got: String },
    #[error("item {item}: {got:?} is not one of the options ({options})")]
    NotAnOption {
        item: String,
        got: String,
        options: String,
    },
    #[error("item {item}: {got:?} is outside the scale {min}..={max}")]
    OutOfRange {
        item: String,
        got: String,
        min: String,
        max: String,
    },
    #[error("item {item} expects a number, got {got:?}")]
    NotANumber { item: String, got: String },
    #[error("item {item} expects a date as YYYY-MM-DD, got {got:?}")]
    NotADate { item: String, got: String },
    #[error("item {item} expects text")]
    NotText { item: String },
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Item {
    /// Check a typed JSON value against the item; returns the canonical value to store.
    pub fn validate(&self, value: &Value) -> Result<Value, AnswerError> {
        let item = self.id.clone();
        match &self.kind {
            ItemKind::YesNo => match value {
                Value::Bool(_) => Ok(value.clone()),
                other => Err(AnswerError::NotYesNo {
                    item,
                    got: show(other),
                }),
            },
            ItemKind::SingleChoice { options } => {
                let got = value.as_str().unwrap_or_default();
                if options.iter().any(|o| o.value == got) && value.is_string() {
                    Ok(value.clone())
                } else {
                    Err(AnswerError::NotAnOption {
                        item,
                        got: show(value),
                        options: option_list(options),
                    })
                }
            }
            ItemKind::MultipleChoice { options } => {
                let Value::Array(chosen) = value else {
                    return Err(AnswerError::NotAnOption {
                        item,
                        got: show(value),
                        options: option_list(options),
                    });
                };
                let mut canonical: Vec<String> = Vec::new();
                for c in chosen {
                    match c.as_str() {
                        Some(s) if options.iter().any(|o| o.value == s) => {
                            if !canonical.iter().any(|x| x == s) {
                                canonical.push(s.to_string());
                            }
                        }
                        _ => {
                            return Err(AnswerError::NotAnOption {
                                item,
                                got: show(c),
                                options: option_list(options),
                            })
                        }
                    }
                }
                // Canonical order is the template's order, so equal choices compare equal.
                canonical.sort_by_key(|s| options.iter().position(|o| &o.value == s));
                Ok(Value::from(canonical))
            }
            ItemKind::Scale { min, max, .. } => match value.as_i64().or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0)
                    .map(|f| f as i64)
            }) {
                Some(n) if n >= *min && n <= *max => Ok(Value::from(n)),
                _ => Err(AnswerError::OutOfRange {
                    item,
                    got: show(value),
                    min: min.to_string(),
                    max: max.to_string(),
                }),
            },
            ItemKind::Number { min, max } => {
                let Some(n) = value.as_f64().filter(|n| n.is_finite()) else {
                    return Err(AnswerError::NotANumber {
                        item,
                        got: show(value),
                    });
                };
                if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                    return Err(AnswerError::OutOfRange {
                        item,
                        got: show(value),
                        min: min.map_or("-".into(), |m| m.to_string()),
                        max: max.map_or("-".into(), |m| m.to_string()),
                    });
                }
                Ok(value.clone())
            }
            ItemKind::Text => match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(AnswerError::NotText { item }),
            },
            ItemKind::Date => match value.as_str().map(parse_date) {
                Some(Some(d)) => Ok(Value::from(d.format("%Y-%m-%d").to_string())),
                _ => Err(AnswerError::NotADate {
                    item,
                    got: show(value),
                }),
            },
        }
    }

    /// Read a value typed by a person (CLI argument, text field) for this item's kind
    /// and validate it: `ja`/`nee`/`yes`/`no`, an option value, comma-separated options,
    /// a whole number on a scale, a number, free text, or a date as YYYY-MM-DD.
    pub fn parse_input(&self, input: &str) -> Result<Value, AnswerError> {
        let t = input.trim();
        let value = match &self.kind {
            ItemKind::YesNo => match t.to_lowercase().as_str() {
                "ja" | "yes" | "true" | "j" | "y" => Value::Bool(true),
                "nee" | "no" | "false" | "n" => Value::Bool(false),
                _ => {
                    return Err(AnswerError::NotYesNo {
                        item: self.id.clone(),
                        got: t.to_string(),
                    })
                }
            },
            ItemKind::SingleChoice { .. } => Value::from(t),
            ItemKind::MultipleChoice { .. } => Value::from(
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ),
            ItemKind::Scale { .. } | ItemKind::Number { .. } => match parse_dutch_number(t) {
                Some(n) if n.fract() == 0.0 && n.abs() < 9e15 => Value::from(n as i64),
                Some(n) => serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::String(t.into())),
                None => Value::String(t.into()),
            },
            ItemKind::Text => Value::from(input),
            ItemKind::Date => Value::from(t),
        };
        self.validate(&value).map_err(|e| match (e, &self.kind) {
            (AnswerError::OutOfRange { .. }, ItemKind::Scale { .. })
                if value.as_str().is_some() =>
            {
                AnswerError::NotANumber {
                    item: self.id.clone(),
                    got: t.into(),
                }
            }
            (e, _) => e,
        })
    }
}

/// A number as a person in the Netherlands types it: `2500`, `2.500` (thousands),
/// `12,5` or `1.250,50` (decimal comma), or `12.5`.
pub fn parse_dutch_number(t: &str) -> Option<f64> {
    let t = t.trim();
    let thousands = |s: &str| {
        let mut groups = s.trim_start_matches('-').split('.');
        let first = groups.next().unwrap_or_default();
        !first.is_empty()
            && first.len() <= 3
            && groups.clone().count() > 0
            && groups.all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()))
    };
    let normalised = match (t.contains('.'), t.contains(',')) {
        (true, true) => t.replace('.', "").replace(',', "."),
        (false, true) => t.replace(',', "."),
        (true, false) if thousands(t) => t.replace('.', ""),
        _ => t.to_string(),
    };
    normalised.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn option_list(options: &[ChoiceOption]) -> String {
    options
        .iter()
        .map(|o| o.value.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template JSON is invalid: {0}")]
    Json(String),
    #[error("item id {0:?} appears twice")]
    DuplicateItem(String),
    #[error("item {item}: condition refers to {refers:?}, which is not an earlier item")]
    BadCondition { item: String, refers: String },
    #[error("item {0}: a choice item needs at least one option")]
    NoOptions(String),
    #[error("item {0}: scale minimum must be below its maximum")]
    BadScale(String),
    #[error("item {0}: number minimum must not be above its maximum")]
    BadRange(String),
    #[error("section id {0:?} appears twice")]
    DuplicateSection(String),
    #[error("section {0:?} has no items")]
    EmptySection(String),
    #[error("item {item}: {what} does not fit item {refers} ({why})")]
    BadMatch {
        item: String,
        what: &'static str,
        refers: String,
        why: String,
    },
}

/// A condition or signal rule must be able to match the item it tests: a yes/no value
/// for a yes/no item, an existing option for a choice, a number for scales and numbers.
fn check_match(
    item: &Item,
    what: &'static str,
    target: &Item,
    test: &Match,
) -> Result<(), TemplateError> {
    let bad = |why: &str| TemplateError::BadMatch {
        item: item.id.clone(),
        what,
        refers: target.id.clone(),
        why: why.to_string(),
    };
    match (&target.kind, test) {
        (_, Match::Equals(v)) => target
            .validate(v)
            .map(|_| ())
            .map_err(|e| bad(&e.to_string())),
        (ItemKind::MultipleChoice { options }, Match::Includes(o))
        | (ItemKind::SingleChoice { options }, Match::Includes(o)) => {
            if options.iter().any(|x| &x.value == o) {
                Ok(())
            } else {
                Err(bad(&format!("{o:?} is not an option")))
            }
        }
        (
            ItemKind::Scale { .. } | ItemKind::Number { .. },
            Match::AtLeast(_) | Match::AtMost(_),
        ) => Ok(()),
        (kind, _) => Err(bad(&format!(
            "this test does not apply to a {} item",
            kind.name()
        ))),
    }
}

/// The answers of one visit, keyed by item id.
pub type Answers = BTreeMap<String, Value>;

/// Namespace for template record ids: one synced record per (template, version).
const TEMPLATE_NS: uuid::Uuid = uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_766f_6f72_6475);

/// The id of the synced record that holds one published version of a template.
pub fn template_record_id(id: TemplateId, version: u32) -> uuid::Uuid {
    uuid::Uuid::new_v5(&TEMPLATE_NS, format!("{id}:{version}").as_bytes())
}

impl ChecklistTemplate {
    pub fn record_id(&self) -> uuid::Uuid {
        template_record_id(self.id, self.version)
    }

    pub fn from_json(text: &str) -> Result<Self, TemplateError> {
        let t: ChecklistTemplate =
            serde_json::from_str(text).map_err(|e| TemplateError::Json(e.to_string()))?;
        t.check()?;
        Ok(t)
    }

    /// Structural checks: unique item ids, conditions that point back to earlier items,
    /// choice items with options, sensible scales.
    pub fn check(&self) -> Result<(), TemplateError> {
        let mut sections: Vec<&str> = Vec::new();
        for section in &self.sections {
            if sections.contains(&section.id.as_str()) {
                return Err(TemplateError::DuplicateSection(section.id.clone()));
            }
            if section.items.is_empty() {
                return Err(TemplateError::EmptySection(section.id.clone()));
            }
            sections.push(&section.id);
        }
        let mut seen: Vec<&str> = Vec::new();
        for item in self.items() {
            if seen.contains(&item.id.as_str()) {
                return Err(TemplateError::DuplicateItem(item.id.clone()));
            }
            if let Some(c) = &item.show_if {
                if !seen.contains(&c.item.as_str()) {
                    return Err(TemplateError::BadCondition {
                        item: item.id.clone(),
                        refers: c.item.clone(),
                    });
                }
            }
            match &item.kind {
                ItemKind::SingleChoice { options } | ItemKind::MultipleChoice { options }
                    if options.is_empty() =>
                {
                    return Err(TemplateError::NoOptions(item.id.clone()))
                }
                ItemKind::Scale { min, max, .. } if min >= max => {
                    return Err(TemplateError::BadScale(item.id.clone()))
                }
                ItemKind::Number {
                    min: Some(min),
                    max: Some(max),
                } if min > max => return Err(TemplateError::BadRange(item.id.clone())),
                _ => {}
            }
            if let Some(c) = &item.show_if {
                if let Some(target) = self.item(&c.item) {
                    check_match(item, "condition", target, &c.test)?;
                }
            }
            if let Some(rule) = &item.signal {
                check_match(item, "signal rule", item, &rule.when)?;
            }
            seen.push(&item.id);
        }
        Ok(())
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items().find(|i| i.id == id)
    }

    /// Validate one answer for an item of this template.
    pub fn validate_answer(&self, item: &str, value: &Value) -> Result<Value, AnswerError> {
        self.item(item)
            .ok_or_else(|| AnswerError::UnknownItem { item: item.into() })?
            .validate(value)
    }

    /// Is the item shown, given the answers so far? An item whose condition refers to a
    /// hidden item is hidden too.
    pub fn is_relevant(&self, item: &Item, answers: &Answers) -> bool {
        let mut current = item;
        // Conditions only point backwards (checked in `check`), so this terminates.
        for _ in 0..=self.items().count() {
            let Some(cond) = &current.show_if else {
                return true;
            };
            let holds = answers
                .get(&cond.item)
                .is_some_and(|a| cond.test.matches(a));
            if !holds {
                return false;
            }
            match self.item(&cond.item) {
                Some(parent) => current = parent,
                None => return false,
            }
        }
        false
    }

    /// Required items that are relevant and unanswered: what stops completing a visit.
    pub fn missing_required(&self, answers: &Answers) -> Vec<String> {
        self.items()
            .filter(|i| i.required && self.is_relevant(i, answers))
            .filter(|i| match answers.get(&i.id) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            })
            .map(|i| i.id.clone())
            .collect()
    }

    /// Signals that the answers suggest: (item, category, severity) for each relevant
    /// item whose rule matches.
    pub fn suggested_signals(&self, answers: &Answers) -> Vec<(String, SignalCategory, Severity)> {
        self.items()
            .filter(|i| self.is_relevant(i, answers))
            .filter_map(|i| {
                let rule = i.signal.as_ref()?;
                let a = answers.get(&i.id)?;
                rule.when
                    .matches(a)
                    .then(|| (i.id.clone(), rule.category, rule.severity))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lbl(s: &str) -> Label {
        Label {
            nl: s.into(),
            en: s.into(),
        }
    }

    fn item(id: &str, kind: ItemKind) -> Item {
        Item {
            id: id.into(),
            label: lbl(id),
            help: None,
            kind,
            required: false,
            show_if: None,
            signal: None,
        }
    }

    fn opts(v: &[&str]) -> Vec<ChoiceOption> {
        v.iter()
            .map(|s| ChoiceOption {
                value: (*s).into(),
                label: lbl(s),
            })
            .collect()
    }

    fn template() -> ChecklistTemplate {
        let mut debts = item("schulden", ItemKind::YesNo);
        debts.required = true;
        debts.signal = Some(SignalRule {
            category: SignalCategory::Debts,
            severity: Severity::Medium,
            when: Match::Equals(json!(true)),
        });
        let mut amount = item(
            "bedrag",
            ItemKind::Number {
                min: Some(0.0),
                max: None,
            },
        );
        amount.required = true;
        amount.show_if = Some(Condition {
            item: "schulden".into(),
            test: Match::Equals(json!(true)),
        });
        ChecklistTemplate {
            id: TemplateId::new(),
            name: lbl("t"),
            version: 1,
            status: TemplateStatus::Published,
            sections: vec![Section {
                id: "s".into(),
                title: lbl("s"),
                items: vec![
                    debts,
                    amount,
                    item(
                        "woon",
                        ItemKind::SingleChoice {
                            options: opts(&["huur", "koop"]),
                        },
                    ),
                    item(
                        "hulp",
                        ItemKind::MultipleChoice {
                            options: opts(&["a", "b", "c"]),
                        },
                    ),
                    item(
                        "zorgen",
                        ItemKind::Scale {
                            min: 1,
                            max: 5,
                            min_label: None,
                            max_label: None,
                        },
                    ),
                    item("toelichting", ItemKind::Text),
                    item("datum", ItemKind::Date),
                ],
            }],
        }
    }

    #[test]
    fn answers_must_fit_their_item() {
        let t = template();
        assert!(t.validate_answer("schulden", &json!(true)).is_ok());
        assert!(matches!(
            t.validate_answer("schulden", &json!("misschien")),
            Err(AnswerError::NotYesNo { .. })
        ));
        assert!(matches!(
            t.validate_answer("woon", &json!("boot")),
            Err(AnswerError::NotAnOption { .. })
        ));
        assert!(matches!(
            t.validate_answer("zorgen", &json!(6)),
            Err(AnswerError::OutOfRange { .. })
        ));
        assert!(matches!(
            t.validate_answer("bedrag", &json!(-1)),
            Err(AnswerError::OutOfRange { .. })
        ));
        assert!(matches!(
            t.validate_answer("datum", &json!("2026-02-30")),
            Err(AnswerError::NotADate { .. })
        ));
        assert!(matches!(
            t.validate_answer("nope", &json!(1)),
            Err(AnswerError::UnknownItem { .. })
        ));
        assert_eq!(
            t.validate_answer("hulp", &json!(["c", "a", "c"])),
            Ok(json!(["a", "c"]))
        );
    }

    #[test]
    fn typed_input_is_read_per_kind() {
        let t = template();
        let get = |id: &str, s: &str| t.item(id).map(|i| i.parse_input(s));
        assert_eq!(get("schulden", "Ja"), Some(Ok(json!(true))));
        assert_eq!(get("hulp", "b, a"), Some(Ok(json!(["a", "b"]))));
        assert_eq!(get("zorgen", "3"), Some(Ok(json!(3))));
        assert_eq!(get("bedrag", "12,5"), Some(Ok(json!(12.5))));
        assert!(matches!(
            get("zorgen", "veel"),
            Some(Err(AnswerError::NotANumber { .. }))
        ));
        assert!(matches!(
            get("datum", "27-11-2026"),
            Some(Err(AnswerError::NotADate { .. }))
        ));
    }

    #[test]
    fn required_items_count_only_when_shown() {
        let t = template();
        let mut answers = Answers::new();
        assert_eq!(t.missing_required(&answers), vec!["schulden".to_string()]);
        answers.insert("schulden".into(), json!(false));
        assert!(t.missing_required(&answers).is_empty());
        answers.insert("schulden".into(), json!(true));
        assert_eq!(t.missing_required(&answers), vec!["bedrag".to_string()]);
        answers.insert("bedrag".into(), json!(2500));
        assert!(t.missing_required(&answers).is_empty());
        assert_eq!(
            t.suggested_signals(&answers),
            vec![(
                "schulden".to_string(),
                SignalCategory::Debts,
                Severity::Medium
            )]
        );
    }

    #[test]
    fn dutch_numbers_are_read_as_people_type_them() {
        assert_eq!(parse_dutch_number("2.500"), Some(2500.0));
        assert_eq!(parse_dutch_number("1.250,50"), Some(1250.5));
        assert_eq!(parse_dutch_number("12,5"), Some(12.5));
        assert_eq!(parse_dutch_number("12.5"), Some(12.5));
        assert_eq!(parse_dutch_number("-3"), Some(-3.0));
        assert_eq!(parse_dutch_number("veel"), None);
        let t = template();
        assert_eq!(t.validate_answer("zorgen", &json!(3.0)), Ok(json!(3)));
    }

    #[test]
    fn conditions_and_signal_rules_must_fit_their_item() {
        let mut t = template();
        t.sections[0].items[1].show_if = Some(Condition {
            item: "schulden".into(),
            test: Match::Equals(json!("ja")),
        });
        assert!(matches!(t.check(), Err(TemplateError::BadMatch { .. })));
        let mut t = template();
        t.sections[0].items[4].show_if = Some(Condition {
            item: "hulp".into(),
            test: Match::Includes("d".into()),
        });
        assert!(matches!(t.check(), Err(TemplateError::BadMatch { .. })));
        let mut t = template();
        t.sections[0].items[5].signal = Some(SignalRule {
            category: SignalCategory::Other,
            severity: Severity::Low,
            when: Match::AtLeast(3.0),
        });
        assert!(matches!(t.check(), Err(TemplateError::BadMatch { .. })));
        let mut t = template();
        t.sections.push(t.sections[0].clone());
        assert!(matches!(t.check(), Err(TemplateError::DuplicateSection(_))));
    }

    #[test]
    fn structural_errors_are_named() {
        let mut t = template();
        t.sections[0].items[0].show_if = Some(Condition {
            item: "bedrag".into(),
            test: Match::AtLeast(1.0),
        });
        assert!(matches!(t.check(), Err(TemplateError::BadCondition { .. })));
        let mut t = template();
        let dup = t.sections[0].items[0].clone();
        t.sections[0].items.push(dup);
        assert!(matches!(t.check(), Err(TemplateError::DuplicateItem(_))));
    }
}

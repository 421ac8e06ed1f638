//! Writes: each domain operation validates its input with voordeur-core, turns it into
//! field changes stamped by this device's clock, and commits them with their outbox
//! rows in one transaction. Nothing is written when validation fails.

use crate::apply::{apply_run, field_version, refresh_search, Touched};
use crate::versions::Versions;
use crate::{Store, StoreError};
use chrono::{NaiveDate, TimeZone, Utc};
use rusqlite::OptionalExtension;
use serde_json::{json, Value};
use uuid::Uuid;
use voordeur_core::change::{ANSWER_PREFIX, DELETED};
use voordeur_core::*;

pub use voordeur_core::template_record_id;

#[derive(Clone, Debug, Default)]
pub struct NewHousehold {
    pub address: String,
    pub postcode: String,
    pub city: Option<String>,
    pub neighbourhood: Option<String>,
    pub team_id: Option<TeamId>,
}

#[derive(Clone, Debug)]
pub struct NewResident {
    pub household: HouseholdId,
    pub name: String,
    pub birth_year: Option<i32>,
    pub contact: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewFollowUp {
    pub household: HouseholdId,
    pub visit: Option<VisitId>,
    pub assignee: Option<UserId>,
    pub due: NaiveDate,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct NewSignal {
    pub household: HouseholdId,
    pub visit: Option<VisitId>,
    pub category: SignalCategory,
    pub severity: Severity,
    pub description: Option<String>,
}

/// Normalise a Dutch postcode to `1234 AB`, or say why not.
pub fn normalise_postcode(input: &str) -> Result<String, StoreError> {
    voordeur_core::normalise_postcode(input).ok_or_else(|| {
        StoreError::Invalid(format!(
            "postcode {:?} is not a Dutch postcode like 1234 AB",
            input.chars().take(40).collect::<String>()
        ))
    })
}

fn non_empty(what: &str, s: &str) -> Result<String, StoreError> {
    let t = s.trim();
    if t.is_empty() {
        Err(StoreError::Invalid(format!("{what} must not be empty")))
    } else if t.len() > 10_000 {
        Err(StoreError::Invalid(format!("{what} is too long")))
    } else {
        Ok(t.to_string())
    }
}

impl Store {
    /// A change of one field stamped now, carrying the version of the field this device
    /// holds as the version its author saw.
    pub fn make_change(
        &self,
        entity: EntityKind,
        record: Uuid,
        field: &str,
        value: Value,
    ) -> Result<Change, StoreError> {
        let base = field_version(&self.conn, entity, &record.to_string(), field)?.map(|(h, _)| h);
        // A new write sorts after the version it replaces, even when another connection
        // (the app's sync thread) stored that version without this clock seeing it.
        if let Some(b) = &base {
            self.clock.observe(b);
        }
        Ok(Change {
            id: ChangeId::new(),
            entity,
            record,
            field: field.to_string(),
            value,
            hlc: self.clock.now(),
            base,
            device: self.device,
            author: self.user,
        })
    }

    /// The highest version of any field of a record this device holds: the base of a
    /// delete, which tells the server whether the delete saw every edit of the record.
    pub fn record_version(
        &self,
        entity: EntityKind,
        record: Uuid,
    ) -> Result<Option<Hlc>, StoreError> {
        Ok(Versions::load(&self.conn, entity, &record.to_string())?.newest())
    }

    /// A tombstone for a record: `deleted = true`, based on the record's highest version.
    pub fn make_delete(&self, entity: EntityKind, record: Uuid) -> Result<Change, StoreError> {
        let mut change = self.make_change(entity, record, DELETED, json!(true))?;
        change.base = self.record_version(entity, record)?;
        Ok(change)
    }

    /// Apply local changes and append them to the outbox, all in one transaction.
    pub fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let mut touched = Touched::default();
        for run in voordeur_core::wire::runs(changes) {
            apply_run(&tx, run, &mut touched)?;
        }
        crate::sync::enqueue(&tx, changes)?;
        refresh_search(&tx, &touched)?;
        tx.commit()?;
        Ok(())
    }

    fn changes_for(
        &self,
        entity: EntityKind,
        record: Uuid,
        fields: Vec<(&str, Value)>,
    ) -> Result<Vec<Change>, StoreError> {
        fields
            .into_iter()
            .map(|(f, v)| self.make_change(entity, record, f, v))
            .collect()
    }

    pub(crate) fn now_text(&self) -> String {
        let ms = i64::try_from(self.clock.physical_ms()).unwrap_or(0);
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    pub(crate) fn exists(&self, table: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT 1 FROM {table} WHERE id = ?1 AND deleted = 0"
            ))?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub(crate) fn require(
        &self,
        what: &'static str,
        table: &str,
        id: impl ToString,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        if self.exists(table, &id)? {
            Ok(())
        } else {
            Err(StoreError::not_found(what, id))
        }
    }

    pub fn add_household(&mut self, h: NewHousehold) -> Result<HouseholdId, StoreError> {
        let address = non_empty("address", &h.address)?;
        let postcode = normalise_postcode(&h.postcode)?;
        // A household belongs to the team of the user who records it, unless told.
        let team_id = match h.team_id {
            Some(t) => Some(t),
            None => self.team_id()?,
        };
        let id = HouseholdId::new();
        let changes = self.changes_for(
            EntityKind::Household,
            id.0,
            vec![
                ("address", json!(address)),
                ("postcode", json!(postcode)),
                ("city", json!(h.city.map(|c| c.trim().to_string()))),
                ("neighbourhood", json!(h.neighbourhood)),
                ("team_id", json!(team_id)),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    pub fn add_resident(&mut self, r: NewResident) -> Result<ResidentId, StoreError> {
        self.require("household", "households", r.household)?;
        let name = non_empty("name", &r.name)?;
        if let Some(y) = r.birth_year {
            let this_year = Utc
                .timestamp_millis_opt(i64::try_from(self.clock.physical_ms()).unwrap_or(0))
                .single()
                .map(|d| chrono::Datelike::year(&d))
                .unwrap_or(2100);
            if !(1900..=this_year).contains(&y) {
                return Err(StoreError::Invalid(format!(
                    "birth year {y} is not between 1900 and {this_year}"
                )));
            }
        }
        let id = ResidentId::new();
        let changes = self.changes_for(
            EntityKind::Resident,
            id.0,
            vec![
                ("household_id", json!(r.household)),
                ("name", json!(name)),
                ("birth_year", json!(r.birth_year)),
                ("contact", json!(r.contact)),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    /// Store a published template version. Publishing is immutable: the same version
    /// with a different body is refused.
    pub fn import_template(&mut self, json_text: &str) -> Result<ChecklistTemplate, StoreError> {
        let t = ChecklistTemplate::from_json(json_text)?;
        if t.status != TemplateStatus::Published {
            return Err(StoreError::Invalid(
                "only published templates can be used for visits".into(),
            ));
        }
        let record = template_record_id(t.id, t.version);
        let body = serde_json::to_value(&t).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if let Some(existing) = self.template_body(record)? {
            if existing == body {
                return Ok(t);
            }
            return Err(StoreError::Invalid(format!(
                "template {} version {} is already published with different content; publish a new version",
                t.id, t.version
            )));
        }
        let changes = self.changes_for(EntityKind::Template, record, vec![("body", body)])?;
        self.commit(&changes)?;
        Ok(t)
    }

    fn template_body(&self, record: Uuid) -> Result<Option<Value>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM templates WHERE id = ?1 AND deleted = 0")?
            .query_row([record.to_string()], |r| r.get(0))
            .optional()?;
        body.map(|b| serde_json::from_str(&b).map_err(|_| StoreError::Corrupt("template body")))
            .transpose()
    }

    /// Start a visit at a household from the latest published version of a template.
    pub fn start_visit(
        &mut self,
        household: HouseholdId,
        template: TemplateId,
    ) -> Result<VisitId, StoreError> {
        self.require("household", "households", household)?;
        let t = self
            .latest_template(template)?
            .ok_or_else(|| StoreError::not_found("template", template))?;
        let id = VisitId::new();
        let changes = self.changes_for(
            EntityKind::Visit,
            id.0,
            vec![
                ("household_id", json!(household)),
                ("template_id", json!(t.id)),
                ("template_version", json!(t.version)),
                ("author_id", json!(self.user)),
                ("started_at", json!(self.now_text())),
                ("status", json!(VisitStatus::Draft)),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    /// The template a visit was started with, and the visit's status.
    pub(crate) fn visit_template(
        &self,
        visit: VisitId,
    ) -> Result<(std::sync::Arc<ChecklistTemplate>, VisitStatus), StoreError> {
        let row: Option<(Option<String>, Option<u32>, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT template_id, template_version, status FROM visits WHERE id = ?1 AND deleted = 0",
            )?
            .query_row([visit.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((Some(tid), Some(version), status)) = row else {
            return Err(StoreError::not_found("visit", visit));
        };
        let tid: TemplateId = tid
            .parse()
            .map_err(|_| StoreError::Corrupt("template id"))?;
        let t = self.template_shared(tid, version)?;
        let status = status
            .and_then(|s| s.parse().ok())
            .unwrap_or(VisitStatus::Draft);
        Ok((t, status))
    }

    fn editable_visit(
        &self,
        visit: VisitId,
    ) -> Result<std::sync::Arc<ChecklistTemplate>, StoreError> {
        let (t, status) = self.visit_template(visit)?;
        if status == VisitStatus::Completed {
            return Err(StoreError::VisitCompleted(visit.to_string()));
        }
        Ok(t)
    }

    /// Answer an item with text typed by a person (`ja`, `3`, `2026-11-27`, `a,b`).
    pub fn answer_input(
        &mut self,
        visit: VisitId,
        item: &str,
        input: &str,
    ) -> Result<Value, StoreError> {
        let t = self.editable_visit(visit)?;
        let it = t
            .item(item)
            .ok_or_else(|| AnswerError::UnknownItem { item: item.into() })?;
        let value = it.parse_input(input)?;
        self.write_answer(visit, item, value)
    }

    /// Answer an item with a typed JSON value (from the UI). `null` clears the answer.
    pub fn answer(
        &mut self,
        visit: VisitId,
        item: &str,
        value: Value,
    ) -> Result<Value, StoreError> {
        let t = self.editable_visit(visit)?;
        let value = if value.is_null() {
            t.item(item)
                .ok_or_else(|| AnswerError::UnknownItem { item: item.into() })?;
            Value::Null
        } else {
            t.validate_answer(item, &value)?
        };
        self.write_answer(visit, item, value)
    }

    fn write_answer(
        &mut self,
        visit: VisitId,
        item: &str,
        value: Value,
    ) -> Result<Value, StoreError> {
        let change = self.make_change(
            EntityKind::Visit,
            visit.0,
            &format!("{ANSWER_PREFIX}{item}"),
            value.clone(),
        )?;
        self.commit(&[change])?;
        Ok(value)
    }

    pub fn add_note(&mut self, visit: VisitId, text: &str) -> Result<NoteId, StoreError> {
        self.require("visit", "visits", visit)?;
        let text = non_empty("note", text)?;
        let id = NoteId::new();
        let changes = self.changes_for(
            EntityKind::Note,
            id.0,
            vec![
                ("visit_id", json!(visit)),
                ("author_id", json!(self.user)),
                ("text", json!(text)),
                ("created_at", json!(self.now_text())),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    pub fn edit_note(&mut self, note: NoteId, text: &str) -> Result<(), StoreError> {
        self.require("note", "notes", note)?;
        let text = non_empty("note", text)?;
        let change = self.make_change(EntityKind::Note, note.0, "text", json!(text))?;
        self.commit(&[change])
    }

    /// Complete a visit; refused while a required, shown item is unanswered.
    pub fn complete_visit(&mut self, visit: VisitId) -> Result<(), StoreError> {
        let t = self.editable_visit(visit)?;
        let answers = self.answers_map(visit)?;
        let missing = t.missing_required(&answers);
        if !missing.is_empty() {
            return Err(StoreError::MissingRequired(missing));
        }
        let changes = self.changes_for(
            EntityKind::Visit,
            visit.0,
            vec![
                ("status", json!(VisitStatus::Completed)),
                ("ended_at", json!(self.now_text())),
            ],
        )?;
        self.commit(&changes)
    }

    pub fn add_follow_up(&mut self, f: NewFollowUp) -> Result<FollowUpId, StoreError> {
        self.require("household", "households", f.household)?;
        if let Some(v) = f.visit {
            self.require("visit", "visits", v)?;
        }
        let text = non_empty("follow-up text", &f.text)?;
        let id = FollowUpId::new();
        let changes = self.changes_for(
            EntityKind::FollowUp,
            id.0,
            vec![
                ("household_id", json!(f.household)),
                ("visit_id", json!(f.visit)),
                ("assignee_id", json!(f.assignee.or(self.user))),
                ("due", json!(f.due.format("%Y-%m-%d").to_string())),
                ("text", json!(text)),
                ("status", json!(FollowUpStatus::Open)),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    pub fn complete_follow_up(&mut self, id: FollowUpId) -> Result<(), StoreError> {
        self.require("follow-up", "follow_ups", id)?;
        let change = self.make_change(
            EntityKind::FollowUp,
            id.0,
            "status",
            json!(FollowUpStatus::Done),
        )?;
        self.commit(&[change])
    }

    pub fn raise_signal(&mut self, s: NewSignal) -> Result<SignalId, StoreError> {
        self.require("household", "households", s.household)?;
        if let Some(v) = s.visit {
            self.require("visit", "visits", v)?;
        }
        let id = SignalId::new();
        let changes = self.changes_for(
            EntityKind::Signal,
            id.0,
            vec![
                ("household_id", json!(s.household)),
                ("visit_id", json!(s.visit)),
                ("category", json!(s.category)),
                ("severity", json!(s.severity)),
                ("status", json!(SignalStatus::Open)),
                ("description", json!(s.description)),
            ],
        )?;
        self.commit(&changes)?;
        Ok(id)
    }

    /// The number of local changes the server has not acknowledged yet.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(sum(n), 0) FROM outbox", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_are_normalised_or_refused() {
        assert_eq!(
            normalise_postcode("1234ab").ok().as_deref(),
            Some("1234 AB")
        );
        assert_eq!(
            normalise_postcode(" 9711 LM ").ok().as_deref(),
            Some("9711 LM")
        );
        assert!(normalise_postcode("0123 AB").is_err());
        assert!(normalise_postcode("12345").is_err());
        assert!(normalise_postcode("1234 A1").is_err());
    }
}

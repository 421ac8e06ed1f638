//! The bodies of the app's commands, as methods of [`AppState`]: check and convert the
//! input (ids arrive as strings), call the store or the sync engine, and after a local
//! write publish the new number of changes waiting. `commands.rs` only adapts these to
//! `#[tauri::command]`, so tests call them against a real store without a window.

use crate::error::AppError;
use crate::state::AppState;
use crate::view::{AppStatus, HouseholdDetail, TemplateSummary, VisitView};
use chrono::NaiveDate;
use serde_json::Value;
use std::str::FromStr;
use voordeur_core::protocol::UserInfo;
use voordeur_core::{
    Conflict, ConflictId, FollowUp, HouseholdId, HouseholdSummary, NoteId, Severity,
    SignalCategory, TemplateId, VisitId,
};
use voordeur_store::{NewFollowUp, NewSignal, Store};

use crate::lock::{check_pin_form, days_since, hash_pin, PIN_META};

/// The stored hash of the worker's PIN; `None` when none was chosen (CLI enrolment).
fn pin_hash(store: &Store) -> Result<Option<String>, AppError> {
    Ok(store.meta(PIN_META)?)
}

/// Households one list asks for at first; "show more" asks for this many more.
pub const LIST_LIMIT: usize = 500;
/// The most households one request may ask for.
pub const MAX_LIST_LIMIT: usize = 20_000;

/// A longer query is a mistake, not a search.
pub const MAX_QUERY_CHARS: usize = 200;

/// The longest free text (a signal's description) the shell passes on.
pub const MAX_TEXT_CHARS: usize = 10_000;

pub(crate) fn normalise_query(query: &str) -> Result<&str, AppError> {
    let query = query.trim();
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::InvalidInput(format!(
            "the search text is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(query)
}

/// Parse an id sent by the UI.
fn parse_id<T: FromStr>(what: &str, text: &str) -> Result<T, AppError> {
    text.trim().parse().map_err(|_| {
        AppError::InvalidInput(format!(
            "{:?} is not a valid {what} id",
            text.chars().take(60).collect::<String>()
        ))
    })
}

fn parse_value<T: FromStr>(text: &str) -> Result<T, AppError>
where
    T::Err: std::fmt::Display,
{
    text.trim()
        .parse()
        .map_err(|e: T::Err| AppError::InvalidInput(e.to_string()))
}

fn optional_text(what: &str, text: Option<String>) -> Result<Option<String>, AppError> {
    let Some(text) = text else { return Ok(None) };
    let text = text.trim();
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(AppError::InvalidInput(format!(
            "the {what} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// Today on this device's calendar: what "overdue" is measured against.
fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

impl AppState {
    /// Tell the UI how many changes wait now (the status bar shows it at once).
    fn written(&self, store: &Store) {
        self.sync.local_write(store.outbox_len().unwrap_or(0));
    }

    pub fn app_status(&self) -> Result<AppStatus, AppError> {
        let store = self.store.lock()?;
        let enrolment = store.enrolment()?;
        let mut sync = self.sync.state();
        sync.waiting = store.outbox_len()?;
        let pin_set = pin_hash(&store)?.is_some();
        Ok(AppStatus {
            enrolled: enrolment.is_some(),
            server_url: enrolment.as_ref().map(|e| e.server_url.clone()),
            user: enrolment.map(|e| e.user),
            sync,
            pin_set,
            locked: self.lock.is_locked(pin_set)?,
            lock_after_secs: u32::try_from(self.lock.after().as_secs()).unwrap_or(u32::MAX),
        })
    }

    /// The store, for a command on resident data: refused while the app is locked, and
    /// when the device has not synced for too many days (a lost tablet stops showing
    /// data even if nobody revoked it yet; syncing opens it again).
    fn unlocked_store(&self) -> Result<std::sync::MutexGuard<'_, Store>, AppError> {
        let store = self.store.lock()?;
        self.lock.check(pin_hash(&store)?.is_some())?;
        let last = store.last_sync()?;
        if let Some(days) = days_since(last.as_deref(), chrono::Utc::now()) {
            if days >= i64::from(self.max_days_without_sync) {
                return Err(AppError::SyncRequired { days });
            }
        }
        Ok(store)
    }

    /// Unlock with the worker's PIN.
    pub fn unlock(&self, pin: &str) -> Result<(), AppError> {
        let stored = {
            let store = self.store.lock()?;
            pin_hash(&store)?
        };
        match stored {
            Some(stored) => self.lock.unlock(pin.trim(), &stored),
            None => Ok(()),
        }
    }

    pub fn lock_now(&self) -> Result<(), AppError> {
        self.lock.lock_now()
    }

    /// Activity without a command (touches, scrolling, typing).
    pub fn still_here(&self) -> Result<(), AppError> {
        let pin_set = pin_hash(&*self.store.lock()?)?.is_some();
        self.lock.still_here(pin_set)
    }

    /// Enrol with a one-time code, then start syncing. Blocks on the network: call it
    /// from a thread that may block (the command runs it with `spawn_blocking`).
    /// The worker chooses the PIN that unlocks the app from then on.
    pub fn enrol(&self, server_url: &str, code: &str, pin: &str) -> Result<UserInfo, AppError> {
        if code.trim().is_empty() {
            return Err(AppError::InvalidInput("the enrolment code is empty".into()));
        }
        // Check the address and the PIN before taking the lock, so a typo answers at once.
        voordeur_sync::server_base(server_url)?;
        let pin = pin.trim();
        check_pin_form(pin)?;
        let hash = hash_pin(pin)?;
        let user = {
            let mut store = self.store.lock()?;
            // After a revocation the sync connection wiped the device under a new id.
            store.reload_identity()?;
            if store.enrolment()?.is_some() {
                return Err(AppError::InvalidInput(
                    "this device is enrolled already".into(),
                ));
            }
            let user = voordeur_sync::enrol(&mut store, server_url, code)?;
            store.set_meta(PIN_META, &hash)?;
            user
        };
        self.lock.unlocked_by_enrolment()?;
        self.sync.wake();
        Ok(user)
    }

    /// The first `limit` households (default [`LIST_LIMIT`]) matching `query`, in
    /// address order.
    pub fn list_households(
        &self,
        query: &str,
        limit: Option<u32>,
    ) -> Result<Vec<HouseholdSummary>, AppError> {
        let query = normalise_query(query)?;
        let limit = limit.map_or(LIST_LIMIT, |l| (l as usize).clamp(1, MAX_LIST_LIMIT));
        let store = self.unlocked_store()?;
        Ok(store.search_households(query, limit)?)
    }

    /// How many households match `query` (the list may show fewer).
    pub fn count_households(&self, query: &str) -> Result<u64, AppError> {
        let query = normalise_query(query)?;
        let store = self.unlocked_store()?;
        Ok(store.count_households(query)?)
    }

    pub fn household_detail(&self, id: &str) -> Result<HouseholdDetail, AppError> {
        let id: HouseholdId = parse_id("household", id)?;
        let store = self.unlocked_store()?;
        Ok(store.household_detail(id, today())?.into())
    }

    pub fn list_templates(&self) -> Result<Vec<TemplateSummary>, AppError> {
        let store = self.unlocked_store()?;
        Ok(store.templates()?.into_iter().map(Into::into).collect())
    }

    pub fn start_visit(&self, household_id: &str, template_id: &str) -> Result<String, AppError> {
        let household: HouseholdId = parse_id("household", household_id)?;
        let template: TemplateId = parse_id("template", template_id)?;
        let mut store = self.unlocked_store()?;
        let visit = store.start_visit(household, template)?;
        self.written(&store);
        Ok(visit.to_string())
    }

    pub fn open_visit(&self, visit_id: &str) -> Result<VisitView, AppError> {
        let visit: VisitId = parse_id("visit", visit_id)?;
        let store = self.unlocked_store()?;
        let detail = store.visit_detail(visit)?;
        let template = store.template(detail.visit.template_id, detail.visit.template_version)?;
        let household = store.household(detail.visit.household_id)?;
        Ok(VisitView {
            detail,
            template,
            household,
        })
    }

    /// Store an answer (`null` clears it); returns the canonical value stored.
    pub fn answer(&self, visit_id: &str, item: &str, value: Value) -> Result<Value, AppError> {
        let visit: VisitId = parse_id("visit", visit_id)?;
        let mut store = self.unlocked_store()?;
        let stored = store.answer(visit, item, value)?;
        self.written(&store);
        Ok(stored)
    }

    pub fn add_note(&self, visit_id: &str, text: &str) -> Result<String, AppError> {
        let visit: VisitId = parse_id("visit", visit_id)?;
        let mut store = self.unlocked_store()?;
        let note = store.add_note(visit, text)?;
        self.written(&store);
        Ok(note.to_string())
    }

    pub fn edit_note(&self, note_id: &str, text: &str) -> Result<(), AppError> {
        let note: NoteId = parse_id("note", note_id)?;
        let mut store = self.unlocked_store()?;
        store.edit_note(note, text)?;
        self.written(&store);
        Ok(())
    }

    pub fn raise_signal(
        &self,
        household_id: &str,
        visit_id: Option<&str>,
        category: &str,
        severity: &str,
        description: Option<String>,
    ) -> Result<String, AppError> {
        let signal = NewSignal {
            household: parse_id("household", household_id)?,
            visit: visit_id.map(|v| parse_id("visit", v)).transpose()?,
            category: parse_value::<SignalCategory>(category)?,
            severity: parse_value::<Severity>(severity)?,
            description: optional_text("description", description)?,
        };
        let mut store = self.unlocked_store()?;
        let id = store.raise_signal(signal)?;
        self.written(&store);
        Ok(id.to_string())
    }

    pub fn add_follow_up(
        &self,
        household_id: &str,
        visit_id: Option<&str>,
        due: &str,
        text: &str,
    ) -> Result<String, AppError> {
        let due = NaiveDate::parse_from_str(due.trim(), "%Y-%m-%d").map_err(|_| {
            AppError::InvalidInput(format!(
                "{:?} is not a date as YYYY-MM-DD",
                due.chars().take(40).collect::<String>()
            ))
        })?;
        let follow_up = NewFollowUp {
            household: parse_id("household", household_id)?,
            visit: visit_id.map(|v| parse_id("visit", v)).transpose()?,
            assignee: None,
            due,
            text: text.to_string(),
        };
        let mut store = self.unlocked_store()?;
        let id = store.add_follow_up(follow_up)?;
        self.written(&store);
        Ok(id.to_string())
    }

    /// Complete a visit and sync it in the background.
    pub fn complete_visit(&self, visit_id: &str) -> Result<(), AppError> {
        let visit: VisitId = parse_id("visit", visit_id)?;
        let mut store = self.unlocked_store()?;
        store.complete_visit(visit)?;
        self.written(&store);
        drop(store);
        self.sync.wake();
        Ok(())
    }

    /// Open follow-ups, due and overdue first: the enrolled user's, or all of them on a
    /// device that is not enrolled.
    pub fn my_follow_ups(&self) -> Result<Vec<FollowUp>, AppError> {
        let store = self.unlocked_store()?;
        Ok(store.open_follow_ups(store.user_id(), today())?)
    }

    pub fn list_conflicts(&self) -> Result<Vec<Conflict>, AppError> {
        let store = self.unlocked_store()?;
        Ok(store.conflicts(true)?)
    }

    pub fn resolve_conflict(&self, id: &str, value: Value) -> Result<(), AppError> {
        let id: ConflictId = parse_id("conflict", id)?;
        let mut store = self.unlocked_store()?;
        store.resolve_conflict(id, value)?;
        self.written(&store);
        Ok(())
    }

    /// Ask background sync to run now; returns at once.
    pub fn sync_now(&self) -> Result<(), AppError> {
        drop(self.unlocked_store()?);
        self.sync.wake();
        Ok(())
    }
}

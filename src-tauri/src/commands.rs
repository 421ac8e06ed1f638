//! The commands the UI may invoke: thin adapters from `#[tauri::command]` to the
//! methods of [`AppState`] in `service.rs`. Every command must also be listed in
//! `build.rs` (the app manifest) and allowed in `capabilities/default.json`, or Tauri
//! refuses the call; `COMMANDS` below is checked against both by a test.
//!
//! Arguments arrive in camelCase (`visitId`), as Tauri maps them. The commands run
//! on Tauri's thread pool (`async`), never on the main thread, so a slow disk never
//! freezes the window; `enrol` waits on the network in `spawn_blocking`.

use crate::error::AppError;
use crate::state::AppState;
use crate::view::{AppStatus, HouseholdDetail, TemplateSummary, VisitView};
use serde_json::Value;
use tauri::{AppHandle, Manager, Runtime, State};
use voordeur_core::protocol::UserInfo;
use voordeur_core::{Conflict, FollowUp, HouseholdSummary};

/// Every command of the app, as registered in `lib.rs` and `build.rs`.
#[cfg(test)]
pub const COMMANDS: &[&str] = &[
    "app_status",
    "enrol",
    "list_households",
    "count_households",
    "household_detail",
    "list_templates",
    "start_visit",
    "open_visit",
    "answer",
    "add_note",
    "edit_note",
    "raise_signal",
    "add_follow_up",
    "complete_visit",
    "my_follow_ups",
    "list_conflicts",
    "resolve_conflict",
    "sync_now",
    "unlock",
    "lock_now",
    "still_here",
];

type Result<T> = std::result::Result<T, AppError>;

#[tauri::command(async)]
pub fn app_status(state: State<'_, AppState>) -> Result<AppStatus> {
    state.app_status()
}

#[tauri::command]
pub async fn enrol<R: Runtime>(
    app: AppHandle<R>,
    server_url: String,
    code: String,
    pin: String,
) -> Result<UserInfo> {
    tauri::async_runtime::spawn_blocking(move || {
        app.state::<AppState>().enrol(&server_url, &code, &pin)
    })
    .await
    .map_err(|_| AppError::Internal("enrolment stopped unexpectedly"))?
}

#[tauri::command(async)]
pub fn list_households(
    state: State<'_, AppState>,
    query: String,
    limit: Option<u32>,
) -> Result<Vec<HouseholdSummary>> {
    state.list_households(&query, limit)
}

#[tauri::command(async)]
pub fn count_households(state: State<'_, AppState>, query: String) -> Result<u64> {
    state.count_households(&query)
}

#[tauri::command(async)]
pub fn household_detail(state: State<'_, AppState>, id: String) -> Result<HouseholdDetail> {
    state.household_detail(&id)
}

#[tauri::command(async)]
pub fn list_templates(state: State<'_, AppState>) -> Result<Vec<TemplateSummary>> {
    state.list_templates()
}

#[tauri::command(async)]
pub fn start_visit(
    state: State<'_, AppState>,
    household_id: String,
    template_id: String,
) -> Result<String> {
    state.start_visit(&household_id, &template_id)
}

#[tauri::command(async)]
pub fn open_visit(state: State<'_, AppState>, visit_id: String) -> Result<VisitView> {
    state.open_visit(&visit_id)
}

#[tauri::command(async)]
pub fn answer(
    state: State<'_, AppState>,
    visit_id: String,
    item: String,
    value: Value,
) -> Result<Value> {
    state.answer(&visit_id, &item, value)
}

#[tauri::command(async)]
pub fn add_note(state: State<'_, AppState>, visit_id: String, text: String) -> Result<String> {
    state.add_note(&visit_id, &text)
}

#[tauri::command(async)]
pub fn edit_note(state: State<'_, AppState>, note_id: String, text: String) -> Result<()> {
    state.edit_note(&note_id, &text)
}

#[tauri::command(async)]
pub fn raise_signal(
    state: State<'_, AppState>,
    household_id: String,
    visit_id: Option<String>,
    category: String,
    severity: String,
    description: Option<String>,
) -> Result<String> {
    state.raise_signal(
        &household_id,
        visit_id.as_deref(),
        &category,
        &severity,
        description,
    )
}

#[tauri::command(async)]
pub fn add_follow_up(
    state: State<'_, AppState>,
    household_id: String,
    visit_id: Option<String>,
    due: String,
    text: String,
) -> Result<String> {
    state.add_follow_up(&household_id, visit_id.as_deref(), &due, &text)
}

#[tauri::command(async)]
pub fn complete_visit(state: State<'_, AppState>, visit_id: String) -> Result<()> {
    state.complete_visit(&visit_id)
}

#[tauri::command(async)]
pub fn my_follow_ups(state: State<'_, AppState>) -> Result<Vec<FollowUp>> {
    state.my_follow_ups()
}

#[tauri::command(async)]
pub fn list_conflicts(state: State<'_, AppState>) -> Result<Vec<Conflict>> {
    state.list_conflicts()
}

#[tauri::command(async)]
pub fn resolve_conflict(state: State<'_, AppState>, id: String, value: Value) -> Result<()> {
    state.resolve_conflict(&id, value)
}

/// Unlock the app with the worker's PIN (the hash check is slow on purpose).
#[tauri::command]
pub async fn unlock<R: Runtime>(app: AppHandle<R>, pin: String) -> Result<()> {
    tauri::async_runtime::spawn_blocking(move || app.state::<AppState>().unlock(&pin))
        .await
        .map_err(|_| AppError::Internal("unlocking stopped unexpectedly"))?
}

#[tauri::command(async)]
pub fn lock_now(state: State<'_, AppState>) -> Result<()> {
    state.lock_now()
}

/// The worker touched or typed: the idle time starts again.
#[tauri::command(async)]
pub fn still_here(state: State<'_, AppState>) -> Result<()> {
    state.still_here()
}

#[tauri::command(async)]
pub fn sync_now(state: State<'_, AppState>) -> Result<()> {
    state.sync_now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{normalise_query, MAX_QUERY_CHARS};

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(normalise_query("  Kerkstraat ").ok(), Some("Kerkstraat"));
        assert_eq!(normalise_query("").ok(), Some(""));
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        let err = normalise_query(&long).expect_err("too long");
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
    }

    /// The manifest in `build.rs` and the capability allow exactly these commands.
    #[test]
    fn the_capability_allows_exactly_the_app_commands() {
        let root = env!("CARGO_MANIFEST_DIR");
        let build = std::fs::read_to_string(format!("{root}/build.rs")).expect("build.rs");
        for c in COMMANDS {
            assert!(
                build.contains(&format!("\"{c}\"")),
                "{c} missing in build.rs"
            );
        }
        let cap: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{root}/capabilities/default.json"))
                .expect("capability"),
        )
        .expect("capability JSON");
        let mut allowed: Vec<String> = cap["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .filter_map(|p| p.as_str())
            .filter(|p| *p != "core:default")
            .map(String::from)
            .collect();
        allowed.sort();
        let mut expected: Vec<String> = COMMANDS
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        expected.sort();
        assert_eq!(allowed, expected);
    }
}

//! The commands the UI may invoke. Each one is thin: check the input, call the store,
//! return its result. Every command must also be listed in `build.rs` and allowed in
//! `capabilities/default.json`, or Tauri refuses the call.

use crate::error::AppError;
use crate::state::DeviceStore;
use tauri::State;
use voordeur_core::HouseholdSummary;

/// The most households one list shows; the search box narrows it down.
pub const LIST_LIMIT: usize = 500;

/// A longer query is a mistake, not a search.
pub const MAX_QUERY_CHARS: usize = 200;

/// Households on this device whose address, postcode or resident names match `query`;
/// an empty query lists them all, sorted by address.
#[tauri::command]
pub fn list_households(
    query: String,
    store: State<'_, DeviceStore>,
) -> Result<Vec<HouseholdSummary>, AppError> {
    let query = normalise_query(&query)?;
    let store = store.lock()?;
    Ok(store.search_households(query, LIST_LIMIT)?)
}

fn normalise_query(query: &str) -> Result<&str, AppError> {
    let query = query.trim();
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::InvalidInput(format!(
            "the search text is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(normalise_query("  Kerkstraat ").ok(), Some("Kerkstraat"));
        assert_eq!(normalise_query("").ok(), Some(""));
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        let err = normalise_query(&long).expect_err("too long");
        assert_eq!(err.kind(), "invalid_input");
    }
}

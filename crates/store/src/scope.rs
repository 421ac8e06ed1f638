//! When a household leaves this device's team (an admin moved it), the device erases
//! it and everything under it: the server stops sending its changes and refuses this
//! device's, so keeping it would only keep residents' data where it no longer belongs.
//!
//! The signal is the household's `team_id` field arriving from the server with another
//! team than the device's own. Local edits not yet pushed stay in the outbox: the
//! server refuses them and they move to `rejected_changes`, so nothing written is
//! silently lost.

use crate::StoreError;
use rusqlite::{Connection, OptionalExtension};
use std::collections::BTreeSet;
use voordeur_core::EntityKind;

/// Erase the households of `candidates` that now belong to another team than `team`.
/// Returns how many were erased.
pub(crate) fn erase_households_out_of_scope(
    conn: &Connection,
    team: &str,
    candidates: &BTreeSet<String>,
) -> Result<usize, StoreError> {
    let mut erased = 0;
    for household in candidates {
        let owner: Option<Option<String>> = conn
            .query_row(
                "SELECT team_id FROM households WHERE id = ?1",
                [household],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(Some(owner)) = owner {
            if owner != team {
                erase_household(conn, household)?;
                erased += 1;
            }
        }
    }
    Ok(erased)
}

fn ids(conn: &Connection, sql: &str, param: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([param], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Erase one household and every record under it, with their field versions and the
/// search entry.
fn erase_household(conn: &Connection, household: &str) -> Result<(), StoreError> {
    let mut records: Vec<(EntityKind, String)> =
        vec![(EntityKind::Household, household.to_string())];
    for (entity, table) in [
        (EntityKind::Resident, "residents"),
        (EntityKind::Visit, "visits"),
        (EntityKind::Signal, "signals"),
        (EntityKind::FollowUp, "follow_ups"),
    ] {
        let sql = format!("SELECT id FROM {table} WHERE household_id = ?1");
        for id in ids(conn, &sql, household)? {
            records.push((entity, id));
        }
    }
    let visits: Vec<String> = records
        .iter()
        .filter(|(e, _)| *e == EntityKind::Visit)
        .map(|(_, id)| id.clone())
        .collect();
    for visit in &visits {
        for (entity, table) in [(EntityKind::Note, "notes"), (EntityKind::Review, "reviews")] {
            let sql = format!("SELECT id FROM {table} WHERE visit_id = ?1");
            for id in ids(conn, &sql, visit)? {
                records.push((entity, id));
            }
        }
    }
    let about: Vec<String> = records.iter().map(|(_, id)| id.clone()).collect();
    for id in &about {
        for conflict in ids(conn, "SELECT id FROM conflicts WHERE record_id = ?1", id)? {
            records.push((EntityKind::Conflict, conflict));
        }
    }
    conn.execute(
        "DELETE FROM household_search WHERE rowid = (SELECT rowid FROM households WHERE id = ?1)",
        [household],
    )?;
    for (entity, id) in &records {
        let table = match entity {
            EntityKind::Household => "households",
            EntityKind::Resident => "residents",
            EntityKind::Visit => "visits",
            EntityKind::Signal => "signals",
            EntityKind::FollowUp => "follow_ups",
            EntityKind::Note => "notes",
            EntityKind::Review => "reviews",
            EntityKind::Conflict => "conflicts",
            EntityKind::Template => continue,
        };
        conn.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?;
        conn.execute(
            "DELETE FROM record_versions WHERE entity = ?1 AND record_id = ?2",
            [entity.as_str(), id.as_str()],
        )?;
    }
    Ok(())
}

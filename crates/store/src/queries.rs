//! Reads the UI and the CLI need. Deleted (tombstoned) records are never returned.

use crate::ops::template_record_id;
use crate::{Store, StoreError};
use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use voordeur_core::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HouseholdDetail {
    pub household: Household,
    pub residents: Vec<Resident>,
    pub visits: Vec<Visit>,
    pub open_signals: Vec<Signal>,
    pub open_follow_ups: Vec<FollowUp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub id: TemplateId,
    pub version: u32,
    pub name: Label,
}

fn id<T: std::str::FromStr>(s: Option<String>) -> Option<T> {
    s.and_then(|s| s.parse().ok())
}

fn parsed<T: std::str::FromStr>(s: Option<String>, fallback: T) -> T {
    s.and_then(|s| s.parse().ok()).unwrap_or(fallback)
}

fn visit_from_row(r: &Row<'_>) -> rusqlite::Result<Option<Visit>> {
    let (Some(vid), Some(hid), Some(tid)) = (id(r.get(0)?), id(r.get(1)?), id(r.get(2)?)) else {
        return Ok(None);
    };
    Ok(Some(Visit {
        id: vid,
        household_id: hid,
        template_id: tid,
        template_version: r.get::<_, Option<u32>>(3)?.unwrap_or(0),
        author_id: id(r.get(4)?),
        started_at: r.get(5)?,
        ended_at: r.get(6)?,
        status: parsed(r.get(7)?, VisitStatus::Draft),
    }))
}

const VISIT_COLUMNS: &str =
    "id, household_id, template_id, template_version, author_id, started_at, ended_at, status";

fn follow_up_from_row(r: &Row<'_>, today: NaiveDate) -> rusqlite::Result<Option<FollowUp>> {
    let (Some(fid), Some(hid)) = (id(r.get(0)?), id(r.get(1)?)) else {
        return Ok(None);
    };
    let Some(due) = r
        .get::<_, Option<String>>(4)?
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    else {
        return Ok(None);
    };
    let status = parsed(r.get(6)?, FollowUpStatus::Open);
    Ok(Some(FollowUp {
        id: fid,
        household_id: hid,
        visit_id: id(r.get(2)?),
        assignee_id: id(r.get(3)?),
        due,
        text: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        overdue: status == FollowUpStatus::Open && due < today,
        status,
    }))
}

const FOLLOW_UP_COLUMNS: &str = "id, household_id, visit_id, assignee_id, due, text, status";

impl Store {
    /// Households whose address, postcode, city or resident names contain `query`
    /// (case-insensitive), sorted by address. An empty query lists all.
    pub fn search_households(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<HouseholdSummary>, StoreError> {
        let q = query.trim().to_lowercase();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Pick the page of households first, then fetch resident names for those rows
        // only: the cost follows the page size, not the number of matches.
        let page = |filter: &str, order: &str| {
            // Walk households in address order and stop at the page size, testing each
            // against the set of matches, instead of sorting every match.
            let index = if order == "h.address" {
                "INDEXED BY households_address"
            } else {
                ""
            };
            format!(
                "WITH page AS (
                   SELECT h.id, h.address, h.postcode, h.city FROM households h {index}
                   WHERE h.deleted = 0 AND {filter} ORDER BY {order}, h.id LIMIT ?2)
                 SELECT p.id, p.address, p.postcode, p.city,
                   (SELECT group_concat(r.name, char(31)) FROM residents r
                     WHERE r.household_id = p.id AND r.deleted = 0 AND r.name IS NOT NULL)
                 FROM page p ORDER BY {order_p}, p.id",
                order_p = order.replace("h.", "p.")
            )
        };
        let (filter, order, param) = household_filter(&q);
        let sql = page(filter, order);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![param, limit], |r| {
            let names: Option<String> = r.get(4)?;
            let mut residents: Vec<String> = names
                .map(|n| n.split('\u{1f}').map(String::from).collect())
                .unwrap_or_default();
            residents.sort();
            Ok(id::<HouseholdId>(r.get(0)?).map(|hid| HouseholdSummary {
                id: hid,
                address: r
                    .get::<_, Option<String>>(1)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                postcode: r
                    .get::<_, Option<String>>(2)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                city: r.get(3).ok().flatten(),
                residents,
            }))
        })?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(h) = row? {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// How many households match `query` (the same matching as
    /// [`Store::search_households`], without its limit).
    pub fn count_households(&self, query: &str) -> Result<u64, StoreError> {
        let q = query.trim().to_lowercase();
        let (filter, _, param) = household_filter(&q);
        let sql = format!("SELECT count(*) FROM households h WHERE h.deleted = 0 AND {filter}");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![param], |r| r.get(0))?)
    }

    pub fn household(&self, hid: HouseholdId) -> Result<Household, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT address, postcode, city, neighbourhood, team_id
                 FROM households WHERE id = ?1 AND deleted = 0",
            )?
            .query_row([hid.to_string()], |r| {
                Ok(Household {
                    id: hid,
                    address: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    postcode: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    city: r.get(2)?,
                    neighbourhood: r.get(3)?,
                    team_id: id(r.get(4)?),
                })
            })
            .optional()?
            .ok_or_else(|| StoreError::not_found("household", hid))
    }

    /// A household page: residents, visits (newest first), open signals and follow-ups.
    pub fn household_detail(
        &self,
        hid: HouseholdId,
        today: NaiveDate,
    ) -> Result<HouseholdDetail, StoreError> {
        let household = self.household(hid)?;
        let key = hid.to_string();
        let mut residents = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, birth_year, contact FROM residents
             WHERE household_id = ?1 AND deleted = 0 ORDER BY name, id",
        )?;
        for row in stmt.query_map([&key], |r| {
            Ok(id(r.get(0)?).map(|rid| Resident {
                id: rid,
                household_id: hid,
                name: r
                    .get::<_, Option<String>>(1)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                birth_year: r.get(2).ok().flatten(),
                contact: r.get(3).ok().flatten(),
            }))
        })? {
            residents.extend(row?);
        }
        let visits = self.visits_of_household(hid)?;
        let mut open_signals = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, visit_id, category, severity, status, description FROM signals
             WHERE household_id = ?1 AND deleted = 0 AND status = 'open' ORDER BY id",
        )?;
        for row in stmt.query_map([&key], |r| {
            Ok(id(r.get(0)?).map(|sid| Signal {
                id: sid,
                household_id: hid,
                visit_id: id(r.get(1).ok().flatten()),
                category: parsed(r.get(2).ok().flatten(), SignalCategory::Other),
                severity: parsed(r.get(3).ok().flatten(), Severity::Medium),
                status: parsed(r.get(4).ok().flatten(), SignalStatus::Open),
                description: r.get(5).ok().flatten(),
            }))
        })? {
            open_signals.extend(row?);
        }
        let mut open_follow_ups = Vec::new();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups
             WHERE household_id = ?1 AND deleted = 0 AND status = 'open' ORDER BY due, id"
        ))?;
        for row in stmt.query_map([&key], |r| follow_up_from_row(r, today))? {
            open_follow_ups.extend(row?);
        }
        Ok(HouseholdDetail {
            household,
            residents,
            visits,
            open_signals,
            open_follow_ups,
        })
    }

    /// Visits of a household, newest first.
    pub fn visits_of_household(&self, hid: HouseholdId) -> Result<Vec<Visit>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {VISIT_COLUMNS} FROM visits WHERE household_id = ?1 AND deleted = 0
             ORDER BY started_at DESC, id DESC"
        ))?;
        let mut out = Vec::new();
        for row in stmt.query_map([hid.to_string()], visit_from_row)? {
            out.extend(row?);
        }
        Ok(out)
    }

    /// A visit with its answers (in item order of storage) and notes (oldest first).
    pub fn visit_detail(&self, vid: VisitId) -> Result<VisitDetail, StoreError> {
        let key = vid.to_string();
        let visit = self
            .conn
            .prepare_cached(&format!(
                "SELECT {VISIT_COLUMNS} FROM visits WHERE id = ?1 AND deleted = 0"
            ))?
            .query_row([&key], visit_from_row)
            .optional()?
            .flatten()
            .ok_or_else(|| StoreError::not_found("visit", vid))?;
        let versions = crate::versions::Versions::load(&self.conn, EntityKind::Visit, &key)?;
        let mut answers = Vec::new();
        for (item, value) in crate::apply::visit_answers(&self.conn, &key)? {
            // An answer is always written with its version; one without (a damaged
            // database) is left out, as before version 6.
            let field = format!("{}{item}", voordeur_core::change::ANSWER_PREFIX);
            let Some((version, _)) = versions.get(&field) else {
                continue;
            };
            answers.push(Answer {
                item,
                value,
                version,
            });
        }
        let mut notes = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, author_id, text, created_at FROM notes
             WHERE visit_id = ?1 AND deleted = 0 ORDER BY created_at, id",
        )?;
        for row in stmt.query_map([&key], |r| {
            Ok(id(r.get(0)?).map(|nid| Note {
                id: nid,
                visit_id: vid,
                author_id: id(r.get(1).ok().flatten()),
                text: r
                    .get::<_, Option<String>>(2)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                created_at: r.get(3).ok().flatten(),
            }))
        })? {
            notes.extend(row?);
        }
        Ok(VisitDetail {
            visit,
            answers,
            notes,
        })
    }

    pub(crate) fn answers_map(&self, vid: VisitId) -> Result<Answers, StoreError> {
        crate::apply::visit_answers(&self.conn, &vid.to_string())
    }

    /// Open follow-ups, due and overdue first; only those assigned to `assignee` when
    /// given.
    pub fn open_follow_ups(
        &self,
        assignee: Option<UserId>,
        today: NaiveDate,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups
             WHERE deleted = 0 AND status = 'open' AND (?1 IS NULL OR assignee_id = ?1)
             ORDER BY due, id"
        ))?;
        let mut out = Vec::new();
        for row in stmt.query_map([assignee.map(|a| a.to_string())], |r| {
            follow_up_from_row(r, today)
        })? {
            out.extend(row?);
        }
        Ok(out)
    }

    /// The latest published version of each template.
    pub fn templates(&self) -> Result<Vec<TemplateSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT template_id, max(version), name_nl, name_en FROM templates
             WHERE deleted = 0 AND status = 'published' AND template_id IS NOT NULL
             GROUP BY template_id ORDER BY name_nl, template_id",
        )?;
        let mut out = Vec::new();
        for row in stmt.query_map([], |r| {
            Ok(id(r.get(0)?).map(|tid| TemplateSummary {
                id: tid,
                version: r.get::<_, Option<u32>>(1).ok().flatten().unwrap_or(0),
                name: Label {
                    nl: r
                        .get::<_, Option<String>>(2)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    en: r
                        .get::<_, Option<String>>(3)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                },
            }))
        })? {
            out.extend(row?);
        }
        Ok(out)
    }

    /// A template version as stored.
    pub fn template(&self, tid: TemplateId, version: u32) -> Result<ChecklistTemplate, StoreError> {
        Ok(self.template_shared(tid, version)?.as_ref().clone())
    }

    /// A template version, parsed once per store and shared.
    pub(crate) fn template_shared(
        &self,
        tid: TemplateId,
        version: u32,
    ) -> Result<std::sync::Arc<ChecklistTemplate>, StoreError> {
        if let Some(t) = self.templates.borrow().get(&(tid, version)) {
            return Ok(t.clone());
        }
        let t = std::sync::Arc::new(self.load_template(tid, version)?);
        self.templates
            .borrow_mut()
            .insert((tid, version), t.clone());
        Ok(t)
    }

    fn load_template(
        &self,
        tid: TemplateId,
        version: u32,
    ) -> Result<ChecklistTemplate, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM templates WHERE id = ?1 AND deleted = 0")?
            .query_row([template_record_id(tid, version).to_string()], |r| r.get(0))
            .optional()?
            .flatten();
        let body =
            body.ok_or_else(|| StoreError::not_found("template", format!("{tid} v{version}")))?;
        serde_json::from_str(&body).map_err(|_| StoreError::Corrupt("template body"))
    }

    /// The latest published version of a template.
    pub fn latest_template(
        &self,
        tid: TemplateId,
    ) -> Result<Option<ChecklistTemplate>, StoreError> {
        let version: Option<u32> = self
            .conn
            .prepare_cached(
                "SELECT max(version) FROM templates
                 WHERE template_id = ?1 AND deleted = 0 AND status = 'published'",
            )?
            .query_row([tid.to_string()], |r| r.get(0))?;
        version.map(|v| self.template(tid, v)).transpose()
    }
}

/// The household filter of a (lower-cased, trimmed) search: SQL over `h` with `?1`, the
/// order to walk in, and the value of `?1`.
fn household_filter(q: &str) -> (&'static str, &'static str, String) {
    if q.is_empty() {
        ("?1 = ''", "h.address", String::new())
    } else if q.chars().count() >= 3 {
        // Trigram index: a quoted phrase finds the text anywhere in the body.
        (
            "h.rowid IN (SELECT rowid FROM household_search WHERE household_search MATCH ?1)",
            "h.address",
            format!("\"{}\"", q.replace('"', "\"\"")),
        )
    } else {
        // One or two characters: too short for trigrams; match the start of the
        // address through its case-insensitive index.
        (
            "h.address COLLATE NOCASE >= ?1 AND h.address COLLATE NOCASE < ?1 || char(1114111)",
            "h.address COLLATE NOCASE",
            q.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::{NewHousehold, NewResident, Store};

    #[test]
    fn search_finds_substrings_names_postcodes_and_short_prefixes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open_dir(dir.path(), None).expect("open");
        let mut add = |address: &str, postcode: &str| {
            store
                .add_household(NewHousehold {
                    address: address.into(),
                    postcode: postcode.into(),
                    ..NewHousehold::default()
                })
                .expect("add")
        };
        let beukenhof = add("Beukenhof 1", "9711 AB");
        add("beatrixlaan 2", "9712 CD");
        add("Kerkstraat 3", "1234 EF");
        store
            .add_resident(NewResident {
                household: beukenhof,
                name: "Fatima Yilmaz".into(),
                birth_year: None,
                contact: None,
            })
            .expect("resident");
        let found = |q: &str| -> Vec<String> {
            store
                .search_households(q, 50)
                .expect("search")
                .into_iter()
                .map(|h| h.address)
                .collect()
        };
        assert_eq!(
            found(""),
            vec!["Beukenhof 1", "Kerkstraat 3", "beatrixlaan 2"]
        );
        assert_eq!(found("BE"), vec!["beatrixlaan 2", "Beukenhof 1"]);
        assert_eq!(found("k"), vec!["Kerkstraat 3"]);
        assert_eq!(found("erkstr"), vec!["Kerkstraat 3"]);
        assert_eq!(found("yilmaz"), vec!["Beukenhof 1"]);
        assert_eq!(found("9712cd"), vec!["beatrixlaan 2"]);
        assert_eq!(found("9712 c"), vec!["beatrixlaan 2"]);
        assert!(found("zzz").is_empty());
        assert!(found("\"").is_empty());
        // The count matches what a search without a limit finds.
        for q in ["", "be", "yilmaz", "9712", "zzz"] {
            let all = store.search_households(q, 1_000).expect("search").len() as u64;
            assert_eq!(store.count_households(q).expect("count"), all, "{q}");
        }
    }
}

//! `voordeur`: the headless client. A thin shell over voordeur-store and voordeur-core
//! — exactly the code the app runs — for scripting, support, tests and load simulation.
//!
//! Exit codes: 0 success, 2 bad input (one line on stderr naming what is wrong, the
//! database untouched; also: the device is not enrolled), 3 the server is not reachable
//! (try again later; nothing is lost), 4 the server refused this device (revoked, or an
//! enrolment code that is wrong, used or expired), 1 anything else (a damaged database,
//! a full disk, a server error).

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use voordeur_core::*;
use voordeur_store::{NewFollowUp, NewHousehold, NewResident, NewSignal, Store, StoreError};
use voordeur_sync::{Progress, SyncError};

#[derive(Parser)]
#[command(name = "voordeur", version, about = "Voordeur headless client")]
struct Cli {
    /// The device folder holding voordeur.db.
    #[arg(
        long,
        global = true,
        env = "VOORDEUR_DATA",
        default_value = ".voordeur"
    )]
    data: PathBuf,
    /// The key of an encrypted device database (SQLCipher raw key `x'…'`, as the app
    /// keeps in the OS key store). Without it the folder is opened unencrypted.
    #[arg(long, global = true, env = "VOORDEUR_DB_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Households: add, list.
    #[command(subcommand)]
    Household(HouseholdCmd),
    /// Residents of a household.
    #[command(subcommand)]
    Resident(ResidentCmd),
    /// Checklist templates.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Home visits.
    #[command(subcommand)]
    Visit(VisitCmd),
    /// Notes of a visit.
    #[command(subcommand)]
    Note(NoteCmd),
    /// Follow-ups.
    #[command(subcommand)]
    Followup(FollowupCmd),
    /// Signals.
    #[command(subcommand)]
    Signal(SignalCmd),
    /// Print the whole state as stable JSON (for comparing devices).
    Export,
    /// Enrol this device with a server, using a one-time code from an admin.
    Enroll {
        /// The server's address, e.g. https://voordeur.gemeente.nl
        #[arg(long)]
        server: String,
        #[arg(long)]
        code: String,
        /// A name for this device in the admin's device list.
        #[arg(long)]
        name: Option<String>,
    },
    /// Push this device's changes, then pull everyone else's.
    Sync,
    /// Enrolment and sync state: server, user, last sync, changes waiting.
    Status,
    /// Conflicting edits: the competing values of each (open ones unless --all).
    Conflicts {
        #[arg(long)]
        all: bool,
    },
    /// Resolve a conflict.
    #[command(subcommand)]
    Conflict(ConflictCmd),
}

#[derive(Subcommand)]
enum ConflictCmd {
    /// Set the field to the chosen value and close the conflict. VALUE is JSON when it
    /// parses as a value of the field's type, else text; answers also take the forms
    /// of `visit answer` (ja, 3, a,b).
    Resolve {
        conflict: String,
        #[arg(long)]
        value: String,
    },
}

#[derive(Subcommand)]
enum HouseholdCmd {
    Add {
        #[arg(long)]
        address: String,
        #[arg(long)]
        postcode: String,
        #[arg(long)]
        city: Option<String>,
        #[arg(long)]
        neighbourhood: Option<String>,
    },
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    Show {
        household: String,
    },
    /// Delete a household (the deletion syncs).
    Delete {
        household: String,
    },
}

#[derive(Subcommand)]
enum ResidentCmd {
    Add {
        #[arg(long)]
        household: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        birth_year: Option<i32>,
        #[arg(long)]
        contact: Option<String>,
    },
}

#[derive(Subcommand)]
enum TemplateCmd {
    List,
    Import { file: PathBuf },
    Show { template: String },
}

#[derive(Subcommand)]
enum VisitCmd {
    Start {
        #[arg(long)]
        household: String,
        #[arg(long)]
        template: String,
    },
    /// Answer an item: yes/no as ja|nee, choices by value (comma-separated for several),
    /// numbers, dates as YYYY-MM-DD, free text.
    Answer {
        visit: String,
        item: String,
        value: String,
    },
    Note {
        visit: String,
        text: String,
    },
    Complete {
        visit: String,
    },
    Show {
        visit: String,
    },
}

#[derive(Subcommand)]
enum NoteCmd {
    Edit {
        note: String,
        text: String,
    },
    /// Delete a note (the deletion syncs).
    Delete {
        note: String,
    },
}

#[derive(Subcommand)]
enum FollowupCmd {
    Add {
        #[arg(long)]
        household: String,
        #[arg(long)]
        due: String,
        #[arg(long)]
        visit: Option<String>,
        text: String,
    },
    List {
        /// Show follow-ups of every worker on this device, not only mine.
        #[arg(long)]
        all: bool,
    },
    Done {
        followup: String,
    },
}

#[derive(Subcommand)]
enum SignalCmd {
    Raise {
        #[arg(long)]
        household: String,
        #[arg(long)]
        category: String,
        #[arg(long, default_value = "medium")]
        severity: String,
        #[arg(long)]
        visit: Option<String>,
        description: Option<String>,
    },
}

/// An error of the CLI; its exit code is in the crate docs.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Sync(#[from] SyncError),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Store(e) | CliError::Sync(SyncError::Store(e)) if e.is_user_error() => 2,
            CliError::Store(_) => 1,
            CliError::Sync(e) => match e {
                SyncError::NotEnrolled | SyncError::InvalidUrl(_) => 2,
                SyncError::Offline(_) => 3,
                SyncError::Unauthorized | SyncError::Revoked | SyncError::EnrolmentRefused(_) => 4,
                _ => 1,
            },
        }
    }
}

fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, CliError> {
    s.parse()
        .map_err(|_| CliError::Input(format!("{what} id {s:?} is not a valid id")))
}

fn parse_date(s: &str) -> Result<NaiveDate, CliError> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    d.filter(|_| s.trim().len() == 10)
        .ok_or_else(|| CliError::Input(format!("date {s:?} is not a valid date as YYYY-MM-DD")))
}

fn parse_enum<T: std::str::FromStr<Err = UnknownValue>>(s: &str) -> Result<T, CliError> {
    s.parse()
        .map_err(|e: UnknownValue| CliError::Input(e.to_string()))
}

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

struct Out {
    json: bool,
}

impl Out {
    /// Print a created record's id.
    fn created(&self, id: impl ToString) {
        if self.json {
            println!("{}", json!({ "id": id.to_string() }));
        } else {
            println!("{}", id.to_string());
        }
    }

    fn value(&self, v: &Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else {
            println!("{}", text());
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A clock's wall time as RFC 3339 (UTC, seconds).
fn hlc_time(h: &Hlc) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(h.wall_ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| h.to_string())
}

fn user_line(u: &protocol::UserInfo) -> String {
    let mut line = format!("{} ({})", u.name, u.role);
    match (&u.team_name, u.team_id) {
        (Some(name), _) => line.push_str(&format!(", team {name}")),
        (None, Some(id)) => line.push_str(&format!(", team {id}")),
        (None, None) => {}
    }
    line
}

fn conflict_lines(c: &Conflict) -> String {
    let mut lines = vec![format!(
        "{}  {} {} {}  ({})",
        c.id, c.entity, c.record_id, c.field, c.status
    )];
    for v in &c.values {
        lines.push(format!(
            "    {}  by {} on device {} at {}",
            v.value,
            v.author.map_or("unknown".to_string(), |a| a.to_string()),
            v.device,
            hlc_time(&v.hlc)
        ));
    }
    lines.join("\n")
}

/// Show progress on stderr once a sync takes more than one batch.
fn show_progress(p: Progress) {
    match p {
        Progress::Pushing { done, total } if total > protocol::MAX_BATCH => {
            eprintln!("pushed {done} of {total} changes");
        }
        Progress::Pulling { received } if received >= protocol::MAX_BATCH => {
            eprintln!("received {received} changes");
        }
        _ => {}
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let out = Out { json: cli.json };
    let mut store = Store::open_dir(&cli.data, cli.key.as_deref())?;
    match cli.command {
        Command::Household(HouseholdCmd::Add {
            address,
            postcode,
            city,
            neighbourhood,
        }) => {
            let id = store.add_household(NewHousehold {
                address,
                postcode,
                city,
                neighbourhood,
                team_id: None,
            })?;
            out.created(id);
        }
        Command::Household(HouseholdCmd::List { search, limit }) => {
            let list = store.search_households(&search, limit)?;
            out.value(&to_json(&list), || {
                list.iter()
                    .map(|h| {
                        let mut line = format!("{}  {}, {}", h.id, h.address, h.postcode);
                        if let Some(c) = &h.city {
                            line.push_str(&format!(" {c}"));
                        }
                        if !h.residents.is_empty() {
                            line.push_str(&format!("  ({})", h.residents.join(", ")));
                        }
                        line
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Household(HouseholdCmd::Show { household }) => {
            let d = store.household_detail(parse_id("household", &household)?, today())?;
            out.value(&to_json(&d), || {
                serde_json::to_string_pretty(&d).unwrap_or_default()
            });
        }
        Command::Resident(ResidentCmd::Add {
            household,
            name,
            birth_year,
            contact,
        }) => {
            let id = store.add_resident(NewResident {
                household: parse_id("household", &household)?,
                name,
                birth_year,
                contact,
            })?;
            out.created(id);
        }
        Command::Template(TemplateCmd::List) => {
            let list = store.templates()?;
            out.value(&to_json(&list), || {
                list.iter()
                    .map(|t| format!("{}  v{}  {}", t.id, t.version, t.name.nl))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Template(TemplateCmd::Import { file }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
            let t = store.import_template(&text)?;
            out.created(t.id);
        }
        Command::Template(TemplateCmd::Show { template }) => {
            let tid = parse_id("template", &template)?;
            let t = store
                .latest_template(tid)?
                .ok_or_else(|| StoreError::not_found("template", tid))?;
            out.value(&to_json(&t), || {
                t.items()
                    .map(|i| {
                        format!(
                            "{}{}  [{}]  {}",
                            i.id,
                            if i.required { " *" } else { "" },
                            i.kind.name(),
                            i.label.nl
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Visit(VisitCmd::Start {
            household,
            template,
        }) => {
            let id = store.start_visit(
                parse_id("household", &household)?,
                parse_id("template", &template)?,
            )?;
            out.created(id);
        }
        Command::Visit(VisitCmd::Answer { visit, item, value }) => {
            let v = store.answer_input(parse_id("visit", &visit)?, &item, &value)?;
            out.value(&json!({ "item": item, "value": v }), || {
                format!("{item} = {v}")
            });
        }
        Command::Visit(VisitCmd::Note { visit, text }) => {
            let id = store.add_note(parse_id("visit", &visit)?, &text)?;
            out.created(id);
        }
        Command::Visit(VisitCmd::Complete { visit }) => {
            let vid = parse_id("visit", &visit)?;
            store.complete_visit(vid)?;
            out.value(&json!({ "id": vid, "status": "completed" }), || {
                format!("visit {vid} completed")
            });
        }
        Command::Visit(VisitCmd::Show { visit }) => {
            let d = store.visit_detail(parse_id("visit", &visit)?)?;
            out.value(&to_json(&d), || {
                let mut lines = vec![format!(
                    "visit {} ({}) at household {}",
                    d.visit.id, d.visit.status, d.visit.household_id
                )];
                lines.extend(
                    d.answers
                        .iter()
                        .map(|a| format!("  {} = {}", a.item, a.value)),
                );
                lines.extend(
                    d.notes
                        .iter()
                        .map(|n| format!("  note {}: {}", n.id, n.text)),
                );
                lines.join("\n")
            });
        }
        Command::Note(NoteCmd::Edit { note, text }) => {
            let nid = parse_id("note", &note)?;
            store.edit_note(nid, &text)?;
            out.value(&json!({ "id": nid }), || format!("note {nid} saved"));
        }
        Command::Followup(FollowupCmd::Add {
            household,
            due,
            visit,
            text,
        }) => {
            let due = parse_date(&due)?;
            let visit = visit.map(|v| parse_id("visit", &v)).transpose()?;
            let id = store.add_follow_up(NewFollowUp {
                household: parse_id("household", &household)?,
                visit,
                assignee: None,
                due,
                text,
            })?;
            out.created(id);
        }
        Command::Followup(FollowupCmd::List { all }) => {
            let who = if all { None } else { store.user_id() };
            let list = store.open_follow_ups(who, today())?;
            out.value(&to_json(&list), || {
                list.iter()
                    .map(|f| {
                        format!(
                            "{}  {}{}  {}",
                            f.id,
                            f.due,
                            if f.overdue { " (overdue)" } else { "" },
                            f.text
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Followup(FollowupCmd::Done { followup }) => {
            let fid = parse_id("follow-up", &followup)?;
            store.complete_follow_up(fid)?;
            out.value(&json!({ "id": fid, "status": "done" }), || {
                format!("follow-up {fid} done")
            });
        }
        Command::Signal(SignalCmd::Raise {
            household,
            category,
            severity,
            visit,
            description,
        }) => {
            let id = store.raise_signal(NewSignal {
                household: parse_id("household", &household)?,
                visit: visit.map(|v| parse_id("visit", &v)).transpose()?,
                category: parse_enum(&category)?,
                severity: parse_enum(&severity)?,
                description,
            })?;
            out.created(id);
        }
        Command::Export => {
            println!("{}", store.export_json()?);
        }
        Command::Household(HouseholdCmd::Delete { household }) => {
            let hid = parse_id("household", &household)?;
            store.delete_household(hid)?;
            out.value(&json!({ "id": hid, "deleted": true }), || {
                format!("household {hid} deleted")
            });
        }
        Command::Note(NoteCmd::Delete { note }) => {
            let nid = parse_id("note", &note)?;
            store.delete_note(nid)?;
            out.value(&json!({ "id": nid, "deleted": true }), || {
                format!("note {nid} deleted")
            });
        }
        Command::Enroll { server, code, name } => {
            let user = voordeur_sync::enrol_named(&mut store, &server, &code, name.as_deref())?;
            out.value(&to_json(&user), || {
                format!("enrolled as {}", user_line(&user))
            });
        }
        Command::Sync => {
            let transport = voordeur_sync::transport_for(&store)?;
            let report = voordeur_sync::sync(&mut store, &transport, &mut show_progress)?;
            let summary = json!({
                "pushed": report.pushed,
                "pulled": report.pulled,
                "rejected": report.rejected,
                "conflicts": report.conflicts_open,
            });
            out.value(&summary, || {
                let mut lines = vec![format!(
                    "pushed {}, pulled {}, conflicts {}",
                    report.pushed, report.pulled, report.conflicts_open
                )];
                lines.extend(
                    report
                        .rejected
                        .iter()
                        .map(|r| format!("refused by the server: change {}: {}", r.id, r.reason)),
                );
                lines.join("\n")
            });
        }
        Command::Status => {
            let s = store.sync_status()?;
            out.value(&to_json(&s), || {
                let mut lines = Vec::new();
                match (&s.server_url, &s.user, s.role) {
                    (Some(url), Some(name), Some(role)) => {
                        lines.push(format!("server:    {url}"));
                        let mut user = format!("{name} ({role})");
                        if let Some(team) = &s.team_name {
                            user.push_str(&format!(", team {team}"));
                        }
                        lines.push(format!("user:      {user}"));
                    }
                    _ => lines.push("server:    not enrolled".to_string()),
                }
                lines.push(format!(
                    "last sync: {}",
                    s.last_sync.as_deref().unwrap_or("never")
                ));
                lines.push(format!("waiting:   {} changes", s.waiting));
                if s.rejected > 0 {
                    lines.push(format!("refused:   {} changes", s.rejected));
                }
                lines.push(format!("conflicts: {} open", s.open_conflicts));
                lines.join("\n")
            });
        }
        Command::Conflicts { all } => {
            let list = store.conflicts(!all)?;
            out.value(&to_json(&list), || {
                if list.is_empty() {
                    return if all {
                        "no conflicts"
                    } else {
                        "no open conflicts"
                    }
                    .to_string();
                }
                list.iter()
                    .map(conflict_lines)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Conflict(ConflictCmd::Resolve { conflict, value }) => {
            let cid = parse_id("conflict", &conflict)?;
            let v = store.resolve_conflict_input(cid, &value)?;
            out.value(
                &json!({ "id": cid, "status": "resolved", "value": v }),
                || format!("conflict {cid} resolved: {v}"),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voordeur: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

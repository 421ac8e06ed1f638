//! `voordeur`: the headless client. A thin shell over voordeur-store and voordeur-core
//! — exactly the code the app runs — for scripting, support, tests and load simulation.
//!
//! Exit codes: 0 success, 2 bad input (one line on stderr naming what is wrong, the
//! database untouched), 1 anything else (a damaged database, a full disk).

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use voordeur_core::*;
use voordeur_store::{NewFollowUp, NewHousehold, NewResident, NewSignal, Store, StoreError};

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
    Edit { note: String, text: String },
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

/// An error of the CLI: bad input (exit 2) or a failure (exit 1).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Store(e) if e.is_user_error() => 2,
            CliError::Store(_) => 1,
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

fn run(cli: Cli) -> Result<(), CliError> {
    let out = Out { json: cli.json };
    let mut store = Store::open_dir(&cli.data, None)?;
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

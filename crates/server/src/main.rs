//! `voordeur-server`: serve the sync API, and the admin commands of a server without a
//! UI yet. The admin commands take the same `--db` and work while the server runs.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use voordeur_core::Role;
use voordeur_server::{auth, demo, engine, Database, ServerError};

#[derive(Parser)]
#[command(
    name = "voordeur-server",
    version,
    about = "Voordeur municipal sync server"
)]
struct Cli {
    /// Database URL: postgres://… for PostgreSQL, or a path / sqlite://PATH for the
    /// embedded SQLite (default: server-data/server.db).
    #[arg(
        long,
        global = true,
        env = "VOORDEUR_DB",
        default_value = "server-data/server.db"
    )]
    db: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Seed the demo municipality (once) and print an enrolment code per user.
        #[arg(long)]
        demo: bool,
    },
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Print a one-time enrolment code for a user (valid 24 hours).
    EnrolCode {
        #[arg(long)]
        user: String,
    },
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Import households from CSV (address,postcode,city,neighbourhood,residents).
    ImportHouseholds {
        file: PathBuf,
        #[arg(long)]
        team: String,
    },
    /// Publish a checklist template version (JSON) for every team.
    PublishTemplate { file: PathBuf },
    /// Households.
    #[command(subcommand)]
    Household(HouseholdCmd),
}

#[derive(Subcommand)]
enum HouseholdCmd {
    /// Move a household and everything under it to another team: the new team's
    /// devices receive its whole history, the old team's devices erase it.
    Move {
        id: String,
        #[arg(long)]
        team: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Move a worker or team lead to another team: their devices erase the old team's
    /// households and receive the new team's at their next sync.
    Move {
        #[arg(long)]
        name: String,
        #[arg(long)]
        team: String,
    },
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        team: Option<String>,
    },
}

#[derive(Subcommand)]
enum DeviceCmd {
    List,
    Revoke { id: String },
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn read(file: &PathBuf) -> Result<String, ServerError> {
    std::fs::read_to_string(file)
        .map_err(|e| ServerError::BadRequest(format!("cannot read {}: {e}", file.display())))
}

fn run(cli: Cli) -> Result<(), ServerError> {
    let db = Database::open(&cli.db)?;
    match cli.command {
        Command::Serve { listen, demo } => {
            let state = voordeur_server::state(db)?;
            if demo {
                for (user, code) in demo::seed_demo(&state.db, &state.clock, state.now_ms())? {
                    println!("enrol {user} {code}");
                }
            }
            let runtime =
                tokio::runtime::Runtime::new().map_err(|e| ServerError::Db(e.to_string()))?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                    ServerError::BadRequest(format!("cannot listen on {listen}: {e}"))
                })?;
                println!("listening on http://{listen}");
                tracing::info!(%listen, engine = ?state.db.engine(), "serving");
                axum::serve(listener, voordeur_server::router(state))
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await
                    .map_err(|e| ServerError::Db(e.to_string()))
            })?;
        }
        Command::User(UserCmd::Add { name, role, team }) => {
            let role: Role = role
                .parse()
                .map_err(|e: voordeur_core::UnknownValue| ServerError::BadRequest(e.to_string()))?;
            let user = db.tx(|t| auth::add_user(t, &name, role, team.as_deref()))?;
            println!("{}", user.id);
        }
        Command::User(UserCmd::Move { name, team }) => {
            db.tx(|t| {
                auth::move_user(t, &name, &team)?;
                auth::audit(t, now_ms(), "admin", "user.move", &name, "ok", "cli")
            })?;
            println!("moved user {name} to team {team}");
        }
        Command::EnrolCode { user } => {
            let code = db.tx(|t| auth::create_enrol_code(t, &user, now_ms()))?;
            println!("{code}");
        }
        Command::Device(DeviceCmd::List) => {
            for d in db.tx(auth::list_devices)? {
                let state = if d.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}  {}  {}  {}",
                    d.id,
                    d.user,
                    d.name.unwrap_or_default(),
                    state
                );
            }
        }
        Command::Device(DeviceCmd::Revoke { id }) => {
            db.tx(|t| auth::revoke_device(t, &id, now_ms()))?;
            println!("device {} revoked", id.trim());
        }
        Command::ImportHouseholds { file, team } => {
            let households = demo::parse_households_csv(&read(&file)?)?;
            let clock = voordeur_server::server_clock(&db)?;
            let n = demo::import_households(&db, &clock, &team, &households)?;
            println!("imported {n} households into team {team}");
        }
        Command::Household(HouseholdCmd::Move { id, team }) => {
            let household: uuid::Uuid = id
                .parse()
                .map_err(|_| ServerError::BadRequest(format!("{id:?} is not a household id")))?;
            let clock = voordeur_server::server_clock(&db)?;
            let moved = db.tx(|t| {
                let team_id = auth::team_by_name(t, &team)?
                    .ok_or_else(|| ServerError::NotFound(format!("no team named {team:?}")))?
                    .to_string();
                let moved = engine::move_household(t, &clock, household, &team_id)?;
                auth::audit(t, now_ms(), "admin", "household.move", &id, "ok", "cli")?;
                Ok(moved)
            })?;
            println!(
                "moved household {id} to team {team}: {} records, {} fields sent to the new team",
                moved.records, moved.fields
            );
        }
        Command::PublishTemplate { file } => {
            let clock = voordeur_server::server_clock(&db)?;
            let t = demo::publish_template(&db, &clock, &read(&file)?)?;
            println!("published {} version {}", t.id, t.version);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "voordeur_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voordeur-server: {e}");
            ExitCode::from(match e {
                ServerError::Db(_) => 1,
                _ => 2,
            })
        }
    }
}

//! Teams, users, devices, one-time enrolment codes and device tokens.
//!
//! Codes and tokens are random; only their SHA-256 hashes are stored, so a copy of the
//! database does not let anyone enrol or sync. A revoked device's token stops working
//! at once (401).

use crate::db::{Sql, Val};
use crate::error::ServerError;
use rand::Rng;
use sha2::{Digest, Sha256};
use voordeur_core::protocol::{EnrolResponse, UserInfo};
use voordeur_core::{DeviceId, Role, TeamId, UserId};

/// How long an enrolment code is valid.
pub const CODE_VALID_MS: i64 = 24 * 60 * 60 * 1000;

pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.trim().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A code a person can type: 8 characters without look-alikes, as XXXX-XXXX.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let chars: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

fn normalise_code(code: &str) -> String {
    code.trim().to_uppercase().replace(' ', "")
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who is calling: resolved from the bearer token on every request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserInfo,
    pub device: DeviceId,
}

fn parse<T: std::str::FromStr>(v: &Val, what: &str) -> Result<T, ServerError> {
    v.text()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ServerError::Db(format!("bad stored {what}")))
}

fn user_from_row(r: &[Val]) -> Result<UserInfo, ServerError> {
    Ok(UserInfo {
        id: parse(&r[0], "user id")?,
        name: r[1].text().unwrap_or_default().to_string(),
        role: parse(&r[2], "role")?,
        team_id: r[3].text().and_then(|s| s.parse().ok()),
        team_name: r[4].text().map(String::from),
    })
}

const USER_SELECT: &str = "SELECT u.id, u.name, u.role, u.team_id, t.name
     FROM users u LEFT JOIN teams t ON t.id = u.team_id";

pub fn user_by_name(t: &mut dyn Sql, name: &str) -> Result<UserInfo, ServerError> {
    let rows = t.query(&format!("{USER_SELECT} WHERE u.name = $1"), &[name.into()])?;
    rows.first()
        .map(|r| user_from_row(r))
        .transpose()?
        .ok_or_else(|| ServerError::NotFound(format!("no user named {name:?}")))
}

pub fn team_by_name(t: &mut dyn Sql, name: &str) -> Result<Option<TeamId>, ServerError> {
    let rows = t.query("SELECT id FROM teams WHERE name = $1", &[name.into()])?;
    rows.first().map(|r| parse(&r[0], "team id")).transpose()
}

/// The team with this name, created when missing.
pub fn ensure_team(t: &mut dyn Sql, name: &str) -> Result<TeamId, ServerError> {
    if let Some(id) = team_by_name(t, name)? {
        return Ok(id);
    }
    let id = TeamId::new();
    t.execute(
        "INSERT INTO teams(id, name) VALUES ($1, $2)",
        &[id.to_string().into(), name.into()],
    )?;
    Ok(id)
}

/// Move a worker or team lead to another team. Their devices learn it at their next
/// sync (`GET /v1/me`), erase the old team's households and pull the new team's.
pub fn move_user(t: &mut dyn Sql, name: &str, team: &str) -> Result<TeamId, ServerError> {
    let rows = t.query("SELECT role FROM users WHERE name = $1", &[name.into()])?;
    let Some(role) = rows.first().and_then(|r| r[0].text().map(String::from)) else {
        return Err(ServerError::NotFound(format!("no user named {name:?}")));
    };
    if role == Role::Admin.as_str() {
        return Err(ServerError::BadRequest("an admin has no team".into()));
    }
    let team_id = ensure_team(t, team)?;
    t.execute(
        "UPDATE users SET team_id = $1 WHERE name = $2",
        &[team_id.to_string().into(), name.into()],
    )?;
    Ok(team_id)
}

pub fn add_user(
    t: &mut dyn Sql,
    name: &str,
    role: Role,
    team: Option<&str>,
) -> Result<UserInfo, ServerError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ServerError::BadRequest(
            "a user needs a name of 1 to 100 characters".into(),
        ));
    }
    let team_id = match (role, team) {
        (Role::Admin, _) => None,
        (_, Some(team)) => Some(ensure_team(t, team)?),
        (_, None) => {
            return Err(ServerError::BadRequest(
                "workers and team leads need a team (--team)".into(),
            ))
        }
    };
    if !t
        .query("SELECT 1 FROM users WHERE name = $1", &[name.into()])?
        .is_empty()
    {
        return Err(ServerError::Conflict(format!(
            "user {name:?} exists already"
        )));
    }
    let id = UserId::new();
    t.execute(
        "INSERT INTO users(id, name, role, team_id) VALUES ($1, $2, $3, $4)",
        &[
            id.to_string().into(),
            name.into(),
            role.as_str().into(),
            team_id.map(|t| t.to_string()).into(),
        ],
    )?;
    user_by_name(t, name)
}

/// A new one-time enrolment code for a user, valid for 24 hours.
pub fn create_enrol_code(t: &mut dyn Sql, user: &str, now_ms: i64) -> Result<String, ServerError> {
    let user = user_by_name(t, user)?;
    let code = new_code();
    t.execute(
        "INSERT INTO enrol_codes(code_hash, user_id, expires_ms) VALUES ($1, $2, $3)",
        &[
            hash(&normalise_code(&code)).into(),
            user.id.to_string().into(),
            (now_ms + CODE_VALID_MS).into(),
        ],
    )?;
    Ok(code)
}

/// Exchange a one-time code for a device token. A used, expired or unknown code is
/// refused with 401 and changes nothing.
pub fn enrol(
    t: &mut dyn Sql,
    code: &str,
    device: DeviceId,
    device_name: Option<&str>,
    now_ms: i64,
) -> Result<EnrolResponse, ServerError> {
    const BAD: &str = "this enrolment code is unknown, used or expired";
    let code_hash = hash(&normalise_code(code));
    let rows = t.query(
        "SELECT user_id, expires_ms, used_ms FROM enrol_codes WHERE code_hash = $1",
        &[code_hash.clone().into()],
    )?;
    let Some(row) = rows.first() else {
        return Err(ServerError::Unauthorized(BAD));
    };
    if row[2] != Val::Null || row[1].int().unwrap_or(0) < now_ms {
        return Err(ServerError::Unauthorized(BAD));
    }
    let user_id = row[0].text().unwrap_or_default().to_string();
    if !t
        .query(
            "SELECT 1 FROM devices WHERE id = $1",
            &[device.to_string().into()],
        )?
        .is_empty()
    {
        return Err(ServerError::Conflict(
            "this device is enrolled already; reset its data to enrol again".into(),
        ));
    }
    let token = new_token();
    // Claim the code atomically: of concurrent enrolments with one code, one wins.
    let claimed = t.execute(
        "UPDATE enrol_codes SET used_ms = $1
         WHERE code_hash = $2 AND used_ms IS NULL AND expires_ms >= $1",
        &[now_ms.into(), code_hash.into()],
    )?;
    if claimed != 1 {
        return Err(ServerError::Unauthorized(BAD));
    }
    t.execute(
        "INSERT INTO devices(id, user_id, name, token_hash, enrolled_ms) VALUES ($1, $2, $3, $4, $5)",
        &[
            device.to_string().into(),
            user_id.clone().into(),
            device_name.map(|s| s.chars().take(100).collect::<String>()).into(),
            hash(&token).into(),
            now_ms.into(),
        ],
    )?;
    let rows = t.query(&format!("{USER_SELECT} WHERE u.id = $1"), &[user_id.into()])?;
    let user = rows
        .first()
        .map(|r| user_from_row(r))
        .transpose()?
        .ok_or_else(|| ServerError::Db("enrol code of a missing user".into()))?;
    Ok(EnrolResponse {
        token,
        device_id: device,
        user,
    })
}

/// Resolve a bearer token. Unknown or revoked: 401.
pub fn authenticate(t: &mut dyn Sql, token: &str) -> Result<Caller, ServerError> {
    let rows = t.query(
        "SELECT u.id, u.name, u.role, u.team_id, tm.name, d.id, d.revoked_ms
         FROM devices d JOIN users u ON u.id = d.user_id
         LEFT JOIN teams tm ON tm.id = u.team_id
         WHERE d.token_hash = $1",
        &[hash(token).into()],
    )?;
    let Some(row) = rows.first() else {
        return Err(ServerError::Unauthorized("unknown device token"));
    };
    if row[6] != Val::Null {
        return Err(ServerError::Revoked);
    }
    Ok(Caller {
        user: user_from_row(&row[..5])?,
        device: parse(&row[5], "device id")?,
    })
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub user: String,
    pub name: Option<String>,
    pub enrolled_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
}

pub fn list_devices(t: &mut dyn Sql) -> Result<Vec<DeviceRow>, ServerError> {
    Ok(t.query(
        "SELECT d.id, u.name, d.name, d.enrolled_ms, d.revoked_ms, d.last_seen_ms
             FROM devices d JOIN users u ON u.id = d.user_id ORDER BY u.name, d.enrolled_ms",
        &[],
    )?
    .into_iter()
    .map(|r| DeviceRow {
        id: r[0].text().unwrap_or_default().into(),
        user: r[1].text().unwrap_or_default().into(),
        name: r[2].text().map(String::from),
        enrolled_ms: r[3].int().unwrap_or(0),
        revoked_ms: r[4].int(),
        last_seen_ms: r[5].int(),
    })
    .collect())
}

pub fn revoke_device(t: &mut dyn Sql, id: &str, now_ms: i64) -> Result<(), ServerError> {
    let n = t.execute(
        "UPDATE devices SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
        &[now_ms.into(), id.trim().into()],
    )?;
    if n == 0 {
        return Err(ServerError::NotFound(format!(
            "no enrolled, unrevoked device {:?}",
            id.trim()
        )));
    }
    Ok(())
}

/// Append one line to the audit log. Never carries resident data: the object is an
/// id or a count.
pub fn audit(
    t: &mut dyn Sql,
    now_ms: i64,
    actor: &str,
    action: &str,
    object: &str,
    result: &str,
    origin: &str,
) -> Result<(), ServerError> {
    t.execute(
        "INSERT INTO audit(at_ms, actor, action, object, result, origin) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            now_ms.into(),
            actor.into(),
            action.into(),
            object.into(),
            result.into(),
            origin.into(),
        ],
    )?;
    Ok(())
}

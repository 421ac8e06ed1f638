//! What the sync engine needs from the device database: the outbox to push, the
//! acknowledgement of a pushed batch, pulled changes with their cursor, the enrolment
//! settings, conflicts and their resolution, and tombstones.
//!
//! Every step that moves sync state is one transaction, so a sync cut at any point
//! resumes from the last completed batch: an acknowledged batch is out of the outbox
//! (and re-stamped) together, a pulled batch is applied together with its cursor.
//! Settings live in `device_meta` and are never synced.

use crate::apply::{apply_run, restamp, Touched};
use crate::{meta_get, meta_set, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use voordeur_core::change::ANSWER_PREFIX;
use voordeur_core::protocol::{Accepted, EnrolResponse, PushBody, PushResponse, UserInfo};
use voordeur_core::wire::{self, Block, BlockRef};
use voordeur_core::{
    Change, ChangeId, Conflict, ConflictId, ConflictStatus, ConflictValue, EntityKind, Hlc,
    HouseholdId, IdMap, NoteId, Role, TeamId, UserId, VisitId,
};

/// `device_meta` keys of the sync settings.
pub mod meta_keys {
    pub const SERVER_URL: &str = "server_url";
    pub const TOKEN: &str = "token";
    pub const USER_ID: &str = "user_id";
    pub const USER_NAME: &str = "user_name";
    pub const ROLE: &str = "role";
    pub const TEAM_ID: &str = "team_id";
    pub const TEAM_NAME: &str = "team_name";
    pub const LAST_SYNC: &str = "last_sync";
    pub const SYNC_CURSOR: &str = "sync_cursor";
}
use meta_keys as k;

/// Longest reason for a refused change kept from the server.
const MAX_REASON: usize = 1_000;

/// The server this device is enrolled with and the user it acts for.
#[derive(Clone, PartialEq)]
pub struct Enrolment {
    pub server_url: String,
    /// The device's bearer token. Never printed: `Debug` leaves it out.
    pub token: String,
    pub user: UserInfo,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("server_url", &self.server_url)
            .field("token", &"<hidden>")
            .field("user", &self.user)
            .finish()
    }
}

/// What `voordeur status` and the app's sync indicator show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// `None` when the device is not enrolled.
    pub server_url: Option<String>,
    /// The user's name.
    pub user: Option<String>,
    pub user_id: Option<UserId>,
    pub role: Option<Role>,
    pub team_id: Option<TeamId>,
    pub team_name: Option<String>,
    /// When the last sync completed (RFC 3339).
    pub last_sync: Option<String>,
    /// Local changes the server has not acknowledged yet.
    pub waiting: u64,
    /// Local changes the server refused (kept in `rejected_changes`).
    pub rejected: u64,
    pub open_conflicts: u64,
    /// The last server sequence number this device has applied.
    pub cursor: u64,
}

/// What one acknowledgement did to the outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// Changes the server holds, removed from the outbox.
    pub accepted: usize,
    /// Of those, changes the server re-stamped whose field version was rewritten.
    pub restamped: usize,
    /// Changes the server refused, moved from the outbox to `rejected_changes`.
    pub rejected: usize,
}

/// A local change the server refused, kept so that nothing is silently lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedChange {
    pub change: Change,
    pub reason: String,
    /// When the device learnt of the refusal (RFC 3339).
    pub at: String,
}

fn parse_change(body: &str) -> Result<Change, StoreError> {
    serde_json::from_str(body).map_err(|_| StoreError::Corrupt("outbox change"))
}

fn parse_block(body: &str) -> Result<Block, StoreError> {
    serde_json::from_str(body).map_err(|_| StoreError::Corrupt("outbox block"))
}

/// Where a push has read the outbox up to: the last change taken and its block
/// ([`Store::pending_from`]). The default is the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxPosition {
    seq: i64,
    last: Option<ChangeId>,
}

/// The change ids of a block as the outbox keeps them with it (`outbox.ids`): 16 bytes
/// each, in order.
fn ids_blob(changes: &[Change]) -> Vec<u8> {
    changes.iter().flat_map(|c| c.id.0.into_bytes()).collect()
}

/// The ids of an outbox row holding `n` changes: from `ids` when the row has them for
/// all `n` (a block written before version 8 has none), else read out of its JSON.
fn block_ids(
    ids: Option<&[u8]>,
    n: i64,
    body: impl FnOnce() -> Result<String, StoreError>,
) -> Result<Vec<ChangeId>, StoreError> {
    match ids {
        Some(ids)
            if usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(16))
                .is_some_and(|len| ids.len() == len) =>
        {
            ids.chunks_exact(16)
                .map(|b| {
                    Uuid::from_slice(b)
                        .map(ChangeId)
                        .map_err(|_| StoreError::Corrupt("outbox ids"))
                })
                .collect()
        }
        _ => parse_block_ids(&body()?),
    }
}

/// The change ids of a stored block, read without its values.
fn parse_block_ids(body: &str) -> Result<Vec<ChangeId>, StoreError> {
    #[derive(Deserialize)]
    struct Id {
        id: ChangeId,
    }
    #[derive(Deserialize)]
    struct Ids {
        changes: Vec<Id>,
    }
    let ids: Ids = serde_json::from_str(body).map_err(|_| StoreError::Corrupt("outbox block"))?;
    Ok(ids.changes.into_iter().map(|c| c.id).collect())
}

/// The stored form of a run of changes of one record (see [`wire::runs`]).
fn block_text(changes: &[Change]) -> Result<String, StoreError> {
    serde_json::to_string(&BlockRef(changes)).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Record the user's role and team (a user without a team has none recorded).
fn set_role_and_team(conn: &rusqlite::Connection, user: &UserInfo) -> Result<(), StoreError> {
    meta_set(conn, k::ROLE, user.role.as_str())?;
    for (key, value) in [
        (k::TEAM_ID, user.team_id.map(|t| t.to_string())),
        (k::TEAM_NAME, user.team_name.clone()),
    ] {
        match value {
            Some(v) => meta_set(conn, key, &v)?,
            None => {
                conn.execute("DELETE FROM device_meta WHERE key = ?1", [key])?;
            }
        }
    }
    Ok(())
}

/// Most changes one outbox row holds.
const MAX_BLOCK: usize = 500;

/// Append changes to the outbox, in order: one row per run of changes to one record.
pub(crate) fn enqueue(conn: &rusqlite::Connection, changes: &[Change]) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached("INSERT INTO outbox(n, body, ids) VALUES (?1, ?2, ?3)")?;
    for run in wire::runs(changes) {
        for block in run.chunks(MAX_BLOCK) {
            insert.execute(params![
                block.len() as i64,
                block_text(block)?,
                ids_blob(block)
            ])?;
        }
    }
    Ok(())
}

impl Store {
    // -- outbox ------------------------------------------------------------------------

    /// Run `f` with commits that do not wait for the disk (`synchronous=NORMAL`; WAL
    /// keeps them atomic and in order), then back to `FULL`. Only for what is harmless to
    /// do again when a power cut loses it: an acknowledgement (the changes are pushed
    /// again and the server knows them by id) and a pulled batch with its cursor (pulled
    /// again). Local writes always wait for the disk; so does the next one after this,
    /// which makes these durable too.
    fn relaxed<R>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = f(self);
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        let r = result?;
        restored?;
        Ok(r)
    }

    /// Up to `limit` changes of the outbox, oldest first: the next batch to push.
    pub fn pending(&self, limit: usize) -> Result<Vec<Change>, StoreError> {
        Ok(self.pending_from(&OutboxPosition::default(), limit)?.0)
    }

    /// Up to `limit` changes of the outbox after `from`, oldest first, and the position
    /// after them: the batch to push after the ones already in flight, read while the
    /// server still works on those.
    ///
    /// A position names the last change taken, not a count, so it stays right when the
    /// answer to an earlier batch removes changes from the block it ends in. If that
    /// change is gone, the block is read from its start again: a change sent twice is
    /// harmless.
    pub fn pending_from(
        &self,
        from: &OutboxPosition,
        limit: usize,
    ) -> Result<(Vec<Change>, OutboxPosition), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM outbox WHERE seq >= ?1 ORDER BY seq")?;
        let mut rows = stmt.query([from.seq])?;
        let mut out: Vec<Change> = Vec::new();
        let mut at = from.clone();
        while out.len() < limit {
            let Some(row) = rows.next()? else {
                break;
            };
            let seq: i64 = row.get(0)?;
            let body = row
                .get_ref(1)?
                .as_str()
                .map_err(|_| StoreError::Corrupt("outbox block"))?;
            let mut changes: Vec<Change> = parse_block(body)?.into_changes().collect();
            if seq == from.seq {
                if let Some(last) = from.last {
                    if let Some(i) = changes.iter().position(|c| c.id == last) {
                        changes.drain(..=i);
                    }
                }
            }
            let room = limit - out.len();
            changes.truncate(room);
            if let Some(last) = changes.last() {
                at = OutboxPosition {
                    seq,
                    last: Some(last.id),
                };
            }
            out.extend(changes);
        }
        Ok((out, at))
    }

    /// The next batch after `from` as the body of a push, and the position after it:
    /// [`Store::pending_from`] without reading the values. A stored block is the wire
    /// form of its changes, so a block taken whole goes into the body as it is stored
    /// and only its ids are read; a block cut by the position or the limit is read and
    /// written again.
    ///
    /// Blocks are added while the body stays within `max_json` bytes (long notes); a
    /// first block over it alone gives as many of its changes as fit, at least one.
    pub fn pending_body_from(
        &self,
        from: &OutboxPosition,
        limit: usize,
        max_json: usize,
    ) -> Result<(PushBody, OutboxPosition), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, n, body, ids FROM outbox WHERE seq >= ?1 ORDER BY seq")?;
        let mut rows = stmt.query([from.seq])?;
        let mut body = PushBody::default();
        body.json.extend_from_slice(PushBody::HEAD);
        let mut at = from.clone();
        let frame = PushBody::HEAD.len() + PushBody::TAIL.len();
        while body.ids.len() < limit {
            let Some(row) = rows.next()? else {
                break;
            };
            let seq: i64 = row.get(0)?;
            let stored = row
                .get_ref(2)?
                .as_str()
                .map_err(|_| StoreError::Corrupt("outbox block"))?;
            let ids = block_ids(
                row.get_ref(3)?
                    .as_blob_or_null()
                    .map_err(|_| StoreError::Corrupt("outbox ids"))?,
                row.get(1)?,
                || Ok(stored.to_string()),
            )?;
            let skip = match from.last {
                Some(last) if seq == from.seq => {
                    ids.iter().position(|id| *id == last).map_or(0, |i| i + 1)
                }
                _ => 0,
            };
            let mut take = (ids.len() - skip).min(limit - body.ids.len());
            if take == 0 {
                continue;
            }
            let cut = |take: usize| -> Result<String, StoreError> {
                let changes: Vec<Change> = parse_block(stored)?
                    .into_changes()
                    .skip(skip)
                    .take(take)
                    .collect();
                block_text(&changes)
            };
            let mut text = if take == ids.len() {
                std::borrow::Cow::Borrowed(stored)
            } else {
                std::borrow::Cow::Owned(cut(take)?)
            };
            let first = body.ids.is_empty();
            if body.json.len() + usize::from(!first) + text.len() + PushBody::TAIL.len() > max_json
            {
                if !first {
                    break;
                }
                // The most changes of this block that fit (found by halving), at
                // least one.
                let (mut fits, mut over) = (0, take);
                while over - fits > 1 {
                    let mid = fits + (over - fits) / 2;
                    if cut(mid)?.len() + frame <= max_json {
                        fits = mid;
                    } else {
                        over = mid;
                    }
                }
                take = fits.max(1);
                text = std::borrow::Cow::Owned(cut(take)?);
            }
            if !first {
                body.json.push(b',');
            }
            body.json.extend_from_slice(text.as_bytes());
            let taken = &ids[skip..skip + take];
            at = OutboxPosition {
                seq,
                last: taken.last().copied(),
            };
            body.ids.extend_from_slice(taken);
            if take < ids.len() - skip {
                // Cut by a limit: the rest of this block starts the next batch.
                break;
            }
        }
        body.json.extend_from_slice(PushBody::TAIL);
        Ok((body, at))
    }

    /// Take in the server's answer to a push, in one transaction: accepted changes leave
    /// the outbox, and where the server stored one with another clock (a re-stamp) the
    /// field version it set follows; refused changes move to `rejected_changes`.
    ///
    /// A push sends the head of the outbox, so the answer is settled from the head:
    /// block by block, until a block holds none of the answered changes. Ids that are
    /// not (or no longer) there are ignored, so a repeated answer is harmless.
    pub fn acknowledge(&mut self, response: &PushResponse) -> Result<Acknowledged, StoreError> {
        self.relaxed(|store| store.acknowledge_now(response))
    }

    fn acknowledge_now(&mut self, response: &PushResponse) -> Result<Acknowledged, StoreError> {
        let at = self.now_text();
        let accepted: IdMap<&Accepted> = response.accepted.iter().map(|a| (a.id, a)).collect();
        let rejected: IdMap<&str> = response
            .rejected
            .iter()
            .filter(|r| !accepted.contains_key(&r.id))
            .map(|r| (r.id, r.reason.as_str()))
            .collect();
        let mut unsettled = accepted.len() + rejected.len();
        let mut done = Acknowledged::default();
        let tx = self.conn.transaction()?;
        {
            let mut next = tx.prepare_cached(
                "SELECT seq, n, ids FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1",
            )?;
            let mut read = tx.prepare_cached("SELECT body FROM outbox WHERE seq = ?1")?;
            let mut remove = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            let mut rewrite =
                tx.prepare_cached("UPDATE outbox SET n = ?2, body = ?3, ids = ?4 WHERE seq = ?1")?;
            let mut keep = tx.prepare_cached(
                "INSERT INTO rejected_changes(change_id, body, reason, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(change_id) DO UPDATE SET body = excluded.body,
                     reason = excluded.reason, at = excluded.at",
            )?;
            let mut after = 0i64;
            while unsettled > 0 {
                let Some((seq, n, stored_ids)) = next
                    .query_row([after], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    })
                    .optional()?
                else {
                    break;
                };
                after = seq;
                // The usual case without parsing the values: every change of the block
                // accepted as sent, its ids kept with it.
                let mut body = None;
                let ids = block_ids(stored_ids.as_deref(), n, || {
                    let text: String = read.query_row([seq], |r| r.get(0))?;
                    body = Some(text.clone());
                    Ok(text)
                })?;
                if ids
                    .iter()
                    .all(|id| accepted.get(id).is_some_and(|a| a.hlc.is_none()))
                {
                    remove.execute([seq])?;
                    done.accepted += ids.len();
                    unsettled = unsettled.saturating_sub(ids.len());
                    continue;
                }
                let body = match body {
                    Some(body) => body,
                    None => read.query_row([seq], |r| r.get(0))?,
                };
                let mut waiting = Vec::new();
                let mut settled = 0;
                for mut change in parse_block(&body)?.into_changes() {
                    if let Some(a) = accepted.get(&change.id) {
                        let hlc = a.stored(change.hlc);
                        if change.hlc != hlc {
                            change.hlc = hlc;
                            if restamp(&tx, &change, &change.record.to_string())? {
                                done.restamped += 1;
                            }
                        }
                        done.accepted += 1;
                    } else if let Some(reason) = rejected.get(&change.id) {
                        let body = serde_json::to_string(&change)
                            .map_err(|e| StoreError::Invalid(e.to_string()))?;
                        let reason: String = reason.chars().take(MAX_REASON).collect();
                        keep.execute(params![change.id.to_string(), body, reason, at])?;
                        done.rejected += 1;
                    } else {
                        waiting.push(change);
                        continue;
                    }
                    settled += 1;
                }
                if settled == 0 {
                    break;
                }
                unsettled = unsettled.saturating_sub(settled);
                if waiting.is_empty() {
                    remove.execute([seq])?;
                } else {
                    let body = block_text(&waiting)?;
                    rewrite.execute(params![
                        seq,
                        waiting.len() as i64,
                        body,
                        ids_blob(&waiting)
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Changes the server refused, oldest refusal first.
    pub fn rejected_changes(&self) -> Result<Vec<RejectedChange>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, reason, at FROM rejected_changes ORDER BY at, change_id",
        )?;
        let mut out = Vec::new();
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (body, reason, at) = row?;
            out.push(RejectedChange {
                change: parse_change(&body)?,
                reason,
                at,
            });
        }
        Ok(out)
    }

    // -- pulled changes -------------------------------------------------------------------

    /// Apply a pulled batch in server order and store its cursor, in one transaction.
    /// Each change wins its field or not by its clock (last writer wins); a change
    /// already held is a no-op (or a re-stamp of the version). The clock takes in every
    /// remote clock, so later local edits sort after what this device has seen.
    /// Returns how many changes were applied (won their field).
    pub fn apply_remote(&mut self, changes: &[Change], cursor: u64) -> Result<usize, StoreError> {
        self.relaxed(|store| store.apply_remote_now(changes, cursor))
    }

    fn apply_remote_now(&mut self, changes: &[Change], cursor: u64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut touched = Touched::default();
        let mut applied = 0;
        let mut team_changed = std::collections::BTreeSet::new();
        for run in wire::runs(changes) {
            for change in run {
                self.clock.observe(&change.hlc);
            }
            for (change, won) in run.iter().zip(apply_run(&tx, run, &mut touched)?) {
                if won {
                    applied += 1;
                    if change.entity == EntityKind::Household && change.field == "team_id" {
                        team_changed.insert(change.record.to_string());
                    }
                }
            }
        }
        crate::apply::refresh_search(&tx, &touched)?;
        if let Some(team) = meta_get(&tx, k::TEAM_ID)? {
            crate::scope::erase_households_out_of_scope(&tx, &team, &team_changed)?;
        }
        meta_set(&tx, k::SYNC_CURSOR, &cursor.to_string())?;
        tx.commit()?;
        Ok(applied)
    }

    /// The last server sequence number applied here; 0 before the first pull.
    pub fn cursor(&self) -> Result<u64, StoreError> {
        meta_get(&self.conn, k::SYNC_CURSOR)?
            .map(|c| c.parse().map_err(|_| StoreError::Corrupt("sync cursor")))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    // -- enrolment and settings -----------------------------------------------------------

    /// Record the enrolment: server, token and the user this device acts for (also as
    /// [`Store::user_id`]). Enrolling with another server or user starts pulling from
    /// the beginning.
    pub fn set_enrolment(
        &mut self,
        server_url: &str,
        enrolment: &EnrolResponse,
    ) -> Result<(), StoreError> {
        if enrolment.device_id != self.device {
            return Err(StoreError::Invalid(format!(
                "the server enrolled device {} but this device is {}",
                enrolment.device_id, self.device
            )));
        }
        let user = &enrolment.user;
        let server_url = server_url.trim_end_matches('/');
        let tx = self.conn.transaction()?;
        let same = meta_get(&tx, k::SERVER_URL)?.as_deref() == Some(server_url)
            && meta_get(&tx, k::USER_ID)? == Some(user.id.to_string());
        if !same {
            tx.execute("DELETE FROM device_meta WHERE key = ?1", [k::SYNC_CURSOR])?;
        }
        meta_set(&tx, k::SERVER_URL, server_url)?;
        meta_set(&tx, k::TOKEN, &enrolment.token)?;
        meta_set(&tx, k::USER_ID, &user.id.to_string())?;
        meta_set(&tx, k::USER_NAME, &user.name)?;
        set_role_and_team(&tx, user)?;
        tx.commit()?;
        self.user = Some(user.id);
        Ok(())
    }

    /// The enrolment, or `None` when this device is not enrolled.
    pub fn enrolment(&self) -> Result<Option<Enrolment>, StoreError> {
        let get = |key| meta_get(&self.conn, key);
        let (Some(server_url), Some(token), Some(id), Some(name), Some(role)) = (
            get(k::SERVER_URL)?,
            get(k::TOKEN)?,
            get(k::USER_ID)?,
            get(k::USER_NAME)?,
            get(k::ROLE)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Enrolment {
            server_url,
            token,
            user: UserInfo {
                id: id.parse().map_err(|_| StoreError::Corrupt("user id"))?,
                name,
                role: role.parse().map_err(|_| StoreError::Corrupt("role"))?,
                team_id: self.team_id()?,
                team_name: get(k::TEAM_NAME)?,
            },
        }))
    }

    /// Take in the user as the server knows them now. When the team or role differs
    /// from the enrolment, erase every household outside the new team (with everything
    /// under it), record the new team and role, and start pulling from the beginning,
    /// in one transaction. Returns whether anything changed.
    pub fn rescope(&mut self, user: &UserInfo) -> Result<bool, StoreError> {
        let Some(enrolment) = self.enrolment()? else {
            return Ok(false);
        };
        if enrolment.user.id != user.id
            || (enrolment.user.team_id == user.team_id && enrolment.user.role == user.role)
        {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        let all: std::collections::BTreeSet<String> = {
            let mut stmt = tx.prepare("SELECT id FROM households")?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            ids
        };
        let team = user.team_id.map(|t| t.to_string()).unwrap_or_default();
        crate::scope::erase_households_out_of_scope(&tx, &team, &all)?;
        set_role_and_team(&tx, user)?;
        tx.execute("DELETE FROM device_meta WHERE key = ?1", [k::SYNC_CURSOR])?;
        tx.commit()?;
        Ok(true)
    }

    /// The team of the enrolled user; new households belong to it.
    pub fn team_id(&self) -> Result<Option<TeamId>, StoreError> {
        meta_get(&self.conn, k::TEAM_ID)?
            .map(|t| t.parse().map_err(|_| StoreError::Corrupt("team id")))
            .transpose()
    }

    /// When the last sync completed (RFC 3339).
    pub fn last_sync(&self) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, k::LAST_SYNC)
    }

    /// Record that a sync completed now (by this store's time source); returns the time.
    pub fn mark_synced(&self) -> Result<String, StoreError> {
        let now = self.now_text();
        meta_set(&self.conn, k::LAST_SYNC, &now)?;
        Ok(now)
    }

    pub fn sync_status(&self) -> Result<SyncStatus, StoreError> {
        let enrolment = self.enrolment()?;
        let count = |sql: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
        };
        Ok(SyncStatus {
            server_url: enrolment.as_ref().map(|e| e.server_url.clone()),
            user: enrolment.as_ref().map(|e| e.user.name.clone()),
            user_id: enrolment.as_ref().map(|e| e.user.id),
            role: enrolment.as_ref().map(|e| e.user.role),
            team_id: enrolment.as_ref().and_then(|e| e.user.team_id),
            team_name: enrolment.as_ref().and_then(|e| e.user.team_name.clone()),
            last_sync: self.last_sync()?,
            waiting: self.outbox_len()?,
            rejected: count("SELECT count(*) FROM rejected_changes")?,
            open_conflicts: count(
                "SELECT count(*) FROM conflicts
                 WHERE deleted = 0 AND coalesce(status, 'open') = 'open'",
            )?,
            cursor: self.cursor()?,
        })
    }

    // -- conflicts ------------------------------------------------------------------------

    /// Conflicts this device holds, oldest first; only open ones when `open_only`.
    /// A conflict record whose fields have not all arrived yet is left out.
    pub fn conflicts(&self, open_only: bool) -> Result<Vec<Conflict>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, entity, record_id, field, \"values\", status FROM conflicts
             WHERE deleted = 0 AND (?1 = 0 OR coalesce(status, 'open') = 'open')
             ORDER BY id",
        )?;
        let mut out = Vec::new();
        for row in stmt.query_map([open_only], conflict_from_row)? {
            out.extend(row?);
        }
        Ok(out)
    }

    /// One conflict, resolved or not.
    pub fn conflict(&self, id: ConflictId) -> Result<Conflict, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT id, entity, record_id, field, \"values\", status FROM conflicts
                 WHERE id = ?1 AND deleted = 0",
            )?
            .query_row([id.to_string()], conflict_from_row)
            .optional()?
            .flatten()
            .ok_or_else(|| StoreError::not_found("conflict", id))
    }

    fn open_conflict(&self, id: ConflictId) -> Result<Conflict, StoreError> {
        let c = self.conflict(id)?;
        if c.status == ConflictStatus::Resolved {
            return Err(StoreError::Invalid(format!(
                "conflict {id} is already resolved"
            )));
        }
        Ok(c)
    }

    /// Check a value for the conflicted field (an answer against the visit's template)
    /// and return its canonical form.
    fn conflict_value(&self, c: &Conflict, value: Value) -> Result<Value, StoreError> {
        if c.entity == EntityKind::Visit {
            if let Some(item) = c.field.strip_prefix(ANSWER_PREFIX) {
                let (t, _) = self.visit_template(VisitId(c.record_id))?;
                if value.is_null() {
                    t.item(item)
                        .ok_or_else(|| voordeur_core::AnswerError::UnknownItem {
                            item: item.into(),
                        })?;
                    return Ok(Value::Null);
                }
                return Ok(t.validate_answer(item, &value)?);
            }
        }
        let probe = Change {
            id: ChangeId(Uuid::nil()),
            entity: c.entity,
            record: c.record_id,
            field: c.field.clone(),
            value,
            hlc: Hlc::zero(self.device),
            base: None,
            device: self.device,
            author: None,
        };
        probe.check()?;
        Ok(probe.value)
    }

    fn commit_resolution(&mut self, c: &Conflict, value: Value) -> Result<(), StoreError> {
        // Its base is the field's current version (the provisional winner), so the
        // server sees the choice as made after the conflict.
        let choice = self.make_change(c.entity, c.record_id, &c.field, value)?;
        let status = self.make_change(
            EntityKind::Conflict,
            c.id.0,
            "status",
            json!(ConflictStatus::Resolved),
        )?;
        self.commit(&[choice, status])
    }

    /// Resolve a conflict with the chosen value (one of the competing values or a new
    /// one): the field is set to it and the conflict marked resolved, as two local
    /// changes in one transaction. An unknown conflict is NotFound; a resolved one or a
    /// value that does not fit the field is Invalid, and nothing is written.
    pub fn resolve_conflict(&mut self, id: ConflictId, value: Value) -> Result<(), StoreError> {
        let c = self.open_conflict(id)?;
        let value = self.conflict_value(&c, value)?;
        self.commit_resolution(&c, value)
    }

    /// Resolve a conflict with a value typed by a person: JSON when it parses as a value
    /// that fits the field, else the plain text; for a visit answer also the forms
    /// `voordeur visit answer` takes (`ja`, `3`, `a,b`). Returns the value written.
    pub fn resolve_conflict_input(
        &mut self,
        id: ConflictId,
        input: &str,
    ) -> Result<Value, StoreError> {
        let c = self.open_conflict(id)?;
        let mut candidates = Vec::new();
        if let Ok(v) = serde_json::from_str::<Value>(input) {
            candidates.push(v);
        }
        candidates.push(Value::String(input.to_string()));
        let mut last = None;
        for candidate in candidates {
            match self.conflict_value(&c, candidate) {
                Ok(v) => {
                    self.commit_resolution(&c, v.clone())?;
                    return Ok(v);
                }
                Err(e) if e.is_user_error() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        if c.entity == EntityKind::Visit {
            if let Some(item) = c.field.strip_prefix(ANSWER_PREFIX) {
                let (t, _) = self.visit_template(VisitId(c.record_id))?;
                let it = t
                    .item(item)
                    .ok_or_else(|| voordeur_core::AnswerError::UnknownItem { item: item.into() })?;
                let v = it.parse_input(input)?;
                self.commit_resolution(&c, v.clone())?;
                return Ok(v);
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Invalid("no value given".into())))
    }

    // -- tombstones -----------------------------------------------------------------------

    /// Delete a note (a tombstone that syncs; see [`Store::make_delete`]).
    pub fn delete_note(&mut self, note: NoteId) -> Result<(), StoreError> {
        self.require("note", "notes", note)?;
        let change = self.make_delete(EntityKind::Note, note.0)?;
        self.commit(&[change])
    }

    /// Delete a household (a tombstone that syncs; see [`Store::make_delete`]).
    pub fn delete_household(&mut self, household: HouseholdId) -> Result<(), StoreError> {
        self.require("household", "households", household)?;
        let change = self.make_delete(EntityKind::Household, household.0)?;
        self.commit(&[change])
    }
}

type ConflictRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn conflict_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Conflict>> {
    let (id, entity, record, field, values, status): ConflictRow = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    );
    let parsed = (|| {
        Some(Conflict {
            id: id.parse().ok()?,
            entity: entity?.parse().ok()?,
            record_id: record?.parse().ok()?,
            field: field?,
            values: serde_json::from_str::<Vec<ConflictValue>>(&values?).ok()?,
            status: match status {
                Some(s) => s.parse().ok()?,
                None => ConflictStatus::Open,
            },
        })
    })();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::field_version;
    use crate::{NewHousehold, NewResident};
    use std::sync::Arc;
    use voordeur_core::hlc::ManualTime;
    use voordeur_core::protocol::{Accepted, Rejected, MAX_PUSH_JSON};
    use voordeur_core::DeviceId;

    const SAMPLE_TEMPLATE: &str = include_str!("../../../templates/huisbezoek-basis.json");
    const DAY: u64 = 86_400_000;
    /// 2026-01-01T00:00:00Z.
    const T0: u64 = 1_767_225_600_000;

    struct Device {
        _dir: tempfile::TempDir,
        store: Store,
        time: Arc<ManualTime>,
    }

    fn device(at: u64) -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        let time = Arc::new(ManualTime::new(at));
        let store = Store::open_with_time(&dir.path().join("d.db"), None, Box::new(time.clone()))
            .expect("open");
        Device {
            _dir: dir,
            store,
            time,
        }
    }

    fn household(store: &mut Store, address: &str) -> HouseholdId {
        store
            .add_household(NewHousehold {
                address: address.into(),
                postcode: "9712 AB".into(),
                city: Some("Groningen".into()),
                ..NewHousehold::default()
            })
            .expect("household")
    }

    fn version(store: &Store, entity: EntityKind, record: Uuid, field: &str) -> Option<Hlc> {
        field_version(&store.conn, entity, &record.to_string(), field)
            .expect("version")
            .map(|(h, _)| h)
    }

    fn remote(
        entity: EntityKind,
        record: Uuid,
        field: &str,
        value: Value,
        wall_ms: u64,
        device: DeviceId,
    ) -> Change {
        Change {
            id: ChangeId::new(),
            entity,
            record,
            field: field.into(),
            value,
            hlc: Hlc {
                wall_ms,
                counter: 0,
                device,
            },
            base: None,
            device,
            author: None,
        }
    }

    /// The changes a server would send for a new conflict record about `field`.
    fn conflict_changes(
        entity: EntityKind,
        record: Uuid,
        field: &str,
        values: Vec<ConflictValue>,
        at: u64,
    ) -> (ConflictId, Vec<Change>) {
        let id = ConflictId::new();
        let server = DeviceId::new();
        let fields = [
            ("entity", json!(entity)),
            ("record_id", json!(record)),
            ("field", json!(field)),
            ("values", json!(values)),
            ("status", json!("open")),
        ];
        let changes = fields
            .into_iter()
            .map(|(f, v)| remote(EntityKind::Conflict, id.0, f, v, at, server))
            .collect();
        (id, changes)
    }

    fn competing(value: Value, wall_ms: u64) -> ConflictValue {
        let device = DeviceId::new();
        ConflictValue {
            value,
            hlc: Hlc {
                wall_ms,
                counter: 0,
                device,
            },
            device,
            author: None,
            change_id: ChangeId::new(),
        }
    }

    /// A new record's row is made with its values in one statement. A row that exists
    /// without versions (written outside the sync) is updated instead and keeps its
    /// other answers, and a visit met again later in the same batch keeps the answers
    /// its first run gave it.
    #[test]
    fn pulled_runs_make_new_rows_and_update_rows_that_exist() {
        let mut d = device(T0);
        let other = DeviceId::new();
        let (old, new) = (Uuid::now_v7(), Uuid::now_v7());
        d.store
            .conn
            .execute(
                "INSERT INTO visits(id, status, answers) VALUES (?1, 'draft', '{\"kept\":1}')",
                [old.to_string()],
            )
            .expect("a row without versions");
        let at = |record: Uuid, field: &str, value: Value, t: u64| {
            remote(EntityKind::Visit, record, field, value, T0 + t, other)
        };
        let note = Uuid::now_v7();
        let batch = vec![
            at(old, "status", json!("completed"), 1),
            at(old, "answer.x", json!(2), 2),
            at(new, "status", json!("draft"), 3),
            at(new, "answer.a", json!("eerst"), 4),
            remote(
                EntityKind::Note,
                note,
                "text",
                json!("tussendoor"),
                T0 + 5,
                other,
            ),
            at(new, "answer.b", json!(true), 6),
            at(new, "status", json!("completed"), 7),
        ];
        assert_eq!(d.store.apply_remote(&batch, 7).expect("apply"), 7);
        let status = |record: Uuid| -> String {
            d.store
                .conn
                .query_row(
                    "SELECT status FROM visits WHERE id = ?1",
                    [record.to_string()],
                    |r| r.get(0),
                )
                .expect("visit row")
        };
        assert_eq!(status(old), "completed");
        assert_eq!(status(new), "completed");
        let answers = |record: Uuid| {
            d.store
                .answers_map(voordeur_core::VisitId(record))
                .expect("answers")
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            answers(old),
            vec![("kept".into(), json!(1)), ("x".into(), json!(2))]
        );
        assert_eq!(
            answers(new),
            vec![("a".into(), json!("eerst")), ("b".into(), json!(true))]
        );
        let text: String = d
            .store
            .conn
            .query_row(
                "SELECT text FROM notes WHERE id = ?1",
                [note.to_string()],
                |r| r.get(0),
            )
            .expect("note row");
        assert_eq!(text, "tussendoor");
    }

    /// A pulled run of changes to one record applies as if one by one: a field set
    /// twice keeps its later value, a cleared answer is gone, an older change loses.
    #[test]
    fn a_pulled_run_applies_like_its_changes_one_by_one() {
        let mut d = device(T0);
        let other = DeviceId::new();
        let visit = Uuid::now_v7();
        // A change to the visit by the other device, at T0 + `t`.
        let visit_change = |field: &str, value: Value, t: u64| {
            remote(EntityKind::Visit, visit, field, value, T0 + t, other)
        };
        let run = vec![
            visit_change("answer.x", json!(1), 1),
            visit_change("answer.y", json!(2), 2),
            visit_change("status", json!("draft"), 3),
            visit_change("answer.x", json!(3), 4),
            visit_change("answer.y", Value::Null, 5),
            // Older than what the run already set.
            visit_change("answer.x", json!(0), 0),
            visit_change("answer.a", json!("eerst"), 6),
            // A column set twice in the run takes the later value; an older one loses.
            visit_change("status", json!("completed"), 7),
            visit_change("status", json!("draft"), 2),
        ];
        assert_eq!(d.store.apply_remote(&run, 7).expect("apply"), 7);
        let status: String = d
            .store
            .conn
            .query_row(
                "SELECT status FROM visits WHERE id = ?1",
                [visit.to_string()],
                |r| r.get(0),
            )
            .expect("visit row");
        assert_eq!(status, "completed");
        assert_eq!(
            version(&d.store, EntityKind::Visit, visit, "status"),
            Some(run[7].hlc)
        );
        let answers = d
            .store
            .answers_map(voordeur_core::VisitId(visit))
            .expect("answers");
        assert_eq!(
            answers.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), json!("eerst")), ("x".into(), json!(3))]
        );
        assert_eq!(
            version(&d.store, EntityKind::Visit, visit, "answer.x"),
            Some(run[3].hlc)
        );
        assert_eq!(
            version(&d.store, EntityKind::Visit, visit, "answer.y"),
            Some(run[4].hlc)
        );
        // The same run again changes nothing.
        assert_eq!(d.store.apply_remote(&run, 7).expect("again"), 0);
        // Pulled batches commit without waiting for the disk; local writes still wait.
        let sync: i64 = d
            .store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "back to FULL after a pulled batch");
    }

    #[test]
    fn the_next_push_batch_is_read_right_while_earlier_ones_are_answered() {
        let mut d = device(T0);
        household(&mut d.store, "Lindenlaan 12");
        household(&mut d.store, "Kastanjelaan 3");
        let all = d.store.pending(100).expect("pending");
        assert_eq!(all.len(), 10, "two blocks of five");
        let ack = |store: &mut Store, batch: &[Change]| {
            let response = PushResponse {
                accepted: batch.iter().map(|c| Accepted::of(c, c.hlc)).collect(),
                rejected: vec![],
                conflicts: 0,
            };
            store.acknowledge(&response).expect("acknowledge");
        };
        // Batches of 3, the way a sync over HTTP reads them: the next batch is read
        // before the answer to the one in flight is settled, and answers split blocks.
        let (b1, p1) = d
            .store
            .pending_from(&OutboxPosition::default(), 3)
            .expect("b1");
        let (b2, p2) = d.store.pending_from(&p1, 3).expect("b2");
        ack(&mut d.store, &b1);
        let (b3, p3) = d.store.pending_from(&p2, 3).expect("b3");
        ack(&mut d.store, &b2);
        let (b4, p4) = d.store.pending_from(&p3, 3).expect("b4");
        ack(&mut d.store, &b3);
        let (b5, p5) = d.store.pending_from(&p4, 3).expect("b5");
        ack(&mut d.store, &b4);
        assert!(b5.is_empty(), "{b5:?}");
        assert_eq!(p5, p4);
        let sent: Vec<Change> = [b1, b2, b3, b4].concat();
        assert_eq!(sent, all, "every change once, in order");
        assert_eq!(d.store.outbox_len().expect("len"), 0);

        // A position whose change has gone reads its block from the start again.
        household(&mut d.store, "Eikenlaan 7");
        let (first, at) = d
            .store
            .pending_from(&OutboxPosition::default(), 2)
            .expect("first");
        ack(&mut d.store, &first);
        let (again, _) = d.store.pending_from(&at, 100).expect("again");
        assert_eq!(again, d.store.pending(100).expect("pending"));
        assert_eq!(again.len(), 3);
    }

    /// The changes a push body carries, read the way the server reads them.
    fn body_changes(body: &PushBody) -> Vec<Change> {
        let request: voordeur_core::protocol::PushRequest =
            serde_json::from_slice(&body.json).expect("a push request");
        assert_eq!(
            request.changes.iter().map(|c| c.id).collect::<Vec<_>>(),
            body.ids,
            "the ids are the body's, in order"
        );
        request.changes
    }

    #[test]
    fn a_push_body_carries_the_same_batches_as_the_changes_read_one_by_one() {
        let mut d = device(T0);
        for address in ["Lindenlaan 12", "Kastanjelaan 3", "Eikenlaan 7"] {
            household(&mut d.store, address);
        }
        let all = d.store.pending(100).expect("pending");
        assert_eq!(all.len(), 15, "three blocks of five");
        // Every batch size, whole blocks and cut ones, from every position.
        for limit in 1..=16 {
            let (mut at, mut at_body) = (OutboxPosition::default(), OutboxPosition::default());
            let mut sent = Vec::new();
            loop {
                let (batch, next) = d.store.pending_from(&at, limit).expect("batch");
                let (body, next_body) = d
                    .store
                    .pending_body_from(&at_body, limit, MAX_PUSH_JSON)
                    .expect("body");
                assert_eq!(body_changes(&body), batch, "limit {limit}");
                assert_eq!(next_body, next);
                if batch.is_empty() {
                    break;
                }
                sent.extend(batch);
                (at, at_body) = (next, next_body);
            }
            assert_eq!(sent, all, "limit {limit}: every change once, in order");
        }

        // A byte limit: whole blocks while they fit, then a block cut to what fits.
        let one_block = body_changes(
            &d.store
                .pending_body_from(&OutboxPosition::default(), 5, MAX_PUSH_JSON)
                .expect("one")
                .0,
        );
        let block_len =
            serde_json::to_vec(&voordeur_core::protocol::PushRequest { changes: one_block })
                .expect("json")
                .len();
        let (body, at) = d
            .store
            .pending_body_from(&OutboxPosition::default(), 100, block_len + block_len / 2)
            .expect("limited");
        assert!(body.json.len() <= block_len + block_len / 2);
        assert_eq!(
            body_changes(&body),
            all[..5],
            "the second block does not fit"
        );
        let (tiny, after) = d
            .store
            .pending_body_from(&at, 100, block_len / 2)
            .expect("cut");
        let cut = body_changes(&tiny);
        assert!(!cut.is_empty() && cut.len() < 5, "{}", cut.len());
        assert!(tiny.json.len() <= block_len / 2);
        assert_eq!(cut, all[5..5 + cut.len()]);
        let (rest, _) = d
            .store
            .pending_body_from(&after, 100, MAX_PUSH_JSON)
            .expect("rest");
        assert_eq!(
            body_changes(&rest),
            all[5 + cut.len()..],
            "the rest follows"
        );
        // Over the limit alone, one change still goes.
        let (one, _) = d
            .store
            .pending_body_from(&OutboxPosition::default(), 100, 10)
            .expect("one change");
        assert_eq!(body_changes(&one), all[..1]);
    }

    /// Each block keeps the ids of its changes (what a push needs of a block it sends
    /// whole, and what settles its answer); a block rewritten by a partial answer keeps
    /// the ids of what is left of it, and a block stored without ids (before version 8)
    /// is read out of its JSON.
    #[test]
    fn answers_to_push_bodies_settle_blocks_read_whole_and_rewritten_ones() {
        let mut d = device(T0);
        for address in ["Lindenlaan 12", "Kastanjelaan 3", "Eikenlaan 7"] {
            household(&mut d.store, address);
        }
        let all = d.store.pending(100).expect("pending");
        let stored_ids = |store: &Store| -> Vec<Vec<ChangeId>> {
            let mut stmt = store
                .conn
                .prepare("SELECT n, ids FROM outbox ORDER BY seq")
                .expect("ids");
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
                })
                .expect("ids");
            rows.map(|r| {
                let (n, ids) = r.expect("row");
                let ids = ids.expect("ids kept with the block");
                assert_eq!(ids.len() as i64, n * 16);
                ids.chunks(16)
                    .map(|b| ChangeId(Uuid::from_slice(b).expect("an id")))
                    .collect()
            })
            .collect()
        };
        let ids: Vec<ChangeId> = all.iter().map(|c| c.id).collect();
        assert_eq!(stored_ids(&d.store).concat(), ids);
        let (first, at) = d
            .store
            .pending_body_from(&OutboxPosition::default(), 10, MAX_PUSH_JSON)
            .expect("first");
        let (second, _) = d
            .store
            .pending_body_from(&at, 10, MAX_PUSH_JSON)
            .expect("second");
        assert_eq!(first.ids.len(), 10, "two blocks read whole");
        assert_eq!(second.ids.len(), 5);
        // The first answer accepts the first block and three changes of the second.
        let answer = |ids: &[ChangeId]| PushResponse {
            accepted: ids
                .iter()
                .map(|id| Accepted { id: *id, hlc: None })
                .collect(),
            rejected: vec![],
            conflicts: 0,
        };
        let acked = d.store.acknowledge(&answer(&first.ids[..8])).expect("ack");
        assert_eq!(acked.accepted, 8);
        assert_eq!(d.store.pending(100).expect("left"), all[8..].to_vec());
        assert_eq!(stored_ids(&d.store).concat(), ids[8..].to_vec());
        // The last block as a version 7 app stored it: without its ids; and the first
        // with ids for fewer changes than it holds (a stale blob): both are read out of
        // their JSON.
        d.store
            .conn
            .execute(
                "UPDATE outbox SET ids = NULL WHERE seq = (SELECT max(seq) FROM outbox)",
                [],
            )
            .expect("no ids");
        d.store
            .conn
            .execute(
                "UPDATE outbox SET ids = substr(ids, 1, 16) WHERE seq = (SELECT min(seq) FROM outbox)",
                [],
            )
            .expect("stale ids");
        // The rewritten block is read again: its two changes, then the third block.
        let (again, _) = d
            .store
            .pending_body_from(&OutboxPosition::default(), 10, MAX_PUSH_JSON)
            .expect("again");
        assert_eq!(body_changes(&again), all[8..].to_vec());
        let acked = d.store.acknowledge(&answer(&again.ids)).expect("ack");
        assert_eq!(acked.accepted, 7);
        assert_eq!(d.store.outbox_len().expect("len"), 0);
        // An answer for changes that are gone settles nothing (and is harmless).
        let acked = d.store.acknowledge(&answer(&second.ids)).expect("ack");
        assert_eq!(acked.accepted, 0);
    }

    #[test]
    fn acknowledge_empties_the_outbox_rewrites_restamps_and_keeps_refusals() {
        // A tablet whose clock is a year ahead.
        let mut d = device(T0 + 365 * DAY);
        let h = household(&mut d.store, "Lindenlaan 12");
        let pending = d.store.pending(100).expect("pending");
        assert_eq!(pending.len(), 5);
        assert_eq!(d.store.pending(2).expect("pending"), pending[..2].to_vec());
        let server = DeviceId::new();
        let restamped = Hlc {
            wall_ms: T0,
            counter: 3,
            device: server,
        };
        let address = pending
            .iter()
            .find(|c| c.field == "address")
            .expect("address change");
        let city = pending
            .iter()
            .find(|c| c.field == "city")
            .expect("city change");
        let mut accepted: Vec<Accepted> = pending
            .iter()
            .filter(|c| c.id != city.id)
            .map(|c| Accepted::of(c, c.hlc))
            .collect();
        for a in &mut accepted {
            if a.id == address.id {
                a.hlc = Some(restamped);
            }
        }
        let response = PushResponse {
            accepted,
            rejected: vec![Rejected {
                id: city.id,
                reason: "city is not allowed".into(),
            }],
            conflicts: 0,
        };
        let done = d.store.acknowledge(&response).expect("acknowledge");
        assert_eq!(
            done,
            Acknowledged {
                accepted: 4,
                restamped: 1,
                rejected: 1
            }
        );
        assert_eq!(d.store.outbox_len().expect("len"), 0);
        let sync: i64 = d
            .store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "back to FULL after an acknowledgement");
        assert_eq!(
            version(&d.store, EntityKind::Household, h.0, "address"),
            Some(restamped)
        );
        assert_eq!(
            version(&d.store, EntityKind::Household, h.0, "postcode"),
            pending
                .iter()
                .find(|c| c.field == "postcode")
                .map(|c| c.hlc)
        );
        let kept = d.store.rejected_changes().expect("rejected");
        assert_eq!(kept.len(), 1);
        assert_eq!(&kept[0].change, city);
        assert_eq!(kept[0].reason, "city is not allowed");
        assert_eq!(d.store.sync_status().expect("status").rejected, 1);
        // The same answer again changes nothing.
        let before = d.store.export_json().expect("export");
        assert_eq!(
            d.store.acknowledge(&response).expect("again"),
            Acknowledged::default()
        );
        assert_eq!(d.store.export_json().expect("export"), before);
    }

    #[test]
    fn a_pulled_batch_applies_once_converges_and_stores_its_cursor_atomically() {
        let mut a = device(T0);
        let h = household(&mut a.store, "Lindenlaan 12");
        a.time.advance(1_000);
        a.store
            .add_resident(NewResident {
                household: h,
                name: "Fatima de Vries".into(),
                birth_year: Some(1961),
                contact: None,
            })
            .expect("resident");
        let batch = a.store.pending(1_000).expect("pending");

        let mut b = device(T0 - DAY);
        assert_eq!(b.store.cursor().expect("cursor"), 0);
        assert_eq!(b.store.apply_remote(&batch, 7).expect("apply"), batch.len());
        let once = b.store.export_json().expect("export");
        assert_eq!(b.store.apply_remote(&batch, 7).expect("again"), 0);
        assert_eq!(b.store.export_json().expect("export"), once);
        assert_eq!(once, a.store.export_json().expect("export a"));
        assert_eq!(b.store.cursor().expect("cursor"), 7);
        let found = b.store.search_households("fatima", 10).expect("search");
        assert_eq!(found.len(), 1);
        // B's clock is behind, but its next edit sorts after what it has seen.
        let next = b
            .store
            .make_change(EntityKind::Household, h.0, "city", json!("Haren"))
            .expect("change");
        assert!(batch.iter().all(|c| c.hlc < next.hlc));

        // A batch that fails half-way leaves neither its changes nor its cursor.
        let other = Uuid::now_v7();
        let bad = vec![
            remote(
                EntityKind::Household,
                other,
                "address",
                json!("Dorpsstraat 1"),
                T0,
                DeviceId::new(),
            ),
            remote(
                EntityKind::Household,
                other,
                "password",
                json!("x"),
                T0,
                DeviceId::new(),
            ),
        ];
        assert!(b.store.apply_remote(&bad, 9).is_err());
        assert_eq!(b.store.cursor().expect("cursor"), 7);
        assert_eq!(b.store.export_json().expect("export"), once);
    }

    #[test]
    fn last_writer_wins_and_a_restamp_only_moves_the_version() {
        let mut d = device(T0);
        let h = household(&mut d.store, "Lindenlaan 12");
        let local = version(&d.store, EntityKind::Household, h.0, "address").expect("version");
        let other = DeviceId::new();
        let older = remote(
            EntityKind::Household,
            h.0,
            "address",
            json!("Oud adres 1"),
            T0 - 1_000,
            other,
        );
        assert_eq!(d.store.apply_remote(&[older], 1).expect("apply"), 0);
        assert_eq!(
            d.store.household(h).expect("household").address,
            "Lindenlaan 12"
        );
        assert_eq!(
            version(&d.store, EntityKind::Household, h.0, "address"),
            Some(local)
        );
        let newer = remote(
            EntityKind::Household,
            h.0,
            "address",
            json!("Nieuw adres 2"),
            T0 + 1_000,
            other,
        );
        assert_eq!(
            d.store
                .apply_remote(std::slice::from_ref(&newer), 2)
                .expect("apply"),
            1
        );
        assert_eq!(
            d.store.household(h).expect("household").address,
            "Nieuw adres 2"
        );

        // The server sends the same change back re-stamped: the value stays, the
        // version follows.
        let mut again = newer.clone();
        again.hlc.wall_ms -= 500;
        assert_eq!(
            d.store
                .apply_remote(std::slice::from_ref(&again), 3)
                .expect("apply"),
            0
        );
        assert_eq!(
            version(&d.store, EntityKind::Household, h.0, "address"),
            Some(again.hlc)
        );
        assert_eq!(
            d.store.household(h).expect("household").address,
            "Nieuw adres 2"
        );
    }

    #[test]
    fn resolving_a_conflict_writes_the_choice_after_the_winner_and_closes_it() {
        let mut d = device(T0);
        let h = household(&mut d.store, "Lindenlaan 12");
        let winner = remote(
            EntityKind::Household,
            h.0,
            "address",
            json!("Lindenlaan 14"),
            T0 + 5_000,
            DeviceId::new(),
        );
        let (cid, record) = conflict_changes(
            EntityKind::Household,
            h.0,
            "address",
            vec![
                competing(json!("Lindenlaan 12"), T0),
                competing(json!("Lindenlaan 14"), T0 + 5_000),
            ],
            T0 + 6_000,
        );
        let mut batch = vec![winner.clone()];
        batch.extend(record);
        d.store.apply_remote(&batch, 10).expect("apply");
        let open = d.store.conflicts(true).expect("conflicts");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].id, cid);
        assert_eq!(open[0].values.len(), 2);
        assert_eq!(d.store.sync_status().expect("status").open_conflicts, 1);

        let outbox_before = d.store.outbox_len().expect("len");
        // A value of the wrong type is refused and nothing is written.
        let before = d.store.export_json().expect("export");
        assert!(matches!(
            d.store.resolve_conflict(cid, json!(12)),
            Err(StoreError::Change(_))
        ));
        assert_eq!(d.store.export_json().expect("export"), before);

        d.store
            .resolve_conflict(cid, json!("Lindenlaan 12"))
            .expect("resolve");
        let written = d.store.pending(1_000).expect("pending");
        let written = &written[usize::try_from(outbox_before).expect("len")..];
        assert_eq!(written.len(), 2);
        assert_eq!(written[0].field, "address");
        assert_eq!(written[0].value, json!("Lindenlaan 12"));
        assert_eq!(written[0].base, Some(winner.hlc));
        assert!(written[0].hlc > winner.hlc);
        assert_eq!(written[1].entity, EntityKind::Conflict);
        assert_eq!(written[1].record, cid.0);
        assert_eq!(written[1].value, json!("resolved"));
        assert_eq!(
            d.store.household(h).expect("household").address,
            "Lindenlaan 12"
        );
        assert!(d.store.conflicts(true).expect("open").is_empty());
        assert_eq!(
            d.store.conflicts(false).expect("all")[0].status,
            ConflictStatus::Resolved
        );
        assert!(matches!(
            d.store.resolve_conflict(cid, json!("Lindenlaan 12")),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            d.store.resolve_conflict(ConflictId::new(), json!("x")),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn a_conflicting_answer_is_resolved_with_what_a_person_types() {
        let mut d = device(T0);
        let h = household(&mut d.store, "Lindenlaan 12");
        let t = d.store.import_template(SAMPLE_TEMPLATE).expect("template");
        let visit = d.store.start_visit(h, t.id).expect("visit");
        let field = "answer.geld.post_ongeopend";
        let (cid, record) = conflict_changes(
            EntityKind::Visit,
            visit.0,
            field,
            vec![competing(json!(true), T0), competing(json!(false), T0 + 1)],
            T0 + 2,
        );
        d.store.apply_remote(&record, 1).expect("apply");
        let before = d.store.export_json().expect("export");
        assert!(matches!(
            d.store.resolve_conflict_input(cid, "misschien"),
            Err(StoreError::Answer(_))
        ));
        assert_eq!(d.store.export_json().expect("export"), before);
        assert_eq!(
            d.store.resolve_conflict_input(cid, "ja").expect("resolve"),
            json!(true)
        );
        let detail = d.store.visit_detail(visit).expect("visit");
        assert_eq!(detail.answers[0].value, json!(true));
    }

    #[test]
    fn a_delete_is_based_on_the_records_highest_version() {
        let mut d = device(T0);
        let h = household(&mut d.store, "Lindenlaan 12");
        d.time.advance(1_000);
        d.store
            .apply_remote(
                &[remote(
                    EntityKind::Household,
                    h.0,
                    "neighbourhood",
                    json!("Oosterpoort"),
                    T0 + 60_000,
                    DeviceId::new(),
                )],
                1,
            )
            .expect("apply");
        let highest = version(&d.store, EntityKind::Household, h.0, "neighbourhood");
        let before = d.store.outbox_len().expect("len");
        d.store.delete_household(h).expect("delete");
        let all = d.store.pending(100).expect("pending");
        let tombstone = all.last().expect("tombstone");
        assert_eq!(d.store.outbox_len().expect("len"), before + 1);
        assert_eq!(tombstone.field, "deleted");
        assert_eq!(tombstone.value, json!(true));
        assert_eq!(tombstone.base, highest);
        assert!(d
            .store
            .search_households("linden", 10)
            .expect("search")
            .is_empty());
        assert!(matches!(
            d.store.delete_household(h),
            Err(StoreError::NotFound { .. })
        ));

        let h2 = household(&mut d.store, "Dorpsstraat 3");
        let t = d.store.import_template(SAMPLE_TEMPLATE).expect("template");
        let visit = d.store.start_visit(h2, t.id).expect("visit");
        let note = d.store.add_note(visit, "eerste").expect("note");
        d.time.advance(1_000);
        d.store.edit_note(note, "tweede").expect("edit");
        let text = version(&d.store, EntityKind::Note, note.0, "text");
        d.store.delete_note(note).expect("delete note");
        let tombstone = d.store.pending(100).expect("pending").pop().expect("last");
        assert_eq!(tombstone.base, text);
        assert!(d.store.visit_detail(visit).expect("visit").notes.is_empty());
    }

    #[test]
    fn enrolment_is_kept_and_gives_new_households_the_team() {
        let mut d = device(T0);
        assert_eq!(d.store.enrolment().expect("enrolment"), None);
        let team = TeamId::new();
        let response = EnrolResponse {
            token: "geheim-token".into(),
            device_id: d.store.device_id(),
            user: UserInfo {
                id: UserId::new(),
                name: "Sanne Bakker".into(),
                role: Role::Worker,
                team_id: Some(team),
                team_name: Some("Wijkteam Oost".into()),
            },
        };
        d.store
            .set_enrolment("https://voordeur.example/", &response)
            .expect("enrol");
        let e = d.store.enrolment().expect("enrolment").expect("enrolled");
        assert_eq!(e.server_url, "https://voordeur.example");
        assert_eq!(e.token, "geheim-token");
        assert_eq!(e.user, response.user);
        assert!(!format!("{e:?}").contains("geheim"));
        assert_eq!(d.store.user_id(), Some(response.user.id));
        let h = household(&mut d.store, "Lindenlaan 12");
        assert_eq!(d.store.household(h).expect("h").team_id, Some(team));

        d.store.apply_remote(&[], 42).expect("cursor");
        assert_eq!(d.store.mark_synced().expect("mark"), "2026-01-01T00:00:00Z");
        let status = d.store.sync_status().expect("status");
        assert_eq!(status.user.as_deref(), Some("Sanne Bakker"));
        assert_eq!(status.role, Some(Role::Worker));
        assert_eq!(status.waiting, 5);
        assert_eq!(status.cursor, 42);
        assert_eq!(status.last_sync.as_deref(), Some("2026-01-01T00:00:00Z"));
        // Enrolling again with the same server keeps the cursor; another server resets it.
        d.store
            .set_enrolment("https://voordeur.example", &response)
            .expect("again");
        assert_eq!(d.store.cursor().expect("cursor"), 42);
        d.store
            .set_enrolment("https://elders.example", &response)
            .expect("elsewhere");
        assert_eq!(d.store.cursor().expect("cursor"), 0);
        let mut wrong = response.clone();
        wrong.device_id = DeviceId::new();
        assert!(d.store.set_enrolment("https://x.example", &wrong).is_err());
    }
}

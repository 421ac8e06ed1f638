//! voordeur-sync: the client sync engine.
//!
//! One sync is: push the whole outbox in batches of [`MAX_BATCH`], then pull in
//! batches until the server has nothing more. Pushing first means the server has this
//! device's edits before it answers with everyone else's, so conflicts are found there,
//! once. Every batch is settled in its own store transaction before the next is sent —
//! a pushed batch is acknowledged (out of the outbox, re-stamps applied), a pulled batch
//! is applied together with its cursor — so a sync cut anywhere resumes from the last
//! settled batch, and repeating a batch is harmless because changes have ids. Over
//! HTTP the device does not wait idle meanwhile: it reads the next push batch while the
//! server works on the current one, and fetches the next pull batch while it applies
//! the current one.
//!
//! The engine reaches the server only through [`Transport`]; tests use a fake one.

mod error;
mod transport;

pub use error::SyncError;
pub use transport::{
    server_base, EncodedPush, HttpTransport, Shared, Transport, CONNECT_TIMEOUT, REQUEST_TIMEOUT,
};

use serde::{Deserialize, Serialize};
use voordeur_core::protocol::{
    EnrolRequest, PullResponse, PushRequest, PushResponse, Rejected, UserInfo,
};
use voordeur_core::protocol::{MAX_BATCH, MAX_PUSH_JSON};
use voordeur_core::{Change, IdSet};
use voordeur_store::{OutboxPosition, Store};

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Local changes the server now holds.
    pub pushed: usize,
    /// Local changes the server refused; kept on the device in `rejected_changes`.
    pub rejected: Vec<Rejected>,
    /// Changes received from the server.
    pub pulled: usize,
    /// Open conflicts on this device after the sync.
    pub conflicts_open: usize,
}

/// Progress of a running sync, one event per settled batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Progress {
    Pushing { done: usize, total: usize },
    Pulling { received: usize },
}

/// Enrol this device with a one-time code from an admin; the device keeps the token
/// and the user it acts for. Returns the user.
pub fn enrol(store: &mut Store, server_url: &str, code: &str) -> Result<UserInfo, SyncError> {
    enrol_named(store, server_url, code, None)
}

/// [`enrol`], giving the device a name the admin sees in the device list.
pub fn enrol_named(
    store: &mut Store,
    server_url: &str,
    code: &str,
    device_name: Option<&str>,
) -> Result<UserInfo, SyncError> {
    let base = server_base(server_url)?;
    let transport = HttpTransport::anonymous(base.as_str())?;
    let response = transport.enrol(&EnrolRequest {
        code: code.trim().to_string(),
        device_id: store.device_id(),
        device_name: device_name.map(String::from),
    })?;
    if response.device_id != store.device_id() {
        return Err(SyncError::Protocol(format!(
            "the server enrolled device {} instead of this device {}",
            response.device_id,
            store.device_id()
        )));
    }
    store.set_enrolment(base.as_str(), &response)?;
    store.set_user(response.user.id)?;
    tracing::info!(user = %response.user.id, "device enrolled");
    Ok(response.user)
}

/// The HTTP transport of the server this device is enrolled with.
pub fn transport_for(store: &Store) -> Result<HttpTransport, SyncError> {
    let enrolment = store.enrolment()?.ok_or(SyncError::NotEnrolled)?;
    HttpTransport::new(&enrolment.server_url, &enrolment.token)
}

/// Push the outbox, then pull until the server has nothing more. See the crate docs.
pub fn sync(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let exchanged = rescope(store, transport)
        .and_then(|()| push(store, transport, progress, &mut report))
        .and_then(|()| pull(store, transport, progress, &mut report));
    if let Err(SyncError::Revoked) = exchanged {
        // A lost or stolen tablet: nothing of the residents may stay on it.
        tracing::warn!("this device was revoked; wiping its data");
        store.wipe()?;
        return Err(SyncError::Revoked);
    }
    exchanged?;
    store.mark_synced()?;
    report.conflicts_open = usize::try_from(store.sync_status()?.open_conflicts).unwrap_or(0);
    tracing::info!(
        pushed = report.pushed,
        rejected = report.rejected.len(),
        pulled = report.pulled,
        conflicts_open = report.conflicts_open,
        "sync done"
    );
    Ok(report)
}

/// The user's team or role changed on the server: the device keeps only what the new
/// scope allows and pulls the new scope from the start.
fn rescope(store: &mut Store, transport: &dyn Transport) -> Result<(), SyncError> {
    if let Some(user) = transport.current_user()? {
        if store.rescope(&user)? {
            tracing::info!("the user's team changed; pulling the new team's data");
        }
    }
    Ok(())
}

fn push(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(Progress),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let total = usize::try_from(store.outbox_len()?).unwrap_or(usize::MAX);
    let mut done = 0;
    let limit = transport.push_limit().clamp(1, MAX_BATCH);
    let Some(shared) = transport.shareable() else {
        // One request at a time.
        loop {
            let batch = store.pending(limit)?;
            if batch.is_empty() {
                return Ok(());
            }
            let sent: IdSet = batch.iter().map(|c| c.id).collect();
            tracing::debug!(changes = batch.len(), "pushing a batch");
            let response = transport.push(&PushRequest { changes: batch })?;
            settle_push(store, &sent, response, &mut done, total, progress, report)?;
        }
    };
    // While the server works on one request, the answer to the previous one is settled
    // and the next one read. Only one request is in flight: the next is sent after the
    // answer to this one arrived, so the server takes the batches in outbox order. A
    // server that takes several batches per request ([`Shared::push_batches`]) gets
    // them in one, and reads the next batch while it applies one.
    let per_request = shared.push_batches().max(1);
    // The next request: read and encoded while the current one is with the server. Its
    // JSON stays within [`MAX_PUSH_JSON`] (long notes), with at least one change.
    let prepare = |store: &Store, position: &mut OutboxPosition| {
        let mut bodies = Vec::new();
        let mut json = 0;
        while bodies.len() < per_request {
            let room = MAX_PUSH_JSON.saturating_sub(json);
            if !bodies.is_empty() && room < MAX_PUSH_JSON / 8 {
                // Too little room left for a batch worth its own line.
                break;
            }
            let (body, next) = store.pending_body_from(position, limit, room)?;
            if body.ids.is_empty() || (!bodies.is_empty() && body.json.len() > room) {
                break;
            }
            *position = next;
            json += body.json.len();
            bodies.push(body);
        }
        if bodies.is_empty() {
            return Ok::<_, SyncError>(None);
        }
        let sent: Vec<IdSet> = bodies
            .iter()
            .map(|b| b.ids.iter().copied().collect())
            .collect();
        tracing::debug!(
            batches = bodies.len(),
            changes = sent.iter().map(IdSet::len).sum::<usize>(),
            "pushing"
        );
        Ok(Some((shared.encode_push(bodies)?, sent)))
    };
    // When the answers cover every change of their batches, the next request is sent
    // before they are settled, so the device's commits overlap the server's work.
    std::thread::scope(|scope| {
        let mut position = OutboxPosition::default();
        let mut in_flight = None;
        loop {
            let mut prepared = prepare(store, &mut position)?;
            let Some((sending, sent)) = in_flight.take() else {
                let Some((body, sent)) = prepared else {
                    return Ok(());
                };
                in_flight = Some((scope.spawn(move || shared.push_encoded(body)), sent));
                continue;
            };
            let responses = join(sending, "push")?;
            if responses.is_empty() {
                // Sending the same batches again would get the same answer, forever.
                return Err(SyncError::Protocol(
                    "the server answered a push without answering any of its batches".into(),
                ));
            }
            let complete = responses.len() == sent.len();
            if complete && sent.iter().zip(&responses).all(|(s, r)| answers_all(s, r)) {
                if let Some((body, next)) = prepared.take() {
                    in_flight = Some((scope.spawn(move || shared.push_encoded(body)), next));
                }
                for (batch, response) in sent.iter().zip(responses) {
                    settle_push(store, batch, response, &mut done, total, progress, report)?;
                }
                if in_flight.is_none() {
                    return Ok(());
                }
                continue;
            }
            let mut settled_all = complete;
            for (batch, response) in sent.iter().zip(responses) {
                let settled =
                    settle_push(store, batch, response, &mut done, total, progress, report)?;
                settled_all &= settled == batch.len();
            }
            if !settled_all {
                // Changes of those batches are unsettled: they are at the head of the
                // outbox and go first, so read from there again.
                position = OutboxPosition::default();
                prepared = prepare(store, &mut position)?;
            }
            let Some((body, sent)) = prepared else {
                return Ok(());
            };
            in_flight = Some((scope.spawn(move || shared.push_encoded(body)), sent));
        }
    })
}

/// Does `response` accept or reject every change of the batch `sent`?
fn answers_all(sent: &IdSet, response: &PushResponse) -> bool {
    let mut answered = IdSet::with_capacity_and_hasher(sent.len(), Default::default());
    answered.extend(response.accepted.iter().map(|a| a.id));
    answered.extend(response.rejected.iter().map(|r| r.id));
    sent.iter().all(|id| answered.contains(id))
}

/// Pull batches fetched ahead of the one being applied, at most.
const PULL_AHEAD: usize = 2;

/// A pull batch fetched ahead: its body still being read on a thread of its own, or
/// read already.
enum Fetched<'scope> {
    Reading(std::thread::ScopedJoinHandle<'scope, Result<PullResponse, SyncError>>),
    Read(PullResponse),
}

/// A batch fetched ahead and the cursor it was asked for from.
type Ahead<'scope> = (u64, Fetched<'scope>);

/// The result of a request made on another thread; a thread that panicked is an error
/// of this sync, not a panic of the app.
fn join<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, SyncError>>,
    what: &str,
) -> Result<T, SyncError> {
    handle
        .join()
        .map_err(|_| SyncError::Protocol(format!("the {what} thread failed")))?
}

/// Take in the answer to a pushed batch whose change ids are `sent`; returns how many of
/// them it settled.
fn settle_push(
    store: &mut Store,
    sent: &IdSet,
    response: PushResponse,
    done: &mut usize,
    total: usize,
    progress: &mut dyn FnMut(Progress),
    report: &mut SyncReport,
) -> Result<usize, SyncError> {
    // Only answers about this batch count; anything else is the server's mistake.
    let answer = PushResponse {
        accepted: response
            .accepted
            .into_iter()
            .filter(|a| sent.contains(&a.id))
            .collect(),
        rejected: response
            .rejected
            .into_iter()
            .filter(|r| sent.contains(&r.id))
            .collect(),
        conflicts: response.conflicts,
    };
    let accepted: IdSet = answer.accepted.iter().map(|a| a.id).collect();
    let acked = store.acknowledge(&answer)?;
    if acked.accepted + acked.rejected == 0 {
        // Sending the same batch again would get the same answer, forever.
        return Err(SyncError::Protocol(
            "the server answered a push without settling any of its changes".into(),
        ));
    }
    report.pushed += acked.accepted;
    report.rejected.extend(
        answer
            .rejected
            .into_iter()
            .filter(|r| !accepted.contains(&r.id)),
    );
    if acked.rejected > 0 {
        tracing::warn!(rejected = acked.rejected, "the server refused changes");
    }
    *done += acked.accepted + acked.rejected;
    progress(Progress::Pushing {
        done: *done,
        total: total.max(*done),
    });
    Ok(acked.accepted + acked.rejected)
}

fn pull(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(Progress),
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let Some(shared) = transport.shareable() else {
        // One request at a time.
        loop {
            let since = store.cursor()?;
            let response = transport.pull(since, MAX_BATCH)?;
            let more = response.more;
            settle_pull(store, since, response, progress, report)?;
            if !more {
                return Ok(());
            }
        }
    };
    // Batches are fetched ahead while earlier ones are applied. A fetching thread asks
    // for the next batch as soon as the answer to the previous one has named its cursor
    // (in its headers), and that answer's body is read and parsed on a thread of its
    // own meanwhile; at most [`PULL_AHEAD`] batches wait. They are applied in order,
    // one by one, each with its cursor, after the one before it committed. Another
    // thread copies each committed batch from the write-ahead log into the database
    // file, which the committing thread would otherwise do itself every few batches.
    let first = store.cursor()?;
    // Only a speed-up: a second connection that cannot be opened is no reason to fail.
    let checkpointer = store.checkpointer().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no background checkpoints for this pull");
        None
    });
    // That thread also frees the applied batch (a few hundred thousand small values).
    let pulled: Result<(), SyncError> = std::thread::scope(|scope| {
        let (wake, woken) = std::sync::mpsc::sync_channel::<Vec<Change>>(1);
        if let Some(checkpointer) = checkpointer {
            scope.spawn(move || {
                while let Ok(applied) = woken.recv() {
                    drop(applied);
                    if let Err(e) = checkpointer.checkpoint() {
                        tracing::warn!(error = %e, "background checkpoint failed");
                    }
                }
            });
        } else {
            drop(woken);
        }
        let (fetched, batches) = std::sync::mpsc::sync_channel::<Ahead<'_>>(PULL_AHEAD);
        let fetcher = scope.spawn(move || -> Result<(), SyncError> {
            let mut since = first;
            loop {
                let started = shared.pull_started(since, MAX_BATCH)?;
                let (batch, cursor, more) = match started.hint() {
                    Some((cursor, more)) => (
                        Fetched::Reading(scope.spawn(move || started.finish())),
                        cursor,
                        more,
                    ),
                    // A server that does not say it in its headers: read the body first.
                    None => {
                        let response = started.finish()?;
                        let (cursor, more) = (response.cursor, response.more);
                        (Fetched::Read(response), cursor, more)
                    }
                };
                // Stopped applying (done or failed): stop fetching.
                if fetched.send((since, batch)).is_err() || !more || cursor <= since {
                    return Ok(());
                }
                since = cursor;
            }
        });
        loop {
            let Ok((asked_from, batch)) = batches.recv() else {
                // The fetching thread stopped before a last batch: why.
                join(fetcher, "pull")?;
                return Err(SyncError::Protocol(
                    "the pull stopped before the server said it was done".into(),
                ));
            };
            let response = match batch {
                Fetched::Reading(reading) => join(reading, "pull")?,
                Fetched::Read(response) => response,
            };
            let since = store.cursor()?;
            if since != asked_from {
                // Something else moved this device's cursor meanwhile (a new enrolment
                // on another connection): the batches fetched ahead do not follow on.
                return Err(SyncError::Protocol(format!(
                    "the device's cursor moved from {asked_from} to {since} during the pull"
                )));
            }
            let more = response.more;
            let applied = settle_pull(store, since, response, progress, report)?;
            // When the thread is busy (or absent), the batch is freed here and the next
            // wake-up checkpoints this batch too.
            drop(wake.try_send(applied));
            if !more {
                return Ok(());
            }
        }
    });
    let restored = store.end_background_checkpoints();
    pulled?;
    Ok(restored?)
}

/// Apply one pulled batch that answered a pull from `since`; returns its changes.
fn settle_pull(
    store: &mut Store,
    since: u64,
    response: voordeur_core::protocol::PullResponse,
    progress: &mut dyn FnMut(Progress),
    report: &mut SyncReport,
) -> Result<Vec<Change>, SyncError> {
    if response.more && response.cursor <= since {
        // Asking again from the same place would never end.
        return Err(SyncError::Protocol(format!(
            "the server said more changes wait but did not move the cursor past {since}"
        )));
    }
    let applied = store.apply_remote(&response.changes, response.cursor)?;
    tracing::debug!(
        received = response.changes.len(),
        applied,
        cursor = response.cursor,
        "pulled a batch"
    );
    report.pulled += response.changes.len();
    progress(Progress::Pulling {
        received: report.pulled,
    });
    Ok(response.changes)
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

//! A server model in memory, for the engine's tests: a log of changes with sequence
//! numbers, idempotent by change id, the clock-ahead re-stamp, no echo of a device's
//! own changes. Each device talks to it through a [`Link`] that can cut a push before
//! or after the server took it, or cut a pull.

use crate::{SyncError, Transport};
use std::cell::RefCell;
use std::collections::BTreeSet;
use voordeur_core::merge::MAX_CLOCK_AHEAD_MS;
use voordeur_core::protocol::{Accepted, PullResponse, PushRequest, PushResponse, Rejected};
use voordeur_core::{Change, DeviceId, Hlc};

pub(crate) struct FakeServer {
    state: RefCell<State>,
}

struct State {
    log: Vec<(u64, Change)>,
    now_ms: u64,
    clock: Hlc,
    refuse_field: Option<String>,
}

impl FakeServer {
    pub fn new(now_ms: u64) -> FakeServer {
        FakeServer {
            state: RefCell::new(State {
                log: Vec::new(),
                now_ms,
                clock: Hlc::zero(DeviceId::new()),
                refuse_field: None,
            }),
        }
    }

    /// Refuse every change of this field (as a scope or validation rule would).
    pub fn refuse_field(&self, field: &str) {
        self.state.borrow_mut().refuse_field = Some(field.to_string());
    }

    pub fn len(&self) -> usize {
        self.state.borrow().log.len()
    }

    pub fn link(&self, device: DeviceId) -> Link<'_> {
        Link {
            server: self,
            device,
            faults: RefCell::default(),
            calls: RefCell::default(),
        }
    }

    fn receive(&self, request: &PushRequest) -> PushResponse {
        let mut st = self.state.borrow_mut();
        let mut response = PushResponse {
            accepted: Vec::new(),
            rejected: Vec::new(),
            conflicts: 0,
        };
        for change in &request.changes {
            if let Some((_, held)) = st.log.iter().find(|(_, c)| c.id == change.id) {
                let hlc = held.hlc;
                response.accepted.push(Accepted::of(change, hlc));
                continue;
            }
            if change.check().is_err() || st.refuse_field.as_deref() == Some(&change.field) {
                response.rejected.push(Rejected {
                    id: change.id,
                    reason: format!("{} may not be set", change.field),
                });
                continue;
            }
            let mut stored = change.clone();
            if stored.hlc.wall_ms > st.now_ms + MAX_CLOCK_AHEAD_MS {
                let clock = if st.clock.wall_ms < st.now_ms {
                    Hlc {
                        wall_ms: st.now_ms,
                        counter: 0,
                        device: st.clock.device,
                    }
                } else {
                    Hlc {
                        counter: st.clock.counter + 1,
                        ..st.clock
                    }
                };
                st.clock = clock;
                stored.hlc = clock;
            }
            let seq = st.log.len() as u64 + 1;
            response.accepted.push(Accepted::of(change, stored.hlc));
            st.log.push((seq, stored));
        }
        response
    }

    fn serve(&self, device: DeviceId, since: u64, limit: usize) -> PullResponse {
        let st = self.state.borrow();
        let mut changes = Vec::new();
        let mut cursor = since;
        for (seq, change) in st.log.iter().filter(|(s, _)| *s > since) {
            if changes.len() == limit {
                break;
            }
            cursor = *seq;
            if change.device != device {
                changes.push(change.clone());
            }
        }
        let more = st.log.iter().any(|(s, _)| *s > cursor);
        PullResponse {
            changes,
            cursor,
            more,
        }
    }
}

#[derive(Default)]
pub(crate) struct Faults {
    /// Push calls (1-based) cut before the server sees them.
    pub cut_push: BTreeSet<usize>,
    /// Push calls the server takes whose answer is lost.
    pub lose_push_answer: BTreeSet<usize>,
    /// Pull calls cut before an answer arrives.
    pub cut_pull: BTreeSet<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Push(usize),
    Pull(u64),
}

/// One device's connection to the fake server.
pub(crate) struct Link<'a> {
    server: &'a FakeServer,
    device: DeviceId,
    pub faults: RefCell<Faults>,
    pub calls: RefCell<Vec<Call>>,
}

impl Link<'_> {
    fn count(&self, push: bool) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| matches!(c, Call::Push(_)) == push)
            .count()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }
}

fn cut() -> SyncError {
    SyncError::Offline("connection reset".into())
}

impl Transport for Link<'_> {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        self.calls
            .borrow_mut()
            .push(Call::Push(request.changes.len()));
        let n = self.count(true);
        if self.faults.borrow().cut_push.contains(&n) {
            return Err(cut());
        }
        let response = self.server.receive(request);
        if self.faults.borrow().lose_push_answer.contains(&n) {
            return Err(cut());
        }
        Ok(response)
    }

    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse, SyncError> {
        self.calls.borrow_mut().push(Call::Pull(since));
        let n = self.count(false);
        if self.faults.borrow().cut_pull.contains(&n) {
            return Err(cut());
        }
        Ok(self.server.serve(self.device, since, limit))
    }
}

//! Wire types of the sync protocol (JSON over HTTPS, gzip bodies). Field names here are
//! the protocol: change them only with a new [`PROTOCOL_VERSION`].
//!
//! Version 2 carries changes grouped by record ([`crate::wire::Block`]); in Rust they
//! stay a list of [`Change`]s.

use crate::change::Change;
use crate::domain::Role;
use crate::hlc::Hlc;
use crate::ids::{ChangeId, DeviceId, IdMap, IdSet, TeamId, UserId};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. Sent on every request in [`PROTOCOL_HEADER`];
/// a server that speaks another answers 426 "update required".
pub const PROTOCOL_VERSION: u32 = 2;
pub const PROTOCOL_HEADER: &str = "voordeur-protocol";

/// The gzip level of request and response bodies. With zlib-rs, level 1 is a quick mode
/// that sends about 40 % more bytes; level 2 costs little more time.
pub const GZIP_LEVEL: u32 = 2;

/// The codings a server takes for request bodies, named in the `Accept-Encoding` header
/// of its `GET /v1/me` answer (as RFC 7694 has it). A device pushes zstd to a server
/// that names it, and gzip to one that does not (an earlier server). Responses follow
/// the `Accept-Encoding` of each request as usual.
pub const REQUEST_ENCODINGS: &str = "zstd, gzip";

/// The zstd level of push bodies: zstd's fastest level compresses the JSON of changes
/// better than gzip at [`GZIP_LEVEL`], in less time, and reads back faster.
pub const ZSTD_LEVEL: i32 = 1;

/// Does an `Accept-Encoding` value name zstd (with a weight above 0)?
pub fn names_zstd(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut params = part.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let refused = params.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        coding.eq_ignore_ascii_case("zstd") && !refused
    })
}

/// Response headers of a pull that repeat its body's `cursor` and `more`, so a device can
/// ask for the next batch as soon as the headers arrive, while this one is still read.
/// A server without them is still understood (the device then reads the body first).
pub const CURSOR_HEADER: &str = "voordeur-cursor";
pub const MORE_HEADER: &str = "voordeur-more";

/// The most changes one push or pull batch may carry.
pub const MAX_BATCH: usize = 5_000;

/// Response header of `GET /v1/me`: the most changes this server takes in one push. A
/// server that does not send it takes [`PROTOCOL_2_BATCH`], the limit protocol 2
/// started with, so a device pushes no more than that to it.
pub const MAX_BATCH_HEADER: &str = "voordeur-max-batch";
pub const PROTOCOL_2_BATCH: usize = 2_000;

/// The most bytes of JSON a device puts in one push (before gzip): half of what a
/// server takes in a body, so a batch of long notes is split rather than refused.
pub const MAX_PUSH_JSON: usize = 8 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub code: String,
    /// The id this device made for itself; its clock and changes carry it.
    pub device_id: DeviceId,
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserInfo {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub team_id: Option<TeamId>,
    pub team_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    /// Bearer token of this device; shown once, stored on the device.
    pub token: String,
    pub device_id: DeviceId,
    pub user: UserInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// On the wire: `blocks`, the changes grouped by record.
    #[serde(
        rename = "blocks",
        serialize_with = "crate::wire::serialize_blocks",
        deserialize_with = "crate::wire::deserialize_blocks"
    )]
    pub changes: Vec<Change>,
}

/// The JSON of a [`PushRequest`] as it is sent, with the ids of its changes in order
/// (what the answer is read against). A device builds it from its stored blocks
/// without parsing their values (`Store::pending_body_from`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushBody {
    pub json: Vec<u8>,
    pub ids: Vec<ChangeId>,
}

impl PushBody {
    /// What goes before the blocks of a push body, and after them.
    pub const HEAD: &'static [u8] = b"{\"blocks\":[";
    pub const TAIL: &'static [u8] = b"]}";

    /// The body of a request serialised the usual way.
    pub fn of(request: &PushRequest) -> Result<PushBody, serde_json::Error> {
        Ok(PushBody {
            json: serde_json::to_vec(request)?,
            ids: request.changes.iter().map(|c| c.id).collect(),
        })
    }
}

/// A change the server holds (now or from an earlier push of the same id). `hlc` is the
/// clock the server stored it with when that is not the clock it was sent with: the
/// device's clock was too far ahead (see `voordeur_core::merge::MAX_CLOCK_AHEAD_MS`).
/// Left out otherwise, which is nearly always.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub id: ChangeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hlc: Option<Hlc>,
}

impl Accepted {
    /// The answer for `change`, held with clock `stored`.
    pub fn of(change: &Change, stored: Hlc) -> Accepted {
        Accepted {
            id: change.id,
            hlc: (stored != change.hlc).then_some(stored),
        }
    }

    /// The clock the server holds the change with, given the one it was sent with.
    pub fn stored(&self, sent: Hlc) -> Hlc {
        self.hlc.unwrap_or(sent)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    pub id: ChangeId,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
    /// Conflicts this push opened or added to.
    pub conflicts: u32,
}

/// Request header of a push asking for the short answer ([`ShortPushResponse`]), and
/// response header of a server giving one. A server that does not know it answers in
/// full, without the header; the device reads whichever came.
pub const ANSWER_HEADER: &str = "voordeur-answer";
pub const SHORT_ANSWER: &str = "short";

/// The short answer to a push: every change of the batch that is not in `rejected` is
/// accepted, with the clock it was sent with unless `restamped` names another. The same
/// as a [`PushResponse`] for the device that knows what it sent, without naming each of
/// up to [`MAX_BATCH`] accepted changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortPushResponse {
    /// Accepted changes the server holds with another clock than the one they were sent
    /// with (each names its clock).
    pub restamped: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
    pub conflicts: u32,
}

impl ShortPushResponse {
    /// The short form of a full answer.
    pub fn of(full: PushResponse) -> ShortPushResponse {
        ShortPushResponse {
            restamped: full
                .accepted
                .into_iter()
                .filter(|a| a.hlc.is_some())
                .collect(),
            rejected: full.rejected,
            conflicts: full.conflicts,
        }
    }

    /// The full answer to a batch whose change ids were `sent`, in order.
    pub fn into_full(self, sent: &[ChangeId]) -> PushResponse {
        let rejected: IdSet = self.rejected.iter().map(|r| r.id).collect();
        let restamped: IdMap<Option<Hlc>> = self.restamped.iter().map(|a| (a.id, a.hlc)).collect();
        let accepted = sent
            .iter()
            .filter(|id| !rejected.contains(id))
            .map(|id| Accepted {
                id: *id,
                hlc: restamped.get(id).copied().flatten(),
            })
            .collect();
        PushResponse {
            accepted,
            rejected: self.rejected,
            conflicts: self.conflicts,
        }
    }
}

/// Several push batches in one request (`POST /v1/push/batches`), so the server reads
/// the next batch while it applies this one: newline-delimited JSON ([`NDJSON`]), one
/// [`PushRequest`] per line, as [`push_batches_body`] writes it. Each batch is applied
/// in its own transaction, in order, exactly as if pushed alone; a request cut off
/// halfway keeps the batches applied before the cut, as separate pushes would.
pub const NDJSON: &str = "application/x-ndjson";

/// The body of `POST /v1/push/batches` for these batches.
pub fn push_batches_body(batches: &[PushRequest]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for b in batches {
        serde_json::to_writer(&mut out, b)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The batches of a `POST /v1/push/batches` body.
pub fn read_push_batches(body: &[u8]) -> Result<Vec<PushRequest>, serde_json::Error> {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(serde_json::from_slice)
        .collect()
}

/// The answer to `POST /v1/push/batches`: the short answer to each batch, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBatchesResponse {
    pub answers: Vec<ShortPushResponse>,
}

/// Response header of `GET /v1/me`: how many batches the server takes in one
/// `POST /v1/push/batches`. A server without it has no such endpoint, and a device
/// pushes one batch per request to it.
pub const PUSH_BATCHES_HEADER: &str = "voordeur-push-batches";
/// The most batches in one request.
pub const MAX_PUSH_BATCHES: usize = 8;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    /// On the wire: `blocks`, the changes grouped by record.
    #[serde(
        rename = "blocks",
        serialize_with = "crate::wire::serialize_blocks",
        deserialize_with = "crate::wire::deserialize_blocks"
    )]
    pub changes: Vec<Change>,
    /// Pass as `since` next time: every change up to here has been served.
    pub cursor: u64,
    /// More changes wait beyond `cursor`.
    pub more: bool,
}

/// The `error` code of the 401 a revoked device gets. A device that receives it wipes
/// its local data; any other 401 (an unknown token) leaves the data alone.
pub const REVOKED_CODE: &str = "device_revoked";

/// Every error answer: a stable code and a short message for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_is_named_unless_refused() {
        assert!(names_zstd(REQUEST_ENCODINGS));
        assert!(names_zstd("gzip, ZSTD;q=0.5"));
        assert!(!names_zstd("gzip"));
        assert!(!names_zstd(""));
        assert!(!names_zstd("zstd;q=0, gzip"));
        assert!(!names_zstd("zstdx, gzip"));
    }

    #[test]
    fn a_short_push_answer_reads_back_as_the_full_one() {
        let sent: Vec<ChangeId> = (0..5).map(|_| ChangeId::new()).collect();
        let restamp = Hlc::zero(DeviceId::new());
        let full = PushResponse {
            accepted: vec![
                Accepted {
                    id: sent[0],
                    hlc: None,
                },
                Accepted {
                    id: sent[2],
                    hlc: Some(restamp),
                },
                Accepted {
                    id: sent[3],
                    hlc: None,
                },
            ],
            rejected: vec![
                Rejected {
                    id: sent[1],
                    reason: "unknown field".into(),
                },
                Rejected {
                    id: sent[4],
                    reason: "outside your team".into(),
                },
            ],
            conflicts: 2,
        };
        let short = ShortPushResponse::of(full.clone());
        assert_eq!(short.restamped.len(), 1, "only what differs is named");
        assert_eq!(short.rejected.len(), 2);
        let text = serde_json::to_string(&short).unwrap_or_default();
        let back: ShortPushResponse =
            serde_json::from_str(&text).unwrap_or_else(|_| ShortPushResponse {
                restamped: vec![],
                rejected: vec![],
                conflicts: 0,
            });
        assert_eq!(back.into_full(&sent), full);
    }
}

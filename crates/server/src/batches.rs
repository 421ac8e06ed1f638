//! Several push batches in one request (`POST /v1/push/batches`): the request body,
//! newline-delimited JSON, is cut into lines as it arrives on a thread of its own, and
//! each batch is handed over as soon as its line is complete to the thread that applies
//! them in order, each in its own transaction (see `crate::api::push_batches`).

use crate::api::{push_batch, AppState, MAX_BODY};
use crate::auth::Caller;
use crate::engine;
use crate::error::{error_response, ServerError};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use voordeur_core::protocol::{ShortPushResponse, MAX_PUSH_BATCHES};
use voordeur_core::wire::{read_sent_blocks, SentTexts};
use voordeur_core::Change;

/// How many requests of batches are read and applied at once.
pub(crate) static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// How long a request of batches may wait for the next part of its body.
pub(crate) const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Hand the body to [`apply`]'s reader as it arrives (decompressed), in pieces of at
/// least 256 KiB (the decompressed frames are small, and handing each over on its own
/// cost a wake-up each), up to [`MAX_BODY`] bytes. A body over the limit, one that
/// cannot be read or one that stalls for [`BODY_IDLE`] ends with that error, after
/// what came before it.
pub(crate) async fn forward(
    mut body: axum::body::Body,
    chunks: &tokio::sync::mpsc::Sender<Result<Bytes, Response>>,
) {
    use http_body_util::BodyExt;
    const PIECE: usize = 256 * 1024;
    let mut size = 0usize;
    let mut piece: Vec<u8> = Vec::with_capacity(PIECE);
    let failure = loop {
        let Ok(frame) = tokio::time::timeout(BODY_IDLE, body.frame()).await else {
            break error_response(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("no part of the body came for {} s", BODY_IDLE.as_secs()),
            );
        };
        let data = match frame {
            None => {
                // The end: what is left, and the channel closes.
                let _ = chunks.send(Ok(Bytes::from(piece))).await;
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(e)) => {
                break error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("unreadable request body: {e}"),
                )
            }
        };
        size += data.len();
        if size > MAX_BODY {
            break error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body over {MAX_BODY} bytes"),
            );
        }
        piece.extend_from_slice(&data);
        if piece.len() >= PIECE {
            let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE));
            // A closed channel: applying stopped, and says why.
            if chunks.send(Ok(Bytes::from(full))).await.is_err() {
                return;
            }
        }
    };
    if chunks.send(Ok(Bytes::from(piece))).await.is_ok() {
        let _ = chunks.send(Err(failure)).await;
    }
}

/// Why a request of batches stopped: a batch could not be applied, or read, or the
/// body was refused (too large, too many batches, cut off).
pub(crate) enum BatchFailure {
    Applying(ServerError),
    Reading(serde_json::Error),
    Refused(Box<Response>),
}

pub(crate) fn apply(
    state: &AppState,
    caller: &Caller,
    mut received: tokio::sync::mpsc::Receiver<Result<Bytes, Response>>,
    now: i64,
    origin: &str,
) -> Result<Vec<ShortPushResponse>, BatchFailure> {
    std::thread::scope(|scope| {
        // Each batch (a `PushRequest`) with the text its changes were sent as.
        let (hand_over, batches) = std::sync::mpsc::sync_channel::<(Vec<Change>, SentTexts)>(1);
        let reader = scope.spawn(move || {
            let mut lines = Lines::default();
            let mut count = 0;
            loop {
                let chunk = received.blocking_recv();
                let end = chunk.is_none();
                if let Some(chunk) = chunk {
                    lines.add(&chunk.map_err(|r| BatchFailure::Refused(Box::new(r)))?);
                }
                while let Some(line) = lines.next(end) {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    count += 1;
                    if count > MAX_PUSH_BATCHES {
                        return Err(BatchFailure::Refused(Box::new(error_response(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "bad_request",
                            format!("a request carries at most {MAX_PUSH_BATCHES} batches"),
                        ))));
                    }
                    let batch = read_sent_blocks(line).map_err(BatchFailure::Reading)?;
                    if hand_over.send(batch).is_err() {
                        // Applying stopped, and says why.
                        return Ok(());
                    }
                }
                if end {
                    return Ok(());
                }
            }
        });
        let mut answers = Vec::new();
        let applied = (|| {
            let mut carry = None;
            while let Ok((changes, texts)) = batches.recv() {
                // Commits that do not wait for the disk; the last one is flushed
                // below, before the answer (see `tx_unsynced`).
                let (resp, carried) = state.db.tx_unsynced(|t| {
                    let pushed = engine::Pushed {
                        changes,
                        texts: Some(&texts),
                    };
                    push_batch(t, &state.clock, caller, pushed, now, origin, carry)
                })?;
                carry = Some(carried);
                answers.push(ShortPushResponse::of(resp));
            }
            state.db.flush()?;
            // What the batches carried is let go of off the answer's path.
            if let Some(carry) = carry {
                drop(tokio::task::spawn_blocking(move || drop(carry)));
            }
            Ok::<_, ServerError>(())
        })();
        // Stops the reader at its next batch when applying failed.
        drop(batches);
        let read = reader.join().map_err(|_| {
            BatchFailure::Applying(ServerError::Db("the body reader failed".into()))
        })?;
        applied.map_err(BatchFailure::Applying)?;
        read?;
        Ok(answers)
    })
}

/// A body cut into lines as its chunks arrive; each byte is looked at once.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// Where the next line starts.
    start: usize,
    /// How far the buffer was searched for its end.
    searched: usize,
}

impl Lines {
    fn add(&mut self, chunk: &[u8]) {
        // What was read goes when it is at least half the buffer: each byte moves at
        // most about once.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.searched -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line; at the `end` of the body, the rest too.
    fn next(&mut self, end: bool) -> Option<&[u8]> {
        let from = self.searched.max(self.start);
        match memchr::memchr(b'\n', &self.buf[from..]) {
            Some(i) => {
                let line = self.start..from + i;
                self.start = from + i + 1;
                self.searched = self.start;
                Some(&self.buf[line])
            }
            None if end && self.start < self.buf.len() => {
                let line = self.start..self.buf.len();
                self.start = self.buf.len();
                self.searched = self.start;
                Some(&self.buf[line])
            }
            None => {
                self.searched = self.buf.len();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    /// A body cut into chunks anywhere gives the same lines as the whole body.
    #[test]
    fn lines_come_whole_however_the_body_is_cut() {
        let long = "x".repeat(10_000);
        let body = format!("{{\"a\":1}}\n\n{long}\n{{\"b\":[2,3]}}\n{{\"last\":true}}");
        let expected = vec![
            "{\"a\":1}",
            "",
            long.as_str(),
            "{\"b\":[2,3]}",
            "{\"last\":true}",
        ];
        for size in [1, 2, 3, 7, 64, 999, 4096, body.len()] {
            let mut lines = Lines::default();
            let mut got: Vec<String> = Vec::new();
            let chunks: Vec<&[u8]> = body.as_bytes().chunks(size).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                lines.add(chunk);
                let end = i + 1 == chunks.len();
                while let Some(line) = lines.next(end) {
                    got.push(String::from_utf8_lossy(line).into_owned());
                }
            }
            assert_eq!(got, expected, "chunks of {size}");
        }
        // A body that ends with its line break has no empty last line.
        let mut lines = Lines::default();
        lines.add(b"{}\n");
        assert_eq!(lines.next(true), Some(&b"{}"[..]));
        assert_eq!(lines.next(true), None);
    }
}

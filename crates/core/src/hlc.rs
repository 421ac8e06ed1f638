//! Hybrid logical clock (Kulkarni et al.): wall time in milliseconds, a counter for
//! events within the same millisecond, and the device id as the final tie-breaker.
//!
//! The total order `(wall, counter, device)` decides last-writer-wins everywhere, so it
//! must be identical on every device and on the server. The time source is a trait so
//! that tests can run with fake, skewed or frozen clocks.

use crate::ids::DeviceId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use uuid::Uuid;

/// One timestamp of the hybrid logical clock. On the wire (and in TypeScript) it is its
/// fixed-width text form, see [`fmt::Display`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, as the clock's owner believed it.
    pub wall_ms: u64,
    /// Orders events that share a wall time.
    pub counter: u32,
    /// The device that made the timestamp; breaks the last ties deterministically.
    pub device: DeviceId,
}

impl Hlc {
    /// The smallest timestamp of a device; used as "never seen".
    pub fn zero(device: DeviceId) -> Self {
        Hlc {
            wall_ms: 0,
            counter: 0,
            device,
        }
    }
}

/// Fixed-width text form, so that comparing the strings compares the clocks
/// (SQL `ORDER BY` and `MAX` on the stored text agree with `Ord`).
impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand into a buffer: clocks are formatted for every stored field,
        // and the formatting machinery was a visible cost of bulk sync.
        let mut buf = [b'0'; HLC_TEXT_LEN];
        let digits = |out: &mut [u8], mut n: u64| {
            for b in out.iter_mut().rev() {
                *b = b'0' + (n % 10) as u8;
                n /= 10;
            }
            n == 0
        };
        if !digits(&mut buf[..15], self.wall_ms) {
            // Beyond 15 digits (not a real clock): the plain form, still sortable
            // among its own kind.
            return write!(
                f,
                "{:015}-{:010}-{}",
                self.wall_ms,
                self.counter,
                self.device.0.as_hyphenated()
            );
        }
        buf[15] = b'-';
        digits(&mut buf[16..26], u64::from(self.counter));
        buf[26] = b'-';
        self.device.0.as_hyphenated().encode_lower(&mut buf[27..]);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// Length of a clock's text form: 15 digits, `-`, 10 digits, `-`, a hyphenated UUID.
const HLC_TEXT_LEN: usize = 15 + 1 + 10 + 1 + 36;

/// Why a stored or received timestamp could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed clock value {0:?}")]
pub struct HlcParseError(pub String);

impl FromStr for Hlc {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HlcParseError(s.chars().take(80).collect());
        let mut parts = s.splitn(3, '-');
        let wall = parts.next().ok_or_else(err)?;
        let counter = parts.next().ok_or_else(err)?;
        let device = parts.next().ok_or_else(err)?;
        if wall.len() != 15 || counter.len() != 10 {
            return Err(err());
        }
        Ok(Hlc {
            wall_ms: wall.parse().map_err(|_| err())?,
            counter: counter.parse().map_err(|_| err())?,
            device: DeviceId(Uuid::parse_str(device).map_err(|_| err())?),
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where the clock reads physical time. Real devices use [`SystemTime`]; tests use
/// [`ManualTime`] to freeze, skew or advance time deterministically.
pub trait TimeSource: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemTime;

impl TimeSource for SystemTime {
    fn now_ms(&self) -> u64 {
        u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
    }
}

/// A fake clock for tests: reads whatever was last set.
#[derive(Debug, Default)]
pub struct ManualTime(AtomicU64);

impl ManualTime {
    pub fn new(ms: u64) -> Self {
        ManualTime(AtomicU64::new(ms))
    }
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl TimeSource for ManualTime {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<T: TimeSource + ?Sized> TimeSource for std::sync::Arc<T> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The clock of one device (or of the server).
pub struct Clock {
    device: DeviceId,
    time: Box<dyn TimeSource>,
    last: Mutex<Hlc>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("device", &self.device)
            .finish()
    }
}

impl Clock {
    pub fn new(device: DeviceId, time: Box<dyn TimeSource>) -> Self {
        Clock {
            device,
            time,
            last: Mutex::new(Hlc::zero(device)),
        }
    }

    /// A clock that resumes after `last` (e.g. the highest timestamp stored on disk),
    /// so that a restart never reuses a timestamp.
    pub fn resume(device: DeviceId, time: Box<dyn TimeSource>, last: Option<Hlc>) -> Self {
        let clock = Clock::new(device, time);
        if let Some(last) = last {
            clock.observe(&last);
        }
        clock
    }

    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The same time source and the same last timestamp, under another device id (a
    /// wiped device starts over as a new device; its later stamps still order after
    /// everything it stamped before).
    pub fn rename(&mut self, device: DeviceId) {
        self.device = device;
        let last = self
            .last
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.device = device;
    }

    /// Physical time of the underlying source, in milliseconds.
    pub fn physical_ms(&self) -> u64 {
        self.time.now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hlc> {
        // A poisoned lock only means another thread panicked while holding a plain value.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new timestamp for a local event, greater than every one seen before.
    pub fn now(&self) -> Hlc {
        let pt = self.time.now_ms();
        let mut last = self.lock();
        let next = if pt > last.wall_ms {
            Hlc {
                wall_ms: pt,
                counter: 0,
                device: self.device,
            }
        } else {
            Hlc {
                wall_ms: last.wall_ms,
                counter: last.counter.saturating_add(1),
                device: self.device,
            }
        };
        *last = next;
        next
    }

    /// Take in a timestamp received from elsewhere, so that later local events sort
    /// after it (causality).
    pub fn observe(&self, remote: &Hlc) {
        let mut last = self.lock();
        if (remote.wall_ms, remote.counter) > (last.wall_ms, last.counter) {
            *last = Hlc {
                wall_ms: remote.wall_ms,
                counter: remote.counter,
                device: self.device,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn text_form_is_fixed_width() {
        let d = DeviceId::new();
        for (wall_ms, counter) in [
            (0, 0),
            (1_764_254_400_000, 7),
            (999_999_999_999_999, u32::MAX),
        ] {
            let h = Hlc {
                wall_ms,
                counter,
                device: d,
            };
            let expected = format!("{wall_ms:015}-{counter:010}-{}", d.0.as_hyphenated());
            assert_eq!(h.to_string(), expected);
            assert_eq!(h.to_string().len(), HLC_TEXT_LEN);
        }
    }

    #[test]
    fn text_form_round_trips_and_sorts_like_the_clock() {
        let d = DeviceId::new();
        let a = Hlc {
            wall_ms: 9,
            counter: 12,
            device: d,
        };
        let b = Hlc {
            wall_ms: 10,
            counter: 0,
            device: d,
        };
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<Hlc>(), Ok(a));
        assert!("12-3-x".parse::<Hlc>().is_err());
    }

    #[test]
    fn timestamps_increase_even_when_time_stands_still_or_goes_back() {
        let time = Arc::new(ManualTime::new(1_000));
        let clock = Clock::new(DeviceId::new(), Box::new(time.clone()));
        let a = clock.now();
        let b = clock.now();
        time.set(500);
        let c = clock.now();
        assert!(a < b && b < c);
        assert_eq!(c.wall_ms, 1_000);
        assert_eq!(c.counter, 2);
    }

    #[test]
    fn observing_a_later_remote_clock_moves_local_events_after_it() {
        let time = Arc::new(ManualTime::new(1_000));
        let clock = Clock::new(DeviceId::new(), Box::new(time));
        let remote = Hlc {
            wall_ms: 5_000,
            counter: 7,
            device: DeviceId::new(),
        };
        clock.observe(&remote);
        let next = clock.now();
        assert!(next > remote);
        assert_eq!((next.wall_ms, next.counter), (5_000, 8));
    }
}

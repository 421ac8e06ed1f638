//! The app lock: a tablet left on a kitchen table must not show residents' data.
//!
//! The worker chooses a PIN when enrolling the device in the app. From then on the app
//! starts locked and locks itself after a spell without use (`VOORDEUR_LOCK_MINUTES`,
//! default 5); the UI also locks at once when asked. The shell enforces it: while
//! locked, every command that reads or writes resident data answers `locked`, whatever
//! the UI does. Background sync goes on.
//!
//! The PIN is kept only as an Argon2id hash in the encrypted device database. After
//! [`FREE_TRIES`] wrong PINs, each further try must wait [`WAIT_AFTER_FAILURES`].
//! A device enrolled with the CLI (support, demos) has no PIN and no lock.

use crate::error::AppError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `device_meta` key of the PIN's hash.
pub const PIN_META: &str = "pin_hash";
/// Environment variable: minutes without use before the app locks.
pub const LOCK_MINUTES_ENV: &str = "VOORDEUR_LOCK_MINUTES";
pub const DEFAULT_LOCK_AFTER: Duration = Duration::from_secs(5 * 60);
/// Environment variable: days without a completed sync after which the device refuses
/// resident data until it syncs.
pub const MAX_DAYS_ENV: &str = "VOORDEUR_MAX_DAYS_WITHOUT_SYNC";
pub const DEFAULT_MAX_DAYS: u32 = 14;

/// The days without sync allowed, from the environment (a whole number above 0).
pub fn max_days_from_env(value: Option<String>) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(DEFAULT_MAX_DAYS)
}

/// Whole days since the last completed sync (RFC 3339), if there was one.
pub fn days_since(last_sync: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let last = chrono::DateTime::parse_from_rfc3339(last_sync?).ok()?;
    Some((now - last.with_timezone(&chrono::Utc)).num_days())
}

/// Wrong PINs allowed before each further try must wait.
pub const FREE_TRIES: u32 = 5;
pub const WAIT_AFTER_FAILURES: Duration = Duration::from_secs(30);

/// The lock timeout from the environment: `VOORDEUR_LOCK_MINUTES` (fractions allowed),
/// else the default.
pub fn lock_after_from_env(value: Option<String>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|m| m.is_finite() && *m > 0.0)
        .map(|m| Duration::from_secs_f64(m * 60.0))
        .unwrap_or(DEFAULT_LOCK_AFTER)
}

/// Check a PIN's form: 5 to 12 digits.
pub fn check_pin_form(pin: &str) -> Result<(), AppError> {
    let ok = (5..=12).contains(&pin.chars().count()) && pin.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AppError::InvalidPin)
    }
}

/// The Argon2id hash of a PIN, as a PHC string.
pub fn hash_pin(pin: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| AppError::Internal("no randomness for the PIN"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| AppError::Internal("PIN salt"))?;
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AppError::Internal("hashing the PIN failed"))
}

fn pin_matches(pin: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A monotonic time source; tests pass a fake one.
pub type Now = Box<dyn Fn() -> Instant + Send + Sync>;

struct Inner {
    locked: bool,
    last_use: Instant,
    failures: u32,
    wait_until: Option<Instant>,
}

/// Lock state of the running app.
pub struct AppLock {
    after: Duration,
    now: Now,
    inner: Mutex<Inner>,
}

impl AppLock {
    /// A lock that starts locked (the app starts locked when a PIN is set).
    pub fn new(after: Duration, now: Now) -> AppLock {
        let start = now();
        AppLock {
            after,
            now,
            inner: Mutex::new(Inner {
                locked: true,
                last_use: start,
                failures: 0,
                wait_until: None,
            }),
        }
    }

    /// Time without use before the app locks.
    pub fn after(&self) -> Duration {
        self.after
    }

    fn inner(&self) -> Result<std::sync::MutexGuard<'_, Inner>, AppError> {
        self.inner
            .lock()
            .map_err(|_| AppError::Internal("the app lock is poisoned"))
    }

    /// Is the app locked now (also: has it been unused for too long)? `pin_set` false
    /// means there is nothing to lock with.
    pub fn is_locked(&self, pin_set: bool) -> Result<bool, AppError> {
        if !pin_set {
            return Ok(false);
        }
        let now = (self.now)();
        let mut inner = self.inner()?;
        if now.duration_since(inner.last_use) >= self.after {
            inner.locked = true;
        }
        Ok(inner.locked)
    }

    /// Gate of a command on resident data: `locked` while locked, else the use counts
    /// as activity.
    pub fn check(&self, pin_set: bool) -> Result<(), AppError> {
        if self.is_locked(pin_set)? {
            return Err(AppError::Locked);
        }
        let now = (self.now)();
        self.inner()?.last_use = now;
        Ok(())
    }

    /// The worker is still here (touches, typing), without a command.
    pub fn still_here(&self, pin_set: bool) -> Result<(), AppError> {
        self.check(pin_set)
    }

    pub fn lock_now(&self) -> Result<(), AppError> {
        self.inner()?.locked = true;
        Ok(())
    }

    /// Unlock with a PIN against the stored hash.
    pub fn unlock(&self, pin: &str, stored: &str) -> Result<(), AppError> {
        let now = (self.now)();
        {
            let inner = self.inner()?;
            if let Some(until) = inner.wait_until {
                if now < until {
                    let secs = until.duration_since(now).as_secs().max(1);
                    return Err(AppError::TooManyTries { seconds: secs });
                }
            }
        }
        // The slow hash runs without holding the lock.
        let ok = pin_matches(pin, stored);
        let mut inner = self.inner()?;
        if ok {
            inner.locked = false;
            inner.failures = 0;
            inner.wait_until = None;
            inner.last_use = now;
            Ok(())
        } else {
            inner.failures += 1;
            if inner.failures >= FREE_TRIES {
                inner.wait_until = Some(now + WAIT_AFTER_FAILURES);
            }
            Err(AppError::WrongPin)
        }
    }

    /// Unlocked right after the worker chose the PIN (enrolment in the app).
    pub fn unlocked_by_enrolment(&self) -> Result<(), AppError> {
        let now = (self.now)();
        let mut inner = self.inner()?;
        inner.locked = false;
        inner.last_use = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A clock the test moves by hand.
    fn fake_clock() -> (Now, Arc<Mutex<Instant>>) {
        let t = Arc::new(Mutex::new(Instant::now()));
        let read = Arc::clone(&t);
        (Box::new(move || *read.lock().expect("clock")), t)
    }

    fn advance(t: &Arc<Mutex<Instant>>, d: Duration) {
        let mut now = t.lock().expect("clock");
        *now += d;
    }

    #[test]
    fn pins_are_five_to_twelve_digits() {
        for ok in ["12345", "000000", "123456789012"] {
            assert!(check_pin_form(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1234", "12345a", "1234567890123", "12 345", "١٢٣٤٥"] {
            assert!(check_pin_form(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hash_verifies_the_pin_and_nothing_else() {
        let h = hash_pin("24680").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("24680"));
        assert!(pin_matches("24680", &h));
        assert!(!pin_matches("24681", &h));
        assert!(!pin_matches("24680", "not a hash"));
        assert_ne!(h, hash_pin("24680").expect("hash"), "salted");
    }

    #[test]
    fn starts_locked_locks_after_idle_and_counts_use() {
        let (now, t) = fake_clock();
        let lock = AppLock::new(Duration::from_secs(300), now);
        let stored = hash_pin("24680").expect("hash");
        assert!(!lock.is_locked(false).expect("state"), "no PIN, no lock");
        assert!(matches!(lock.check(true), Err(AppError::Locked)));
        lock.unlock("24680", &stored).expect("unlock");
        advance(&t, Duration::from_secs(299));
        lock.check(true).expect("in use");
        advance(&t, Duration::from_secs(299));
        lock.check(true).expect("each use resets the time");
        advance(&t, Duration::from_secs(300));
        assert!(matches!(lock.check(true), Err(AppError::Locked)));
        lock.unlock("24680", &stored).expect("unlock");
        lock.lock_now().expect("lock");
        assert!(lock.is_locked(true).expect("state"));
    }

    #[test]
    fn wrong_pins_make_the_next_tries_wait() {
        let (now, t) = fake_clock();
        let lock = AppLock::new(Duration::from_secs(300), now);
        let stored = hash_pin("24680").expect("hash");
        for _ in 0..FREE_TRIES {
            assert!(matches!(
                lock.unlock("11111", &stored),
                Err(AppError::WrongPin)
            ));
        }
        assert!(matches!(
            lock.unlock("24680", &stored),
            Err(AppError::TooManyTries { seconds: 30 })
        ));
        advance(&t, WAIT_AFTER_FAILURES);
        lock.unlock("24680", &stored).expect("after the wait");
        assert!(!lock.is_locked(true).expect("state"));
    }

    #[test]
    fn days_without_sync_are_counted_from_the_last_sync() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(days_since(None, now), None);
        assert_eq!(days_since(Some("not a time"), now), None);
        assert_eq!(days_since(Some("2026-11-27T08:00:00+01:00"), now), Some(0));
        assert_eq!(days_since(Some("2026-11-13T11:59:00Z"), now), Some(14));
        assert_eq!(max_days_from_env(None), DEFAULT_MAX_DAYS);
        assert_eq!(max_days_from_env(Some("30".into())), 30);
        assert_eq!(max_days_from_env(Some("0".into())), DEFAULT_MAX_DAYS);
    }

    #[test]
    fn the_timeout_comes_from_the_environment() {
        assert_eq!(lock_after_from_env(None), DEFAULT_LOCK_AFTER);
        assert_eq!(
            lock_after_from_env(Some("2".into())),
            Duration::from_secs(120)
        );
        assert_eq!(
            lock_after_from_env(Some("0.5".into())),
            Duration::from_secs(30)
        );
        for bad in ["0", "-1", "nan", "vijf"] {
            assert_eq!(lock_after_from_env(Some(bad.into())), DEFAULT_LOCK_AFTER);
        }
    }
}

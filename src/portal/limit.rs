//! A per-device rate limit on the portal's forms (`POST /login`, `/logout`,
//! `/quiz`), keyed by the device's MAC from the neighbour table (never by the
//! address, which a phone can change at will): a token bucket of
//! [`BURST`] posts, refilled one every [`REFILL`]. A villager tapping
//! Connect, Logout or answering the quiz never meets it; a phone posting in
//! a loop gets a fast 429 and touches neither the store nor the firewall
//! (issue 22, item 6). Monotonic time: a jump of the wall clock changes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::Mac;

/// Posts a device may make at once.
pub const BURST: u32 = 10;
/// One more post allowed this often.
pub const REFILL: Duration = Duration::from_secs(2);
/// Devices remembered at most; a full bucket is forgotten first. While this
/// many devices are all limited, a device not seen yet is limited too.
const MAX_DEVICES: usize = 4096;

/// The buckets: MAC -> (posts left, when last counted).
#[derive(Default)]
pub struct PostLimit {
    buckets: Mutex<HashMap<Mac, (f64, Instant)>>,
}

impl PostLimit {
    /// May `mac` post at `now`? Takes one post from its bucket, or says how
    /// long until it may (whole seconds, at least 1: the `Retry-After`).
    pub fn check(&self, mac: Mac, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("post limit lock");
        if buckets.len() >= MAX_DEVICES && !buckets.contains_key(&mac) {
            buckets.retain(|_, (left, at)| refill(*left, *at, now) < f64::from(BURST));
            if buckets.len() >= MAX_DEVICES {
                return Err(REFILL.as_secs().max(1));
            }
        }
        let (left, at) = buckets.entry(mac).or_insert((f64::from(BURST), now));
        let mut tokens = refill(*left, *at, now);
        *at = now;
        if tokens >= 1.0 {
            tokens -= 1.0;
            *left = tokens;
            Ok(())
        } else {
            *left = tokens;
            let wait = (1.0 - tokens) * REFILL.as_secs_f64();
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// Posts left at `now` of a bucket that had `left` at `at`.
fn refill(left: f64, at: Instant, now: Instant) -> f64 {
    let earned = now.saturating_duration_since(at).as_secs_f64() / REFILL.as_secs_f64();
    (left + earned).min(f64::from(BURST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0x77, 0, 0, 0, n])
    }

    #[test]
    fn a_burst_then_one_post_per_refill() {
        let limit = PostLimit::default();
        let t0 = Instant::now();
        for i in 0..BURST {
            assert_eq!(limit.check(mac(1), t0), Ok(()), "post {i}");
        }
        assert_eq!(limit.check(mac(1), t0), Err(2));
        assert_eq!(
            limit.check(mac(2), t0),
            Ok(()),
            "another device has its own"
        );
        assert_eq!(limit.check(mac(1), t0 + Duration::from_secs(1)), Err(1));
        assert_eq!(limit.check(mac(1), t0 + REFILL), Ok(()));
        assert!(limit.check(mac(1), t0 + REFILL).is_err());
        let later = t0 + REFILL * (BURST + 5);
        for _ in 0..BURST {
            assert_eq!(limit.check(mac(1), later), Ok(()), "full again, no more");
        }
        assert!(limit.check(mac(1), later).is_err());
    }

    #[test]
    fn many_devices_are_bounded() {
        let limit = PostLimit::default();
        let t0 = Instant::now();
        for n in 0..MAX_DEVICES as u32 {
            let m = Mac([2, 0, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
            for _ in 0..BURST {
                let _ = limit.check(m, t0);
            }
        }
        assert!(
            limit.check(mac(1), t0).is_err(),
            "all limited: a new one waits"
        );
        let later = t0 + REFILL * BURST;
        assert_eq!(limit.check(mac(1), later), Ok(()), "full buckets forgotten");
        assert_eq!(limit.buckets.lock().unwrap().len(), 1);
    }
}

//! The login rate limit, in memory, per username and per client address.
//!
//! Each key keeps the times of its recent failures. After [`SLOW_AFTER`]
//! failures every further attempt must wait (1 s, 2 s, 4 s, ... after the last
//! failure); [`LOCK_AFTER`] failures within [`WINDOW_SECS`] lock the key for
//! [`LOCK_SECS`]. An attempt that comes too early is refused without checking
//! the password, so parallel connections gain nothing and cost no argon2 work.
//! A successful login clears the username's record (not the address's: an
//! attacker who also knows one account must not reset its own address).
//!
//! In memory on purpose: a restart forgets the counters, but restarting the
//! daemon is not something an attacker on the network can do, and writing
//! every failure to flash would let one wear the router's storage.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

/// Failures a username or address may have before attempts are slowed down:
/// three typos are normal, a fourth gets a one-second pause.
pub const SLOW_AFTER: usize = 3;

/// The first pause (seconds); each further failure doubles it (1, 2, 4, ... 64 s).
pub const FIRST_DELAY_SECS: i64 = 1;

/// Failures within [`WINDOW_SECS`] that lock a username or address.
/// Ten is beyond any honest typing, and with the pauses before it an
/// attacker gets about ten guesses per 17 minutes per account.
pub const LOCK_AFTER: usize = 10;

/// How long a failure counts (seconds).
pub const WINDOW_SECS: i64 = 15 * 60;

/// How long a lock lasts (seconds): long enough to make guessing useless,
/// short enough that a locked-out admin is back before the coffee is cold.
pub const LOCK_SECS: i64 = 15 * 60;

/// Above this many tracked keys, idle ones are dropped on the next change.
const PRUNE_ABOVE: usize = 1024;

/// Usernames are tracked by at most this many bytes (the key is attacker-chosen).
const MAX_KEY: usize = 64;

#[derive(Debug, Default)]
struct Record {
    /// Unix seconds of the failures within the window, oldest first.
    failures: VecDeque<i64>,
    /// Unix seconds; locked while `now < locked_until`.
    locked_until: i64,
}

impl Record {
    fn forget_old(&mut self, now: i64) {
        while self
            .failures
            .front()
            .is_some_and(|&t| t <= now - WINDOW_SECS)
        {
            self.failures.pop_front();
        }
    }

    /// Seconds until the next attempt may be made (0: now).
    fn wait(&self, now: i64) -> i64 {
        if self.locked_until > now {
            return self.locked_until - now;
        }
        let n = self.failures.len();
        match self.failures.back() {
            Some(&last) if n >= SLOW_AFTER => {
                let delay = FIRST_DELAY_SECS << (n - SLOW_AFTER).min(20);
                (last + delay - now).max(0)
            }
            _ => 0,
        }
    }

    fn fail(&mut self, now: i64) {
        self.forget_old(now);
        self.failures.push_back(now);
        if self.failures.len() >= LOCK_AFTER {
            self.locked_until = now + LOCK_SECS;
            self.failures.clear();
        }
    }

    fn idle(&self, now: i64) -> bool {
        self.locked_until <= now && self.failures.back().is_none_or(|&t| t <= now - WINDOW_SECS)
    }
}

/// Failure records per username and per address.
#[derive(Debug, Default)]
pub struct Limiter {
    users: HashMap<String, Record>,
    addrs: HashMap<IpAddr, Record>,
}

impl Limiter {
    /// `Err(seconds)` when an attempt for `username` from `addr` must wait.
    pub fn check(&mut self, username: &str, addr: IpAddr, now: i64) -> Result<(), u64> {
        let wait = [
            wait(&mut self.users, &user_key(username), now),
            wait(&mut self.addrs, &addr_key(addr), now),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if wait > 0 {
            Err(wait as u64)
        } else {
            Ok(())
        }
    }

    /// Count a failed attempt against both.
    pub fn failed(&mut self, username: &str, addr: IpAddr, now: i64) {
        prune(&mut self.users, now);
        prune(&mut self.addrs, now);
        self.users.entry(user_key(username)).or_default().fail(now);
        self.addrs.entry(addr_key(addr)).or_default().fail(now);
    }

    /// A correct password: the username starts afresh.
    pub fn succeeded(&mut self, username: &str) {
        self.users.remove(&user_key(username));
    }
}

fn wait<K: Hash + Eq>(map: &mut HashMap<K, Record>, key: &K, now: i64) -> i64 {
    map.get_mut(key).map_or(0, |r| {
        r.forget_old(now);
        r.wait(now)
    })
}

fn prune<K>(map: &mut HashMap<K, Record>, now: i64) {
    if map.len() > PRUNE_ABOVE {
        map.retain(|_, r| !r.idle(now));
    }
}

fn user_key(username: &str) -> String {
    let mut end = username.len().min(MAX_KEY);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_owned()
}

/// IPv6 clients are counted per /64 (one household or phone has a whole /64);
/// IPv4-mapped addresses as IPv4.
fn addr_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 11));

    #[test]
    fn slows_down_after_three_then_locks_after_ten() {
        let clock = ManualClock::new(1_000_000);
        let mut l = Limiter::default();
        for _ in 0..SLOW_AFTER {
            assert_eq!(l.check("ani", A, clock.now()), Ok(()));
            l.failed("ani", A, clock.now());
        }
        // 4th attempt: 1 s after the 3rd failure, then 2, 4, ... doubling.
        let mut delay = FIRST_DELAY_SECS;
        for n in SLOW_AFTER..LOCK_AFTER {
            assert_eq!(
                l.check("ani", A, clock.now()),
                Err(delay as u64),
                "after {n} failures"
            );
            clock.advance(delay - 1);
            assert_eq!(
                l.check("ani", A, clock.now()),
                Err(1),
                "one second before the pause ends"
            );
            clock.advance(1);
            assert_eq!(
                l.check("ani", A, clock.now()),
                Ok(()),
                "after {n} failures and {delay} s"
            );
            l.failed("ani", A, clock.now());
            delay *= 2;
        }
        // The 10th failure locked it for 15 minutes.
        assert_eq!(l.check("ani", A, clock.now()), Err(LOCK_SECS as u64));
        assert_eq!(
            l.check("ani", B, clock.now()),
            Err(LOCK_SECS as u64),
            "the username is locked from any address"
        );
        assert_eq!(
            l.check("budi", A, clock.now()),
            Err(LOCK_SECS as u64),
            "the address is locked for any username"
        );
        assert_eq!(l.check("budi", B, clock.now()), Ok(()));
        clock.advance(LOCK_SECS - 1);
        assert_eq!(l.check("ani", A, clock.now()), Err(1));
        clock.advance(1);
        assert_eq!(l.check("ani", A, clock.now()), Ok(()), "the lock ends");
        l.failed("ani", A, clock.now());
        assert_eq!(
            l.check("ani", A, clock.now()),
            Ok(()),
            "and counting starts afresh"
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let clock = ManualClock::new(5_000);
        let mut l = Limiter::default();
        for _ in 0..SLOW_AFTER {
            l.failed("ani", A, clock.now());
            clock.advance(60);
        }
        assert_eq!(
            l.check("ani", A, clock.now()),
            Ok(()),
            "the 1 s pause has passed"
        );
        clock.advance(WINDOW_SECS);
        l.failed("ani", A, clock.now());
        assert_eq!(
            l.check("ani", A, clock.now()),
            Ok(()),
            "one failure in the window: no pause"
        );
    }

    #[test]
    fn success_resets_the_username_but_not_the_address() {
        let clock = ManualClock::new(5_000);
        let mut l = Limiter::default();
        for _ in 0..SLOW_AFTER {
            l.failed("ani", A, clock.now());
        }
        assert_eq!(l.check("ani", B, clock.now()), Err(1));
        l.succeeded("ani");
        assert_eq!(l.check("ani", B, clock.now()), Ok(()));
        assert_eq!(
            l.check("ani", A, clock.now()),
            Err(1),
            "the address still waits"
        );
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_mapped_v4_as_v4() {
        let clock = ManualClock::new(5_000);
        let mut l = Limiter::default();
        for i in 0..SLOW_AFTER as u16 {
            l.failed(
                &format!("u{i}"),
                IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i + 1)),
                clock.now(),
            );
        }
        assert_eq!(
            l.check("x", "2001:db8:1:2::ffff".parse().unwrap(), clock.now()),
            Err(1)
        );
        assert_eq!(
            l.check("x", "2001:db8:1:3::1".parse().unwrap(), clock.now()),
            Ok(())
        );
        for _ in 0..SLOW_AFTER {
            l.failed("y", "::ffff:192.0.2.10".parse().unwrap(), clock.now());
        }
        assert_eq!(l.check("z", A, clock.now()), Err(1));
    }

    #[test]
    fn idle_keys_are_pruned() {
        let clock = ManualClock::new(5_000);
        let mut l = Limiter::default();
        for i in 0..=PRUNE_ABOVE {
            l.failed(&format!("u{i}"), A, clock.now());
        }
        assert_eq!(l.users.len(), PRUNE_ABOVE + 1);
        clock.advance(WINDOW_SECS + LOCK_SECS);
        l.failed("late", B, clock.now());
        assert_eq!(l.users.len(), 1);
        assert_eq!(l.check(&"x".repeat(1000), A, clock.now()), Ok(()));
    }
}

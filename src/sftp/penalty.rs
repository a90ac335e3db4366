//! Failed logins, counted per source address and per user, and the bans they earn.
//!
//! Time is passed in, so that the rules can be tested without waiting. Memory is bounded:
//! past [`MAX_TRACKED`] entries, those with nothing recent are forgotten.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses (or users) whose failures are remembered.
const MAX_TRACKED: usize = 65_536;

/// When failures turn into a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// This many failures within `window`...
    pub after: u32,
    pub window: Duration,
    /// ...ban for this long.
    pub ban: Duration,
}

#[derive(Default)]
struct Record {
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
}

impl Record {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| until > now)
    }

    /// Counts a failure; true if it starts a ban.
    fn fail(&mut self, now: Instant, policy: &BanPolicy) -> bool {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= policy.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() >= policy.after as usize {
            self.failures.clear();
            self.banned_until = Some(now + policy.ban);
            return true;
        }
        false
    }

    fn stale(&self, now: Instant, policy: &BanPolicy) -> bool {
        !self.banned(now)
            && self
                .failures
                .back()
                .is_none_or(|t| now.duration_since(*t) >= policy.window)
    }
}

fn fail_in<K: Hash + Eq>(
    map: &mut HashMap<K, Record>,
    key: K,
    now: Instant,
    policy: &BanPolicy,
) -> bool {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, r| !r.stale(now, policy));
    }
    if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
        // Under a flood of distinct sources the newest is not remembered; the others stay.
        return false;
    }
    map.entry(key).or_default().fail(now, policy)
}

#[derive(Default)]
struct State {
    ips: HashMap<IpAddr, Record>,
    users: HashMap<String, Record>,
}

/// The failure counts and bans of a running server.
#[derive(Default)]
pub struct Penalties {
    state: Mutex<State>,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Banned {
    pub ip: bool,
    pub user: bool,
}

impl Penalties {
    /// Whether the address, or the user if known, is banned now.
    pub fn is_banned(&self, ip: IpAddr, user: Option<&str>, now: Instant) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ips.get(&ip).is_some_and(|r| r.banned(now))
            || user.is_some_and(|u| state.users.get(u).is_some_and(|r| r.banned(now)))
    }

    /// Counts a failed login from `ip` (and for `user`, a configured user, if given) under
    /// `policy` (the configuration in force). Unknown user names are counted against the
    /// address only, so that guessing names cannot fill memory.
    pub fn fail(&self, ip: IpAddr, user: Option<&str>, now: Instant, policy: BanPolicy) -> Banned {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ip = fail_in(&mut state.ips, ip, now, &policy);
        let user = user.is_some_and(|u| fail_in(&mut state.users, u.to_owned(), now, &policy));
        Banned { ip, user }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BanPolicy = BanPolicy {
        after: 3,
        window: Duration::from_secs(600),
        ban: Duration::from_secs(900),
    };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn failures_within_the_window_ban_until_the_ban_expires() {
        let p = Penalties::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            p.fail(ip(1), Some("u"), at(0), POLICY),
            Banned {
                ip: false,
                user: false
            }
        );
        p.fail(ip(1), Some("u"), at(10), POLICY);
        assert!(!p.is_banned(ip(1), Some("u"), at(11)));
        assert_eq!(
            p.fail(ip(1), Some("u"), at(20), POLICY),
            Banned {
                ip: true,
                user: true
            }
        );
        assert!(p.is_banned(ip(1), None, at(21)));
        assert!(
            p.is_banned(ip(2), Some("u"), at(21)),
            "the user is banned from any address"
        );
        assert!(!p.is_banned(ip(2), Some("v"), at(21)));
        assert!(p.is_banned(ip(1), None, at(20 + 899)));
        assert!(!p.is_banned(ip(1), Some("u"), at(20 + 900)));
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let p = Penalties::default();
        let t0 = Instant::now();
        p.fail(ip(1), None, t0, POLICY);
        p.fail(ip(1), None, t0 + Duration::from_secs(300), POLICY);
        let third = p.fail(ip(1), None, t0 + Duration::from_secs(600), POLICY);
        assert!(
            !third.ip,
            "the first failure is 600 s old and no longer counts"
        );
        assert!(
            p.fail(ip(1), None, t0 + Duration::from_secs(601), POLICY)
                .ip
        );
    }

    #[test]
    fn unknown_users_count_against_the_address_only() {
        let p = Penalties::default();
        let t0 = Instant::now();
        for i in 0..3 {
            p.fail(ip(1), None, t0 + Duration::from_secs(i), POLICY);
        }
        assert!(p.is_banned(ip(1), None, t0 + Duration::from_secs(3)));
        assert!(p.state.lock().unwrap().users.is_empty());
    }
}

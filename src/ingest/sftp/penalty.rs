//! Failed logins, counted per source, and the bans they earn. A source is an IPv4 address
//! or an IPv6 /64 (one host usually holds a whole /64), as OpenSSH's PerSourcePenalties
//! counts. Never per user name: anyone could then lock a municipality out by guessing its
//! name from anywhere; failures against a name are slowed down by the ban of the address
//! they come from.
//!
//! Time is passed in, so that the rules can be tested without waiting. Memory is bounded:
//! past [`MAX_TRACKED`] entries, those with nothing recent are forgotten.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most sources whose failures are remembered.
const MAX_TRACKED: usize = 65_536;

/// When failures turn into a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BanPolicy {
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

/// The source a failure is counted against: the address, or its /64 for IPv6 (an IPv4
/// address written as IPv6 counts as itself).
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

/// The failure counts and bans of a running server.
#[derive(Default)]
pub(super) struct Penalties {
    sources: Mutex<HashMap<IpAddr, Record>>,
}

impl Penalties {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the source of `ip` is banned now.
    pub(super) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock().get(&source(ip)).is_some_and(|r| r.banned(now))
    }

    /// Counts a failed login from `ip` under `policy` (the configuration in force); true if
    /// it starts a ban of its source.
    pub(super) fn fail(&self, ip: IpAddr, now: Instant, policy: BanPolicy) -> bool {
        fail_in(&mut self.lock(), source(ip), now, &policy)
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
    fn failures_within_the_window_ban_their_source_until_the_ban_expires() {
        let p = Penalties::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!p.fail(ip(1), at(0), POLICY));
        p.fail(ip(1), at(10), POLICY);
        assert!(!p.is_banned(ip(1), at(11)));
        assert!(p.fail(ip(1), at(20), POLICY));
        assert!(p.is_banned(ip(1), at(21)));
        assert!(!p.is_banned(ip(2), at(21)), "another address is not banned");
        assert!(p.is_banned(ip(1), at(20 + 899)));
        assert!(!p.is_banned(ip(1), at(20 + 900)));
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64() {
        let p = Penalties::default();
        let t0 = Instant::now();
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        p.fail(v6("2001:db8:1:2::1"), t0, POLICY);
        p.fail(v6("2001:db8:1:2::2"), t0, POLICY);
        assert!(p.fail(v6("2001:db8:1:2:ffff::9"), t0, POLICY));
        assert!(p.is_banned(v6("2001:db8:1:2::77"), t0));
        assert!(!p.is_banned(v6("2001:db8:1:3::1"), t0), "the next /64");
        // An IPv4 address in IPv6 form is that IPv4 address.
        for _ in 0..3 {
            p.fail(v6("::ffff:10.0.0.5"), t0, POLICY);
        }
        assert!(p.is_banned(ip(5), t0));
        assert!(!p.is_banned(ip(6), t0));
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let p = Penalties::default();
        let t0 = Instant::now();
        p.fail(ip(1), t0, POLICY);
        p.fail(ip(1), t0 + Duration::from_secs(300), POLICY);
        let third = p.fail(ip(1), t0 + Duration::from_secs(600), POLICY);
        assert!(
            !third,
            "the first failure is 600 s old and no longer counts"
        );
        assert!(p.fail(ip(1), t0 + Duration::from_secs(601), POLICY));
    }
}

//! Abuse limits: requests per client IP on the credential endpoints, and a
//! backoff on failed logins per account.
//!
//! On one node the per-IP limit is a GCRA limiter from `governor`. With
//! `REDIS_URL`, both limits live in Redis so every node enforces one budget.
//! When Redis cannot be reached the limits fail open (requests go through, a
//! warning is logged and [`Limits::store_errors`] counts it): an outage of the
//! limiter must never lock users out of logging in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Refused by a limit: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

/// How long a Redis call may take before the limits fail open.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After Redis was unreachable, wait this long before trying to connect again.
const REDIS_RECONNECT_PAUSE: Duration = Duration::from_secs(5);
/// Backoff keys of identifiers that match no account start with this.
pub const UNKNOWN_PREFIX: &str = "unknown:";
/// An IPv6 /48 may make this many times the per-IP budget (each of its /64s
/// has the per-IP budget of its own).
pub const IPV6_48_FACTOR: u32 = 16;
/// Most accounts whose failures one node tracks in memory.
const LOCAL_BACKOFF_CAPACITY: usize = 100_000;

/// Adds 1 to a counter whose window starts at the first hit; returns the count
/// and the milliseconds left in the window.
const INCREMENT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
";

/// The failed-login policy.
#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    /// Failures within `window` after which the account is held back.
    pub failures: u32,
    pub window: Duration,
}

pub struct Limits {
    /// Keys the backoff counters by a keyed hash of the account or typed
    /// identifier: what someone typed (possibly a password in the wrong field)
    /// is never kept, in memory or in Redis.
    counter_keys: aws_lc_rs::hmac::Key,
    per_minute: u32,
    local_per_ip: Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    /// The wider budget of an IPv6 /48.
    local_per_48: Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    backoff: Option<BackoffPolicy>,
    local_failures: Mutex<HashMap<String, (u32, Instant)>>,
    redis: Option<SharedStore>,
    store_errors: AtomicU64,
}

impl Limits {
    /// `counter_secret` keys the hashes that name backoff counters; every node
    /// sharing a Redis must use the same one.
    pub fn new(
        per_minute: u32,
        backoff: Option<BackoffPolicy>,
        redis_url: Option<&str>,
        counter_secret: &[u8],
    ) -> anyhow::Result<Self> {
        let redis = redis_url.map(SharedStore::new).transpose()?;
        let local_limiter = |rate: u32| {
            NonZeroU32::new(rate)
                .filter(|_| redis.is_none())
                .map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate)))
        };
        let local_per_ip = local_limiter(per_minute);
        let local_per_48 = local_limiter(per_minute.saturating_mul(IPV6_48_FACTOR));
        Ok(Self {
            counter_keys: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, counter_secret),
            per_minute,
            local_per_ip,
            local_per_48,
            backoff: backoff.filter(|policy| policy.failures > 0),
            local_failures: Mutex::new(HashMap::new()),
            redis,
            store_errors: AtomicU64::new(0),
        })
    }

    /// Times the shared store failed and a limit was skipped (this node, since start).
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }

    /// Counts one request from `ip` to `route`; [`Limited`] past the budget.
    ///
    /// One IPv6 host usually holds a whole /64, so an IPv6 client is counted
    /// by its /64; and since one customer often holds a /48 (65,536 /64s), the
    /// /48 has a second budget of [`IPV6_48_FACTOR`] times as many requests.
    pub async fn check_ip(&self, route: &str, ip: IpAddr) -> Result<(), Limited> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let ClientNetworks { client, wider } = client_networks(ip);
        self.check_budget(route, "ip", client, &self.local_per_ip, self.per_minute)
            .await?;
        if let Some(network) = wider {
            let budget = self.per_minute.saturating_mul(IPV6_48_FACTOR);
            self.check_budget(route, "ip48", network, &self.local_per_48, budget)
                .await?;
        }
        Ok(())
    }

    /// Counts one request against one budget: in memory, or in Redis.
    async fn check_budget(
        &self,
        route: &str,
        kind: &str,
        key: IpAddr,
        local: &Option<DefaultKeyedRateLimiter<(String, IpAddr)>>,
        per_minute: u32,
    ) -> Result<(), Limited> {
        if let Some(limiter) = local {
            return limiter
                .check_key(&(route.to_owned(), key))
                .map_err(|not_until| {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    Limited {
                        retry_after_secs: wait.as_secs() + 1,
                    }
                });
        }
        let key = format!("portcullis:{kind}:{route}:{key}");
        match self
            .shared(|store| store.increment(key, Duration::from_secs(60)))
            .await
        {
            Some((count, left)) if count > u64::from(per_minute) => Err(Limited {
                retry_after_secs: left.as_secs() + 1,
            }),
            _ => Ok(()),
        }
    }

    /// Counts a password attempt for `account` before the password is
    /// checked (so concurrent guesses cannot all slip past the check), and
    /// returns the seconds to wait if it is past the allowed failures. A
    /// correct password calls [`Limits::reset_login_failures`].
    pub async fn login_attempt(&self, account: &str) -> Option<u64> {
        let policy = self.backoff?;
        let account = &self.counter_name(account);
        let (attempts, left) = if self.redis.is_some() {
            let key = backoff_key(account);
            self.shared(|store| store.increment(key, policy.window))
                .await?
        } else {
            let mut attempts = self.local_failures.lock().ok()?;
            let now = Instant::now();
            if attempts.len() >= LOCAL_BACKOFF_CAPACITY {
                attempts.retain(|_, (_, ends)| *ends > now);
            }
            // Flooded with made-up names: keep counting real accounts.
            if attempts.len() >= LOCAL_BACKOFF_CAPACITY
                && account.starts_with(UNKNOWN_PREFIX)
                && !attempts.contains_key(account)
            {
                return None;
            }
            let entry = attempts
                .entry(account.to_owned())
                .or_insert((0, now + policy.window));
            if entry.1 <= now {
                *entry = (0, now + policy.window);
            }
            entry.0 += 1;
            (u64::from(entry.0), entry.1.saturating_duration_since(now))
        };
        (attempts > u64::from(policy.failures)).then_some(left.as_secs() + 1)
    }

    pub async fn reset_login_failures(&self, account: &str) {
        if self.backoff.is_none() {
            return;
        }
        let account = &self.counter_name(account);
        if self.redis.is_some() {
            let key = backoff_key(account);
            self.shared(|store| store.delete(key)).await;
        } else if let Ok(mut failures) = self.local_failures.lock() {
            failures.remove(account);
        }
    }

    /// The name of a backoff counter: a keyed hash of what it counts, keeping
    /// the `unknown:` mark of identifiers that match no account.
    fn counter_name(&self, account: &str) -> String {
        let (mark, counted) = match account.strip_prefix(UNKNOWN_PREFIX) {
            Some(identifier) => (UNKNOWN_PREFIX, identifier),
            None => ("", account),
        };
        let tag = aws_lc_rs::hmac::sign(&self.counter_keys, counted.as_bytes());
        let digest: String = tag.as_ref()[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{mark}{digest}")
    }

    /// Drops per-IP state that no longer limits anything (called periodically).
    pub fn forget_idle_clients(&self) {
        for limiter in [&self.local_per_ip, &self.local_per_48]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Ok(mut failures) = self.local_failures.lock() {
            let now = Instant::now();
            failures.retain(|_, (_, ends)| *ends > now);
        }
    }

    /// Runs a shared-store operation; `None` (and a warning) when it failed.
    async fn shared<T, F, Fut>(&self, operation: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let store = self.redis.as_ref()?;
        let outcome = match store.connection().await {
            Some(connection) => tokio::time::timeout(REDIS_TIMEOUT, operation(connection))
                .await
                .map_err(|_| "timed out".to_owned())
                .and_then(|result| result.map_err(|error| error.to_string())),
            None => Err("not connected".to_owned()),
        };
        match outcome {
            Ok(value) => Some(value),
            Err(error) => {
                let total = self.store_errors.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(%error, rate_limit_store_errors = total, "Redis unavailable; limits fail open");
                None
            }
        }
    }
}

/// What a client is counted as: an IPv4 address by itself, an IPv6 address
/// by its /64 (one host usually holds a whole /64 and can pick any address in
/// it), and an IPv6 client also by its /48, which one customer often holds.
/// The per-IP request limit and the per-client connection cap
/// (`web::connections`) both count by this one keying, so that changing
/// addresses within a /64 escapes neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNetworks {
    /// The IPv4 address, or the IPv6 /64's network address.
    pub client: IpAddr,
    /// The /48's network address of an IPv6 client: it gets
    /// [`IPV6_48_FACTOR`] times a client's budget.
    pub wider: Option<IpAddr>,
}

/// The networks `ip` is counted by; an IPv4 client seen through an IPv6
/// socket (`::ffff:a.b.c.d`) counts as its IPv4 address, not as one /64
/// shared by every IPv4 client.
pub fn client_networks(ip: IpAddr) -> ClientNetworks {
    match ip.to_canonical() {
        IpAddr::V6(v6) => ClientNetworks {
            client: IpAddr::V6(prefix(v6, 64)),
            wider: Some(IpAddr::V6(prefix(v6, 48))),
        },
        v4 => ClientNetworks {
            client: v4,
            wider: None,
        },
    }
}

/// The network of `address` with a prefix of `length` bits.
fn prefix(address: std::net::Ipv6Addr, length: u8) -> std::net::Ipv6Addr {
    ipnet::Ipv6Net::new(address, length).map_or(address, |network| network.network())
}

fn backoff_key(account: &str) -> String {
    format!("portcullis:login-failures:{account}")
}

/// Redis, connected lazily so that a Redis outage at start-up does not stop
/// the service, and reconnected by the connection manager after that.
struct SharedStore {
    client: redis::Client,
    connection: tokio::sync::Mutex<(Option<ConnectionManager>, Option<Instant>)>,
}

impl SharedStore {
    fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|error| anyhow::anyhow!("invalid REDIS_URL: {error}"))?;
        Ok(Self {
            client,
            connection: tokio::sync::Mutex::new((None, None)),
        })
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let mut guard = self.connection.lock().await;
        let (manager, last_failure) = &mut *guard;
        if let Some(manager) = manager {
            return Some(manager.clone());
        }
        if last_failure.is_some_and(|at| at.elapsed() < REDIS_RECONNECT_PAUSE) {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        match self.client.get_connection_manager_with_config(config).await {
            Ok(connected) => {
                *manager = Some(connected.clone());
                Some(connected)
            }
            Err(error) => {
                *last_failure = Some(Instant::now());
                tracing::warn!(%error, "cannot connect to Redis");
                None
            }
        }
    }
}

trait SharedOps {
    fn increment(
        self,
        key: String,
        window: Duration,
    ) -> impl Future<Output = redis::RedisResult<(u64, Duration)>>;
    fn delete(self, key: String) -> impl Future<Output = redis::RedisResult<()>>;
}

impl SharedOps for ConnectionManager {
    async fn increment(
        mut self,
        key: String,
        window: Duration,
    ) -> redis::RedisResult<(u64, Duration)> {
        let (count, left_ms): (u64, i64) = redis::Script::new(INCREMENT_SCRIPT)
            .key(key)
            .arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(&mut self)
            .await?;
        Ok((count, millis(left_ms)))
    }

    async fn delete(mut self, key: String) -> redis::RedisResult<()> {
        redis::cmd("DEL").arg(key).query_async(&mut self).await
    }
}

/// Redis answers -1/-2 for a key without expiry or a missing key.
fn millis(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0))
}

//! ratelimit: a token bucket per client IP; over the limit, weir answers 429 with
//! `Retry-After` and the upstream never sees the request.
//!
//! Config: `{ rate = 10.0, burst = 20 }`: `rate` tokens per second refill each bucket,
//! up to `burst`; each request takes one.
//!
//! Hooks run concurrently on several threads, so the buckets sit behind locks. A key
//! design decision: the map is split into shards by address hash, so clients on
//! different shards never contend, and each check holds one lock for a few
//! arithmetic steps — never across anything that can block.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;
use weir_plugin::{Action, Plugin, Request};

const SHARDS: usize = 16;
/// Past this many clients in one shard, full (idle) buckets are forgotten.
const SHARD_CAP: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    rate: f64,
    burst: u32,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimit {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl RateLimit {
    /// Takes a token for `ip` at `now`: `Ok` or `Err(seconds until one is back)`.
    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut h = DefaultHasher::new();
        ip.hash(&mut h);
        let shard = &self.shards[h.finish() as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SHARD_CAP && !map.contains_key(&ip) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

impl Plugin for RateLimit {
    const NAME: &'static std::ffi::CStr = c"ratelimit";
    type Config = Config;
    type State = ();

    fn new(c: Config) -> Result<Self, String> {
        if !(c.rate.is_finite() && c.rate > 0.0) {
            return Err(format!("rate must be a positive number, got {}", c.rate));
        }
        if c.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        Ok(RateLimit {
            rate: c.rate,
            burst: f64::from(c.burst),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    fn on_request(&self, _: &mut (), req: &mut Request<'_>) -> Action {
        let Some(ip) = req.client_ip() else {
            return Action::Continue;
        };
        match self.take(ip, Instant::now()) {
            Ok(()) => Action::Continue,
            Err(wait) => {
                let wait = wait.to_string();
                let headers = [
                    ("Retry-After", wait.as_str()),
                    ("Content-Type", "text/plain"),
                ];
                req.respond(429, &headers, b"too many requests\n")
            }
        }
    }
}

weir_plugin::export!(RateLimit);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(rate: f64, burst: u32) -> RateLimit {
        RateLimit::new(Config { rate, burst }).unwrap()
    }

    #[test]
    fn burst_then_refill() {
        let r = limiter(2.0, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(r.take(ip, t0), Ok(()));
        assert_eq!(r.take(ip, t0), Ok(()));
        assert_eq!(r.take(ip, t0), Ok(()));
        assert_eq!(r.take(ip, t0), Err(1));
        assert_eq!(r.take(ip, t0 + Duration::from_millis(500)), Ok(()));
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(r.take(other, t0), Ok(()));
    }

    #[test]
    fn exact_under_threads() {
        let r = limiter(0.001, 100);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let now = Instant::now();
        let ok: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..50).filter(|_| r.take(ip, now).is_ok()).count()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(ok, 100);
    }
}

//! The `balancer` built-in: picks an upstream with the configured algorithm and says why.
//!
//! Only healthy servers not yet tried for this request are offered to the algorithm.
//! When none is left, weir fails open: it tries the least recently failed server not yet
//! tried, rather than failing every request (Envoy's panic threshold at 0%), and says
//! `fail-open` in the log. If a chain has no balancer, one is appended at the end.

use super::{hash_key, Ctx, Hooks, Middleware};
use crate::balance::{Algorithm, Reason};
use crate::config::HashKey;
use crate::http::RequestHead;
use crate::upstream::{was_tried, Upstreams};

/// One algorithm per upstream group, each with its own state (a round-robin position
/// per group), picked by the request's [`Ctx::group`].
pub struct Balancer {
    groups: Vec<(Box<dyn Algorithm>, Option<HashKey>)>,
}

impl Balancer {
    /// A balancer with `algorithm`, hashing `key` when the algorithm uses one.
    pub fn new(algorithm: Box<dyn Algorithm>, key: Option<HashKey>) -> Self {
        Balancer {
            groups: vec![(algorithm, key)],
        }
    }

    /// A balancer for several groups, in group order.
    pub fn per_group(groups: Vec<(Box<dyn Algorithm>, Option<HashKey>)>) -> Self {
        Balancer { groups }
    }
}

/// The least recently failed server not yet tried, drained nor unlisted; `None` when
/// none is left.
fn fail_open(upstreams: &Upstreams, tried: u64) -> Option<usize> {
    let out = |i: usize| {
        let s = upstreams.state(i);
        s.is_drained() || s.is_unlisted()
    };
    (0..upstreams.len())
        // A drained server takes no new request, even when every other one is down.
        .filter(|&i| !was_tried(tried, i) && !out(i))
        .min_by_key(|&i| upstreams.state(i).last_fail())
}

impl Middleware for Balancer {
    fn name(&self) -> &str {
        "balancer"
    }

    fn hooks(&self) -> Hooks {
        Hooks::SELECT_UPSTREAM
    }

    fn select_upstream(
        &self,
        cx: &mut Ctx,
        req: &RequestHead,
        upstreams: &Upstreams,
    ) -> Option<usize> {
        let (algorithm, key) = self.groups.get(cx.group)?;
        let view = upstreams.view(cx.tried);
        let mut ip = [0u8; 48];
        let key = key
            .as_ref()
            .and_then(|k| hash_key::extract(k, cx, req, &mut ip));
        if let Some((i, reason)) = algorithm.pick(&view, key) {
            cx.reason = Some(reason);
            return Some(i);
        }
        let i = fail_open(upstreams, cx.tried)?;
        cx.reason = Some(Reason::FailOpen);
        Some(i)
    }
}

//! The `balancer` built-in: picks an upstream with the configured algorithm.
//! If a chain has none, one is appended at the end, so every chain can route.

use super::{Ctx, Middleware};
use crate::balance::RoundRobin;
use crate::http::RequestHead;
use crate::upstream::Upstreams;

pub struct Balancer {
    rr: RoundRobin,
}

impl Balancer {
    /// Round-robin over `upstreams`, honouring their weights.
    pub fn round_robin(upstreams: &Upstreams) -> Self {
        let weights: Vec<u32> = upstreams.iter().map(|u| u.weight).collect();
        Balancer {
            rr: RoundRobin::new(&weights),
        }
    }
}

impl Middleware for Balancer {
    fn name(&self) -> &str {
        "balancer"
    }

    fn select_upstream(
        &self,
        _cx: &mut Ctx,
        _req: &RequestHead,
        _upstreams: &Upstreams,
    ) -> Option<usize> {
        self.rr.pick()
    }
}

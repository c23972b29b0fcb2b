//! The chain calls only the hooks a middleware says it has, and still counts places in
//! the whole chain: a local reply's responder, `on_response`'s `upto`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::*;

/// Records every hook it is called for, declared or not, as `name.hook`.
struct Probe {
    name: &'static str,
    hooks: Option<Hooks>,
    respond: bool,
    pick: Option<usize>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn record(&self, hook: &str) {
        let call = format!("{}.{hook}", self.name);
        self.calls.lock().unwrap().push(call);
    }
}

impl Middleware for Probe {
    fn name(&self) -> &str {
        self.name
    }

    fn hooks(&self) -> Hooks {
        self.hooks.unwrap_or(Hooks::ALL)
    }

    fn on_request(&self, _cx: &mut Ctx, _req: &mut RequestHead) -> Flow {
        self.record("req");
        match self.respond {
            true => Flow::Respond(Response::new(204)),
            false => Flow::Continue,
        }
    }

    fn select_upstream(&self, _cx: &mut Ctx, _: &RequestHead, _: &Upstreams) -> Option<usize> {
        self.record("select");
        self.pick
    }

    fn on_response(&self, _cx: &mut Ctx, _res: &mut ResponseHead) {
        self.record("res");
    }

    fn on_complete(&self, _cx: &Ctx, _summary: &Summary<'_>) {
        self.record("done");
    }
}

/// A chain of probes, each `(name, hooks)`; `None` hooks leaves the default. The probe
/// named `r` answers locally, the one named `p` picks server 1.
fn chain(probes: &[(&'static str, Option<Hooks>)]) -> (Chain, Arc<Mutex<Vec<String>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let list = probes
        .iter()
        .map(|&(name, hooks)| {
            let probe = Probe {
                name,
                hooks,
                respond: name == "r",
                pick: (name == "p").then_some(1),
                calls: calls.clone(),
            };
            Arc::new(probe) as Arc<dyn Middleware>
        })
        .collect();
    (Chain::new(list), calls)
}

fn taken(calls: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *calls.lock().unwrap())
}

fn cx() -> Ctx {
    Ctx::new(SocketAddr::from(([127, 0, 0, 1], 1)))
}

#[test]
fn a_middleware_without_on_request_is_skipped_and_the_next_one_runs() {
    let no_request = Some(Hooks::ON_RESPONSE | Hooks::ON_COMPLETE);
    let (chain, calls) = chain(&[("a", no_request), ("b", None)]);
    let mut req = RequestHead::default();
    assert!(chain.on_request(&mut cx(), &mut req).is_ok());
    assert_eq!(taken(&calls), ["b.req"]);
}

#[test]
fn a_local_reply_names_its_place_in_the_whole_chain() {
    let skip = Some(Hooks::ON_COMPLETE);
    let (chain, calls) = chain(&[("a", skip), ("b", skip), ("r", None), ("c", None)]);
    let mut req = RequestHead::default();
    let Err((responder, reply)) = chain.on_request(&mut cx(), &mut req) else {
        panic!("r answers");
    };
    assert_eq!((responder, reply.status), (2, 204));
    assert_eq!(taken(&calls), ["r.req"]);
}

#[test]
fn on_response_runs_back_to_front_over_the_first_upto_by_place() {
    let response = Some(Hooks::ON_RESPONSE);
    let probes = [
        ("a", response),
        ("b", Some(Hooks::NONE)),
        ("c", None),
        ("d", response),
    ];
    let (chain, calls) = chain(&probes);
    let mut res = ResponseHead::default();
    chain.on_response(&mut cx(), &mut res, 4);
    assert_eq!(taken(&calls), ["d.res", "c.res", "a.res"]);
    chain.on_response(&mut cx(), &mut res, 3);
    assert_eq!(taken(&calls), ["c.res", "a.res"]);
    chain.on_response(&mut cx(), &mut res, 2);
    assert_eq!(taken(&calls), ["a.res"]);
    chain.on_response(&mut cx(), &mut res, 0);
    assert!(taken(&calls).is_empty());
    chain.on_response(&mut cx(), &mut res, 9);
    assert_eq!(taken(&calls), ["d.res", "c.res", "a.res"]);
}

#[test]
fn select_and_complete_call_only_who_has_them() {
    let select = Some(Hooks::SELECT_UPSTREAM);
    let probes = [
        ("a", Some(Hooks::ON_COMPLETE)),
        ("b", select),
        ("p", select),
    ];
    let (chain, calls) = chain(&probes);
    let upstreams = Upstreams::with_slots(Vec::new(), 2);
    let req = RequestHead::default();
    assert_eq!(chain.select_upstream(&mut cx(), &req, &upstreams), Some(1));
    assert_eq!(taken(&calls), ["b.select", "p.select"]);
    let summary = Summary {
        request: &req,
        status: 200,
        upstream: None,
        bytes_in: 0,
        bytes_out: 0,
        duration: Default::default(),
        upstream_time: None,
        error: None,
        route: "-",
        upstream_group: "-",
        grpc_status: None,
    };
    chain.on_complete(&cx(), &summary);
    assert_eq!(taken(&calls), ["a.done"]);
}

#[test]
fn a_middleware_that_says_nothing_has_every_hook() {
    let (chain, calls) = chain(&[("a", None)]);
    let mut req = RequestHead::default();
    let mut res = ResponseHead::default();
    let upstreams = Upstreams::with_slots(Vec::new(), 1);
    assert!(chain.on_request(&mut cx(), &mut req).is_ok());
    assert_eq!(chain.select_upstream(&mut cx(), &req, &upstreams), None);
    chain.on_response(&mut cx(), &mut res, 1);
    assert_eq!(taken(&calls), ["a.req", "a.select", "a.res"]);
}

//! A lookup's answer applied to its group: slots filled, kept or unlisted, and the
//! change said once in the log.

use std::net::SocketAddr;
use std::time::SystemTime;

use super::{servers, Found, SLOTS_PER_NAME};
use crate::upstream::group::Group;

/// Applies name `k`'s `answer` to `group`: a good one sets the name's servers, a
/// failed one keeps them.
pub(super) fn answer(group: &Group, k: usize, answer: Result<Vec<Found>, String>) {
    let mut names = group.names.lock().unwrap_or_else(|p| p.into_inner());
    let status = &mut names[k];
    let name = status.name();
    status.looked_up = Some(SystemTime::now());
    let found = match answer {
        Ok(found) => found,
        Err(why) => {
            if !status.failing {
                let kept = status.addrs.len();
                eprintln!(
                    "weir: upstream group {:?}: lookup of {name} failed: {why}; keeping the last {kept} address(es)",
                    group.name()
                );
            }
            status.failing = true;
            status.result = why;
            return;
        }
    };
    if status.failing && status.resolved {
        eprintln!(
            "weir: upstream group {:?}: lookup of {name} answers again",
            group.name()
        );
    }
    let (want, dropped) = servers(&found);
    let (joined, left) = place(group, k, &want);
    let want: Vec<SocketAddr> = want.iter().map(|f| f.addr).collect();
    if !joined.is_empty() || !left.is_empty() {
        eprintln!(
            "weir: upstream group {:?}: {name} is now {} (joined: {}; left: {})",
            group.name(),
            list(&want),
            list(&joined),
            list(&left)
        );
        for a in &joined {
            group
                .stats
                .events
                .note("joined", a.to_string(), format!("DNS: {name}"));
        }
        for a in &left {
            group
                .stats
                .events
                .note("left", a.to_string(), format!("DNS: {name}"));
        }
    }
    status.addrs = want;
    status.resolved = true;
    status.failing = false;
    status.result = match dropped {
        0 => "ok".into(),
        n => format!("ok; {n} more address(es) than the name's {SLOTS_PER_NAME} slots left out"),
    };
}

/// Puts the addresses `want` into name `k`'s slots. A slot whose address is wanted
/// stays (or is listed again: its state is kept); one whose address is not is
/// unlisted, and its idle connections closed; a new address takes an empty slot, else
/// one unlisted with nothing in flight, whose health and counters start afresh.
/// Returns the addresses that joined and left.
fn place(group: &Group, k: usize, found: &[Found]) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let base = group.config.servers.len() + k * SLOTS_PER_NAME;
    let slots = base..base + SLOTS_PER_NAME;
    let up = &group.upstreams;
    let mut list = up.snapshot().to_vec();
    let want: Vec<SocketAddr> = found.iter().map(|f| f.addr).collect();
    if found.iter().any(|f| f.priority != 0) {
        up.set_prioritised();
    }
    let used = |a: &SocketAddr| a.port() != 0;
    let (mut joined, mut left, mut listed) = (Vec::new(), Vec::new(), Vec::new());
    for i in slots.clone() {
        if !up.state(i).is_unlisted() && !want.contains(&list[i].addr) {
            up.state(i).set_unlisted(true);
            group.pool.forget(i);
            group.h2.forget(i);
            left.push(list[i].addr);
        }
    }
    for f in found {
        let a = f.addr;
        if let Some(i) = slots.clone().find(|&i| list[i].addr == a) {
            list[i].weight = f.weight;
            up.state(i).set_priority(f.priority);
            if up.state(i).is_unlisted() {
                listed.push(i);
                joined.push(a);
            }
            continue;
        }
        let reusable = |i: &usize| {
            let s = up.state(*i);
            s.is_unlisted() && s.in_flight() == 0 && !want.contains(&list[*i].addr)
        };
        let empty = slots.clone().find(|&i| !used(&list[i].addr));
        // None: every other slot still has requests in flight; the next lookup retries.
        let Some(i) = empty.or_else(|| slots.clone().find(reusable)) else {
            continue;
        };
        if used(&list[i].addr) {
            up.state(i).reset_health();
            group.stats.reset(i);
        }
        list[i].addr = a;
        list[i].weight = f.weight;
        up.state(i).set_priority(f.priority);
        listed.push(i);
        joined.push(a);
    }
    // The new addresses are in place before any request may pick their slots.
    up.replace(list);
    for i in listed {
        up.state(i).set_unlisted(false);
    }
    (joined, left)
}

fn list(addrs: &[SocketAddr]) -> String {
    match addrs.is_empty() {
        true => "none".into(),
        false => addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

//! One name's servers now: each name its search list makes of it tried in turn
//! (`search`), each asked of the nameservers in turn, until one gives addresses.

use std::net::SocketAddr;

use super::{dns, search, system, Found, LOOKUP_TIMEOUT};
use crate::config::{NameEntry, Resolver};

/// The servers `entry` names now, and the smallest TTL on the way to them: its
/// addresses on its port with its weight, or for an SRV name each record's target's
/// addresses with the record's port, weight (0 counts as 1) and priority.
pub(super) fn find(
    entry: &NameEntry,
    resolver: &Resolver,
) -> Result<(Vec<Found>, Option<u32>), String> {
    let (search, ndots) = search::list(resolver);
    let names = search::candidates(&entry.host, entry.absolute, &search, ndots);
    let servers = &resolver.nameservers;
    let mut failed = Vec::new();
    for name in &names {
        let found = match entry.srv {
            true => find_srv(name, servers),
            false => find_host(name, entry, servers),
        };
        match found {
            Ok(found) => return Ok(found),
            Err(why) => failed.push((name, why)),
        }
    }
    match &failed[..] {
        [(_, why)] => Err(why.clone()),
        _ => {
            let each = failed.iter().map(|(name, why)| format!("{name}: {why}"));
            let each: Vec<String> = each.collect();
            Err(format!("every name searched failed: {}", each.join("; ")))
        }
    }
}

/// The addresses of `name` on `entry`'s port, with its weight.
fn find_host(
    name: &str,
    entry: &NameEntry,
    nameservers: &[SocketAddr],
) -> Result<(Vec<Found>, Option<u32>), String> {
    let found = lookup(name, nameservers)?;
    let (weight, priority) = (entry.weight, 0);
    let servers = found.ips.into_iter().map(|ip| Found {
        addr: SocketAddr::new(ip, entry.port),
        weight,
        priority,
    });
    Ok((servers.collect(), found.ttl))
}

/// The SRV records of `name`, each target's addresses (targets are absolute names).
fn find_srv(name: &str, nameservers: &[SocketAddr]) -> Result<(Vec<Found>, Option<u32>), String> {
    let system = system::nameservers();
    let servers = match nameservers.is_empty() {
        true => &system[..],
        false => nameservers,
    };
    let (targets, mut ttl) = first_answer(servers, |s| dns::lookup_srv(name, s, LOOKUP_TIMEOUT))?;
    let mut out = Vec::new();
    let mut why = None;
    for t in targets {
        match lookup(&t.host, nameservers) {
            Ok(found) => {
                ttl = dns::min_ttl(ttl, found.ttl);
                out.extend(found.ips.into_iter().map(|ip| Found {
                    addr: SocketAddr::new(ip, t.port),
                    weight: u32::from(t.weight.max(1)),
                    priority: t.priority,
                }));
            }
            Err(e) => why = Some(format!("SRV target {}: {e}", t.host)),
        }
    }
    match (out.is_empty(), why) {
        (true, Some(why)) => Err(why),
        _ => Ok((out, ttl)),
    }
}

/// `host`'s addresses: from `nameservers` in turn, or the system's hosts file and
/// nameservers when none are configured.
fn lookup(host: &str, nameservers: &[SocketAddr]) -> dns::Answer {
    if !nameservers.is_empty() {
        return first_answer(nameservers, |s| dns::lookup(host, s, LOOKUP_TIMEOUT));
    }
    let listed = system::hosts(host);
    if !listed.is_empty() {
        let ttl = None; // the file has none: looked up again after `resolve_max`
        return Ok(dns::Addrs { ips: listed, ttl });
    }
    first_answer(&system::nameservers(), |s| {
        dns::lookup(host, s, LOOKUP_TIMEOUT)
    })
}

/// Asks each nameserver in turn until one answers; else the last one's failure.
fn first_answer<T>(
    servers: &[SocketAddr],
    ask: impl Fn(SocketAddr) -> Result<T, String>,
) -> Result<T, String> {
    let mut why = String::from("no nameserver");
    for &server in servers {
        match ask(server) {
            Ok(found) => return Ok(found),
            Err(e) => why = format!("{e} (nameserver {server})"),
        }
    }
    Err(why)
}

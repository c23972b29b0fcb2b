//! One name's A and AAAA (or SRV) lookup over UDP, with `simple-dns` encoding the queries and
//! decoding the answers.
//!
//! Blocking sockets with a read timeout, on discovery's own thread (never an executor
//! thread). Both queries go out at once on one socket; answers are matched by id and
//! by the nameserver they came from. A truncated answer (TC set) is asked again over
//! TCP (`tcp`, RFC 7766), within the same timeout.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

use super::tcp;

/// What one lookup found: the addresses, or why there are none.
pub(crate) type Answer = Result<Addrs, String>;

/// A name's addresses, and how long they may be kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Addrs {
    pub ips: Vec<IpAddr>,
    /// The smallest TTL of the records, in seconds (`None`: no TTL, as from
    /// `/etc/hosts`).
    pub ttl: Option<u32>,
}

/// The smaller of two TTLs, where `None` means none was given.
pub(crate) fn min_ttl(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One SRV record (RFC 2782): where, and how much of the service's traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SrvTarget {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host, looked up for its addresses.
    pub host: String,
}

/// Asks `server` for the A and AAAA records of `host`, waiting `timeout` at most.
/// Addresses from either query count; with none, the first failure is the reason.
pub(crate) fn lookup(host: &str, server: SocketAddr, timeout: Duration) -> Answer {
    let [a, aaaa] = ask(host, server, timeout, [TYPE::A, TYPE::AAAA], addresses);
    merge([a, aaaa], server)
}

/// Asks `server` for the SRV records of `name`; with their smallest TTL.
pub(crate) fn lookup_srv(
    name: &str,
    server: SocketAddr,
    timeout: Duration,
) -> Result<(Vec<SrvTarget>, Option<u32>), String> {
    let [answer] = ask(name, server, timeout, [TYPE::SRV], targets);
    let found = answer.unwrap_or_else(|| Err(format!("no answer from {server} in time")))?;
    match found.0.is_empty() {
        true => Err("the name has no SRV record".into()),
        false => Ok(found),
    }
}

/// The smallest TTL of the records in `p`'s answer section that `keep` picks.
fn ttl_of(p: &Packet<'_>, keep: impl Fn(&RData<'_>) -> bool) -> Option<u32> {
    p.answers
        .iter()
        .filter(|rr| keep(&rr.rdata))
        .map(|rr| rr.ttl)
        .min()
}

/// Sends one query per type in `qtypes` for `host` on one socket and reads the answers
/// with `read` (`None`: none came in time).
fn ask<T, const N: usize>(
    host: &str,
    server: SocketAddr,
    timeout: Duration,
    qtypes: [TYPE; N],
    read: fn(&Packet<'_>) -> Result<T, String>,
) -> [Option<Result<T, String>>; N] {
    let mut answers: [Option<Result<T, String>>; N] = std::array::from_fn(|_| None);
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => return answers.map(|_| Some(Err(format!("cannot open a UDP socket: {e}")))),
    };
    let ids = query_ids::<N>();
    let mut queries: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    for (k, qtype) in qtypes.into_iter().enumerate() {
        let sent = query(ids[k], host, qtype).and_then(|q| {
            let sent = socket.send_to(&q, server);
            queries[k] = q;
            sent.map_err(|e| format!("cannot reach nameserver {server}: {e}"))
        });
        if let Err(why) = sent {
            return answers.map(|_| Some(Err(why.clone())));
        }
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while answers.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            break;
        };
        if from != server {
            continue; // not the server asked: ignored, like any resolver does
        }
        let Ok(packet) = Packet::parse(&buf[..n]) else {
            continue;
        };
        let Some(k) = ids.iter().position(|&id| id == packet.id()) else {
            continue;
        };
        answers[k] = Some(match packet.has_flags(PacketFlag::TRUNCATION) {
            true => tcp::ask(&queries[k], server, deadline)
                .and_then(|bytes| read_answer(&bytes, ids[k], read)),
            false => rcode(&packet).and_then(|()| read(&packet)),
        });
    }
    answers
}

/// Reads a whole answer that came over TCP to the query `id`.
fn read_answer<T>(
    bytes: &[u8],
    id: u16,
    read: fn(&Packet<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let packet = Packet::parse(bytes).map_err(|e| format!("a malformed answer over TCP: {e}"))?;
    if packet.id() != id {
        return Err("an answer over TCP to another query".into());
    }
    rcode(&packet).and_then(|()| read(&packet))
}

/// Random, distinct query ids (a guess at them lets an off-path attacker forge
/// answers).
fn query_ids<const N: usize>() -> [u16; N] {
    let r = RandomState::new().hash_one(Instant::now());
    std::array::from_fn(|k| (r as u16).wrapping_add(k as u16 * 0x9e37))
}

fn query(id: u16, host: &str, qtype: TYPE) -> Result<Vec<u8>, String> {
    let name = Name::new(host).map_err(|e| format!("{host:?} is not a valid name: {e}"))?;
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let q = Question::new(name, QTYPE::TYPE(qtype), QCLASS::CLASS(CLASS::IN), false);
    p.questions.push(q);
    p.build_bytes_vec()
        .map_err(|e| format!("cannot encode a query for {host:?}: {e}"))
}

/// The answer's error code, if it is an error.
fn rcode(p: &Packet<'_>) -> Result<(), String> {
    if !p.has_flags(PacketFlag::RESPONSE) {
        return Err("a query came back instead of an answer".into());
    }
    match p.rcode() {
        RCODE::NoError => Ok(()),
        RCODE::NameError => Err("NXDOMAIN (no such name)".into()),
        RCODE::ServerFailure => Err("SERVFAIL".into()),
        RCODE::Refused => Err("REFUSED".into()),
        other => Err(format!("{other:?}")),
    }
}

/// The addresses in one answer, with the smallest TTL of the chain to them.
fn addresses(p: &Packet<'_>) -> Answer {
    let ips = p.answers.iter().filter_map(|rr| match &rr.rdata {
        RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
        RData::AAAA(a) => Some(IpAddr::V6(Ipv6Addr::from(a.address))),
        _ => None, // CNAMEs: the chain's addresses come in the same answer
    });
    let chain = |r: &RData<'_>| matches!(r, RData::A(_) | RData::AAAA(_) | RData::CNAME(_));
    Ok(Addrs {
        ips: ips.collect(),
        ttl: ttl_of(p, chain),
    })
}

/// The SRV records in one answer, with their smallest TTL.
fn targets(p: &Packet<'_>) -> Result<(Vec<SrvTarget>, Option<u32>), String> {
    let srv = p.answers.iter().filter_map(|rr| match &rr.rdata {
        RData::SRV(s) => Some(SrvTarget {
            priority: s.priority,
            weight: s.weight,
            port: s.port,
            host: s
                .target
                .to_string()
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        }),
        _ => None,
    });
    let ttl = ttl_of(p, |r| matches!(r, RData::SRV(_)));
    Ok((srv.collect(), ttl))
}

/// The A and AAAA answers as one: their addresses (A first) and smallest TTL, else the
/// reason none came.
fn merge(answers: [Option<Answer>; 2], server: SocketAddr) -> Answer {
    let (mut ips, mut ttl) = (Vec::new(), None);
    let mut why = None;
    for a in answers {
        match a {
            Some(Ok(found)) if !found.ips.is_empty() => {
                ips.extend(found.ips);
                ttl = min_ttl(ttl, found.ttl);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => why = why.or(Some(e)),
            None => why = why.or(Some(format!("no answer from {server} in time"))),
        }
    }
    match (ips.is_empty(), why) {
        (false, _) => Ok(Addrs { ips, ttl }),
        (true, Some(why)) => Err(why),
        (true, None) => Err("the name has no A or AAAA record".into()),
    }
}

//! One name's A and AAAA lookup over UDP, with `simple-dns` encoding the queries and
//! decoding the answers.
//!
//! Blocking sockets with a read timeout, on discovery's own thread (never an executor
//! thread). Both queries go out at once on one socket; answers are matched by id and
//! by the nameserver they came from. No TCP fallback: a truncated answer gives the
//! addresses it holds (more than fit in 512 bytes is more than a group's slots).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

/// What one lookup found: the addresses, or why there are none.
pub(crate) type Answer = Result<Vec<IpAddr>, String>;

/// Asks `server` for the A and AAAA records of `host`, waiting `timeout` at most.
/// Addresses from either query count; with none, the first failure is the reason.
pub(crate) fn lookup(host: &str, server: SocketAddr, timeout: Duration) -> Answer {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    let ids = query_ids();
    for (id, qtype) in ids.iter().zip([TYPE::A, TYPE::AAAA]) {
        let query = query(*id, host, qtype)?;
        socket
            .send_to(&query, server)
            .map_err(|e| format!("cannot reach nameserver {server}: {e}"))?;
    }
    let deadline = Instant::now() + timeout;
    let mut answers: [Option<Answer>; 2] = [None, None];
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
        if let Some(k) = ids.iter().position(|&id| id == packet.id()) {
            answers[k] = Some(read(&packet));
        }
    }
    merge(answers, server)
}

/// Two random query ids (a guess at them lets an off-path attacker forge answers).
fn query_ids() -> [u16; 2] {
    let r = RandomState::new().hash_one(Instant::now());
    let a = r as u16;
    let b = (r >> 16) as u16;
    [a, if b == a { a.wrapping_add(1) } else { b }]
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

/// The addresses in one answer, or its error code.
fn read(p: &Packet<'_>) -> Answer {
    if !p.has_flags(PacketFlag::RESPONSE) {
        return Err("a query came back instead of an answer".into());
    }
    match p.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Err("NXDOMAIN (no such name)".into()),
        RCODE::ServerFailure => return Err("SERVFAIL".into()),
        RCODE::Refused => return Err("REFUSED".into()),
        other => return Err(format!("{other:?}")),
    }
    let ips = p.answers.iter().filter_map(|rr| match &rr.rdata {
        RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
        RData::AAAA(a) => Some(IpAddr::V6(Ipv6Addr::from(a.address))),
        _ => None, // CNAMEs: the chain's addresses come in the same answer
    });
    Ok(ips.collect())
}

/// The A and AAAA answers as one: their addresses (A first), else the reason none came.
fn merge(answers: [Option<Answer>; 2], server: SocketAddr) -> Answer {
    let mut ips = Vec::new();
    let mut why = None;
    for a in answers {
        match a {
            Some(Ok(found)) => ips.extend(found),
            Some(Err(e)) => why = why.or(Some(e)),
            None => why = why.or(Some(format!("no answer from {server} in time"))),
        }
    }
    match (ips.is_empty(), why) {
        (false, _) => Ok(ips),
        (true, Some(why)) => Err(why),
        (true, None) => Err("the name has no A or AAAA record".into()),
    }
}

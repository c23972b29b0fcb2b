//! A DNS server the test controls: UDP and TCP (RFC 7766 framing) on one 127.0.0.1
//! port, answering each name as the test last said (A records, SERVFAIL, NXDOMAIN, or
//! silence), so weir's discovery can be watched following a service as it changes.
//! Queries other than A (AAAA) get an empty NOERROR answer, as a zone without IPv6
//! records gives. It counts the queries and keeps the names asked, and can truncate
//! its UDP answers (TC set, no records) so that only TCP gets them whole.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use simple_dns::rdata::{RData, A, SRV};
use simple_dns::{Name, Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};

/// What the server says for a name.
#[derive(Clone, Debug)]
pub enum Zone {
    /// These A records, with the server's TTL (1 s unless `set_ttl`).
    A(Vec<Ipv4Addr>),
    ServFail,
    NxDomain,
    /// No answer at all (a nameserver down or unreachable).
    Silent,
    /// SRV records: (priority, weight, port, target).
    Srv(Vec<(u16, u16, u16, String)>),
}

pub struct DnsServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Queries received so far (every type, UDP and TCP).
    pub queries: Arc<AtomicUsize>,
}

/// What the UDP and TCP sides share.
#[derive(Default)]
struct State {
    zone: Mutex<HashMap<String, Zone>>,
    queries: Arc<AtomicUsize>,
    /// The TTL of every record, in seconds.
    ttl: AtomicU32,
    /// Whether UDP answers with records come truncated.
    truncate: AtomicBool,
    /// Queries that came over TCP.
    tcp_queries: AtomicUsize,
    /// Every name asked, in order.
    asked: Mutex<Vec<String>>,
}

impl DnsServer {
    /// Starts the server; names not set get NXDOMAIN.
    pub fn start() -> DnsServer {
        let (socket, listener) = bind_both();
        let addr = socket.local_addr().unwrap();
        let state = Arc::new(State::default());
        state.ttl.store(1, Ordering::SeqCst);
        let s = state.clone();
        thread::spawn(move || serve_udp(socket, s));
        let s = state.clone();
        thread::spawn(move || serve_tcp(listener, s));
        DnsServer {
            addr,
            queries: state.queries.clone(),
            state,
        }
    }

    /// From the next query on, records have this TTL.
    pub fn set_ttl(&self, seconds: u32) {
        self.state.ttl.store(seconds, Ordering::SeqCst);
    }

    /// From the next query on, UDP answers with records come truncated (TC set, no
    /// records), as a nameserver does when they do not fit; TCP answers are whole.
    pub fn set_truncating(&self, on: bool) {
        self.state.truncate.store(on, Ordering::SeqCst);
    }

    /// How many queries came over TCP.
    pub fn tcp_queries(&self) -> usize {
        self.state.tcp_queries.load(Ordering::SeqCst)
    }

    /// Every name asked so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.state.asked.lock().unwrap().clone()
    }

    /// From the next query on, `name` is answered with `zone`.
    pub fn set(&self, name: &str, zone: Zone) {
        let name = name.to_string();
        self.state.zone.lock().unwrap().insert(name, zone);
    }

    /// `name` has these 127.0.0.x addresses.
    pub fn set_hosts(&self, name: &str, last_octets: &[u8]) {
        let ips = last_octets
            .iter()
            .map(|&o| Ipv4Addr::new(127, 0, 0, o))
            .collect();
        self.set(name, Zone::A(ips));
    }
}

/// A UDP socket and a TCP listener on one free port of 127.0.0.1.
fn bind_both() -> (UdpSocket, TcpListener) {
    loop {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        if let Ok(listener) = TcpListener::bind(addr) {
            return (socket, listener);
        }
    }
}

fn serve_udp(socket: UdpSocket, state: Arc<State>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        if let Some(bytes) = answer(&buf[..n], &state, true) {
            let _ = socket.send_to(&bytes, from);
        }
    }
}

fn serve_tcp(listener: TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { return };
        let state = state.clone();
        thread::spawn(move || serve_conn(conn, &state));
    }
}

/// Answers each length-prefixed query on one connection until the client closes it.
fn serve_conn(mut conn: TcpStream, state: &State) {
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut query).is_err() {
            return;
        }
        state.tcp_queries.fetch_add(1, Ordering::SeqCst);
        let Some(bytes) = answer(&query, state, false) else {
            continue;
        };
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        if conn.write_all(&framed).is_err() {
            return;
        }
    }
}

/// The answer to one query, as the zone says (`None`: silence).
fn answer(bytes: &[u8], state: &State, udp: bool) -> Option<Vec<u8>> {
    let query = Packet::parse(bytes).ok()?;
    state.queries.fetch_add(1, Ordering::SeqCst);
    let q = query.questions.first()?;
    let name = q
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    state.asked.lock().unwrap().push(name.clone());
    let said = state.zone.lock().unwrap().get(&name).cloned();
    let ttl = state.ttl.load(Ordering::SeqCst);
    let mut reply = Packet::new_reply(query.id());
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    reply.questions.push(q.clone());
    match said.unwrap_or(Zone::NxDomain) {
        Zone::Silent => return None,
        Zone::ServFail => *reply.rcode_mut() = RCODE::ServerFailure,
        Zone::NxDomain => *reply.rcode_mut() = RCODE::NameError,
        Zone::A(ips) if q.qtype == QTYPE::TYPE(TYPE::A) => {
            for ip in ips {
                let rdata = RData::A(A { address: ip.into() });
                let rr = ResourceRecord::new(q.qname.clone(), CLASS::IN, ttl, rdata);
                reply.answers.push(rr);
            }
        }
        Zone::A(_) => {}
        Zone::Srv(records) if q.qtype == QTYPE::TYPE(TYPE::SRV) => {
            for (priority, weight, port, target) in &records {
                let target = Name::new_unchecked(target).into_owned();
                let rdata = RData::SRV(SRV {
                    priority: *priority,
                    weight: *weight,
                    port: *port,
                    target,
                });
                let rr = ResourceRecord::new(q.qname.clone(), CLASS::IN, ttl, rdata);
                reply.answers.push(rr);
            }
        }
        Zone::Srv(_) => {}
    }
    if udp && state.truncate.load(Ordering::SeqCst) && !reply.answers.is_empty() {
        reply.answers.clear();
        reply.set_flags(PacketFlag::TRUNCATION);
    }
    reply.build_bytes_vec().ok()
}

/// The group's first name's entry in weir's `/api/upstreams` (admin listener `admin`).
pub fn name_status(admin: SocketAddr) -> serde_json::Value {
    let v = super::admin::json(admin, "/api/upstreams");
    v["groups"][0]["names"][0].clone()
}

//! A DNS server the test controls: UDP on 127.0.0.1:0, answering each name as the test
//! last said (A records, SERVFAIL, NXDOMAIN, or silence), so weir's discovery can be
//! watched following a service as it changes. Queries other than A (AAAA) get an
//! empty NOERROR answer, as a zone without IPv6 records gives.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
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
    zone: Arc<Mutex<HashMap<String, Zone>>>,
    /// Queries received so far (every type).
    pub queries: Arc<AtomicUsize>,
    /// The TTL of every record, in seconds.
    ttl: Arc<AtomicU32>,
}

impl DnsServer {
    /// Starts the server; names not set get NXDOMAIN.
    pub fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<HashMap<String, Zone>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let ttl = Arc::new(AtomicU32::new(1));
        let (z, q, t) = (zone.clone(), queries.clone(), ttl.clone());
        thread::spawn(move || serve(socket, z, q, t));
        DnsServer {
            addr,
            zone,
            queries,
            ttl,
        }
    }

    /// From the next query on, records have this TTL.
    pub fn set_ttl(&self, seconds: u32) {
        self.ttl.store(seconds, Ordering::SeqCst);
    }

    /// From the next query on, `name` is answered with `zone`.
    pub fn set(&self, name: &str, zone: Zone) {
        self.zone.lock().unwrap().insert(name.to_string(), zone);
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

fn serve(
    socket: UdpSocket,
    zone: Arc<Mutex<HashMap<String, Zone>>>,
    queries: Arc<AtomicUsize>,
    ttl: Arc<AtomicU32>,
) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        let Ok(query) = Packet::parse(&buf[..n]) else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let Some(q) = query.questions.first() else {
            continue;
        };
        let name = q
            .qname
            .to_string()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let said = zone.lock().unwrap().get(&name).cloned();
        let ttl = ttl.load(Ordering::SeqCst);
        let mut reply = Packet::new_reply(query.id());
        reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
        reply.questions.push(q.clone());
        match said.unwrap_or(Zone::NxDomain) {
            Zone::Silent => continue,
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
        if let Ok(bytes) = reply.build_bytes_vec() {
            let _ = socket.send_to(&bytes, from);
        }
    }
}

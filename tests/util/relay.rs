//! A TCP relay in front of an origin that a test can freeze: it forwards bytes both
//! ways until [`Relay::freeze`], then drops everything the origin sends (a peer or
//! path gone silent while the connection stays open: no FIN, no RST). It counts the
//! connections it relays and the HTTP/2 PING frames the client side sends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

#[derive(Clone)]
pub struct Relay {
    pub addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    pings: Arc<AtomicUsize>,
}

impl Relay {
    /// From now on nothing the origin sends reaches the client.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// PING frames (not acknowledgements) the client side has sent, on all connections.
    pub fn pings(&self) -> usize {
        self.pings.load(Ordering::SeqCst)
    }
}

/// A relay on 127.0.0.1:0 to `origin` (runs until the test process ends).
pub fn start(origin: SocketAddr) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = Relay {
        addr: listener.local_addr().unwrap(),
        frozen: Arc::default(),
        connections: Arc::default(),
        pings: Arc::default(),
    };
    let r = relay.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(origin) else {
                continue;
            };
            r.connections.fetch_add(1, Ordering::SeqCst);
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let pings = r.pings.clone();
            thread::spawn(move || copy(client, server, None, Some(&pings)));
            let frozen = r.frozen.clone();
            thread::spawn(move || copy(s2, c2, Some(&frozen), None));
        }
    });
    relay
}

/// Copies `from` to `to` until either ends; drops the bytes while `frozen`; counts
/// PING frames in an h2 client's byte stream into `pings`.
fn copy(
    mut from: TcpStream,
    mut to: TcpStream,
    frozen: Option<&AtomicBool>,
    pings: Option<&AtomicUsize>,
) {
    let mut frames = Frames::default();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(p) = pings {
            p.fetch_add(frames.pings_in(&buf[..n]), Ordering::SeqCst);
        }
        if frozen.is_some_and(|f| f.load(Ordering::SeqCst)) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Reads an h2 client's bytes as frames: the 24-byte preface, then 9-byte frame
/// headers and their payloads.
#[derive(Default)]
struct Frames {
    seen: Vec<u8>,
    preface_done: bool,
}

impl Frames {
    /// PING frames without the ACK flag that end in `bytes` (added to what came before).
    fn pings_in(&mut self, bytes: &[u8]) -> usize {
        self.seen.extend_from_slice(bytes);
        if !self.preface_done {
            if self.seen.len() < 24 {
                return 0;
            }
            self.seen.drain(..24);
            self.preface_done = true;
        }
        let mut pings = 0;
        while self.seen.len() >= 9 {
            let len = u32::from_be_bytes([0, self.seen[0], self.seen[1], self.seen[2]]) as usize;
            if self.seen.len() < 9 + len {
                break;
            }
            let (kind, flags) = (self.seen[3], self.seen[4]);
            if kind == 6 && flags & 1 == 0 {
                pings += 1;
            }
            self.seen.drain(..9 + len);
        }
        pings
    }
}

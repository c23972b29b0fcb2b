//! The text of the addresses a thread logged last, kept so the next line copies it.
//!
//! A proxy sends its requests to a handful of upstream servers, and often sees the same
//! few client addresses (a load balancer or CDN in front, a browser's burst of requests),
//! so its access log writes the same texts line after line. nginx keeps them as text too:
//! a connection's client address from accept on, each upstream's name from start-up.
//! Formatting an IPv4 `ip:port` costs ~136 instructions (callgrind), an IP ~77; finding
//! a kept text and copying it costs a fraction of that. Each thread keeps the last
//! [`UPSTREAMS`] upstream addresses and [`CLIENTS`] client IPs it logged, replaced in
//! turn; IPv6 addresses are formatted each time, as before.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::text;

/// Upstream addresses kept per thread: a group's servers, or several groups' few.
const UPSTREAMS: usize = 8;
/// Client IPs kept per thread: a miss costs a scan this long on top of formatting.
const CLIENTS: usize = 2;
/// Room for the longest kept text, `255.255.255.255:65535` (21 bytes), copied whole.
const ROOM: usize = 24;

/// Up to `N` addresses' texts, each found by its key ([`upstream_key`], [`client_key`]:
/// an integer compare, never 0, which marks a free slot); a new one replaces the oldest.
struct Kept<const N: usize> {
    keys: [u64; N],
    texts: [[u8; ROOM]; N],
    lens: [u8; N],
    next: usize,
}

impl<const N: usize> Kept<N> {
    const EMPTY: Self = Kept {
        keys: [0; N],
        texts: [[0; ROOM]; N],
        lens: [0; N],
        next: 0,
    };

    /// Appends `key`'s text: the kept copy if there is one, else what `format` appends,
    /// which is then kept.
    fn append(&mut self, line: &mut Vec<u8>, key: u64, format: impl FnOnce(&mut Vec<u8>)) {
        let slot = match self.keys.iter().position(|&k| k == key) {
            Some(slot) => slot,
            None => return self.format_and_keep(line, key, format),
        };
        // One fixed-size copy, cut back to the text: no `memcpy` call.
        let start = line.len();
        line.extend_from_slice(&self.texts[slot]);
        line.truncate(start + usize::from(self.lens[slot]));
    }

    #[cold]
    fn format_and_keep(&mut self, line: &mut Vec<u8>, key: u64, format: impl FnOnce(&mut Vec<u8>)) {
        let start = line.len();
        format(line);
        let text = &line[start..];
        let slot = self.next;
        self.next = (slot + 1) % N;
        self.keys[slot] = key;
        self.texts[slot][..text.len()].copy_from_slice(text);
        self.lens[slot] = text.len() as u8;
    }
}

struct Recent {
    upstreams: Kept<UPSTREAMS>,
    clients: Kept<CLIENTS>,
}

/// An IPv4 `ip:port` as one integer: the address, the port, and a bit above both.
fn upstream_key(addr: SocketAddrV4) -> u64 {
    1 << 48 | u64::from(addr.ip().to_bits()) << 16 | u64::from(addr.port())
}

/// An IPv4 address as one integer: the address and a bit above it.
fn client_key(ip: Ipv4Addr) -> u64 {
    1 << 32 | u64::from(ip.to_bits())
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent { upstreams: Kept::EMPTY, clients: Kept::EMPTY })
    };
}

/// Appends an upstream's `ip:port` as `Display` shows it.
pub fn upstream(line: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => RECENT.with_borrow_mut(|r| {
            r.upstreams
                .append(line, upstream_key(v4), |line| text::socket_addr(line, addr))
        }),
        SocketAddr::V6(_) => text::socket_addr(line, addr),
    }
}

/// Appends a client's IP as `Display` shows it.
pub fn client(line: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let key = client_key(v4);
            RECENT.with_borrow_mut(|r| r.clients.append(line, key, |line| text::ip(line, ip)))
        }
        IpAddr::V6(_) => text::ip(line, ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut line = b"x ".to_vec();
        f(&mut line);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn kept_texts_read_as_freshly_formatted_ones() {
        // More addresses than are kept, each asked for several times, in turns that
        // make both hits and replacements: every text must be the address's own.
        let addrs: Vec<SocketAddr> = (0..3 * UPSTREAMS as u16)
            .map(|i| SocketAddr::from(([10, 0, (i * 37) as u8, 255], 1 + i * 2_800)))
            .chain(["[::1]:8080".parse().unwrap()])
            .collect();
        for stride in [1, 1, 3, 5, 1] {
            for i in 0..addrs.len() {
                let addr = addrs[(i * stride) % addrs.len()];
                assert_eq!(made(|l| upstream(l, addr)), format!("x {addr}"));
                assert_eq!(made(|l| client(l, addr.ip())), format!("x {}", addr.ip()));
            }
        }
        let longest: SocketAddr = "255.255.255.255:65535".parse().unwrap();
        for _ in 0..2 {
            assert_eq!(made(|l| upstream(l, longest)), format!("x {longest}"));
        }
    }
}

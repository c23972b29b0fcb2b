//! Appending numbers, addresses and escaped text to a line without `core::fmt`.
//!
//! `write!` went through `core::fmt`'s machinery for every field, and an IPv4 address
//! alone cost some 1,400 instructions that way (callgrind): most of the log's cost per
//! request. These helpers write the common cases directly and fall back to `Display`
//! for the rare ones (IPv6, bytes that need escaping), so the output is the same.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Appends `n` in decimal.
pub fn number(line: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.extend_from_slice(&digits[at..]);
}

/// Up to `N` bytes gathered on the stack, so an address costs one append to the line,
/// not one per octet.
struct Small<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Small<N> {
    fn new() -> Self {
        Small {
            bytes: [0; N],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// `n` (below 100,000) in decimal.
    fn number(&mut self, n: u32) {
        let mut started = false;
        for div in [10_000, 1000, 100, 10] {
            let d = n / div % 10;
            started |= d != 0;
            if started {
                self.push(b'0' + d as u8);
            }
        }
        self.push(b'0' + (n % 10) as u8);
    }

    fn ipv4(&mut self, ip: Ipv4Addr) {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.number(u32::from(octet));
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Appends an address as `Display` shows it.
pub fn ip(line: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut s = Small::<15>::new();
            s.ipv4(v4);
            line.extend_from_slice(s.as_slice());
        }
        IpAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// Appends `ip:port` (`[ip]:port` for IPv6), as `Display` shows it.
pub fn socket_addr(line: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            let mut s = Small::<21>::new();
            s.ipv4(*a.ip());
            s.push(b':');
            s.number(u32::from(a.port()));
            line.extend_from_slice(s.as_slice());
        }
        SocketAddr::V6(a) => {
            let _ = write!(line, "{a}");
        }
    }
}

/// Appends `bytes` as `str::escape_default` shows them (lossily decoded first), with
/// a fast path for what nearly every header and target is: printable ASCII with
/// nothing that it escapes.
pub fn escaped(line: &mut Vec<u8>, bytes: &[u8]) {
    let plain = |&b: &u8| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\'' | b'\\');
    if bytes.iter().all(plain) {
        line.extend_from_slice(bytes);
    } else {
        let _ = write!(line, "{}", String::from_utf8_lossy(bytes).escape_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut line = Vec::new();
        f(&mut line);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn each_helper_writes_what_display_does() {
        for n in [0, 7, 10, 200, 65_535, u64::MAX] {
            assert_eq!(made(|l| number(l, n)), n.to_string());
        }
        for addr in [
            "127.0.0.1:80",
            "0.0.0.0:0",
            "10.100.1.200:10000",
            "1.2.3.4:1",
            "255.10.0.9:65535",
            "[::1]:8080",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(made(|l| socket_addr(l, addr)), addr.to_string());
            assert_eq!(made(|l| ip(l, addr.ip())), addr.ip().to_string());
        }
        for text in ["/a?b=c", "x\"y", "it's", "back\\slash", "tab\t", "é", ""] {
            let want = text.escape_default().to_string();
            assert_eq!(made(|l| escaped(l, text.as_bytes())), want);
        }
        assert_eq!(made(|l| escaped(l, b"\xff")), "\\u{fffd}");
    }
}

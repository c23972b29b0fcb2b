//! Appending numbers, addresses and escaped text to a line without `core::fmt`.
//!
//! `write!` went through `core::fmt`'s machinery for every field, and an IPv4 address
//! alone cost some 1,400 instructions that way (callgrind): most of the log's cost per
//! request. These helpers write the common cases directly and fall back to `Display`
//! for the rare ones (IPv6, bytes that need escaping), so the output is the same.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `00` to `99`: a status or a port is written two digits a step, as `itoa` does.
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// `0` to `255` as its digits then a dot, left-aligned, and how many digits: an
/// address's octet is one lookup and one fixed-size store.
const OCTETS: [[u8; 5]; 256] = {
    let mut t = [[0; 5]; 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = (
            b'0' + (i / 100) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        );
        t[i] = match i {
            0..=9 => [u, b'.', 0, 0, 1],
            10..=99 => [d, u, b'.', 0, 2],
            _ => [h, d, u, b'.', 3],
        };
        i += 1;
    }
    t
};

/// Appends `n` in decimal.
pub fn number(line: &mut Vec<u8>, n: u64) {
    line.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `n`'s three digits, if it has three (as every HTTP status weir sends does).
pub fn three_digits(n: u16) -> Option<[u8; 3]> {
    (100..1000).contains(&n).then(|| {
        let [b, c] = PAIRS[usize::from(n % 100)];
        [b'0' + (n / 100) as u8, b, c]
    })
}

/// Appends `bytes`, with a fixed-size copy (no `memcpy` call) when they are `N` long,
/// as a time stamp or a protocol's name always is.
pub fn fixed<const N: usize>(line: &mut Vec<u8>, bytes: &[u8]) {
    match <&[u8; N]>::try_from(bytes) {
        Ok(exact) => line.extend_from_slice(exact),
        Err(_) => line.extend_from_slice(bytes),
    }
}

/// Appends an IPv4 address. Each octet's digits and a dot are stored at once into a
/// 16-byte array, at most 4 bytes each, which goes to the line in one fixed-size copy,
/// cut back to the address (the last dot off): 63 instructions an address
/// (callgrind), where appending octet by octet was 86.
fn ipv4(line: &mut Vec<u8>, ip: Ipv4Addr) {
    let mut out = [0u8; 16];
    let mut at = 0;
    for octet in ip.octets() {
        let [a, b, c, d, digits] = OCTETS[usize::from(octet)];
        out[at..at + 4].copy_from_slice(&[a, b, c, d]);
        at += usize::from(digits & 3) + 1;
    }
    let start = line.len();
    line.extend_from_slice(&out);
    line.truncate(start + at - 1);
}

/// Appends a port: its five digits worked out with two table lookups, then as many
/// as it has, each width a fixed-size copy.
fn port(line: &mut Vec<u8>, port: u16) {
    let n = usize::from(port);
    let [a] = [b'0' + (n / 10_000) as u8];
    let [b, c] = PAIRS[n / 100 % 100];
    let [d, e] = PAIRS[n % 100];
    match n {
        0..=9 => line.push(e),
        10..=99 => line.extend_from_slice(&[d, e]),
        100..=999 => line.extend_from_slice(&[c, d, e]),
        1000..=9999 => line.extend_from_slice(&[b, c, d, e]),
        _ => line.extend_from_slice(&[a, b, c, d, e]),
    }
}

/// Appends an address as `Display` shows it.
pub fn ip(line: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => ipv4(line, v4),
        IpAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// Appends `ip:port` (`[ip]:port` for IPv6), as `Display` shows it.
pub fn socket_addr(line: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            ipv4(line, *a.ip());
            line.push(b':');
            port(line, a.port());
        }
        SocketAddr::V6(a) => {
            let _ = write!(line, "{a}");
        }
    }
}

/// The bytes `escape_default` leaves as they are: printable ASCII but quotes and
/// backslash. A table, so the check is one load a byte.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        t[b as usize] = !matches!(b, b'"' | b'\'' | b'\\');
        b += 1;
    }
    t
};

/// Appends `bytes` as `str::escape_default` shows them (lossily decoded first), with
/// a fast path for what nearly every header and target is: printable ASCII with
/// nothing that it escapes.
/// Inlined, and the escaping kept out of line, so the common case costs no call.
#[inline]
pub fn escaped(line: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.iter().all(|&b| PLAIN[usize::from(b)]) {
        line.extend_from_slice(bytes);
    } else {
        escape(line, bytes);
    }
}

#[cold]
#[inline(never)]
fn escape(line: &mut Vec<u8>, bytes: &[u8]) {
    let _ = write!(line, "{}", String::from_utf8_lossy(bytes).escape_default());
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
        let powers = (0..20).flat_map(|e| [10u64.pow(e) - 1, 10u64.pow(e)]);
        for n in (0..=1000).chain(powers).chain([65_535, u64::MAX]) {
            assert_eq!(made(|l| number(l, n)), n.to_string());
        }
        for n in [0, 7, 99, 100, 200, 404, 999, 1000, u16::MAX] {
            let three = three_digits(n).map(|d| String::from_utf8(d.to_vec()).unwrap());
            assert_eq!(three, Some(n.to_string()).filter(|s| s.len() == 3));
        }
        let ports = [0, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 65_535];
        for (octet, port) in (0..=255).zip(ports.into_iter().cycle()) {
            let addr = SocketAddr::from(([octet, 255 - octet, 0, octet], port));
            assert_eq!(made(|l| socket_addr(l, addr)), addr.to_string());
            let addr = SocketAddr::from(([octet, 1, 10, 100], u16::from(octet) * 257));
            assert_eq!(made(|l| socket_addr(l, addr)), addr.to_string());
            assert_eq!(made(|l| ip(l, addr.ip())), addr.ip().to_string());
        }
        assert_eq!(made(|l| fixed::<3>(l, b"abc")), "abc");
        assert_eq!(made(|l| fixed::<3>(l, b"abcd")), "abcd");
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

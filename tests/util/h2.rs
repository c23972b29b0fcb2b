//! A raw HTTP/2 client, frame by frame: exactly the bytes a test means to send (HPACK
//! literals, never indexed), for requests no well-behaved client library will make.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A frame: length, type, flags, stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// A header block of HPACK literals (never indexed, new names): exactly these bytes.
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.push(0x10);
        b.push(name.len() as u8);
        b.extend(name.as_bytes());
        b.push(value.len() as u8);
        b.extend(value.as_bytes());
    }
    b
}

pub const END_STREAM_AND_HEADERS: u8 = 0x1 | 0x4;

/// Reads frames until one of `stream` answers: `Some(type)` of that frame (1 HEADERS,
/// 3 RST_STREAM), or 7 for a GOAWAY, or `None` if the connection ends first.
pub fn answer(s: &mut TcpStream, stream: u32) -> Option<u8> {
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        s.read_exact(&mut payload).ok()?;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        match head[3] {
            7 => return Some(7),
            kind @ (1 | 3) if id == stream => return Some(kind),
            _ => {}
        }
    }
}

/// Opens an h2c connection and sends one request of `fields` on stream 1.
pub fn send_raw(addr: SocketAddr, fields: &[(&str, &str)]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, b""));
    out.extend(frame(1, END_STREAM_AND_HEADERS, 1, &block(fields)));
    s.write_all(&out).unwrap();
    s
}

pub const GOOD: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "a.test"),
    (":path", "/ok"),
];

/// Reads frames until a GOAWAY (true) or the end of the connection (false).
pub fn goaway(s: &mut TcpStream) -> bool {
    loop {
        let mut head = [0u8; 9];
        if s.read_exact(&mut head).is_err() {
            return false;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        if s.read_exact(&mut payload).is_err() {
            return false;
        }
        if head[3] == 7 {
            return true;
        }
    }
}

/// A frame as read: type, flags, stream id, payload.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const GOAWAY: u8 = 7;
/// Frame flags: END_STREAM (DATA, HEADERS) and ACK (SETTINGS, PING) share a bit.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// GOAWAY and RST_STREAM codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0;
pub const REFUSED_STREAM: u32 = 7;
pub const CANCEL: u32 = 8;
pub const ENHANCE_YOUR_CALM: u32 = 11;

/// Each frame's type, payload length and whether it ends its stream: what a test of
/// how a stream ends compares.
pub fn frame_kinds(frames: &[Frame]) -> Vec<(u8, usize, bool)> {
    frames
        .iter()
        .map(|f| (f.kind, f.payload.len(), f.flags & END_STREAM != 0))
        .collect()
}

/// The next frame, or `None` once the connection ends (or the read times out).
pub fn read_frame(s: &mut impl Read) -> Option<Frame> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// Reads frames until one `matches`; `None` if the connection ends first.
pub fn until(s: &mut TcpStream, matches: impl Fn(&Frame) -> bool) -> Option<Frame> {
    std::iter::from_fn(|| read_frame(s)).find(|f| matches(f))
}

/// The error code of the GOAWAY weir sends, once the connection has then ended:
/// `None` if it ended without one.
pub fn goaway_code(s: &mut TcpStream) -> Option<u32> {
    let f = until(s, |f| f.kind == GOAWAY)?;
    let code = u32::from_be_bytes(f.payload[4..8].try_into().unwrap());
    // Nothing but the end of the connection may follow.
    while read_frame(s).is_some() {}
    Some(code)
}

/// The code of a RST_STREAM frame.
pub fn reset_code(f: &Frame) -> u32 {
    u32::from_be_bytes(f.payload[..4].try_into().unwrap())
}

/// Opens an h2c connection: the preface and a SETTINGS frame of `settings` (id, value).
pub fn open(addr: SocketAddr, settings: &[(u16, u32)]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut payload = Vec::new();
    for (id, value) in settings {
        payload.extend(id.to_be_bytes());
        payload.extend(value.to_be_bytes());
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &payload));
    s.write_all(&out).unwrap();
    s
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first` (RFC 7541 §5.1).
pub fn integer(first: u8, n: u32, mut value: usize) -> Vec<u8> {
    let max = (1usize << n) - 1;
    if value < max {
        return vec![first | value as u8];
    }
    let mut out = vec![first | max as u8];
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
    out
}

/// A literal field with a new name, of any length; `index` adds it to the dynamic
/// table (RFC 7541 §6.2.1), else it is never indexed.
pub fn literal(name: &str, value: &str, index: bool) -> Vec<u8> {
    let mut b = vec![if index { 0x40 } else { 0x10 }];
    b.extend(integer(0, 7, name.len()));
    b.extend(name.as_bytes());
    b.extend(integer(0, 7, value.len()));
    b.extend(value.as_bytes());
    b
}

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

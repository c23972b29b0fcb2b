//! A blocking raw HTTP/1.1 client: bytes out, parsed response in, nothing hidden.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One response as received.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The interim (1xx) responses received before this one, in order.
    pub interim: Vec<Resp>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection with a read buffer kept across responses (for keep-alive and
/// pipelining).
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::from(TcpStream::connect(addr).expect("connect"))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Reads one response; `head_request` says the body is empty whatever the headers.
    pub fn read(&mut self, head_request: bool) -> Option<Resp> {
        read_response(&mut self.reader, head_request)
    }

    /// Sends a request and reads its response.
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes);
        self.read(bytes.starts_with(b"HEAD ")).expect("a response")
    }

    /// True once the server has closed the connection (EOF, not a timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(n) => n == 0,
            // A reset is a close too; a read timeout is not.
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

/// A connection already open, reads timing out after 20 s.
impl From<TcpStream> for Conn {
    fn from(s: TcpStream) -> Conn {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn {
            reader: BufReader::new(s),
        }
    }
}

/// `GET path HTTP/1.1` with a Host header, keep-alive.
/// A burst: `n` clients connect and each sends `GET /` before any reads, then every one
/// must be answered 200 with `body`. The connections are returned, still open.
pub fn burst(addr: SocketAddr, n: usize, body: &str) -> Vec<Conn> {
    let mut clients: Vec<Conn> = (0..n).map(|_| Conn::open(addr)).collect();
    for c in &mut clients {
        c.send(&get("/"));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.read(false);
        let r = r.unwrap_or_else(|| panic!("client {i} got no response"));
        assert_eq!((r.status, r.text().as_str()), (200, body), "client {i}");
    }
    clients
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// Opens a connection, sends `bytes`, reads one response.
pub fn once(addr: SocketAddr, bytes: &[u8]) -> Resp {
    Conn::open(addr).roundtrip(bytes)
}

fn line(r: &mut impl BufRead) -> Option<String> {
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// Reads one response (status line, headers, body by its framing); `None` on EOF
/// before a status line.
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> Option<Resp> {
    let status_line = line(r)?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let l = line(r)?;
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        interim: Vec::new(),
    };
    if (100..200).contains(&status) {
        let mut last = read_response(r, head_request)?; // interim: read the final one
        last.interim.insert(0, resp);
        return Some(last);
    }
    if head_request || status == 204 || status == 304 {
        return Some(resp);
    }
    if resp.header("transfer-encoding").is_some() {
        resp.body = read_chunked(r)?;
    } else if let Some(n) = resp.header("content-length") {
        let mut body = vec![0; n.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Decodes a chunked body (strictly enough for tests).
pub fn read_chunked(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size = line(r)?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            while !line(r)?.is_empty() {}
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).ok()?;
        line(r)?;
    }
}

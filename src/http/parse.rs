//! Reading and parsing heads with httparse, the production way.
//!
//! A fixed, uninitialised header array (no per-parse zeroing), `Partial` means "read
//! more", and hard caps on head size and header count. The parsed slices are copied into
//! the connection's reusable [`RequestHead`], so the read buffer is free for the body;
//! the fields in one piece when they arrived as canonical lines.

use std::mem::MaybeUninit;
use std::ops::Range;

use futures_lite::AsyncRead;

use super::conn::Conn;
use super::head::{RequestHead, ResponseHead};
use super::headers::Headers;
use super::protocol::Protocol;
use crate::error::{Error, Kind};

/// The most headers any head may carry; `limits.max_headers` may only lower it.
pub const MAX_HEADERS: usize = 256;

/// Size and count caps on one head.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    pub max_bytes: usize,
    pub max_headers: usize,
}

type Slots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

fn slots<'b>() -> Slots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Parses a request head from the front of `buf`: `Ok(Some(len))` when complete,
/// `Ok(None)` when more bytes are needed.
pub fn request(
    buf: &[u8],
    limits: HeadLimits,
    head: &mut RequestHead,
) -> Result<Option<usize>, Error> {
    match parse_request(buf, limits, head) {
        Err(httparse::Error::Version) => other_version(buf, limits, head),
        parsed => Ok(parsed?),
    }
}

fn parse_request(
    buf: &[u8],
    limits: HeadLimits,
    head: &mut RequestHead,
) -> Result<Option<usize>, httparse::Error> {
    let mut storage = slots();
    let mut req = httparse::Request::new(&mut []);
    let n = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        buf,
        &mut storage[..limits.max_headers.min(MAX_HEADERS)],
    )? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    head.clear();
    head.method.push_str(req.method.unwrap_or_default());
    head.target.push_str(req.path.unwrap_or_default());
    head.protocol = Protocol::from_h1_minor(req.version.unwrap_or(1));
    copy_fields(&mut head.headers, buf, req.headers);
    Ok(Some(n))
}

/// Copies the parsed fields into `headers`. When they lie in `buf` as canonical lines
/// one after another (`Name: value\r\n`, as nearly every client and server sends
/// them), the whole run is copied at once; otherwise (other whitespace, a bare LF)
/// field by field, rewritten in canonical form. A per-field copy was about 40 small
/// `memcpy` calls per proxied request.
fn copy_fields(headers: &mut Headers, buf: &[u8], fields: &[httparse::Header<'_>]) {
    match canonical_run(buf, fields) {
        Some(run) => headers.push_lines(
            &buf[run.clone()],
            fields.iter().map(|f| {
                let name = offset(buf, f.name.as_bytes()) - run.start;
                let value = name + f.name.len() + 2;
                (name..name + f.name.len(), value..value + f.value.len())
            }),
        ),
        None => {
            for f in fields {
                headers.push_parsed(f.name, f.value);
            }
        }
    }
}

/// Where `part`, a slice of `buf`, starts in it (wrapping: a slice from elsewhere, such
/// as an empty one, gives an offset that matches no layout check).
fn offset(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// The span of `buf` holding `fields` as canonical wire lines, one after another, if
/// they do: each name followed by `": "`, its value, and CR LF, and the next name right
/// after.
fn canonical_run(buf: &[u8], fields: &[httparse::Header<'_>]) -> Option<Range<usize>> {
    let start = offset(buf, fields.first()?.name.as_bytes());
    let mut end = start;
    for f in fields {
        let name = offset(buf, f.name.as_bytes());
        let value = name.wrapping_add(f.name.len() + 2);
        let value_end = value.wrapping_add(f.value.len());
        let laid_out = name == end
            && offset(buf, f.value) == value
            && buf.get(value.wrapping_sub(2)..value) == Some(b": ")
            && buf.get(value_end..value_end.wrapping_add(2)) == Some(b"\r\n");
        if !laid_out {
            return None;
        }
        end = value_end + 2;
    }
    Some(start..end)
}

/// httparse knows `HTTP/1.0` and `HTTP/1.1` only. RFC 9110 §2.5 and §15.6.6 ask more, and
/// nginx does it: a later HTTP/1 minor version is served as HTTP/1.1, and another major
/// version (`HTTP/2.0` sent as text) gets 505. A version token that is not `HTTP/D.D`
/// stays a 400. The request line must be complete to tell, so this may ask for more.
fn other_version(
    buf: &[u8],
    limits: HeadLimits,
    head: &mut RequestHead,
) -> Result<Option<usize>, Error> {
    let bad = || Error::from(httparse::Error::Version);
    let Some(line_end) = buf.iter().position(|&c| c == b'\n') else {
        return Ok(None);
    };
    let line = &buf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(at) = line.len().checked_sub(9) else {
        return Err(bad());
    };
    let (major, minor) = match line[at..] {
        [b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (major, minor)
        }
        _ => return Err(bad()),
    };
    if major != b'1' {
        return Err(Error::new(
            Kind::VersionNotSupported,
            "HTTP major version other than 1",
        ));
    }
    if minor < b'2' {
        return Err(bad()); // 1.0 and 1.1 failed for another reason
    }
    let mut as_11 = buf.to_vec();
    as_11[at + 8] = b'1';
    Ok(parse_request(&as_11, limits, head)?)
}

/// The longest request line [`received_line`] keeps; a 414's line can be megabytes.
const RECEIVED_MAX: usize = 1024;

/// The first line of what a client sent, for the access log when its head could not be
/// parsed (a 400, 505, 414...), so the log shows what was refused rather than `-`.
///
/// Sanitised as nginx escapes `$request`: any byte outside printable ASCII, and `"` and
/// `\`, becomes `\xHH`, so the result is safe inside a quoted log field and a hostile
/// client cannot forge log lines. The CR/LF ending is dropped; past 1 KiB the line is
/// cut and ends in `...`. Empty when nothing was received.
pub fn received_line(buf: &[u8]) -> String {
    let line = buf.split(|&c| c == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut out = String::with_capacity(line.len().min(RECEIVED_MAX) + 3);
    for &c in &line[..line.len().min(RECEIVED_MAX)] {
        match c {
            b'"' | b'\\' => out.push_str(&format!("\\x{c:02X}")),
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02X}")),
        }
    }
    if line.len() > RECEIVED_MAX {
        out.push_str("...");
    }
    out
}

/// Parses a response head from the front of `buf`, like [`request`].
pub fn response(
    buf: &[u8],
    limits: HeadLimits,
    head: &mut ResponseHead,
) -> Result<Option<usize>, Error> {
    let mut storage = slots();
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut storage[..limits.max_headers.min(MAX_HEADERS)],
    );
    let n = match parsed.map_err(|_| Error::new(Kind::BadGateway, "malformed response head"))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    head.clear();
    head.status = res.code.unwrap_or(0);
    head.reason.push_str(res.reason.unwrap_or_default());
    head.protocol = Protocol::from_h1_minor(res.version.unwrap_or(1));
    copy_fields(&mut head.headers, buf, res.headers);
    Ok(Some(n))
}

/// Why a head could not be read.
#[derive(Debug)]
pub enum ReadHead {
    /// The peer closed before sending any byte of a head: a normal end of keep-alive.
    Closed,
    Failed(Error),
}

impl From<Error> for ReadHead {
    fn from(e: Error) -> Self {
        ReadHead::Failed(e)
    }
}

/// The request head at the front of `conn`'s buffer, if all of it is there: its length
/// in bytes (`Ok(None)` when more must be read). No read: a keep-alive connection's
/// next head is nearly always whole in the bytes its idle wait read, and parsed here
/// it needs no future in the connection's task (see `connection::requests`).
pub fn buffered_request<S>(
    conn: &Conn<S>,
    limits: HeadLimits,
    head: &mut RequestHead,
) -> Result<Option<usize>, Error> {
    if conn.buffered().is_empty() {
        return Ok(None);
    }
    let parsed = request(conn.buffered(), limits, head)?;
    let too_large = match parsed {
        Some(n) if n <= limits.max_bytes => return Ok(Some(n)),
        Some(_) => true,
        None => conn.buffered().len() >= limits.max_bytes || conn.is_full(),
    };
    if !too_large {
        return Ok(None);
    }
    // nginx's rule: a request line that alone does not fit is 414, else 431.
    let line_end = conn.buffered().iter().position(|&c| c == b'\n');
    let kind = if line_end.is_some_and(|i| i < limits.max_bytes) {
        Kind::HeadersTooLarge
    } else {
        Kind::UriTooLong
    };
    Err(Error::new(kind, "request head too large"))
}

/// Reads until a whole request head is buffered; returns its length in bytes. The head's
/// raw bytes are `conn.buffered()[..len]` until the caller consumes them.
pub async fn read_request<S: AsyncRead + Unpin>(
    conn: &mut Conn<S>,
    limits: HeadLimits,
    head: &mut RequestHead,
) -> Result<usize, ReadHead> {
    loop {
        if let Some(n) = buffered_request(conn, limits, head)? {
            return Ok(n);
        }
        match conn.fill().await {
            Ok(0) if conn.buffered().is_empty() => return Err(ReadHead::Closed),
            Ok(0) => return Err(Error::new(Kind::BadRequest, "connection closed mid-head").into()),
            Ok(_) => {}
            Err(e) => return Err(Error::io(Kind::ClientGone, "read error", e).into()),
        }
    }
}

/// Reads until a whole response head is buffered; returns its length. A response head
/// that never completes, or a close before it does, is the upstream's fault (502).
pub async fn read_response<S: AsyncRead + Unpin>(
    conn: &mut Conn<S>,
    limits: HeadLimits,
    head: &mut ResponseHead,
) -> Result<usize, ReadHead> {
    loop {
        if !conn.buffered().is_empty() {
            if let Some(n) = response(conn.buffered(), limits, head)? {
                return Ok(n);
            }
            if conn.buffered().len() >= limits.max_bytes || conn.is_full() {
                return Err(Error::new(Kind::BadGateway, "response head too large").into());
            }
        }
        match conn.fill().await {
            Ok(0) if conn.buffered().is_empty() => return Err(ReadHead::Closed),
            Ok(0) => return Err(Error::new(Kind::BadGateway, "upstream closed mid-head").into()),
            Ok(_) => {}
            Err(e) => return Err(Error::io(Kind::BadGateway, "upstream read error", e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 1024,
        max_headers: 4,
    };

    #[test]
    fn partial_then_complete() {
        let mut head = RequestHead::default();
        assert!(request(b"GET / HTTP/1.1\r\nHo", LIMITS, &mut head)
            .unwrap()
            .is_none());
        let raw = b"GET /a?b HTTP/1.0\r\nHost: x\r\n\r\nrest";
        assert_eq!(
            request(raw, LIMITS, &mut head).unwrap(),
            Some(raw.len() - 4)
        );
        assert_eq!(
            (head.method.as_str(), head.path(), head.protocol),
            ("GET", "/a", Protocol::Http10)
        );
    }

    #[test]
    fn header_count_cap_is_431() {
        let mut head = RequestHead::default();
        let raw = b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n";
        let err = request(raw, LIMITS, &mut head).unwrap_err();
        assert_eq!(err.status(), 431);
    }

    #[test]
    fn other_versions() {
        let mut head = RequestHead::default();
        let err = request(b"GET / HTTP/3.0\r\n\r\n", LIMITS, &mut head).unwrap_err();
        assert_eq!(err.status(), 505);
        // The line is not complete yet: 505 or 400 cannot be told apart.
        assert!(request(b"GET / HTTP/3", LIMITS, &mut head)
            .unwrap()
            .is_none());
        let raw = b"GET /n HTTP/1.9\r\nHost: x\r\n\r\n";
        assert_eq!(request(raw, LIMITS, &mut head).unwrap(), Some(raw.len()));
        assert_eq!((head.path(), head.protocol), ("/n", Protocol::Http11));
        for raw in [
            &b"GET / HTTP/1.x\r\n\r\n"[..],
            b"GET / HTTP/22.0\r\n\r\n",
            b"GET /\r\n",
        ] {
            let err = request(raw, LIMITS, &mut head).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(raw));
        }
    }

    /// The fields as a proxy would write them again, and as the list gives them.
    fn rewritten(raw: &[u8]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let mut head = RequestHead::default();
        let limits = HeadLimits {
            max_bytes: 1024,
            max_headers: 8,
        };
        assert!(request(raw, limits, &mut head).unwrap().is_some());
        let mut out = Vec::new();
        head.headers.write_lines(&mut out, |_| false);
        let list = head.headers.iter().map(|(n, v)| (n.into(), v.into()));
        (out, list.collect())
    }

    #[test]
    fn fields_come_out_canonical_whether_copied_in_one_run_or_one_by_one() {
        let want = b"Host: x\r\nX-Empty: \r\nX-A: 1 2\r\n".to_vec();
        let list = vec![
            ("Host".to_string(), b"x".to_vec()),
            ("X-Empty".to_string(), b"".to_vec()),
            ("X-A".to_string(), b"1 2".to_vec()),
        ];
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: x\r\nX-Empty: \r\nX-A: 1 2\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost:x\r\nX-Empty:\r\nX-A: 1 2 \r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\nX-Empty: \nX-A:\t1 2\n\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Empty:  \r\nX-A: 1 2\r\n\r\n",
        ] {
            let case = String::from_utf8_lossy(raw);
            assert_eq!(rewritten(raw), (want.clone(), list.clone()), "{case}");
        }
    }

    #[test]
    fn received_line_is_the_first_line_escaped_and_capped() {
        assert_eq!(
            received_line(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            "GET / HTTP/2.0"
        );
        assert_eq!(received_line(b"GET /partial"), "GET /partial");
        assert_eq!(received_line(b""), "");
        assert_eq!(
            received_line(b"GET /\"a\\b\xff\x1b[31m HTTP/1.1\n"),
            "GET /\\x22a\\x5Cb\\xFF\\x1B[31m HTTP/1.1"
        );
        let long = [b'a'; 5000];
        let got = received_line(&long);
        assert_eq!(got.len(), RECEIVED_MAX + 3);
        assert!(got.ends_with("aaa..."));
    }
}

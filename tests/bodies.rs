//! Bodies stream both ways intact: Content-Length, chunked, close-delimited; HEAD has none.

mod util;

use std::io::Write;

use util::client::{get, Conn};
use util::origin::{ok, origin, Reply};
use util::{fnv, pattern};

const MIB: usize = 1024 * 1024;

fn hash_origin() -> util::origin::Origin {
    origin(|r| ok(format!("{} {:x}", r.body.len(), fnv(&r.body)).as_bytes()))
}

#[test]
fn content_length_upload_of_several_mib_arrives_intact() {
    let o = hash_origin();
    let proxy = util::start(util::config(&[o.addr]));
    let body = pattern(8 * MIB, 1);
    let mut c = Conn::open(proxy.addr);
    c.send(
        format!(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.read(false).unwrap();
    assert_eq!(r.text(), format!("{} {:x}", body.len(), fnv(&body)));
}

#[test]
fn chunked_upload_is_rechunked_and_arrives_intact() {
    let o = hash_origin();
    let proxy = util::start(util::config(&[o.addr]));
    let body = pattern(5 * MIB + 123, 2);
    let mut c = Conn::open(proxy.addr);
    c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    // Odd chunk sizes with extensions and a trailer: all framing is weir's to drop.
    let mut wire = Vec::new();
    for (i, piece) in body.chunks(70_001).enumerate() {
        write!(wire, "{:X};ext{i}=v\r\n", piece.len()).unwrap();
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    c.send(&wire);
    let r = c.read(false).unwrap();
    assert_eq!(r.text(), format!("{} {:x}", body.len(), fnv(&body)));
    let seen = o.next_request();
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
    assert!(
        !seen.raw_head.contains("ext0"),
        "chunk extensions are not relayed"
    );
}

#[test]
fn downloads_of_several_mib_arrive_intact_by_length_and_chunked() {
    let data = pattern(6 * MIB, 3);
    let expected = fnv(&data);
    let served = data.clone();
    let o = origin(move |r| {
        if r.target == "/chunked" {
            let mut b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for piece in served.chunks(100_000) {
                b.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                b.extend_from_slice(piece);
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(b"0\r\n\r\n");
            Reply::Bytes(b)
        } else {
            ok(&served)
        }
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&get("/length"));
    assert_eq!(
        r.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(fnv(&r.body), expected);
    let r = c.roundtrip(&get("/chunked"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(fnv(&r.body), expected);
}

#[test]
fn close_delimited_response_reaches_http11_client_chunked_and_keeps_the_connection() {
    let o = origin(|_| {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec())
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "until the end");
    assert_eq!(c.roundtrip(&get("/again")).text(), "until the end");
    assert_eq!(
        o.accepts(),
        2,
        "a close-delimited upstream connection is never reused"
    );
}

#[test]
fn head_response_carries_length_but_no_body() {
    let o = origin(|r| {
        if r.method == "HEAD" {
            Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec())
        } else {
            ok(b"after")
        }
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.header("content-length"), Some("1000"));
    // Had weir sent (or waited for) a body, this next response would be garbled.
    assert_eq!(c.roundtrip(&get("/next")).text(), "after");
}

#[test]
fn no_body_statuses_204_and_304_are_relayed_without_one() {
    let o = origin(|r| match r.target.as_str() {
        "/204" => Reply::Bytes(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
        "/304" => Reply::Bytes(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n".to_vec()),
        _ => ok(b"ok"),
    });
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    assert_eq!(c.roundtrip(&get("/204")).status, 204);
    let r = c.roundtrip(&get("/304"));
    assert_eq!((r.status, r.header("content-length")), (304, Some("50")));
    assert_eq!(c.roundtrip(&get("/x")).text(), "ok");
}

#[test]
fn expect_100_continue_gets_a_go_ahead_before_the_body() {
    let o = hash_origin();
    let proxy = util::start(util::config(&[o.addr]));
    let mut c = Conn::open(proxy.addr);
    c.send(b"PUT /f HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut c.reader, &mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    std::io::BufRead::read_line(&mut c.reader, &mut line).unwrap();
    c.send(b"abc");
    assert_eq!(
        c.read(false).unwrap().text(),
        format!("3 {:x}", fnv(b"abc"))
    );
    assert!(o.next_request().header("expect").is_none());
}

//! `send_proxy_protocol`: an origin that reads the PROXY header itself (this file's code,
//! not weir's parser) sees the client's address, the one a received header gave when
//! weir sits behind a balancer too, on every connection, since such a group keeps no
//! idle connections to reuse for another client.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver};
use std::thread;
use std::time::Duration;

use util::client::Conn;
use weir::config::{Cidr, Listener, ProxyProtocol, SendVersion, Versions};

/// An origin that reads a PROXY header (v1 or v2) first on each connection, reports it
/// once per connection, and answers every request with the header's source address.
fn header_reading_origin() -> (SocketAddr, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let source = read_header(&mut r);
                let _ = tx.send(source.clone());
                // Keep-alive: every request on the connection is answered, so a reused
                // connection would answer with the header of the client that opened it.
                while read_head(&mut r) {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        source.len()
                    );
                    let _ = (&s).write_all(format!("{head}{source}").as_bytes());
                }
            });
        }
    });
    (addr, rx)
}

/// Reads one request head (no body); false at EOF.
fn read_head(r: &mut BufReader<TcpStream>) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => return true,
            Ok(_) => {}
        }
    }
}

/// The header's source address as text: `LOCAL`, `UNKNOWN`, or `ip:port`.
fn read_header(r: &mut BufReader<TcpStream>) -> String {
    let mut first = [0u8; 12];
    r.read_exact(&mut first[..5]).unwrap();
    if &first[..5] == b"PROXY" {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        return match f[0] {
            "UNKNOWN" => "UNKNOWN".into(),
            _ => format!("{}:{}", f[1], f[3]).replace("::ffff:", ""),
        };
    }
    r.read_exact(&mut first[5..]).unwrap();
    assert_eq!(&first, b"\r\n\r\n\0\r\nQUIT\n");
    let mut fixed = [0u8; 4];
    r.read_exact(&mut fixed).unwrap();
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes([fixed[2], fixed[3]]))];
    r.read_exact(&mut rest).unwrap();
    match (fixed[0], fixed[1]) {
        (0x20, _) => "LOCAL".into(),
        (0x21, 0x11) => {
            let ip = Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3]);
            format!("{ip}:{}", u16::from_be_bytes([rest[8], rest[9]]))
        }
        other => panic!("unexpected v2 command and family {other:?}"),
    }
}

fn weir_sending(origin: SocketAddr, version: SendVersion) -> util::TestProxy {
    let mut config = util::config(&[origin]);
    config.upstream.send_proxy_protocol = Some(version);
    let mut listen: Listener = "127.0.0.1:0".parse::<SocketAddr>().unwrap().into();
    listen.proxy_protocol = Some(ProxyProtocol {
        accept: Versions::Both,
        trusted: vec![Cidr::parse("127.0.0.1/32").unwrap()],
    });
    config.listen = vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap().into(), listen];
    util::start(config)
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn the_origin_reads_the_client_address_from_weirs_header() {
    for version in [SendVersion::V1, SendVersion::V2] {
        let (origin, seen) = header_reading_origin();
        let w = weir_sending(origin, version);
        // A direct client: its own address, on each of two keep-alive requests, each
        // over a connection of its own to the origin.
        let mut c = Conn::open(w.addrs[0]);
        let port = c.reader.get_ref().local_addr().unwrap().port();
        for _ in 0..2 {
            let r = c.roundtrip(REQUEST);
            assert_eq!(r.text(), format!("127.0.0.1:{port}"), "{version:?}");
        }
        // Behind a balancer: the address its header gave weir.
        let mut c = Conn::open(w.addrs[1]);
        c.send(b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 80\r\n");
        assert_eq!(
            c.roundtrip(REQUEST).text(),
            "192.0.2.10:5555",
            "{version:?}"
        );
        // Three requests, three connections to the origin, each with its own header.
        let mut got: Vec<String> = (0..3)
            .map(|_| {
                seen.recv_timeout(Duration::from_secs(20))
                    .expect("a connection")
            })
            .collect();
        got.sort();
        let direct = format!("127.0.0.1:{port}");
        assert_eq!(got, [&direct, &direct, "192.0.2.10:5555"], "{version:?}");
    }
}

#[test]
fn health_checks_send_local() {
    let (origin, seen) = header_reading_origin();
    let mut config = util::config(&[origin]);
    config.upstream.send_proxy_protocol = Some(SendVersion::V2);
    config.upstream.health = Some(weir::config::Health {
        interval: Duration::from_millis(50),
        ..Default::default()
    });
    let _w = util::start(config);
    let first = seen.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(first, "LOCAL");
}

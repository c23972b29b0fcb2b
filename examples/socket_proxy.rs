//! The lab's fourth step: `hello_socket` grown into a reverse proxy to one backend, on
//! bare `std::net` sockets.
//!
//! Run a backend, then the proxy (listen address first, then the backend's), then curl:
//!
//! ```sh
//! weir backend --listen 127.0.0.1:9001 --echo &
//! cargo run --example socket_proxy -- 127.0.0.1:8000 127.0.0.1:9001
//! curl -i http://127.0.0.1:8000/hi
//! ```
//!
//! For each client: read its request, open a connection to the backend, forward the
//! request, relay the answer, close. It works for curl, and it is wrong in every way a
//! real proxy must get right; the list at the end of this file says how, and weir does
//! each of them.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&listen)?;
    println!(
        "listening on http://{}/ -> {backend}",
        listener.local_addr()?
    );

    for client in listener.incoming() {
        // As in hello_socket: one bad exchange is logged, and the proxy carries on.
        match client.and_then(|c| proxy(c, &backend)) {
            Ok(line) => println!("{line} -> {backend}"),
            Err(e) => eprintln!("error: {e} (the proxy carries on)"),
        }
    }
    Ok(())
}

/// One exchange: client -> us -> backend -> us -> client. Returns the request line.
fn proxy(mut client: TcpStream, backend: &str) -> io::Result<String> {
    let mut reader = BufReader::new(client.try_clone()?);

    // 1. Read the request head, line by line, as bytes: a proxy passes on what it
    //    does not understand, so it must not insist on UTF-8 the way hello_socket did.
    let mut head = Vec::new();
    let mut body_len = 0;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::other("client closed mid-head"));
        }
        if line == b"\r\n" || line == b"\n" {
            break; // the empty line: the head is over
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        // The body's length, so we can forward the body too (chunked is not handled).
        if let Some(n) = text.strip_prefix("content-length:") {
            body_len = n.trim().parse().unwrap_or(0);
        }
        // Drop the client's Connection header: we set our own below.
        if !text.starts_with("connection:") {
            head.extend_from_slice(&line);
        }
    }
    let request_line = String::from_utf8_lossy(head.split(|&c| c == b'\n').next().unwrap());
    let request_line = request_line.trim_end().to_string();

    // 2. Open a connection to the backend. If that fails, the client deserves an
    //    answer: 502 Bad Gateway is the status for "the server behind me failed".
    let mut upstream = match TcpStream::connect(backend) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot reach {backend}: {e}\n");
            write!(
                client,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            )?;
            return Err(io::Error::other(msg.trim_end().to_string()));
        }
    };

    // 3. Forward the head, asking the backend to close after its answer: then "the
    //    backend closed" tells us where the answer ends, without parsing it.
    upstream.write_all(&head)?;
    upstream.write_all(b"Connection: close\r\n\r\n")?;
    // ...then exactly Content-Length bytes of body, straight from the client.
    io::copy(&mut (&mut reader).take(body_len), &mut upstream)?;

    // 4. Relay the answer, byte for byte, until the backend closes. Returning closes
    //    the client connection too.
    io::copy(&mut upstream, &mut client)?;
    Ok(request_line)
}

// What this toy gets wrong, and weir gets right:
//
// - Keep-alive: one request per connection, and a new backend connection for each.
//   weir serves many requests per client connection and reuses idle backend
//   connections from a pool (`upstream.keepalive`).
// - Chunked bodies: a `Transfer-Encoding: chunked` upload is not forwarded at all.
//   weir decodes and re-frames bodies in both directions (RFC 9112 §7.1).
// - Streaming: one client at a time; a slow client or backend blocks everyone. weir
//   runs every connection as an async task, and streams bodies without holding them.
// - Hop-by-hop headers: only Connection is handled. weir removes every header that
//   belongs to one connection (Keep-Alive, TE, Upgrade, those named in Connection...)
//   and adds X-Forwarded-For, -Proto and -Host.
// - Timeouts: a client that sends half a head holds the proxy forever (slowloris).
//   weir has header, idle, connect, read and body timeouts, each with its status code.
// - Smuggling: a request with both Content-Length and Transfer-Encoding, or two
//   Content-Lengths, is passed on as-is, so the backend may see a different request
//   boundary than we did. weir decides the framing once, refuses what is ambiguous
//   (400), and never relays framing it did not write.

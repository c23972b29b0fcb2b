//! The lab's sixth step: `socket_proxy` plus round-robin over a list of backends, the
//! simplest load balancer.
//!
//! Run three backends with unique answers, the balancer (listen address first, then
//! the backends), and ask four times:
//!
//! ```sh
//! weir backend --listen 127.0.0.1:9001 --name one &
//! weir backend --listen 127.0.0.1:9002 --name two &
//! weir backend --listen 127.0.0.1:9003 --name three &
//! cargo run --example socket_round_robin -- 127.0.0.1:8000 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003
//! for i in 1 2 3 4; do curl -s http://127.0.0.1:8000/; done    # one two three one
//! ```
//!
//! Only the marked lines differ from `socket_proxy.rs`, which explains the rest and
//! lists what this toy gets wrong. One more: a backend that is down still gets its
//! turn (the client sees a 502); weir takes it out of rotation and retries elsewhere.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8000".into());
    // NEW: every other argument is a backend.
    let backends: Vec<String> = args.collect();
    if backends.is_empty() {
        eprintln!("usage: socket_round_robin LISTEN BACKEND [BACKEND...]");
        std::process::exit(2);
    }
    let listener = TcpListener::bind(&listen)?;
    let list = backends.join(", ");
    println!("listening on http://{}/ -> {list}", listener.local_addr()?);

    // NEW: round-robin is a counter. Connection n goes to backend n mod N: each request
    // to the next backend in the list, wrapping around, so N backends get one in N each.
    for (n, client) in listener.incoming().enumerate() {
        let backend = &backends[n % backends.len()];
        match client.and_then(|c| proxy(c, backend)) {
            Ok(line) => println!("{line} -> {backend}"),
            Err(e) => eprintln!("error: {e} (the balancer carries on)"),
        }
    }
    Ok(())
}

/// One exchange with `backend`, exactly as in `socket_proxy.rs`.
fn proxy(mut client: TcpStream, backend: &str) -> io::Result<String> {
    let mut reader = BufReader::new(client.try_clone()?);

    // Read the head as bytes; note the body length; drop the client's Connection.
    let mut head = Vec::new();
    let mut body_len = 0;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::other("client closed mid-head"));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(n) = text.strip_prefix("content-length:") {
            body_len = n.trim().parse().unwrap_or(0);
        }
        if !text.starts_with("connection:") {
            head.extend_from_slice(&line);
        }
    }
    let request_line = String::from_utf8_lossy(head.split(|&c| c == b'\n').next().unwrap());
    let request_line = request_line.trim_end().to_string();

    // Connect, or answer 502.
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

    // Forward the head and body; relay the answer until the backend closes.
    upstream.write_all(&head)?;
    upstream.write_all(b"Connection: close\r\n\r\n")?;
    io::copy(&mut (&mut reader).take(body_len), &mut upstream)?;
    io::copy(&mut upstream, &mut client)?;
    Ok(request_line)
}

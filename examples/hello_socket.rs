//! The lab's second step: the simplest web server there is, on bare `std::net` sockets.
//!
//! Run: `cargo run --example hello_socket` (or `... -- 127.0.0.1:8001` for another
//! address; port 0 lets the OS choose), then `curl -i http://127.0.0.1:8000/hi`.
//! Ctrl-C stops it. No async, no parser crate, no keep-alive: one request per
//! connection, read, answer, close. Everything weir does grows from this loop.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    // The address to listen on: the first argument, else port 8000 of the loopback.
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".into());
    // Ask the OS for a listening TCP socket there.
    let listener = TcpListener::bind(&addr)?;
    // Print the address actually bound (with port 0, the one the OS picked).
    println!("listening on http://{}/", listener.local_addr()?);

    // `incoming()` blocks until a client connects, then yields that connection.
    for stream in listener.incoming() {
        // One client's trouble (a reset, bytes that are not text) must not stop the
        // server for everyone else: log it and carry on with the next connection.
        // A `?` here would end `main`, and with it the server.
        match stream.and_then(answer) {
            Ok(request) => println!("answered {request}"),
            Err(e) => eprintln!("error: {e} (the server carries on)"),
        }
    }
    Ok(())
}

/// Reads one request from `stream`, answers it, and returns its method and target.
/// Inside this function `?` is fine: an error ends this connection only.
fn answer(mut stream: TcpStream) -> io::Result<String> {
    // Wrap the socket in a buffered reader so we can read it line by line.
    let mut reader = BufReader::new(&stream);

    // The first line is the request line: `GET /hi HTTP/1.1`. `read_line` fails
    // if the bytes are not UTF-8 text: that error goes back to `main`, which logs it.
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;

    // Split it into its three parts: method, target (the path), and version.
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");

    // Then come header lines, `Name: value`, until an empty line ends the head.
    // We read them only to get past them; a real server would look at Host,
    // Content-Length and friends here.
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }

    // The body of our answer: plain text naming what was asked for.
    let body = format!("hello! you asked for {method} {target}\n");

    // The status line: version, status code, reason phrase, then CRLF.
    write!(stream, "HTTP/1.1 200 OK\r\n")?;
    // Headers: what the body is and exactly how long, so the client knows where it ends.
    write!(stream, "Content-Type: text/plain; charset=utf-8\r\n")?;
    write!(stream, "Content-Length: {}\r\n", body.len())?;
    // We close after every answer, and say so.
    write!(stream, "Connection: close\r\n")?;
    // An empty line ends the head...
    write!(stream, "\r\n")?;
    // ...and the body follows.
    stream.write_all(body.as_bytes())?;

    // Returning drops `stream`, which closes the connection.
    Ok(format!("{method} {target}"))
}

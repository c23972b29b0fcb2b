//! A query asked again over TCP, when its UDP answer came truncated (TC set): RFC 7766
//! says a resolver must then, and Kubernetes or Consul names with many members need
//! it (with 16 slots a name fills more than a 512-byte UDP answer holds when the
//! records carry long names, or AAAA). One connection per query, closed after it: a
//! truncated answer is rare enough that keeping one open would cost more than it saves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// Sends `query` to `server` over TCP, with the two-byte length before it, and reads
/// the answer's bytes; gives up at `deadline`.
pub(super) fn ask(query: &[u8], server: SocketAddr, deadline: Instant) -> Result<Vec<u8>, String> {
    let why = |what: &str, e: std::io::Error| format!("{what} nameserver {server} over TCP: {e}");
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        match left.is_zero() {
            true => Err(format!("no answer from {server} over TCP in time")),
            false => Ok(left),
        }
    };
    let mut conn =
        TcpStream::connect_timeout(&server, left()?).map_err(|e| why("cannot reach", e))?;
    let len = u16::try_from(query.len()).map_err(|_| "the query is too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    conn.set_write_timeout(Some(left()?))
        .map_err(|e| why("cannot ask", e))?;
    conn.write_all(&framed).map_err(|e| why("cannot ask", e))?;
    conn.set_read_timeout(Some(left()?))
        .map_err(|e| why("no answer from", e))?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)
        .map_err(|e| why("no answer from", e))?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut answer)
        .map_err(|e| why("no whole answer from", e))?;
    Ok(answer)
}

//! The active check over the gRPC health protocol (`grpc.health.v1.Health/Check`), for
//! h2 and h2c groups with `[health] grpc_service`: what Envoy's `grpc_health_check`,
//! Kubernetes' gRPC probes and `grpc_health_probe` ask.
//!
//! One unary call on a connection of the check's own: POST
//! `/grpc.health.v1.Health/Check` with `content-type: application/grpc` and
//! `te: trailers`, the body one length-prefixed `HealthCheckRequest { service }`. The
//! server is healthy only when the call ends with `grpc-status: 0` and the answer's
//! `status` is SERVING; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, another grpc-status (a
//! server without the health service says UNIMPLEMENTED), an HTTP status other than
//! 200 or no answer in time are all unhealthy.
//!
//! The two messages are hand-encoded (one string field out, one enum field in): a
//! protobuf crate would be a dependency for ten lines.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_lite::FutureExt;

use crate::http::h2compat;
use crate::stream::Stream;

/// The call's path: service `grpc.health.v1.Health`, method `Check`.
const PATH: &str = "/grpc.health.v1.Health/Check";

/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: u64 = 1;

/// An answer larger than this is not a health answer.
const MAX_ANSWER: usize = 16 * 1024;

/// Asks the server at the end of `stream` about `service`: true when SERVING.
pub(super) async fn serving(stream: Stream, addr: SocketAddr, service: &str, tls: bool) -> bool {
    let Ok((send, connection)) = h2::client::handshake(h2compat::fresh(stream)).await else {
        return false;
    };
    let ask = async move { check(send, addr, service, tls).await == Some(true) };
    let drive = async move {
        let _ = connection.await;
        false
    };
    ask.or(drive).await
}

/// The call; `None` when it broke off.
async fn check(
    send: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    service: &str,
    tls: bool,
) -> Option<bool> {
    let scheme = if tls { "https" } else { "http" };
    let req = http::Request::post(format!("{scheme}://{addr}{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "weir-health-check")
        .body(())
        .ok()?;
    let (answer, mut body) = send.ready().await.ok()?.send_request(req, false).ok()?;
    body.send_data(request(service), true).ok()?;
    let res = answer.await.ok()?;
    // A trailers-only answer carries grpc-status in its head, and no message.
    if res.status() != 200 || res.headers().get("grpc-status").is_some_and(|s| s != "0") {
        return Some(false);
    }
    let mut recv = res.into_body();
    let mut message = Vec::new();
    while let Some(data) = recv.data().await {
        let data = data.ok()?;
        let _ = recv.flow_control().release_capacity(data.len());
        message.extend_from_slice(&data);
        if message.len() > MAX_ANSWER {
            return Some(false);
        }
    }
    let trailers = recv.trailers().await.ok()?;
    let ok = trailers.is_some_and(|t| t.get("grpc-status").is_some_and(|s| s == "0"));
    Some(ok && status(&message) == Some(SERVING))
}

/// The gRPC message `HealthCheckRequest { service }`: an uncompressed length prefix,
/// then field 1 (a string: tag 0x0a, length, bytes), left out when empty (proto3).
fn request(service: &str) -> Bytes {
    let mut field = Vec::new();
    if !service.is_empty() {
        field.push(0x0a);
        varint(service.len() as u64, &mut field);
        field.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0];
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(&field);
    out.into()
}

/// The `status` (field 1) of the gRPC message `HealthCheckResponse` in `message`:
/// 0 (UNKNOWN) when left out, as proto3 reads it; `None` when it does not parse or
/// is compressed (weir never offers compression).
fn status(message: &[u8]) -> Option<u64> {
    let (&[compressed], rest) = message.split_first_chunk::<1>()?;
    let (len, fields) = rest.split_first_chunk::<4>()?;
    let fields = fields.get(..u32::from_be_bytes(*len) as usize)?;
    if compressed != 0 {
        return None;
    }
    let mut at = fields;
    let mut status = 0;
    while !at.is_empty() {
        let tag = read_varint(&mut at)?;
        match (tag >> 3, tag & 7) {
            (1, 0) => status = read_varint(&mut at)?,
            (_, 0) => drop(read_varint(&mut at)?),
            (_, 1) => at = at.get(8..)?,
            (_, 2) => {
                let n = read_varint(&mut at)? as usize;
                at = at.get(n..)?;
            }
            (_, 5) => at = at.get(4..)?,
            _ => return None,
        }
    }
    Some(status)
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(at: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = at.split_first()?;
        *at = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_service_or_nothing() {
        assert_eq!(&request("")[..], [0, 0, 0, 0, 0]);
        assert_eq!(
            &request("a.B")[..],
            [0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
        let long = "s".repeat(200);
        assert_eq!(&request(&long)[5..8], [0x0a, 0xc8, 0x01]);
    }

    #[test]
    fn the_answer_status_is_read_past_other_fields() {
        assert_eq!(status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(status(&[0, 0, 0, 0, 2, 0x08, 2]), Some(2));
        assert_eq!(status(&[0, 0, 0, 0, 0]), Some(0), "left out: UNKNOWN");
        // An unknown string field 2 first, then status.
        assert_eq!(status(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 1]), Some(1));
        assert_eq!(status(&[1, 0, 0, 0, 2, 0x08, 1]), None, "compressed");
        assert_eq!(status(&[0, 0, 0, 0, 9, 0x08]), None, "cut short");
        assert_eq!(status(&[0, 0, 0]), None);
    }
}

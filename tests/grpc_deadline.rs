//! gRPC deadlines enforced by weir itself, with the `h2` crate's client
//! (util::h2client) that sends `grpc-timeout` and then never resets its stream, and
//! an h2c origin (util::h2origin) that never finishes its answer: weir ends the call
//! with `grpc-status: 4` at the deadline (trailers-only before the head; trailers after
//! it), and resets the upstream stream with CANCEL. `timeouts.upstream_read` is 30 s,
//! so only weir's reading of `grpc-timeout` can end the call within the tests' bound.
//! Also: a client reset while its request body is still open cancels the upstream
//! stream (full duplex).

mod util;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::FutureExt;
use util::h2client;
use util::h2origin::{self, Behaviour, CANCELLED};
use weir::config::UpstreamProtocol;

/// A proxy with an h2c listener in front of one h2c origin; upstream reads wait 30 s.
fn proxy(origin: std::net::SocketAddr) -> util::TestProxy {
    let timeouts = "[timeouts]\nupstream_read = \"30s\"";
    util::h2c_proxy(origin, UpstreamProtocol::H2c, timeouts)
}

/// A gRPC request to `path` with `grpc-timeout: 300m` and one empty message.
async fn call(send: &h2::client::SendRequest<Bytes>, path: &str) -> h2::client::ResponseFuture {
    let mut ready = send.clone().ready().await.unwrap();
    let mut req = h2client::request("POST", "test", path);
    let headers = req.headers_mut();
    headers.insert("content-type", "application/grpc".parse().unwrap());
    headers.insert("te", "trailers".parse().unwrap());
    headers.insert("grpc-timeout", "300m".parse().unwrap());
    let (response, mut out) = ready.send_request(req, false).unwrap();
    out.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    response
}

/// `fut`, or a panic after 10 s (far below the 30 s `upstream_read`).
async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    let late = async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("weir did not end the call within 10 s of its 300 ms deadline");
    };
    fut.or(late).await
}

/// Waits (up to 10 s) until the origin has seen `n` streams reset with CANCEL.
fn wait_cancelled(n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while CANCELLED.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the origin's stream was not cancelled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn weir_ends_a_call_past_its_deadline_before_and_after_the_answer_head() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let proxy = proxy(origin.addr);
    let before = CANCELLED.load(Ordering::SeqCst);
    smol::block_on(async {
        let send = h2client::connect(proxy.addr, 65_535).await;

        // No answer at all: a trailers-only DEADLINE_EXCEEDED from weir.
        let started = Instant::now();
        let response = bounded(call(&send, "/hang").await).await;
        let (head, body) = response.expect("response").into_parts();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["grpc-status"], "4");
        assert_eq!(
            head.headers["grpc-message"],
            "weir: deadline exceeded (grpc-timeout)"
        );
        assert!(body.is_end_stream(), "trailers-only");

        // A head, then nothing: weir ends the body with DEADLINE_EXCEEDED trailers.
        let response = bounded(call(&send, "/head-then-hang").await).await;
        let (head, mut body) = response.expect("response").into_parts();
        assert_eq!(head.status, 200);
        assert!(!head.headers.contains_key("grpc-status"));
        let trailers = bounded(async {
            while let Some(data) = body.data().await {
                data.expect("DATA");
            }
            body.trailers().await.expect("trailers")
        })
        .await
        .expect("trailers after the body");
        assert_eq!(trailers["grpc-status"], "4");
        assert_eq!(
            trailers["grpc-message"],
            "weir: deadline exceeded (grpc-timeout)"
        );
    });
    // Both upstream streams were reset with CANCEL, on the one upstream connection.
    wait_cancelled(before + 2);
    assert_eq!(origin.connections(), 1);

    // Without a deadline, a client that resets its stream while its request body is
    // still open (going up alongside the wait: full duplex) cancels the upstream
    // stream too, at once.
    smol::block_on(async {
        let send = h2client::connect(proxy.addr, 65_535).await;
        let mut ready = send.ready().await.unwrap();
        let req = h2client::request("POST", "test", "/hang");
        let (_response, mut out) = ready.send_request(req, false).unwrap();
        out.send_data(Bytes::from_static(b"first"), false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while origin.requests() < 3 {
            assert!(
                Instant::now() < deadline,
                "the request never reached the origin"
            );
            smol::Timer::after(Duration::from_millis(1)).await;
        }
        out.send_reset(h2::Reason::CANCEL);
        wait_cancelled(before + 3);
    });
}

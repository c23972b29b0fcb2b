//! Trailers through weir between an HTTP/2 client (util::h2client) and an h2c origin
//! (util::h2origin): request trailers reach the origin, response trailers (gRPC's
//! status, custom metadata) reach the client, and a trailers-only answer (one HEADERS
//! frame that ends the stream) stays one. An HTTP/1.1 client gets the body, no trailers.

mod util;

use bytes::Bytes;
use util::client::{self, Conn};
use util::h2client;
use util::h2origin::{self, Behaviour};
use weir::config::UpstreamProtocol;

/// A proxy with an h2c listener in front of one h2c origin.
fn proxy(origin: std::net::SocketAddr) -> util::TestProxy {
    util::h2c_proxy(origin, UpstreamProtocol::H2c, "")
}

#[test]
fn trailers_pass_both_ways_between_h2_client_and_h2_origin() {
    trailers_pass_both_ways("/trailers");
}

#[test]
fn trailers_after_a_body_of_declared_length_reach_the_h2_client() {
    // weir holds the piece that completes a declared length, to flag END_STREAM on it;
    // with trailers to come, that piece goes without the flag and the trailers end the
    // stream (`downstream::h2::body::send`, `h2end::finish_with`).
    trailers_pass_both_ways("/trailers-length");
}

/// A POST with trailers to the origin's `path`, whose answer has a body and trailers.
fn trailers_pass_both_ways(path: &str) {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let proxy = proxy(origin.addr);
    smol::block_on(async {
        let send = h2client::connect(proxy.addr, 65_535).await;
        let mut ready = send.ready().await.unwrap();
        let req = h2client::request("POST", "test", path);
        let (response, mut out) = ready.send_request(req, false).unwrap();
        out.send_data(Bytes::from_static(b"hello"), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        trailers.insert("grpc-timeout", "5S".parse().unwrap());
        out.send_trailers(trailers).unwrap();

        let (head, mut body) = response.await.expect("response").into_parts();
        assert_eq!(head.status, 200);
        if path == "/trailers-length" {
            assert_eq!(head.headers["content-length"], "5");
        }
        let mut got = Vec::new();
        while let Some(data) = body.data().await {
            got.extend_from_slice(&data.unwrap());
        }
        assert_eq!(got, b"hello");
        let trailers = body.trailers().await.unwrap().expect("response trailers");
        assert_eq!(trailers["grpc-status"], "5");
        assert_eq!(trailers["grpc-message"], "nope");
        assert_eq!(trailers["echo-x-checksum"], "abc");
        assert_eq!(trailers["echo-grpc-timeout"], "5S");
    });
}

#[test]
fn a_trailers_only_answer_reaches_the_h2_client_as_one_headers_frame() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let proxy = proxy(origin.addr);
    smol::block_on(async {
        let send = h2client::connect(proxy.addr, 65_535).await;
        let response = h2client::get(&send, "test", "/trailers-only").await;
        let (head, body) = response.await.expect("response").into_parts();
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["grpc-status"], "12");
        assert_eq!(head.headers["content-type"], "application/grpc");
        assert!(body.is_end_stream(), "HEADERS ended the stream");
    });
}

#[test]
fn an_http1_client_gets_the_body_without_the_trailers() {
    let origin = h2origin::h2c("o1", Behaviour::Serve);
    let mut config = util::config(&[origin.addr]);
    config.upstream.protocol = UpstreamProtocol::H2c;
    let proxy = util::start(config);
    let mut c = Conn::open(proxy.addr);
    let r = c.roundtrip(b"POST /trailers HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!((r.status, r.text().as_str()), (200, "hi"));
    assert_eq!(r.header("grpc-status"), None);
    // The connection stays in step.
    let r = c.roundtrip(&client::get("/"));
    assert_eq!((r.status, r.text().as_str()), (200, "o1"));
}

#[test]
fn an_answer_before_the_request_ends_is_relayed_not_a_502() {
    // A gRPC server answers a unary call after its one message and may close the
    // stream before the client's END_STREAM reaches it: the answer stands, and weir
    // relays it while the client's request is still open (full duplex), without
    // waiting for the request's end.
    let origin = h2origin::h2c("o1", Behaviour::Early);
    let proxy = proxy(origin.addr);
    smol::block_on(async {
        let send = h2client::connect(proxy.addr, 65_535).await;
        let mut ready = send.ready().await.unwrap();
        let req = h2client::request("POST", "test", "/early");
        let (response, mut out) = ready.send_request(req, false).unwrap();
        out.send_data(Bytes::from_static(b"first"), false).unwrap();
        let (head, body) = response.await.expect("response").into_parts();
        assert_eq!(head.status, 200);
        assert_eq!(h2client::read_all(body).await.0, 5);
        // The rest of the body has no one to go to: weir has ended the stream, so h2
        // may refuse it here; either way nothing else comes back.
        let _ = out.send_data(Bytes::from_static(b"rest"), true);
    });
    assert_eq!(origin.requests(), 1);
}

//! The request head parser and the framing decision: never panic, and a head that
//! parses has a framing that is either refused or unambiguous.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::http::framing::{self, Body};
use weir::http::parse::{self, HeadLimits};
use weir::http::RequestHead;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits { max_bytes: 16 * 1024, max_headers: 100 };
    let mut head = RequestHead::default();
    if let Ok(Some(len)) = parse::request(data, limits, &mut head) {
        assert!(len <= data.len());
        if let Ok(body) = framing::request(&head) {
            let te = head.headers.contains("transfer-encoding");
            let cl = head.headers.contains("content-length");
            assert!(!(te && cl), "CL and TE both accepted");
            assert_eq!(body == Body::Chunked, te);
        }
    }
});

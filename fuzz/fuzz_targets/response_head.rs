//! The response head parser and framing: never panic; accepted heads are unambiguous.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::http::framing;
use weir::http::parse::{self, HeadLimits};
use weir::http::ResponseHead;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits { max_bytes: 16 * 1024, max_headers: 100 };
    let mut head = ResponseHead::default();
    if let Ok(Some(len)) = parse::response(data, limits, &mut head) {
        assert!(len <= data.len());
        for is_head in [false, true] {
            if framing::response(is_head, &head).is_ok() {
                let te = head.headers.contains("transfer-encoding");
                let cl = head.headers.contains("content-length");
                assert!(is_head || head.status < 200 || head.status == 204 || head.status == 304 || !(te && cl));
            }
        }
    }
});

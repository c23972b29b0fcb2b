//! `weir_retries_total` through real sockets: a refused server and one that closes
//! without answering are retried, and each retry is counted under its own cause, with
//! the nine cause labels weir has always written, in the same order.

mod util;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use util::admin::{scrape, value};
use util::client::{get, Conn};
use util::ports::Refusing;

const LIMIT: Duration = Duration::from_secs(10);

/// An origin that reads each request head, then closes without a response.
fn closing_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
        }
    });
    addr
}

fn errors(text: &str, server: SocketAddr) -> f64 {
    let series = format!(r#"weir_upstream_errors_total{{upstream="default",server="{server}"}}"#);
    value(text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn each_retry_is_counted_under_its_own_cause() {
    let down = Refusing::new();
    let (refused, closing) = (down.addr, closing_origin());
    let good = util::backend(weir::backend::Mode::Name("good".into()));
    let proxy = util::start(util::admin::config(&[refused, closing, good]));
    let admin = proxy.admin.unwrap();
    // Round robin reaches each server; a failed GET goes on to the next, and ends on
    // the good one (passive health then takes the failed ones out).
    let mut c = Conn::open(proxy.addr);
    for _ in 0..9 {
        assert_eq!(c.roundtrip(&get("/")).status, 200);
    }
    // Counting completes just after the response is written: wait for the last one.
    let ok = r#"weir_requests_total{route="default",upstream="default",code_class="2xx"}"#;
    let deadline = Instant::now() + LIMIT;
    let text = loop {
        let text = scrape(admin);
        if value(&text, ok) == Some(9.0) || Instant::now() > deadline {
            break text;
        }
        thread::yield_now();
    };
    let labels: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("weir_retries_total{cause=\""))
        .map(|l| l.split('"').next().unwrap())
        .collect();
    let want = [
        "refused",
        "connect timeout",
        "reset",
        "closed",
        "timeout",
        "bad response",
        "client gone",
        "client",
        "local",
    ];
    assert_eq!(labels, want, "{text}");
    let retries = |cause: &str| value(&text, &format!(r#"weir_retries_total{{cause="{cause}"}}"#));
    // Every failed attempt was retried (a try was always left), under its own cause.
    let (on_refused, on_closing) = (errors(&text, refused), errors(&text, closing));
    assert!(on_refused >= 1.0 && on_closing >= 1.0, "{text}");
    assert_eq!(retries("refused"), Some(on_refused), "{text}");
    assert_eq!(retries("closed"), Some(on_closing), "{text}");
    for cause in want.iter().filter(|c| !["refused", "closed"].contains(c)) {
        assert_eq!(retries(cause), Some(0.0), "{cause}\n{text}");
    }
}

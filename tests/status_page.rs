//! The status page in a real browser: headless Chromium loads it from a running weir
//! under load, and the rendered DOM must show the route, the servers and a chart with
//! samples. Screenshots (desktop and phone width) are left for a reviewer in
//! `target/tmp/status-page*.png`.

mod util;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use util::client::{get, Conn};

/// Longest one Chromium run may take before the test fails.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Runs headless Chromium with `args`, bounded by [`BROWSER_LIMIT`].
fn chromium(args: &[String]) -> Output {
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Virtual time: the page's one-second polls run without waiting a second
            // each, while its fetches to weir are real.
            "--virtual-time-budget=8000",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (Debian package `chromium`; .ci/run installs it)");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BROWSER_LIMIT) {
        Ok(out) => out.expect("chromium ran"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
    }
}

/// The number in `data-samples="N"` of the element with `id`.
fn samples(dom: &str, id: &str) -> usize {
    let at = dom.find(&format!("id=\"{id}\"")).expect("chart present");
    let tag = &dom[at..at + dom[at..].find('>').unwrap()];
    let n = tag.split("data-samples=\"").nth(1).expect("data-samples");
    n[..n.find('"').unwrap()].parse().unwrap()
}

#[test]
fn the_status_page_renders_live_data_in_chromium() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let (addr, admin) = (proxy.addr, proxy.admin.unwrap());
    // Load, so the charts have something to draw; one bad request for the 4xx column.
    let done = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let done = done.clone();
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                while !done.load(Ordering::SeqCst) {
                    c.roundtrip(&get("/"));
                }
            })
        })
        .collect();
    util::client::once(addr, b"BAD\r\n\r\n");

    let url = format!("http://{admin}/status");
    let out = chromium(&["--dump-dom".into(), url.clone()]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("id=\"live\" class=\"on\""),
        "the page polled: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("data-route=\"default\""), "{dom}");
    assert!(
        dom.contains("data-route=\"-\""),
        "the refused request: {dom}"
    );
    assert!(dom.contains("data-group=\"default\""), "{dom}");
    for b in &backends {
        assert!(dom.contains(&format!("data-server=\"{b}\"")), "{dom}");
    }
    assert!(dom.contains("badge up"), "{dom}");
    assert!(samples(&dom, "chart-traffic") >= 2, "{dom}");
    assert!(samples(&dom, "chart-latency") >= 2, "{dom}");
    assert!(dom.contains("<polyline"), "a chart line was drawn: {dom}");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, size) in [
        ("status-page.png", "1280,1100"),
        ("status-page-phone.png", "390,1800"),
    ] {
        let shot = dir.join(name);
        let _ = std::fs::remove_file(&shot);
        let out = chromium(&[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={size}"),
            url.clone(),
        ]);
        assert!(
            shot.metadata().is_ok_and(|m| m.len() > 10_000),
            "screenshot {name} written: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    done.store(true, Ordering::SeqCst);
    for l in load {
        l.join().unwrap();
    }
}

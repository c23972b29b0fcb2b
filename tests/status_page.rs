//! The status page in a real browser: headless Chromium loads it from a running weir
//! under load, and the rendered DOM must show the route, the servers and a chart with
//! samples; at a phone's width nothing may stick out sideways; with a token configured
//! it says where the token goes. Screenshots (desktop and phone width) are left for a
//! reviewer in `target/tmp/status-page*.png`.

mod util;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use util::admin::{call, scrape, value};
use util::browser::{chromium, serve_pages};
use util::client::{get, Conn};
use util::wait::{wait_until, WAIT};

/// The number in `data-samples="N"` of the element with `id`.
fn samples(dom: &str, id: &str) -> usize {
    let at = dom.find(&format!("id=\"{id}\"")).expect("chart present");
    let tag = &dom[at..at + dom[at..].find('>').unwrap()];
    let n = tag.split("data-samples=\"").nth(1).expect("data-samples");
    n[..n.find('"').unwrap()].parse().unwrap()
}

/// The value of the `attr="..."` on the `<body>` tag.
fn body_attr<'a>(dom: &'a str, attr: &str) -> Option<&'a str> {
    let at = dom.find("<body")?;
    let tag = &dom[at..at + dom[at..].find('>')?];
    let v = tag.split(&format!("{attr}=\"")).nth(1)?;
    Some(&v[..v.find('"')?])
}

/// Load on the proxy until the returned flag is set, so the charts have something to
/// draw; one bad request for the 4xx column. Returns once both routes (`default` and
/// the refused request's `-`) have a request counted: weir counts a request just after
/// writing its response, so a status read at once could still lack either row.
fn load(
    addr: std::net::SocketAddr,
    admin: std::net::SocketAddr,
) -> (Arc<AtomicBool>, Vec<thread::JoinHandle<()>>) {
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
    let counted = |route: &str, class: &str| {
        let series = format!(
            "weir_requests_total{{route=\"{route}\",upstream=\"{route}\",code_class=\"{class}\"}}"
        );
        value(&scrape(admin), &series).is_some_and(|n| n >= 1.0)
    };
    wait_until(WAIT, "both routes have a request counted", || {
        counted("default", "2xx") && counted("-", "4xx")
    });
    (done, load)
}

#[test]
fn the_status_page_renders_live_data_in_chromium() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let (addr, admin) = (proxy.addr, proxy.admin.unwrap());
    let (done, load) = load(addr, admin);

    let url = format!("http://{admin}/status");
    let profile = util::bin::temp_dir("chromium-status");
    let out = chromium(&profile, &["--dump-dom".into(), url.clone()]);
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
    assert!(
        dom.contains("<p id=\"hint\" hidden=\"\">"),
        "no token hint: {dom}"
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, size) in [
        ("status-page.png", "1280,1100"),
        ("status-page-phone.png", "390,1800"),
    ] {
        let shot = dir.join(name);
        let _ = std::fs::remove_file(&shot);
        let out = chromium(
            &profile,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={size}"),
                url.clone(),
            ],
        );
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

/// A phone-sized frame (375 CSS pixels, an iPhone's) holding the status page, and a
/// script that measures, once the page has rendered, what in it sticks out past the
/// frame's width (scrollable boxes included) and writes that on `<body>`. (Chromium's
/// own window is at least 500 pixels wide.)
const PHONE: &str = r##"<!doctype html><html><body>
<iframe id="phone" src="/status" style="width:375px;height:1800px;border:0"></iframe>
<script>
setTimeout(() => {
  const doc = document.getElementById("phone").contentDocument;
  const w = doc.documentElement.clientWidth;
  const wide = [...doc.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > w + 1)
    .map(e => e.tagName + (e.id ? "#" + e.id : ""));
  const scrolls = [...doc.querySelectorAll(".scroll")].filter(e => e.scrollWidth > e.clientWidth).length;
  document.body.dataset.width = w;
  document.body.dataset.rows = doc.querySelectorAll("tr[data-server], tr[data-route]").length;
  document.body.dataset.overflow = wide.slice(0, 8).join(" ") + (scrolls ? " scrolling:" + scrolls : "");
}, 3000);
</script></body></html>"##;

#[test]
fn the_status_page_fits_a_phone_without_sideways_scrolling() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let (addr, admin) = (proxy.addr, proxy.admin.unwrap());
    let (done, load) = load(addr, admin);
    let status = call(admin, "GET", "/api/status", None);
    assert_eq!(status.status, 200);
    done.store(true, Ordering::SeqCst);
    for l in load {
        l.join().unwrap();
    }
    // The page as weir serves it and weir's answer to its poll, from a page server
    // that also serves the frame (which may only look into a page of its own origin).
    let page = include_str!("../src/admin/status.html").to_string();
    let site = serve_pages(
        "127.0.0.1",
        vec![
            ("/", "text/html", PHONE.to_string()),
            ("/status", "text/html; charset=utf-8", page),
            ("/api/status", "application/json", status.text()),
        ],
    );
    let profile = util::bin::temp_dir("chromium-phone");
    let out = chromium(
        &profile,
        &[
            "--window-size=800,1900".into(),
            "--dump-dom".into(),
            format!("http://{site}/"),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let width: u32 = body_attr(&dom, "data-width")
        .unwrap_or_else(|| panic!("the page measured itself: {dom}"))
        .parse()
        .unwrap();
    assert!(width <= 400, "a phone's width: {width}");
    assert_eq!(
        body_attr(&dom, "data-rows"),
        Some("4"),
        "routes and servers drawn: {dom}"
    );
    assert_eq!(
        body_attr(&dom, "data-overflow"),
        Some(""),
        "nothing wider than the phone: {dom}"
    );
}

#[test]
fn the_status_page_says_where_the_token_goes() {
    let token = "status-page-token-0123";
    let backends = util::named_backends(1);
    let mut config = util::admin::config(&backends);
    config.admin.as_mut().unwrap().token = Some(token.into());
    let proxy = util::start(config);
    let admin = proxy.admin.unwrap();
    let profile = util::bin::temp_dir("chromium-token");
    let url = format!("http://{admin}/status");
    let out = chromium(&profile, &["--dump-dom".into(), url.clone()]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("id=\"live\" class=\"off\""), "{dom}");
    assert!(
        dom.contains("<p id=\"hint\">") && dom.contains("/status#token=YOUR_TOKEN"),
        "the page says how to give the token: {dom}"
    );
    let out = chromium(
        &profile,
        &["--dump-dom".into(), format!("{url}#token=wrong")],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("was refused"), "{dom}");
    let out = chromium(
        &profile,
        &["--dump-dom".into(), format!("{url}#token={token}")],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("id=\"live\" class=\"on\""), "{dom}");
    assert!(dom.contains("<p id=\"hint\" hidden=\"\">"), "{dom}");
}

//! A real browser over HTTP/2: headless Chromium loads a page with a stylesheet, a
//! script and two images through a TLS listener with `h2 = true`, from two origins (the
//! images from their own group by path). The script writes what it saw to the DOM once
//! the images have loaded and the stylesheet applied; every access-log line for the
//! page's requests says `HTTP/2.0`.

mod util;

use std::fs;
use std::path::Path;

use util::bin::temp_dir;
use util::browser::chromium;
use util::tls::Ca;
use weir::backend::Mode;
use weir::Config;

/// A 1×1 GIF.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\
\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

const PAGE: &str = r#"<!doctype html><html><head>
<link rel="stylesheet" href="/style.css">
</head><body><h1 id="title">weir over h2</h1>
<img id="dot" src="/img/dot.gif"><img id="box" src="/img/box.svg">
<script src="/app.js"></script>
</body></html>"#;

const CSS: &str = "#title { color: rgb(1, 2, 3); }\n";

/// Waits for both images, then writes the stylesheet's colour and the images' sizes.
const JS: &str = r#"
const imgs = [...document.images];
Promise.all(imgs.map(i => i.decode())).then(() => {
  const color = getComputedStyle(document.getElementById("title")).color;
  const sizes = imgs.map(i => i.id + "=" + i.naturalWidth + "x" + i.naturalHeight);
  document.body.dataset.done = "css " + color + " " + sizes.join(" ");
}, e => { document.body.dataset.done = "failed " + e; });
"#;

const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="8"><rect width="16" height="8" fill="red"/></svg>"#;

fn write(dir: &Path, files: &[(&str, &[u8])]) {
    fs::create_dir_all(dir).unwrap();
    for (name, body) in files {
        fs::write(dir.join(name), body).unwrap();
    }
}

#[test]
fn chromium_loads_a_page_over_h2_and_the_log_says_http_2() {
    let dir = temp_dir("h2-browser");
    let (site, images) = (dir.join("site"), dir.join("images"));
    let page = [
        ("index.html", PAGE.as_bytes()),
        ("style.css", CSS.as_bytes()),
        ("app.js", JS.as_bytes()),
    ];
    write(&site, &page);
    write(
        &images.join("img"),
        &[("dot.gif", GIF), ("box.svg", SVG.as_bytes())],
    );
    let (site, images) = (
        util::backend(Mode::Dir(site)),
        util::backend(Mode::Dir(images)),
    );
    let ca = Ca::new();
    let leaf = ca.leaf(&dir, "site", &["site.test"]);
    let log = dir.join("access.log");
    let text = format!(
        r#"
listen = [{{ addr = "127.0.0.1:0", tls = {{ cert = {:?}, key = {:?} }}, h2 = true }}]
threads = 2
[[middleware]]
builtin = "log"
config = {{ format = "combined", path = {log:?} }}
[[middleware]]
builtin = "balancer"
[upstreams.site]
servers = ["{site}"]
[upstreams.images]
servers = ["{images}"]
[[routes]]
path = "/img/"
upstream = "images"
[[routes]]
upstream = "site"
"#,
        leaf.cert, leaf.key
    );
    let proxy = util::start(Config::parse(&text, "h2_browser.toml").unwrap());
    let port = proxy.addr.port();
    let out = chromium(
        &dir.join("profile"),
        &[
            // The test's CA is not in Chromium's store; the name maps to loopback.
            "--ignore-certificate-errors".into(),
            "--host-resolver-rules=MAP site.test 127.0.0.1".into(),
            "--dump-dom".into(),
            format!("https://site.test:{port}/index.html"),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-done=\"css rgb(1, 2, 3) dot=1x1 box=16x8\""),
        "the page did not render: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.stop().unwrap();
    let log = fs::read_to_string(&log).unwrap();
    for path in [
        "/index.html",
        "/style.css",
        "/app.js",
        "/img/dot.gif",
        "/img/box.svg",
    ] {
        let line = format!("\"GET {path} HTTP/2.0\" 200");
        assert!(log.contains(&line), "{line} not in\n{log}");
    }
    // Every request of the page (a favicon's too) came over h2.
    for line in log.lines() {
        assert!(line.contains(" HTTP/2.0\" "), "not HTTP/2: {line}");
    }
}

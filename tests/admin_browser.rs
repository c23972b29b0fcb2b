//! The admin listener against a hostile web page, in a real browser (headless
//! Chromium): a page on another site the operator happens to open must not be able to
//! drain servers (cross-site request forgery), and a name that an attacker's DNS points
//! at 127.0.0.1 must not read the admin API (DNS rebinding).

mod util;

use std::net::SocketAddr;

use util::admin::json;
use util::browser::{chromium, serve_pages};
use util::client::{get, once};

/// The attack: every way a page can send a POST to another origin without asking it
/// first (fetch in `no-cors` mode with and without a body, a beacon, HTML forms), and
/// one that does ask (a header only the API's own clients send forces a preflight,
/// which weir never approves). When all have settled the page writes what it saw to
/// `data-done`, so the test knows the attempts were made.
fn attack_page(admin: SocketAddr, servers: &[SocketAddr]) -> String {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let list = list.join(", ");
    let forms: String = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "<iframe name=\"sink{i}\"></iframe><form id=\"f{i}\" method=\"POST\" target=\"sink{i}\" \
                 enctype=\"text/plain\" action=\"http://{admin}/api/upstreams/default/servers/{s}/drain\"></form>"
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html><body>{forms}<script>
"use strict";
const drain = s => "http://{admin}/api/upstreams/default/servers/" + s + "/drain";
const seen = [];
const note = p => p.then(r => seen.push(r.type + " " + r.status), e => seen.push("refused"));
async function attack() {{
  for (const s of [{list}]) {{
    await note(fetch(drain(s), {{method: "POST", mode: "no-cors"}}));
    await note(fetch(drain(s), {{method: "POST", mode: "no-cors", body: ""}}));
    await note(fetch(drain(s), {{method: "POST", mode: "no-cors", body: "{{}}", headers: {{"Content-Type": "text/plain"}}}}));
    await note(fetch(drain(s), {{method: "POST", headers: {{"X-Weir-Admin": "1", "Content-Type": "application/json"}}}}));
    navigator.sendBeacon(drain(s));
  }}
  for (let i = 0; i < {n}; i++) {{
    await new Promise(done => {{
      document.getElementsByName("sink" + i)[0].onload = done;
      document.getElementById("f" + i).submit();
    }});
    seen.push("form " + i);
  }}
  document.body.dataset.done = seen.join(", ");
}}
attack();
</script></body></html>"#,
        n = servers.len()
    )
}

#[test]
fn a_page_on_another_site_cannot_drain_servers() {
    let backends = util::named_backends(2);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    // Another origin: same machine, another port (a different site to the browser).
    let site = serve_pages(
        "127.0.0.1",
        vec![("/", "text/html", attack_page(admin, &backends))],
    );
    let profile = util::bin::temp_dir("chromium-csrf");
    let out = chromium(&profile, &["--dump-dom".into(), format!("http://{site}/")]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-done=\"") && dom.contains("form 1"),
        "the page made its attempts: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up = json(admin, "/api/upstreams");
    for (i, b) in backends.iter().enumerate() {
        assert_eq!(
            up["groups"][0]["servers"][i]["drained"], false,
            "{b} was drained by a page on another site: {dom}"
        );
    }
    assert_eq!(
        once(proxy.addr, &get("/")).status,
        200,
        "the proxy still serves"
    );
}

#[test]
fn a_rebound_name_cannot_read_the_admin_api() {
    let backends = util::named_backends(1);
    let proxy = util::start(util::admin::config(&backends));
    let admin = proxy.admin.unwrap();
    // What DNS rebinding achieves: the browser takes evil.example to be 127.0.0.1, so
    // a page of evil.example may read what that address answers, as same-origin.
    let profile = util::bin::temp_dir("chromium-rebind");
    let rule = "--host-resolver-rules=MAP evil.example 127.0.0.1".to_string();
    let url = format!("http://evil.example:{}/api/config", admin.port());
    let out = chromium(&profile, &[rule, "--dump-dom".into(), url]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("not allowed") && dom.contains("admin.allowed_hosts"),
        "the answer is a refusal: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dom.contains("\"listen\""), "the config leaked: {dom}");
    // The same browser, asking by the listener's own address, gets the config.
    let profile = util::bin::temp_dir("chromium-own");
    let out = chromium(
        &profile,
        &["--dump-dom".into(), format!("http://{admin}/api/config")],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("\"listen\""), "{dom}");
}

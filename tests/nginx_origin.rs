//! 64 spellings of `/admin` against a deny route, with a real nginx as the origin behind
//! weir: none may reach the origin's admin page (issue 21, item 2).
//!
//! nginx decodes `%2F` and then resolves dot segments, and its `location /admin` is a
//! string prefix, so `/x/..%2fadmin`, `/admin;x=1` or `/admin.` are its `/admin`
//! (the last two as Tomcat and IIS read them too). A weir that routed `%2F` as data and
//! forwarded the target as sent let 11 of these through; the test first shows that
//! nginx itself is fooled by them, then that none gets past weir.

mod util;

use std::net::SocketAddr;

use util::client::once;
use util::plugins::plugins;

const MARKER: &str = "ADMIN-PAGE-MARKER";

/// The origin: its admin page under a string-prefix location, as in the issue.
const SERVER: &str = r#"    location /admin { return 200 "ADMIN-PAGE-MARKER\n"; }
    location / { return 200 "public\n"; }"#;

/// 64 spellings of `/admin`: plain forms the deny must catch, and every trick of
/// issue 21 (decoded unreserved characters, dot segments plain and encoded, merged
/// slashes, encoded slashes and backslashes, path parameters, trailing dots, spaces
/// and control characters, double encoding).
const SPELLINGS: [&str; 64] = [
    "/admin",
    "/admin/",
    "/admin/x",
    "/admin?x=1",
    "/admin/?x",
    "//admin",
    "///admin",
    "/./admin",
    "/x/../admin",
    "/x/./../admin",
    "/x/y/../../admin",
    "/x//..//admin",
    "/x/../admin/",
    "/admin/.",
    "/admin/x/..",
    "/%61dmin",
    "/%61%64%6d%69%6e",
    "/a%64min",
    "/adm%69n",
    "/ad%6din/",
    "/ADMIN",
    "/Admin",
    "/%41dmin",
    "/x/%2e%2e/admin",
    "/x/%2E%2E/admin",
    "/x/.%2e/admin",
    "/x/%2e./admin",
    "/%2e/admin",
    "/x/..%2fadmin",
    "/x/..%2Fadmin",
    "/%2fadmin",
    "/%2Fadmin",
    "/admin%2fx",
    "/admin%2F",
    "/x%2f..%2fadmin",
    "/x/%2e%2e%2fadmin",
    "/x/..%5cadmin",
    "/%5cadmin",
    "/admin%5cx",
    "/x/..\\admin",
    "/admin;x=1",
    "/admin;",
    "/admin..;/",
    "/x/..;/admin",
    "/;/admin",
    "/admin%3bx=1",
    "/admin%3B",
    "/admin.",
    "/admin%2e",
    "/admin..",
    "/admin./",
    "/admin%20",
    "/admin%20/",
    "/admin%09",
    "/admin%00",
    "/admin%00.png",
    "/admin%0a",
    "/%2e%2e/admin",
    "/../admin",
    "/x/%252e%252e/admin",
    "/%2561dmin",
    "/admin%252f",
    "/admin#frag",
    "/x/..%2f..%2fadmin",
];

/// The issue's examples that reached the origin's admin page through the old weir.
const KNOWN_BYPASSES: [&str; 7] = [
    "/x/..%2fadmin",
    "/%2fadmin",
    "/admin%2fx",
    "/admin;x=1",
    "/admin..;/",
    "/admin%20",
    "/admin.",
];

fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    let r = once(addr, req.as_bytes());
    (r.status, r.text())
}

/// weir with a deny route on `/admin` (the C plugin `deny-c` in the route's chain) and
/// a catch-all; both go to the same nginx, so only the deny stands between a spelling
/// and the admin page.
fn weir_before(origin: SocketAddr) -> util::TestProxy {
    let deny = plugins().deny.display().to_string();
    let text = format!(
        r#"allow_root = true
listen = "127.0.0.1:0"
[[middleware]]
plugin = "{deny}"
name = "deny-admin"
global = false
config = {{ prefix = "/admin" }}
[upstreams.site]
servers = ["{origin}"]
[[routes]]
path = "/admin"
upstream = "site"
middleware = ["deny-admin"]
[[routes]]
upstream = "site"
"#
    );
    util::start(weir::Config::parse(&text, "nginx_origin.toml").unwrap())
}

#[test]
fn no_spelling_of_admin_reaches_an_nginx_origins_admin_page() {
    let Some(bin) = util::nginx::binary() else {
        eprintln!("SKIPPED: nginx is not installed (CI installs nginx-light and fails without it)");
        return;
    };
    let nginx = util::nginx::start(&bin, "spellings", SERVER);
    // The origin is fooled by each of the issue's examples when asked directly.
    for target in KNOWN_BYPASSES {
        let (status, body) = get(nginx.addr, target);
        assert_eq!(
            (status, body.trim()),
            (200, MARKER),
            "nginx directly: {target}"
        );
    }
    let proxy = weir_before(nginx.addr);
    // Ordinary traffic goes through.
    assert_eq!(get(proxy.addr, "/public/x?y=1"), (200, "public\n".into()));
    assert_eq!(get(proxy.addr, "/administrators"), (200, MARKER.to_string() + "\n"),
        "not /admin for weir's segment-boundary routes, but nginx's string prefix: the control that the origin is live");
    let mut outcomes = Vec::new();
    for target in SPELLINGS {
        let (status, body) = get(proxy.addr, target);
        assert!(
            !body.contains(MARKER),
            "{target} reached the admin page ({status})"
        );
        // Refused (400), denied (403), or, for another resource (`/ADMIN`: nginx is
        // case-sensitive), the origin's public page.
        let public = status == 200 && body == "public\n";
        assert!(
            matches!(status, 400 | 403) || public,
            "{target}: {status} {body}"
        );
        outcomes.push(format!("{status} {target}"));
    }
    // Each plain form is denied by the route's rule, not merely refused.
    for target in [
        "/admin",
        "/x/..%2fadmin",
        "/%61dmin",
        "//admin",
        "/admin%2F",
    ] {
        assert_eq!(get(proxy.addr, target).0, 403, "{target}");
    }
    eprintln!("{}", outcomes.join("\n"));
}

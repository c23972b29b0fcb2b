//! `GET /api/config` through the real admin listener: every key of the file shows under
//! its own name (routes' `scheme`, `listeners` and `redirect`, a group's `tls`, a
//! listener's `name` and `tls` among them), defaults filled in, and no secret leaves:
//! not the admin token, not a route's secret-looking header value, no key material.

mod util;

use std::path::Path;

use serde_json::{json, Value};
use util::admin::call;
use util::bin::temp_dir;
use util::tls::Ca;

const TOKEN: &str = "config-token-0123456789";
const ROUTE_SECRET: &str = "route-secret-value";

/// A config with a named TLS listener beside a plain one, a TLS group and a plain group
/// with health checks, routes that use scheme, listeners, redirect and headers, and a
/// token.
fn config_text(dir: &Path, backend: std::net::SocketAddr) -> String {
    let ca = Ca::new();
    let site = ca.leaf(dir, "site", &["site.test"]);
    let client = ca.leaf(dir, "client", &["client.test"]);
    let ca_file = ca.write(dir);
    let p = |path: &Path| path.display().to_string();
    format!(
        r#"
listen = ["127.0.0.1:0", {{ addr = "127.0.0.1:0", name = "public", tls = {{ cert = "{site_cert}", key = "{site_key}", min_version = "1.3" }} }}]

[upstreams.api]
servers = ["{backend}"]
balancer = "hash"
hash_key = "header:X-User"
tls = {{ sni = "origin.test", ca = "{ca}", cert = "{client_cert}", key = "{client_key}" }}

[upstreams.web]
servers = [{{ addr = "{backend}", weight = 2 }}]
health = {{ path = "/healthz", interval = "250ms" }}

[[routes]]
name = "to-https"
scheme = "http"
redirect = "https"
upstream = "web"

[[routes]]
name = "api"
path = "/api"
listeners = ["public"]
headers = {{ "X-Api-Key" = "{ROUTE_SECRET}" }}
upstream = "api"

[[routes]]
name = "web"
upstream = "web"

[admin]
listen = "127.0.0.1:0"
token = "{TOKEN}"
"#,
        site_cert = p(&site.cert),
        site_key = p(&site.key),
        ca = p(&ca_file),
        client_cert = p(&client.cert),
        client_key = p(&client.key),
    )
}

#[test]
fn api_config_shows_every_key_of_the_file_and_no_secret() {
    let dir = temp_dir("admin-config");
    let backend = util::named_backends(1)[0];
    let text = config_text(&dir, backend);
    let config = weir::Config::parse(&text, "admin-config.toml").expect("config parses");
    let proxy = util::start(config);
    let admin = proxy.admin.expect("admin listener");

    let r = call(admin, "GET", "/api/config", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    let c: Value = serde_json::from_str(&body).expect("JSON");
    let path = |name: &str| dir.join(name).display().to_string();

    // Listeners: the plain one as a table too, the TLS one with its name and files.
    assert_eq!(c["listen"][0]["tls"], Value::Null, "{body}");
    assert_eq!(c["listen"][1]["name"], "public", "{body}");
    let tls = &c["listen"][1]["tls"];
    assert_eq!(
        tls["certs"],
        json!([{ "cert": path("site.pem"), "key": path("site.key") }])
    );
    assert_eq!(tls["min_version"], "1.3", "{body}");
    assert_eq!(tls["sni_strict"], false, "{body}");

    // Groups keyed by name, as `[upstreams.NAME]` writes them.
    let api = &c["upstreams"]["api"];
    assert_eq!(api["balancer"], "hash", "{body}");
    assert_eq!(api["hash_key"], "header:X-User", "{body}");
    assert_eq!(
        api["tls"],
        json!({ "sni": "origin.test", "ca": path("ca.pem"), "cert": path("client.pem"),
                "key": path("client.key"), "verify": true })
    );
    let web = &c["upstreams"]["web"];
    assert_eq!(
        web["servers"],
        json!([{ "addr": backend.to_string(), "weight": 2 }])
    );
    assert_eq!(web["tls"], Value::Null, "{body}");
    assert_eq!(web["health"]["path"], "/healthz", "{body}");
    assert_eq!(web["health"]["interval"], "250ms", "{body}");
    // Defaults, as the file would write them.
    assert_eq!(web["keepalive_timeout"], "1m", "{body}");
    assert_eq!(web["max_fails"], 1, "{body}");
    assert_eq!(web["fail_timeout"], "10s", "{body}");
    assert_eq!(c["timeouts"]["header"], "10s", "{body}");

    // Routes: what decides where a request arrives, and the redirect.
    let routes = &c["routes"];
    assert_eq!(routes[0]["name"], "to-https", "{body}");
    assert_eq!(routes[0]["scheme"], "http", "{body}");
    assert_eq!(routes[0]["redirect"], "https", "{body}");
    assert_eq!(routes[1]["listeners"], json!(["public"]), "{body}");
    assert_eq!(routes[1]["upstream"], "api", "{body}");
    assert_eq!(routes[1]["headers"]["X-Api-Key"], "<redacted>", "{body}");

    // Secrets: shown as set, never as what they are; key files by path only.
    assert_eq!(c["admin"]["token"], "<redacted>", "{body}");
    assert!(!body.contains(TOKEN), "{body}");
    assert!(!body.contains(ROUTE_SECRET), "{body}");
    assert!(!body.contains("PRIVATE KEY"), "{body}");
}

#[test]
fn api_config_without_a_token_shows_null() {
    let proxy = util::start(util::admin::config(&util::named_backends(1)));
    let admin = proxy.admin.unwrap();
    let c = util::admin::json(admin, "/api/config");
    assert_eq!(c["admin"]["token"], Value::Null, "{c}");
    // The one group of a file without `[upstreams.NAME]` is `[upstream]`.
    assert_eq!(c["upstream"]["balancer"], "round-robin", "{c}");
    assert_eq!(c["upstreams"], Value::Null, "{c}");
}

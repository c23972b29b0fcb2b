//! How a config is shown (`/api/config`): serde's `Serialize`, derived on the config
//! types beside their `Deserialize`, so a key added to the file is shown without anyone
//! remembering to add it here. The shape is the file's: the same key names and tables,
//! with every default filled in, so a user can read it against what they wrote.
//!
//! Secrets never leave: the admin token shows as `"<redacted>"`, and so does the value
//! of any key that looks secret (`token`, `password`, `key`, `auth`, ...) in a
//! middleware's own table or among a route's headers. Paths to TLS keys are shown, as
//! `nginx -T` shows `ssl_certificate_key`: the path is no secret, the file's contents
//! are, and weir never reads them into the config.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::{Config, GroupConfig};
use crate::upstream::state::Passive;
use crate::upstream::Upstream;

/// What a secret is shown as.
pub const REDACTED: &str = "<redacted>";

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Taken apart whole, so a field added to `Config` fails to compile until it is
        // shown here too.
        let Config {
            source,
            listen,
            threads,
            splice,
            upstream,
            timeouts,
            limits,
            forwarded,
            http2,
            middleware,
            groups,
            routes,
            admin,
            privileges,
        } = self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("source", source)?;
        m.serialize_entry("listen", listen)?;
        m.serialize_entry("threads", threads)?;
        m.serialize_entry("splice", splice)?;
        // `[upstream]` or `[upstreams.NAME]`, as the file has it.
        match groups.is_empty() {
            true => m.serialize_entry("upstream", upstream)?,
            false => m.serialize_entry("upstreams", &ByName(groups))?,
        }
        m.serialize_entry("routes", routes)?;
        m.serialize_entry("timeouts", timeouts)?;
        m.serialize_entry("limits", limits)?;
        m.serialize_entry("forwarded", forwarded)?;
        m.serialize_entry("http2", http2)?;
        m.serialize_entry("middleware", middleware)?;
        m.serialize_entry("admin", admin)?;
        m.serialize_entry("user", &privileges.user)?;
        m.serialize_entry("group", &privileges.group)?;
        m.serialize_entry("allow_root", &privileges.allow_root)?;
        m.end()
    }
}

/// `[upstreams.NAME]`: the groups as a table keyed by name.
struct ByName<'a>(&'a [GroupConfig]);

impl Serialize for ByName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|g| (&g.name, g)))
    }
}

/// `servers`, each as the table form `{ addr, weight }`.
pub(super) fn servers<S: Serializer>(list: &[Upstream], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(list.len()))?;
    for u in list {
        seq.serialize_element(&Server {
            addr: u.addr,
            weight: u.weight,
        })?;
    }
    seq.end()
}

#[derive(Serialize)]
struct Server {
    addr: std::net::SocketAddr,
    weight: u32,
}

/// Passive health as the group's own keys `max_fails`, `fail_timeout`, `fail_on_5xx`.
pub(super) fn passive<S: Serializer>(p: &Passive, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Keys {
        max_fails: u32,
        #[serde(with = "super::duration")]
        fail_timeout: std::time::Duration,
        fail_on_5xx: bool,
    }
    let Passive {
        max_fails,
        fail_timeout,
        fail_on_5xx,
    } = *p;
    Keys {
        max_fails,
        fail_timeout,
        fail_on_5xx,
    }
    .serialize(s)
}

/// The admin token: whether one is set, never what it is.
pub(super) fn token<S: Serializer>(t: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    t.as_ref().map(|_| REDACTED).serialize(s)
}

/// A table of the user's own keys (a middleware's `config`, a route's `headers`) with
/// the values of secret-looking keys replaced, at any depth.
pub(super) fn redacted<T: Serialize, S: Serializer>(table: &T, s: S) -> Result<S::Ok, S::Error> {
    let value = toml::Value::try_from(table).map_err(serde::ser::Error::custom)?;
    redact(value).serialize(s)
}

fn redact(v: toml::Value) -> toml::Value {
    use toml::Value;
    match v {
        Value::Table(t) => Value::Table(
            t.into_iter()
                .map(|(k, v)| match secret(&k) {
                    true => (k, Value::String(REDACTED.into())),
                    false => (k, redact(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(redact).collect()),
        v => v,
    }
}

/// Keys whose values are secrets, whatever table they are in.
fn secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let words = [
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "auth",
        "credential",
        "cookie",
    ];
    words.iter().any(|w| k.contains(w)) && k != "hash_key"
}

#[cfg(test)]
mod tests {
    use super::secret;
    use crate::config::Config;
    use serde_json::Value;

    /// Every key the file may hold, defaults left out so the shown config fills them.
    const FULL: &str = r#"
listen = ["127.0.0.1:8080", { addr = "127.0.0.1:8443", name = "tls-in", tls = { certs = [{ cert = "a.pem", key = "a.key" }], sni_strict = true, min_version = "1.3", client_ca = "ca.pem" } }]
threads = 3
splice = false
[upstreams.api]
servers = ["127.0.0.1:9001", { addr = "127.0.0.1:9002", weight = 3 }]
balancer = "hash"
hash_key = "cookie:sid"
keepalive = 4
keepalive_timeout = "90s"
max_fails = 2
fail_timeout = "1500ms"
fail_on_5xx = true
retries = 1
debug_headers = true
health = { path = "/up", interval = "1s", expect_status = "200" }
tls = { sni = "api.internal", ca = "ca.pem", cert = "c.pem", key = "c.key", verify = false }
protocol = "h2"
max_streams_per_connection = 50
[upstreams.web]
servers = ["127.0.0.1:9003"]
[[routes]]
name = "api"
hosts = ["*.example.com"]
path_exact = "/api"
methods = ["GET"]
headers = { X-User = "a" }
scheme = "https"
listeners = ["tls-in"]
upstream = "api"
strip_prefix = "/api"
middleware = ["tag"]
[[routes]]
upstream = "web"
redirect = "https"
scheme = "http"
[timeouts]
header = "2s"
[limits]
max_body_bytes = 1024
escaped_slashes = "keep"
ambiguous_segments = "keep"
listen_backlog = 128
[forwarded]
for = false
[http2]
max_concurrent_streams = 50
flood_window = "2s"
max_resets = 10
max_control_frames = 10
max_window_updates = 10
max_empty_data = 10
[[middleware]]
builtin = "headers"
name = "tag"
global = false
config = { set = { X-Tag = "t" } }
[admin]
listen = "127.0.0.1:9901"
allowed_hosts = ["lb.example.com"]
"#;

    fn shown(c: &Config) -> Value {
        let mut v = serde_json::to_value(c).unwrap();
        v.as_object_mut().unwrap().remove("source");
        v
    }

    /// TOML has no null: an absent key is how the file says "none".
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            v => v,
        }
    }

    /// Every key `file` writes is shown, under the same name (a string the file may
    /// write for a table, like a server's `"host:port"`, is shown as the table).
    fn shows_every_key(file: &toml::Value, shown: &Value, at: &str) {
        match file {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let inner = &shown[k.as_str()];
                    assert!(!inner.is_null(), "{at}.{k} is not shown");
                    shows_every_key(v, inner, &format!("{at}.{k}"));
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    shows_every_key(v, &shown[i], &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_key_of_the_file_is_shown() {
        let c = Config::parse(FULL, "w.toml").unwrap();
        let file: toml::Value = toml::from_str(FULL).unwrap();
        shows_every_key(&file, &shown(&c), "");
    }

    /// The shown config, written back as TOML, is a file weir reads to the same config:
    /// every key is shown under the name the file gives it, with the same meaning.
    #[test]
    fn the_shown_config_reads_back_as_the_same_config() {
        for text in [
            FULL,
            "[upstream]\nservers = [\"127.0.0.1:1\"]\nhealth = {}\ntls = true\n",
        ] {
            let c = Config::parse(text, "w.toml").unwrap();
            let toml = toml::to_string(&without_nulls(shown(&c))).unwrap();
            let again =
                Config::parse(&toml, "shown.toml").unwrap_or_else(|e| panic!("{e}\n{toml}"));
            assert_eq!(shown(&again), shown(&c), "{toml}");
        }
    }

    #[test]
    fn secrets_in_middleware_tables_and_route_headers_are_redacted() {
        let text = "[upstream]\nservers = [\"127.0.0.1:1\"]\n\
                    [[routes]]\nheaders = { Authorization = \"Bearer r0ute\", X-User = \"bob\" }\n\
                    [[middleware]]\nplugin = \"p.so\"\n\
                    config = { api_token = \"t0ken\", nested = [{ password = \"pa55\", user = \"u\" }] }\n\
                    [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"0123456789abcdef-admin\"\n";
        let c = Config::parse(text, "w.toml").unwrap();
        let v = shown(&c);
        let body = v.to_string();
        for secret in ["r0ute", "t0ken", "pa55", "0123456789abcdef-admin"] {
            assert!(!body.contains(secret), "{secret}: {body}");
        }
        assert_eq!(v["routes"][0]["headers"]["X-User"], "bob");
        assert_eq!(v["routes"][0]["headers"]["Authorization"], "<redacted>");
        assert_eq!(v["middleware"][0]["config"]["nested"][0]["user"], "u");
        assert_eq!(v["middleware"][0]["config"]["api_token"], "<redacted>");
        assert_eq!(v["admin"]["token"], "<redacted>");
    }

    #[test]
    fn secret_looking_keys() {
        for k in [
            "token",
            "api_key",
            "Authorization",
            "X-Api-Key",
            "db_password",
            "Cookie",
        ] {
            assert!(secret(k), "{k}");
        }
        for k in ["hash_key", "path", "X-User", "weight"] {
            assert!(!secret(k), "{k}");
        }
    }
}

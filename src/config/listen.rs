//! `listen`: one address, or several listeners, plain and TLS side by side.
//!
//! ```toml
//! listen = "0.0.0.0:80"                                  # one plain listener
//! listen = ["0.0.0.0:80", { addr = "0.0.0.0:443", tls = { cert = "site.pem", key = "site.key" } }]
//! listen = [{ addr = "0.0.0.0:80", name = "public" }, { addr = "10.0.0.1:80", name = "internal" }]
//! ```
//!
//! A table may give the listener a `name` (unique among them), which routes name in
//! `listeners = [...]`. Only a name does: an unnamed listener cannot be chosen by its
//! address, because the address is not an identity. Two `127.0.0.1:0` entries are legal
//! (and usual in tests), `localhost:80` and `127.0.0.1:80` are one socket spelled twice,
//! and moving a listener to another port should not silently change which routes it
//! serves. A name is explicit, survives an address change, and reads well in
//! `weir check`.
//!
//! A TLS table holds one certificate (`cert` and `key`) or several (`certs = [{ cert,
//! key }, ...]`, chosen by SNI; the first is the default), `sni_strict` (refuse names
//! no certificate carries instead of answering with the default) and `min_version`
//! (`"1.2"`, the default, or `"1.3"`), and `client_ca` (require a client certificate
//! from these CAs: mutual TLS). Paths are taken as written, relative to the
//! working directory, as plugin paths are.
//!
//! A TLS listener offers HTTP/2 by default, as nginx, Caddy and HAProxy do once h2 is
//! configured: ALPN `h2` before `http/1.1`; `h2 = false` offers only `http/1.1`. A
//! plain listener takes HTTP/2 only with `h2c = true` (prior knowledge: a connection
//! that opens with the HTTP/2 preface), since plain h2 is rare outside a trusted
//! network. `h2 = true` on a plain listener and `h2c = true` on a TLS one are refused,
//! so a typo cannot silently leave h2 off; `h2 = false` on a plain listener says what
//! is true anyway and is accepted.
//!
//! `reuse_port = true` sets `SO_REUSEPORT`: several weir processes (of the same user)
//! may listen on the address, each with its own accept queue, and the kernel spreads
//! new connections across them (see README "Scaling out"). Off by default, as in nginx
//! (`listen ... reuseport`), since a stray second process would silently take half the
//! traffic.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::proxy_protocol::{proxy_protocol, ProxyProtocol};
use super::{resolve, ConfigError};

/// One listening socket; shown as the table form `{ addr, name, tls }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub addr: SocketAddr,
    /// TLS settings; `None` for plain HTTP.
    pub tls: Option<ServerTls>,
    /// What routes call it in `listeners = [...]`; unique among the listeners.
    pub name: Option<String>,
    /// TLS listeners: offer HTTP/2 by ALPN (`h2`, then `http/1.1`). On by default in a
    /// file (`h2 = false` turns it off); always false on a plain listener.
    pub h2: bool,
    /// Plain listeners: take HTTP/2 with prior knowledge (the connection preface).
    pub h2c: bool,
    /// Read a PROXY header first on every connection (`proxy_protocol` and `trusted`).
    #[serde(flatten)]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `SO_REUSEPORT`: other processes (other weirs, started as the same user) may bind
    /// the same address, and the kernel spreads new connections across them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reuse_port: bool,
}

impl Listener {
    /// Whether and how HTTP/2 is taken here, as `weir check` and the start-up line say
    /// it: `h2` (TLS, by ALPN), `http/1.1 only` (TLS with `h2 = false`), `h2c` (plain,
    /// prior knowledge); `None` for a plain HTTP/1.1 listener, the usual case.
    pub fn http2(&self) -> Option<&'static str> {
        match (self.tls.is_some(), self.h2, self.h2c) {
            (true, true, _) => Some("h2"),
            (true, false, _) => Some("http/1.1 only"),
            (false, _, true) => Some("h2c"),
            (false, _, false) => None,
        }
    }
}

impl From<SocketAddr> for Listener {
    fn from(addr: SocketAddr) -> Self {
        Listener {
            addr,
            tls: None,
            name: None,
            h2: false,
            h2c: false,
            proxy_protocol: None,
            reuse_port: false,
        }
    }
}

/// TLS on a listener: the certificates it offers and what it accepts. Shown with
/// `certs` always a list, also for a table that wrote one `cert` and `key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerTls {
    /// At least one; the first answers clients whose name no certificate carries.
    pub certs: Vec<CertFiles>,
    /// Refuse (handshake alert) a client asking for a name no certificate carries.
    pub sni_strict: bool,
    pub min_version: TlsVersion,
    /// CA certificates (PEM) a client must present a certificate from (mutual TLS);
    /// `None` asks clients for none.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// One certificate and its key.
    pub fn single(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ServerTls {
            certs: vec![CertFiles {
                cert: cert.into(),
                key: key.into(),
            }],
            sni_strict: false,
            min_version: TlsVersion::Tls12,
            client_ca: None,
        }
    }
}

/// A certificate chain (leaf first, then intermediates) and its private key, in PEM.
/// Only the paths are kept (and shown), never what the files hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The oldest TLS version a listener accepts. Older than 1.2 is never offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

/// Shown as the file writes it: `"1.2"` or `"1.3"`.
impl Serialize for TlsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        })
    }
}

/// `listen` as written: a string, a table, or a list of either.
pub(super) struct ListenFile(pub Vec<Entry>);

pub(super) enum Entry {
    Addr(String),
    /// Boxed: a table is ten times the size of an address, and most entries are one.
    Table(Box<Table>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Table {
    addr: String,
    name: Option<String>,
    tls: Option<TlsTable>,
    /// `None`: the default (on for TLS).
    h2: Option<bool>,
    #[serde(default)]
    h2c: bool,
    proxy_protocol: Option<String>,
    trusted: Option<Vec<String>>,
    #[serde(default)]
    reuse_port: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsTable {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    certs: Vec<CertTable>,
    #[serde(default)]
    sni_strict: bool,
    min_version: Option<String>,
    client_ca: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertTable {
    cert: PathBuf,
    key: PathBuf,
}

const EXPECTING: &str =
    "\"host:port\", { addr = \"host:port\", name = \"...\", tls = { ... } }, or a list of them";

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTING)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Entry, E> {
                Ok(Entry::Addr(s.into()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                Table::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| Entry::Table(Box::new(t)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ListenFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListenFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTING)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ListenFile, E> {
                Ok(ListenFile(vec![Entry::Addr(s.into())]))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ListenFile, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ListenFile(vec![Entry::Table(Box::new(t))]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListenFile, A::Error> {
                let mut all = Vec::new();
                while let Some(e) = seq.next_element()? {
                    all.push(e);
                }
                Ok(ListenFile(all))
            }
        }
        d.deserialize_any(V)
    }
}

impl ListenFile {
    /// Resolves the addresses and checks the TLS tables. `line` gives an error the line
    /// of the `listen` value.
    pub(super) fn validate(self, file: &str, line: &str) -> Result<Vec<Listener>, ConfigError> {
        let many = self.0.len() > 1;
        let mut out: Vec<Listener> = Vec::with_capacity(self.0.len());
        if self.0.is_empty() {
            return Err(ConfigError::new(
                file,
                "listen",
                format!("needs at least one address{line}"),
            ));
        }
        for (i, entry) in self.0.into_iter().enumerate() {
            let key = if many {
                format!("listen[{i}]")
            } else {
                "listen".to_string()
            };
            let err = |k: &str, why: String| {
                ConfigError::new(file, format!("{key}{k}"), format!("{why}{line}"))
            };
            let (addr, name, tls, (h2, h2c), proxy, reuse_port) = match entry {
                Entry::Addr(a) => (a, None, None, (None, false), (None, None), false),
                Entry::Table(t) => (
                    t.addr,
                    t.name,
                    t.tls,
                    (t.h2, t.h2c),
                    (t.proxy_protocol, t.trusted),
                    t.reuse_port,
                ),
            };
            let proxy_protocol = proxy_protocol(proxy).map_err(|(k, why)| err(&k, why))?;
            let addr = resolve(&addr).map_err(|why| err("", why))?;
            if addr.port() != 0 && out.iter().any(|l| l.addr == addr) {
                return Err(err("", format!("{addr} is listed twice")));
            }
            if let Some(name) = &name {
                check_name(name, &out).map_err(|why| err(".name", why))?;
            }
            let tls = tls
                .map(|t| t.validate().map_err(|(k, why)| err(k, why)))
                .transpose()?;
            match (&tls, h2, h2c) {
                (None, Some(true), _) => {
                    let why = "needs `tls`; a plain listener takes HTTP/2 with `h2c = true`";
                    return Err(err(".h2", why.into()));
                }
                (Some(_), _, true) => {
                    let why =
                        "is for plain listeners; a TLS listener offers HTTP/2 by ALPN (`h2`, on by default)";
                    return Err(err(".h2c", why.into()));
                }
                _ => {}
            }
            out.push(Listener {
                h2: tls.is_some() && h2.unwrap_or(true),
                addr,
                tls,
                name,
                h2c,
                proxy_protocol,
                reuse_port,
            });
        }
        Ok(out)
    }
}

/// A listener name is a word routes can spell in a list, and unique: a route that names
/// it must mean one listener.
fn check_name(name: &str, earlier: &[Listener]) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    if name.is_empty() || !name.bytes().all(word) {
        return Err(format!(
            "invalid listener name {name:?}: use letters, digits, '-', '_' and '.'"
        ));
    }
    match earlier.iter().position(|l| l.name.as_deref() == Some(name)) {
        Some(i) => Err(format!(
            "listen[{i}] is named {name:?} already; routes pick listeners by name"
        )),
        None => Ok(()),
    }
}

impl TlsTable {
    fn validate(self) -> Result<ServerTls, (&'static str, String)> {
        let mut certs: Vec<CertFiles> = self
            .certs
            .into_iter()
            .map(|c| CertFiles {
                cert: c.cert,
                key: c.key,
            })
            .collect();
        match (self.cert, self.key) {
            (Some(cert), Some(key)) if certs.is_empty() => certs.push(CertFiles { cert, key }),
            (None, None) if !certs.is_empty() => {}
            (None, None) => {
                return Err((
                    ".tls",
                    "needs `cert` and `key`, or `certs = [{ cert, key }, ...]`".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err((
                    ".tls.certs",
                    "give `cert` and `key`, or `certs`, not both".into(),
                ))
            }
            (Some(_), None) => return Err((".tls.key", "is required with `cert`".into())),
            (None, Some(_)) => return Err((".tls.cert", "is required with `key`".into())),
        }
        let min_version = match self.min_version.as_deref() {
            None | Some("1.2") => TlsVersion::Tls12,
            Some("1.3") => TlsVersion::Tls13,
            Some(v) => {
                return Err((
                    ".tls.min_version",
                    format!("{v:?} is not \"1.2\" or \"1.3\" (older versions are never offered)"),
                ))
            }
        };
        Ok(ServerTls {
            certs,
            sni_strict: self.sni_strict,
            min_version,
            client_ca: self.client_ca,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, TlsVersion};

    fn parse(listen: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(&format!("listen = {listen}\n"), "w.toml")
    }

    #[test]
    fn every_shape_of_listen() {
        let c = parse(r#""127.0.0.1:80""#).unwrap();
        assert_eq!(c.listen.len(), 1);
        assert!(c.listen[0].tls.is_none());
        let c = parse(r#"{ addr = "127.0.0.1:443", tls = { cert = "a.pem", key = "a.key" } }"#)
            .unwrap();
        let tls = c.listen[0].tls.as_ref().unwrap();
        assert_eq!(tls.certs.len(), 1);
        assert_eq!(tls.min_version, TlsVersion::Tls12);
        let c = parse(
            r#"["127.0.0.1:80", { addr = "127.0.0.1:443", tls = { certs = [{ cert = "a.pem", key = "a.key" }, { cert = "b.pem", key = "b.key" }], sni_strict = true, min_version = "1.3" } }]"#,
        )
        .unwrap();
        let tls = c.listen[1].tls.as_ref().unwrap();
        assert_eq!(
            (tls.certs.len(), tls.sni_strict, tls.min_version),
            (2, true, TlsVersion::Tls13)
        );
    }

    #[test]
    fn listeners_may_be_named_once_each() {
        let c = parse(r#"["127.0.0.1:0", { addr = "127.0.0.1:0", name = "in-1" }]"#).unwrap();
        assert_eq!(c.listen[0].name, None);
        assert_eq!(c.listen[1].name.as_deref(), Some("in-1"));
        for (listen, why) in [
            (
                r#"[{ addr = "127.0.0.1:0", name = "a" }, { addr = "127.0.0.1:0", name = "a" }]"#,
                "listen[0] is named \"a\" already",
            ),
            (
                r#"["127.0.0.1:0", { addr = "127.0.0.1:0", name = "a b" }]"#,
                "invalid listener name",
            ),
        ] {
            let e = parse(listen).unwrap_err();
            assert_eq!(e.key, "listen[1].name", "{listen}: {e}");
            assert!(e.reason.contains(why), "{listen}: {e}");
        }
    }

    #[test]
    fn h2_is_on_for_tls_unless_turned_off_and_h2c_only_when_asked() {
        let c = parse(r#"["127.0.0.1:80", { addr = "127.0.0.1:81", h2c = true }]"#).unwrap();
        assert_eq!((c.listen[0].h2, c.listen[0].h2c), (false, false));
        assert_eq!((c.listen[1].h2, c.listen[1].h2c), (false, true));
        let tls = r#"tls = { cert = "a", key = "b" }"#;
        for (extra, h2) in [("", true), (", h2 = true", true), (", h2 = false", false)] {
            let c = parse(&format!(r#"{{ addr = "127.0.0.1:443", {tls}{extra} }}"#)).unwrap();
            assert_eq!(c.listen[0].h2, h2, "{extra}");
        }
        let c = parse(r#"{ addr = "127.0.0.1:80", h2 = false }"#).unwrap();
        assert!(!c.listen[0].h2);
    }

    #[test]
    fn listen_errors_name_the_key() {
        for (listen, key, why) in [
            (r#"[]"#, "listen", "at least one"),
            (
                r#"["127.0.0.1:80", "127.0.0.1:80"]"#,
                "listen[1]",
                "listed twice",
            ),
            (
                r#"{ addr = "127.0.0.1:443", tls = { cert = "a.pem" } }"#,
                "listen.tls.key",
                "required",
            ),
            (
                r#"{ addr = "127.0.0.1:443", tls = {} }"#,
                "listen.tls",
                "needs `cert` and `key`",
            ),
            (
                r#"{ addr = "127.0.0.1:443", tls = { cert = "a", key = "b", min_version = "1.1" } }"#,
                "listen.tls.min_version",
                "never offered",
            ),
            (
                r#"{ addr = "127.0.0.1:80", h2 = true }"#,
                "listen.h2",
                "needs `tls`",
            ),
            (
                r#"{ addr = "127.0.0.1:443", tls = { cert = "a", key = "b" }, h2c = true }"#,
                "listen.h2c",
                "plain listeners",
            ),
        ] {
            let e = parse(listen).unwrap_err();
            assert_eq!(e.key, key, "{listen}: {e}");
            assert!(e.reason.contains(why), "{listen}: {e}");
        }
        let e = parse(r#"{ addr = "127.0.0.1:443", tls = { crt = "a" } }"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `crt`"), "{e}");
    }
}

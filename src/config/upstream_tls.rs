//! `tls` in an upstream group: `tls = true` for the defaults, or a table
//! `{ sni, ca, cert, key, verify }`.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// How weir speaks TLS to a group's servers; shown as the table form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpstreamTls {
    /// The name sent as SNI and verified in the certificate; default: the server's
    /// address as written (its IP when it was an IP).
    pub sni: Option<String>,
    /// CA certificates (PEM) to trust; default: the system's store.
    pub ca: Option<PathBuf>,
    /// A client certificate chain and key, for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `false` turns certificate verification off (logged loudly at start and reload).
    pub verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    sni: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default = "yes")]
    verify: bool,
}

fn yes() -> bool {
    true
}

/// `tls` as written: `true`, `false` or a table.
pub(super) struct TlsFile(pub Option<UpstreamTls>);

impl<'de> Deserialize<'de> for TlsFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TlsFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, or { sni, ca, cert, key, verify }")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<TlsFile, E> {
                Ok(TlsFile(b.then(|| UpstreamTls {
                    verify: true,
                    ..Default::default()
                })))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TlsFile, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if t.cert.is_some() != t.key.is_some() {
                    return Err(de::Error::custom("`cert` and `key` go together"));
                }
                Ok(TlsFile(Some(UpstreamTls {
                    sni: t.sni,
                    ca: t.ca,
                    cert: t.cert,
                    key: t.key,
                    verify: t.verify,
                })))
            }
        }
        d.deserialize_any(V)
    }
}

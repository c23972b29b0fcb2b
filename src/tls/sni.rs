//! Choosing a listener's certificate by the name the client asks for (SNI).
//!
//! The rules, in order: a certificate carrying the exact name; then one carrying the
//! wildcard for its parent (`*.example.com` serves `a.example.com`, one label only,
//! never `example.com` nor `a.b.example.com`, as RFC 6125 §6.4.3 and browsers have it);
//! then the default, the listener's first certificate. With `sni_strict` there is no
//! default: a name no certificate carries, or no name at all, is refused with a
//! handshake alert (nginx's `ssl_reject_handshake`). Where two certificates carry the
//! same name, the first listed wins.

use std::collections::HashMap;
use std::sync::Arc;

use futures_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use futures_rustls::rustls::sign::CertifiedKey;

#[derive(Debug)]
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// `certs` with the names each carries, in the listener's order; the first is the
    /// default unless `strict`.
    pub fn new(certs: Vec<(Arc<CertifiedKey>, Vec<String>)>, strict: bool) -> Self {
        let mut r = SniResolver {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            default: if strict {
                None
            } else {
                certs.first().map(|c| c.0.clone())
            },
        };
        for (key, names) in certs {
            for name in names {
                match name.strip_prefix("*.") {
                    Some(parent) => r.wildcard.entry(parent.to_string()),
                    None => r.exact.entry(name),
                }
                .or_insert_with(|| key.clone());
            }
        }
        r
    }

    /// The certificate for `name` (already lowercase), by the rules above.
    pub fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = name else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.');
        if let Some(k) = self.exact.get(name) {
            return Some(k.clone());
        }
        let parent = name.split_once('.').map(|(_, p)| p);
        if let Some(k) = parent.and_then(|p| self.wildcard.get(p)) {
            return Some(k.clone());
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        self.choose(name.as_deref())
    }
}

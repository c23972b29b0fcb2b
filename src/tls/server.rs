//! A listener's rustls server config, built from its `tls` settings.

use std::sync::Arc;

use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::sign::CertifiedKey;
use futures_rustls::rustls::version::{TLS12, TLS13};
use futures_rustls::rustls::{self, RootCertStore, ServerConfig};

use super::sni::SniResolver;
use super::{cert, pem, provider, ALPN, ALPN_H2};
use crate::config::{ServerTls, TlsVersion};

/// Reads every certificate and key of `tls` and builds the config handshakes use;
/// ALPN offers `h2` first when `h2` (the listener's key) is on.
/// The error is `(key, reason)`: the config key at fault (`certs[1].key`, relative to
/// the listener's `tls`) and why, naming the file.
pub fn server_config(tls: &ServerTls, h2: bool) -> Result<Arc<ServerConfig>, (String, String)> {
    let provider = provider();
    let many = tls.certs.len() > 1;
    let mut certs = Vec::with_capacity(tls.certs.len());
    for (i, files) in tls.certs.iter().enumerate() {
        let at = |k: &str| match many {
            true => format!("certs[{i}].{k}"),
            false => k.to_string(),
        };
        let chain = pem::chain(&files.cert).map_err(|why| (at("cert"), why))?;
        let info = cert::info(&chain[0])
            .map_err(|why| (at("cert"), format!("{}: {why}", files.cert.display())))?;
        let key = pem::key(&files.key).map_err(|why| (at("key"), why))?;
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "{} does not match the certificate in {}",
                    files.key.display(),
                    files.cert.display()
                ),
                e => format!("{}: unusable key: {e}", files.key.display()),
            };
            (at("key"), why)
        })?;
        certs.push((Arc::new(certified), info.names));
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&TLS13, &TLS12],
        TlsVersion::Tls13 => &[&TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| ("min_version".to_string(), e.to_string()))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let at = || "client_ca".to_string();
            let mut roots = RootCertStore::empty();
            let (added, _) =
                roots.add_parsable_certificates(pem::chain(ca).map_err(|w| (at(), w))?);
            if added == 0 {
                return Err((at(), format!("{}: no usable CA certificate", ca.display())));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| (at(), format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver::new(certs, tls.sni_strict)));
    let alpn = if h2 { ALPN_H2 } else { ALPN };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // The cipher suite is the first in the provider's order that the client offers,
    // not the client's favourite (nginx's `ssl_prefer_server_ciphers on`, HAProxy's
    // `prefer-server-ciphers`): weir's list is rustls' safe one, strongest first, and
    // a client's odd order cannot pull it down.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

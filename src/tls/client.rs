//! The client side, for upstream groups with `tls`: a rustls client config per group.
//!
//! Trust comes from the group's `ca` file (whose certificates a server may also present
//! as its own: see [`pinned`](super::pinned)), or else the system's CA store, read from the
//! usual bundle files (`SSL_CERT_FILE`, then the Debian, Red Hat, Alpine and SUSE
//! paths): that is what `rustls-native-certs` does on Linux, without a dependency.
//! ALPN offers `http/1.1`; sessions are resumed on reconnect (rustls keeps a small
//! in-memory cache per config). `verify = false` accepts any certificate and says so.

use std::path::Path;
use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};

use super::pinned::PinnedOrWebPki;
use super::{pem, provider, ALPN};
use crate::config::UpstreamTls;

/// Where Linux distributions keep the system CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Builds a group's client config; `Err((key, reason))` names the setting at fault.
pub fn client_config(tls: &UpstreamTls) -> Result<Arc<ClientConfig>, (String, String)> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| (String::new(), e.to_string()))?;
    let builder = if tls.verify {
        let (roots, pinned) = roots(tls.ca.as_deref())?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ("ca".to_string(), e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedOrWebPki { webpki, pinned }))
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let mut config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = pem::chain(cert).map_err(|why| ("cert".to_string(), why))?;
            let key_der = pem::key(key).map_err(|why| ("key".to_string(), why))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| ("key".to_string(), format!("{}: {e}", key.display())))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The CA certificates in `ca`, or the system's; and the certificates of a given `ca`
/// file, which a server may also present as its own (see [`pinned`](super::pinned)).
fn roots(
    ca: Option<&Path>,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), (String, String)> {
    let mut store = RootCertStore::empty();
    let (path, key) = match ca {
        Some(p) => (p.to_path_buf(), "ca"),
        None => {
            let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
            let found = env
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
                .find(|p| p.is_file());
            let why = "no `ca` given and no system CA bundle found (set SSL_CERT_FILE)";
            (found.ok_or(("ca".to_string(), why.to_string()))?, "ca")
        }
    };
    let certs = pem::chain(&path).map_err(|why| (key.to_string(), why))?;
    let pinned = match ca {
        Some(_) => certs.clone(),
        None => Vec::new(),
    };
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        let why = format!("{}: no usable CA certificate", path.display());
        return Err((key.to_string(), why));
    }
    Ok((store, pinned))
}

/// The name to send and verify for a server: `sni`, or the address's IP.
pub fn server_name(tls: &UpstreamTls, addr: std::net::SocketAddr) -> ServerName<'static> {
    tls.sni
        .as_deref()
        .and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
}

/// `verify = false`: any certificate is accepted (signatures are still checked, so the
/// handshake is sound; the peer is just not authenticated).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

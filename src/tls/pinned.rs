//! Trusting an upstream's own certificate when it is the group's `ca`.
//!
//! The commonest test certificate, `openssl req -x509 -newkey ... -subj /CN=host`, is a
//! self-signed CA (`basicConstraints CA:TRUE`). Given as its own `ca`, webpki refuses
//! it as a server certificate (`CaUsedAsEndEntity`: a CA must not serve), where curl and
//! OpenSSL accept it because the operator trusts exactly that certificate. weir does as
//! curl does, and no more: when the certificate a server presents is byte for byte one
//! of the certificates in the group's `ca` file, it is trusted as pinned, and its name
//! (against `sni`, or the server's IP) and its validity period are still checked; the
//! handshake's signature still proves the server holds its key. Any other certificate
//! goes through webpki's full path verification against the same file. Someone who
//! could forge a pinned certificate would need its private key, which already lets
//! them sign anything that file trusts: pinning grants nothing new.

use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::client::{verify_server_name, WebPkiServerVerifier};
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::server::ParsedCertificate;
use futures_rustls::rustls::{self, CertificateError, DigitallySignedStruct, SignatureScheme};

use super::cert;

/// webpki's verification, with the certificates of the `ca` file also pinned.
#[derive(Debug)]
pub(super) struct PinnedOrWebPki {
    pub webpki: Arc<WebPkiServerVerifier>,
    pub pinned: Vec<CertificateDer<'static>>,
}

/// A pinned certificate's own checks: the name, then the validity period.
fn verify_pinned(
    end_entity: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    verify_server_name(&ParsedCertificate::try_from(end_entity)?, name)?;
    let bad = rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let info = cert::info(end_entity).map_err(|_| bad)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < info.not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > info.not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(ServerCertVerified::assertion())
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return verify_pinned(end_entity, name, now);
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

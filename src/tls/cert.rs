//! What a certificate says about itself: the names it serves, its issuer and expiry.
//!
//! SNI picks a certificate by these names, and `weir check` lists them. The names are
//! the subject alternative names of type DNS, or the subject's common name when the
//! certificate has none (as old self-signed ones do).

use std::path::Path;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate's names, issuer and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names, lowercased: exact (`www.example.com`) or wildcard (`*.example.com`).
    pub names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// Seconds since the Unix epoch after which the certificate is no longer valid.
    pub not_after: i64,
    /// `not_after` as text, for people.
    pub not_after_text: String,
}

/// The leaf certificate of the chain in `path` (PEM), described.
pub fn read(path: &Path) -> Result<CertInfo, String> {
    let chain = super::pem::chain(path)?;
    info(&chain[0]).map_err(|why| format!("{}: {why}", path.display()))
}

/// Reads a DER certificate.
pub fn info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        let cn = cert
            .subject()
            .iter_common_name()
            .filter_map(|a| a.as_str().ok());
        names.extend(cn.map(str::to_ascii_lowercase));
    }
    let not_after = cert.validity().not_after;
    Ok(CertInfo {
        names,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: not_after.timestamp(),
        not_after_text: not_after.to_string(),
    })
}

//! Certificate chains and private keys from PEM files, with errors that name the file.
//!
//! `rustls-pki-types`' `PemObject` parses PEM (the unmaintained `rustls-pemfile` is not
//! used). A key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC); the first key in the file is
//! taken.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate in `path`, leaf first.
pub fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| why(&shown.to_string(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| why(&shown.to_string(), e))?;
    if certs.is_empty() {
        return Err(format!("{shown}: no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The private key in `path`.
pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{}: no PRIVATE KEY in the file (PKCS#8, PKCS#1 or SEC1 PEM expected)",
            path.display()
        ),
        e => why(&path.display().to_string(), e),
    })
}

fn why(file: &str, e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read {file}: {e}"),
        e => format!("{file}: not valid PEM: {e}"),
    }
}

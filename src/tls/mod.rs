//! TLS with rustls: certificates from PEM, the SNI choice, listener handshakes, and
//! the client side for upstreams.
//!
//! rustls runs on the **ring** provider, chosen explicitly in every config
//! ([`provider`]): the build needs only a C compiler, and no process-wide default is
//! installed behind an embedding program's back. The `aws-lc-rs` cargo feature switches
//! to aws-lc-rs, for the hybrid post-quantum key exchange X25519MLKEM768 (offered first
//! to upstreams, chosen first from clients that offer it); its build takes longer and a
//! bigger binary. TLS 1.2 and 1.3 only, with rustls' safe cipher suites; nothing older is
//! ever offered.
//!
//! Certificates are read when an engine is built, at start-up and on every reload, so a
//! reload picks up renewed files; a missing file or a key that does not match its
//! certificate fails the build, and the old engine (with its certificates) keeps
//! serving. Handshakes on a listener use the engine in force when the connection is
//! accepted; established connections keep the keys they agreed.

mod accept;
pub mod cert;
mod client;
mod failures;
mod pem;
mod pinned;
mod server;
mod sni;

pub(crate) use accept::{accept, Accepted};
pub(crate) use client::{client_config, server_name};
pub(crate) use failures::Handshakes;
pub(crate) use server::server_config;

use std::sync::Arc;

use futures_rustls::rustls::crypto::CryptoProvider;

/// Loads every certificate and key of a listener's `tls` as a start or a reload
/// would: `Err((key, reason))` names the setting at fault and why (a missing file, a key
/// that does not match its certificate).
pub fn check(tls: &crate::config::ServerTls) -> Result<(), (String, String)> {
    server_config(tls, false).map(|_| ())
}

/// Loads an upstream group's `tls` (CA, client certificate) as a start or a reload
/// would: `Err((key, reason))` names the setting at fault (empty for the table itself).
pub fn check_upstream(tls: &crate::config::UpstreamTls) -> Result<(), (String, String)> {
    client_config(tls).map(|_| ())
}

/// ALPN protocols offered, in preference order: HTTP/1.1 only (upstreams, and TLS
/// listeners with `h2 = false`).
pub(crate) const ALPN: &[&[u8]] = &[b"http/1.1"];
/// ALPN offered by a TLS listener with h2 on (the default): HTTP/2 first, as nginx, HAProxy
/// and Caddy order it, so browsers pick it.
pub(crate) const ALPN_H2: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The crypto provider every TLS config uses, by name: `weir --version` and `weir
/// check` print it.
pub const PROVIDER: &str = if cfg!(feature = "aws-lc-rs") {
    "aws-lc-rs, X25519MLKEM768 first"
} else {
    "ring"
};

/// The crypto provider every TLS config uses: ring, X25519 first.
///
/// rustls 0.23.48 marks ring's `default_provider` deprecated for want of post-quantum
/// key exchange, with no other way to build a ring provider. That gap is the known
/// trade of the ring build (the `aws-lc-rs` feature has the hybrid), so the warning is
/// allowed here, once, rather than left to fail a `-D warnings` build. The same release
/// moved P-384 ahead of X25519 in ring's key exchange order; weir states its own, the
/// order before (X25519, P-256, P-384): X25519 is what browsers send a share for, and
/// the fastest of the three.
#[cfg(not(feature = "aws-lc-rs"))]
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    use futures_rustls::rustls::crypto::ring::{default_provider, kx_group};
    let mut provider = default_provider();
    provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    Arc::new(provider)
}

/// The crypto provider every TLS config uses: aws-lc-rs, its key exchange groups
/// reordered so the post-quantum hybrid comes first. rustls lists it last unless its
/// `prefer-post-quantum` feature is on, and a server takes the first group in its own
/// order that the client sent a share for: browsers send X25519MLKEM768 and X25519, so
/// the default order would settle on X25519.
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    use futures_rustls::rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    let mut provider = default_provider();
    provider.kx_groups = vec![
        kx_group::X25519MLKEM768,
        kx_group::X25519,
        kx_group::SECP256R1,
        kx_group::SECP384R1,
    ];
    Arc::new(provider)
}

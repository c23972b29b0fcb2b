//! `[admin]`: the admin listener (metrics, status page, runtime API).
//!
//! Off unless configured. It binds its own address, never the proxy's, so routes and
//! middleware never see its requests. Anyone who can reach it can drain servers and
//! reload the config, so an address other than loopback needs a bearer `token`: the
//! rule is checked with the rest of the config, and names the key. A token shorter
//! than [`MIN_TOKEN_BYTES`] is refused: it could be guessed over the network.
//!
//! `allowed_hosts` names the host names (beyond IP addresses and `localhost`) that
//! requests may give in `Host`; see `admin::guard` for why the name is checked at all.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The shortest token accepted: 16 bytes (128 bits when random), what a bearer token
/// needs to resist guessing through the listener itself.
pub const MIN_TOKEN_BYTES: usize = 16;

/// `[admin]` as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminFile {
    pub listen: toml::Spanned<String>,
    pub token: Option<String>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// The admin listener's settings; shown with the token redacted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// Where the admin listener binds; loopback unless a `token` guards it.
    pub listen: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` on every admin request when set.
    #[serde(serialize_with = "super::show::token")]
    pub token: Option<String>,
    /// Host names a request's `Host` may give besides IP addresses and `localhost`
    /// (lower case, no port): the names the operator reaches the listener by.
    pub allowed_hosts: Vec<String>,
}

impl Admin {
    /// An admin listener on `listen` without a token (what `--admin ADDR` makes).
    pub fn new(listen: SocketAddr) -> Self {
        Admin {
            listen,
            token: None,
            allowed_hosts: Vec::new(),
        }
    }

    /// Why this admin section cannot run, as `(key, reason)`.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(token) = &self.token {
            if token.len() < MIN_TOKEN_BYTES {
                return Some((
                    "admin.token",
                    format!(
                        "must be at least {MIN_TOKEN_BYTES} bytes (this one has {}): a short \
                         token can be guessed; make one with `openssl rand -hex 16`",
                        token.len()
                    ),
                ));
            }
            if token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
                let why = "must be visible ASCII without spaces: it travels in an HTTP header";
                return Some(("admin.token", why.into()));
            }
        }
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Some((
                "admin.token",
                "is required when admin.listen is not a loopback address (anyone who reaches \
                 it could drain servers and reload); on the command line: --admin-token-file FILE"
                    .into(),
            ));
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !host_name(h)) {
            return Some((
                "admin.allowed_hosts",
                format!("{bad:?} is not a host name (letters, digits, '-' and '.'; no port)"),
            ));
        }
        None
    }
}

/// A DNS name as `Host` may give it: labels of letters, digits and `-`.
fn host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

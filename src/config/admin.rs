//! `[admin]`: the admin listener (metrics, status page, runtime API).
//!
//! Off unless configured. It binds its own address, never the proxy's, so routes and
//! middleware never see its requests. Anyone who can reach it can drain servers and
//! reload the config, so an address other than loopback needs a bearer `token`: the
//! rule is checked with the rest of the config, and names the key.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[admin]` as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminFile {
    pub listen: toml::Spanned<String>,
    pub token: Option<String>,
}

/// The admin listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Where the admin listener binds; loopback unless a `token` guards it.
    pub listen: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` on every admin request when set.
    pub token: Option<String>,
}

impl Admin {
    /// An admin listener on `listen` without a token (what `--admin ADDR` makes).
    pub fn new(listen: SocketAddr) -> Self {
        Admin {
            listen,
            token: None,
        }
    }

    /// Why this admin section cannot run, as `(key, reason)`.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.token.as_deref() == Some("") {
            return Some(("admin.token", "must not be empty"));
        }
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Some((
                "admin.token",
                "is required when admin.listen is not a loopback address (anyone who reaches it could drain servers and reload)",
            ));
        }
        None
    }
}

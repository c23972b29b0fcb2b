//! `[resolver]`: where the names of groups with `resolve` are looked up.
//!
//! Without the table, the system's nameservers (`/etc/resolv.conf`) and `/etc/hosts`
//! answer, as they do for every other program; with `nameservers`, those servers
//! alone (Consul's DNS interface on `127.0.0.1:8600`, a cluster's DNS service), and
//! `/etc/hosts` is not read.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::{line_of, ConfigError};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolverFile {
    #[serde(default)]
    nameservers: Vec<Spanned<String>>,
}

impl ResolverFile {
    /// The nameservers as addresses: `ip:port`, or a bare IP for port 53.
    pub(super) fn nameservers(
        &self,
        file: &str,
        text: &str,
    ) -> Result<Vec<SocketAddr>, ConfigError> {
        let one = |(i, s): (usize, &Spanned<String>)| {
            let raw = s.get_ref();
            let addr = raw.parse::<SocketAddr>().or_else(|_| {
                raw.parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            });
            addr.map_err(|_| {
                let why = format!(
                    "{raw:?} is not an IP address with an optional port (a nameserver is not looked up by name){}",
                    line_of(text, Some(s.span()))
                );
                ConfigError::new(file, format!("resolver.nameservers[{i}]"), why)
            })
        };
        self.nameservers.iter().enumerate().map(one).collect()
    }
}

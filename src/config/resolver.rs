//! `[resolver]`: where the names of groups with `resolve` are looked up.
//!
//! Without the table, the system's nameservers (`/etc/resolv.conf`) and `/etc/hosts`
//! answer, as they do for every other program; with `nameservers`, those servers
//! alone (Consul's DNS interface on `127.0.0.1:8600`, a cluster's DNS service), and
//! `/etc/hosts` is not read.
//!
//! Search domains (`search`, `ndots`) are applied as libc applies them: from
//! `/etc/resolv.conf` when the system's nameservers answer, or from the table's own
//! `search` and `ndots`, which win over the file's. With `nameservers` and no
//! `search`, a name is looked up as written: the file's search list belongs to the
//! file's nameservers. A name written with a trailing dot is absolute and never
//! searched.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::{line_of, ConfigError};

/// libc's cap on `ndots` (`RES_MAXNDOTS`).
const MAX_NDOTS: u8 = 15;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolverFile {
    #[serde(default)]
    nameservers: Vec<Spanned<String>>,
    search: Option<Vec<Spanned<String>>>,
    ndots: Option<Spanned<u8>>,
}

/// The resolver a group looks its names up with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolver {
    /// `[resolver] nameservers`; empty: the system's.
    pub nameservers: Vec<SocketAddr>,
    /// `[resolver] search` (domains without their dots at either end); `None`: the
    /// system's, when the system's nameservers are used.
    pub search: Option<Vec<String>>,
    /// `[resolver] ndots`: a name with at least this many dots is tried as written
    /// before the search list; `None`: the system's (1 when it says none).
    pub ndots: Option<u8>,
}

impl ResolverFile {
    /// Validates the table.
    pub(super) fn resolver(&self, file: &str, text: &str) -> Result<Resolver, ConfigError> {
        let at = |key: String, why: String, span| {
            ConfigError::new(file, key, format!("{why}{}", line_of(text, Some(span))))
        };
        let search = self.search.as_ref().map(|list| {
            let one = |(i, s): (usize, &Spanned<String>)| {
                let domain = s.get_ref().trim_matches('.').to_ascii_lowercase();
                let bad = domain.is_empty()
                    || domain.parse::<std::net::IpAddr>().is_ok()
                    || domain.contains(|c: char| c.is_whitespace() || c == ':' || c == '/');
                match bad {
                    true => {
                        let why = format!("{:?} is not a domain name", s.get_ref());
                        Err(at(format!("resolver.search[{i}]"), why, s.span()))
                    }
                    false => Ok(domain),
                }
            };
            list.iter()
                .enumerate()
                .map(one)
                .collect::<Result<Vec<_>, _>>()
        });
        let ndots = match &self.ndots {
            Some(n) if *n.get_ref() > MAX_NDOTS => {
                let why = format!("must be at most {MAX_NDOTS}, as libc caps it");
                return Err(at("resolver.ndots".into(), why, n.span()));
            }
            n => n.as_ref().map(|n| *n.get_ref()),
        };
        Ok(Resolver {
            nameservers: self.nameservers(file, text)?,
            search: search.transpose()?,
            ndots,
        })
    }

    /// The nameservers as addresses: `ip:port`, or a bare IP for port 53.
    fn nameservers(&self, file: &str, text: &str) -> Result<Vec<SocketAddr>, ConfigError> {
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

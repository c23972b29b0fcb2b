//! The PROXY protocol keys: `proxy_protocol` and `trusted` on a listener (receive), and
//! `send_proxy_protocol` on an upstream group (send).
//!
//! ```toml
//! listen = [{ addr = "0.0.0.0:80", proxy_protocol = "v2", trusted = ["10.0.0.0/8"] }]
//! [upstreams.pg]
//! send_proxy_protocol = "v1"
//! ```
//!
//! `trusted` is required with `proxy_protocol`: a header says who the client is, so only
//! the balancers in front of weir may send one (nginx's `set_real_ip_from`; HAProxy's
//! `accept-proxy` takes it from anyone, which is how a direct client forges its address).
//! Without `proxy_protocol`, `trusted` means nothing and is refused, so a forgotten key
//! cannot look like a working setup.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// A listener that reads the PROXY header before anything else on each connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyProtocol {
    /// Which versions of the header are accepted.
    #[serde(rename = "proxy_protocol")]
    pub accept: Versions,
    /// The only peers allowed to connect: anyone else is closed at once.
    pub trusted: Vec<Cidr>,
}

impl ProxyProtocol {
    /// Whether the socket's peer `ip` may send a header here.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }
}

/// The versions a listener accepts: `"v1"`, `"v2"` or `"v1+v2"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    V1,
    V2,
    Both,
}

impl Versions {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "v1" => Ok(Versions::V1),
            "v2" => Ok(Versions::V2),
            "v1+v2" => Ok(Versions::Both),
            _ => Err(format!("{s:?} is not \"v1\", \"v2\" or \"v1+v2\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Versions::V1 => "v1",
            Versions::V2 => "v2",
            Versions::Both => "v1+v2",
        }
    }

    pub fn v1(self) -> bool {
        self != Versions::V2
    }

    pub fn v2(self) -> bool {
        self != Versions::V1
    }
}

impl Serialize for Versions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The header a group writes to its servers after connecting: `"v1"` or `"v2"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendVersion {
    V1,
    V2,
}

impl SendVersion {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "v1" => Ok(SendVersion::V1),
            "v2" => Ok(SendVersion::V2),
            _ => Err(format!("{s:?} is not \"v1\" or \"v2\"")),
        }
    }
}

impl Serialize for SendVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            SendVersion::V1 => "v1",
            SendVersion::V2 => "v2",
        })
    }
}

/// An address block, `10.0.0.0/8` or `::1/128`; a bare address is the one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an address or a block like \"10.0.0.0/8\"");
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(format!("{s:?}: a prefix is at most /{max}"));
        }
        if mask(net, prefix) != net {
            return Err(format!(
                "{s:?} has bits set past /{prefix}; write {}/{prefix}",
                mask(net, prefix)
            ));
        }
        Ok(Cidr { net, prefix })
    }

    /// Whether `ip` is in the block. An IPv4 peer seen on an IPv6 socket
    /// (`::ffff:10.0.0.1`) is the IPv4 address it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.prefix) == self.net
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & bits).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & bits).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `proxy_protocol` and `trusted` as written: both or neither (see
/// [`super::proxy_protocol`]). `Err((key suffix, reason))`.
pub(super) fn proxy_protocol(
    (versions, trusted): (Option<String>, Option<Vec<String>>),
) -> Result<Option<ProxyProtocol>, (String, String)> {
    let (versions, trusted) = match (versions, trusted) {
        (None, None) => return Ok(None),
        (Some(v), Some(t)) => (v, t),
        (Some(_), None) => {
            let why = "needs `trusted`, the balancers allowed to send the header \
                       (e.g. trusted = [\"10.0.0.0/8\"])";
            return Err((".trusted".into(), why.into()));
        }
        (None, Some(_)) => {
            let why = "is only for a listener with `proxy_protocol`";
            return Err((".trusted".into(), why.into()));
        }
    };
    let accept = Versions::parse(&versions).map_err(|why| (".proxy_protocol".into(), why))?;
    if trusted.is_empty() {
        let why = "lists no address: no connection could ever be served".to_string();
        return Err((".trusted".into(), why));
    }
    let trusted = trusted
        .iter()
        .enumerate()
        .map(|(i, c)| Cidr::parse(c).map_err(|why| (format!(".trusted[{i}]"), why)))
        .collect::<Result<_, _>>()?;
    Ok(Some(ProxyProtocol { accept, trusted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_their_addresses_and_only_those() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("::/0").unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0.1/8", "ten", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    fn parse(text: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::Config::parse(text, "w.toml")
    }

    #[test]
    fn listeners_and_groups_take_the_keys() {
        let c = parse(
            r#"listen = [{ addr = "127.0.0.1:0", proxy_protocol = "v1+v2", trusted = ["10.0.0.0/8", "::1"] }]
[upstream]
servers = ["127.0.0.1:1"]
send_proxy_protocol = "v2"
"#,
        )
        .unwrap();
        let p = c.listen[0].proxy_protocol.as_ref().unwrap();
        assert_eq!(p.accept, Versions::Both);
        assert!(p.trusts("10.9.9.9".parse().unwrap()) && p.trusts("::1".parse().unwrap()));
        assert!(!p.trusts("127.0.0.1".parse().unwrap()));
        assert_eq!(c.upstream.send_proxy_protocol, Some(SendVersion::V2));
        let shown = serde_json::to_string(&c).unwrap();
        assert!(shown.contains(r#""proxy_protocol":"v1+v2""#), "{shown}");
        assert!(
            shown.contains(r#""trusted":["10.0.0.0/8","::1/128"]"#),
            "{shown}"
        );
        assert!(shown.contains(r#""send_proxy_protocol":"v2""#), "{shown}");
    }

    #[test]
    fn errors_name_the_key() {
        let listen = |t: &str| parse(&format!("listen = {{ addr = \"127.0.0.1:0\", {t} }}\n"));
        for (t, key, why) in [
            (
                r#"proxy_protocol = "v2""#,
                "listen.trusted",
                "needs `trusted`",
            ),
            (
                r#"trusted = ["::1"]"#,
                "listen.trusted",
                "only for a listener",
            ),
            (
                r#"proxy_protocol = "v3", trusted = ["::1"]"#,
                "listen.proxy_protocol",
                "\"v1+v2\"",
            ),
            (
                r#"proxy_protocol = "v1", trusted = []"#,
                "listen.trusted",
                "no address",
            ),
            (
                r#"proxy_protocol = "v1", trusted = ["::1", "10.0.0.1/8"]"#,
                "listen.trusted[1]",
                "10.0.0.0/8",
            ),
        ] {
            let e = listen(t).unwrap_err();
            assert_eq!(e.key, key, "{t}: {e}");
            assert!(e.reason.contains(why), "{t}: {e}");
        }
        let e = parse("[upstream]\nsend_proxy_protocol = \"v1+v2\"\n").unwrap_err();
        assert_eq!(e.key, "upstream.send_proxy_protocol", "{e}");
        // Not offered on the admin listener: its loopback rule trusts only the socket.
        let e = parse("[admin]\nlisten = \"127.0.0.1:0\"\nproxy_protocol = \"v2\"\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown field `proxy_protocol`"),
            "{e}"
        );
    }
}

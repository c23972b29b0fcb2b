//! The system's resolver configuration, read the way libc reads it: `/etc/hosts`
//! first, then the `nameserver` lines of `/etc/resolv.conf` (127.0.0.1 when there are
//! none, as glibc does), its `search` (or `domain`) list and `options ndots:N`. Both
//! files are read again at every lookup, so edits apply without a reload.

use std::net::{IpAddr, SocketAddr};

/// The addresses `/etc/hosts` gives `host` (empty if it names none).
pub(crate) fn hosts(host: &str) -> Vec<IpAddr> {
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts_in(&text, host)
}

fn hosts_in(text: &str, host: &str) -> Vec<IpAddr> {
    let lines = text.lines().map(|l| l.split('#').next().unwrap_or(""));
    let mut out = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if words.any(|w| w.trim_end_matches('.').eq_ignore_ascii_case(host)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The nameservers of `/etc/resolv.conf`.
pub(crate) fn nameservers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    nameservers_in(&text)
}

fn nameservers_in(text: &str) -> Vec<SocketAddr> {
    let found: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    match found.is_empty() {
        true => vec![SocketAddr::from(([127, 0, 0, 1], 53))],
        false => found,
    }
}

/// The search domains and `ndots` of `/etc/resolv.conf`.
pub(crate) fn search() -> (Vec<String>, Option<u8>) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    search_in(&text)
}

/// The last `search` or `domain` line wins, as in glibc; `ndots` is capped at 15.
fn search_in(text: &str) -> (Vec<String>, Option<u8>) {
    let (mut search, mut ndots) = (Vec::new(), None);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search" | "domain") => {
                let domains = words.map(|d| d.trim_matches('.').to_ascii_lowercase());
                search = domains.filter(|d| !d.is_empty()).collect();
            }
            Some("options") => {
                let mut n = words.filter_map(|o| o.strip_prefix("ndots:")?.parse::<u8>().ok());
                ndots = n.next_back().map(|n| n.min(15)).or(ndots);
            }
            _ => {}
        }
    }
    (search, ndots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_give_every_address_of_a_name() {
        let text = "127.0.0.1 localhost\n# 10.0.0.9 api.weir.test\n10.0.0.1 api.weir.test api\n::1 api.weir.test. # six\n";
        let got = hosts_in(text, "api.weir.test");
        assert_eq!(
            got,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(hosts_in(text, "weir.test").is_empty());
    }

    #[test]
    fn resolv_conf_nameservers_default_to_loopback() {
        let text = "search example.org\nnameserver 10.0.0.53\nnameserver ::1\noptions ndots:2\n";
        let want: Vec<SocketAddr> =
            vec!["10.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()];
        assert_eq!(nameservers_in(text), want);
        assert_eq!(
            nameservers_in("# empty\n"),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
    }

    #[test]
    fn resolv_conf_search_and_ndots() {
        let text = "domain old.example\nsearch svc.cluster.local cluster.local.\nnameserver 10.0.0.10\noptions edns0 ndots:5\n";
        let (search, ndots) = search_in(text);
        assert_eq!(search, ["svc.cluster.local", "cluster.local"]);
        assert_eq!(ndots, Some(5));
        assert_eq!(search_in("options ndots:40\n"), (Vec::new(), Some(15)));
    }
}

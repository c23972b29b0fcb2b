//! The system's resolver configuration, read the way libc reads it: `/etc/hosts`
//! first, then the `nameserver` lines of `/etc/resolv.conf` (127.0.0.1 when there are
//! none, as glibc does). Both are read again at every lookup, so edits apply without
//! a reload. Search domains are not applied: a name is looked up as written.

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
}

//! Reading the key that `balancer = "hash"` hashes: the client IP, the path, a header,
//! or a cookie. Absent keys fall back to round-robin (the algorithm's job).

use std::io::Write;

use super::Ctx;
use crate::config::HashKey;
use crate::http::{ows, RequestHead};

/// Room for the longest IPv6 address text.
pub type IpBuf = [u8; 48];

/// The value of cookie `name` in any `Cookie` header (RFC 6265 §4.2.1).
fn cookie<'r>(req: &'r RequestHead, name: &str) -> Option<&'r [u8]> {
    req.headers
        .get_all("cookie")
        .flat_map(|v| v.split(|&c| c == b';'))
        .find_map(|pair| {
            let pair = ows::trim(pair);
            let eq = pair.iter().position(|&c| c == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
}

/// The key bytes for this request, if present. `ip` is scratch space for the client
/// address, so no allocation happens.
pub fn extract<'r>(
    key: &HashKey,
    cx: &Ctx,
    req: &'r RequestHead,
    ip: &'r mut IpBuf,
) -> Option<&'r [u8]> {
    match key {
        HashKey::ClientIp => {
            let room = ip.len();
            let mut cursor = &mut ip[..];
            write!(cursor, "{}", cx.client.ip()).ok()?;
            let len = room - cursor.len();
            Some(&ip[..len])
        }
        HashKey::Path => Some(req.path().as_bytes()),
        HashKey::Header(name) => req.headers.get(name),
        HashKey::Cookie(name) => cookie(req, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_where_configured() {
        let mut req = RequestHead {
            method: "GET".into(),
            target: "/a/b?c=d".into(),
            ..Default::default()
        };
        req.headers.add("Cookie", "theme=dark; user=u7").unwrap();
        req.headers.add("X-User", "u9").unwrap();
        let cx = Ctx::new("[::1]:5000".parse().unwrap());
        let mut ip = [0; 48];
        let get = |k: HashKey, ip: &mut IpBuf| {
            extract(&k, &cx, &req, ip).map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(get(HashKey::ClientIp, &mut ip).as_deref(), Some("::1"));
        assert_eq!(get(HashKey::Path, &mut ip).as_deref(), Some("/a/b"));
        assert_eq!(
            get(HashKey::Header("x-user".into()), &mut ip).as_deref(),
            Some("u9")
        );
        assert_eq!(
            get(HashKey::Cookie("user".into()), &mut ip).as_deref(),
            Some("u7")
        );
        assert_eq!(get(HashKey::Cookie("none".into()), &mut ip), None);
    }
}

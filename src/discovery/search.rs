//! The names a lookup tries, the way libc's `res_search` tries them: a name with at
//! least `ndots` dots as written first, then with each search domain; a shorter one
//! with each search domain first, then as written. A name written with a trailing
//! dot is absolute: tried as written only. The first that gives addresses wins.

use crate::config::Resolver;

use super::system;

/// The search list and `ndots` in force for `resolver`: its own, else (with the
/// system's nameservers only) `/etc/resolv.conf`'s; `ndots` defaults to 1.
pub(super) fn list(resolver: &Resolver) -> (Vec<String>, u8) {
    let system = resolver.nameservers.is_empty().then(system::search);
    let (file_search, file_ndots) = system.unwrap_or_default();
    let search = resolver.search.clone().unwrap_or(file_search);
    let ndots = resolver.ndots.or(file_ndots).unwrap_or(1);
    (search, ndots)
}

/// The names to try for `host`, in order.
pub(super) fn candidates(host: &str, absolute: bool, search: &[String], ndots: u8) -> Vec<String> {
    if absolute || search.is_empty() {
        return vec![host.to_string()];
    }
    let searched = search.iter().map(|d| format!("{host}.{d}"));
    let dots = host.matches('.').count();
    match dots >= usize::from(ndots) {
        true => std::iter::once(host.to_string()).chain(searched).collect(),
        false => searched.chain(std::iter::once(host.to_string())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tried_in_res_search_order() {
        let search = ["svc.local".to_string(), "local".to_string()];
        assert_eq!(
            candidates("api", false, &search, 1),
            ["api.svc.local", "api.local", "api"]
        );
        assert_eq!(
            candidates("api.ns", false, &search, 1),
            ["api.ns", "api.ns.svc.local", "api.ns.local"]
        );
        assert_eq!(
            candidates("api.ns", false, &search, 5),
            ["api.ns.svc.local", "api.ns.local", "api.ns"]
        );
        assert_eq!(candidates("api", true, &search, 1), ["api"]);
        assert_eq!(candidates("api", false, &[], 1), ["api"]);
    }
}

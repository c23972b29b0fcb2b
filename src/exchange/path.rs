//! The one path every rule sees, and what goes upstream.
//!
//! The request's path is normalised once, before the global chain (see
//! [`crate::route::normalize_with`] and the config's `limits.escaped_slashes` and
//! `limits.ambiguous_segments`), and the target is rewritten to the normal form with the
//! client's query. So the global chain, routing, the route's chain, built-ins and
//! plugins all read the same path, and the upstream is sent that path: no spelling the
//! router or a deny rule judged one way can mean another thing to the origin (Envoy's
//! `normalize_path` + `merge_slashes`, which forward the normalised path; nginx matches
//! `location` on the normalised URI too). What the client sent stays in
//! [`RequestHead::original_target`](crate::http::RequestHead) for the access log and
//! plugins.
//!
//! A middleware that rewrites the path is normalised after it: before routing (the
//! global chain) and before forwarding (the route's chain). Both checks cost one
//! comparison when nothing was rewritten.
//!
//! `strip_prefix` applies last, after the route's chain: the route's rules see the path
//! the client addressed, in the same terms as the route's own `path`, so a deny on
//! `/v2/admin` under `path = "/v2/"` holds whether or not the route strips `/v2`.

use crate::error::{Error, Kind};
use crate::route::{self, NormalizeError};

use crate::downstream::Session;

use super::{End, Exchange};

fn bad_path(e: NormalizeError) -> Error {
    let why = match e {
        NormalizeError::NotOriginForm => "request path does not begin with '/'",
        NormalizeError::BadEscape => "request path has a '%' not followed by two hex digits",
        NormalizeError::AboveRoot => "request path climbs above the root with '..'",
        NormalizeError::Backslash => "request path has a '\\' (raw or %5C)",
        NormalizeError::EncodedSlash => "request path has an encoded slash (%2F or %5C)",
        NormalizeError::Semicolon => "request path has a ';' (path parameters)",
        NormalizeError::ControlChar => "request path has an encoded control character",
        NormalizeError::DoubleEscape => {
            "request path has an escaped escape (%25 and two hex digits)"
        }
        NormalizeError::TrailingDotOrSpace => "request path has a segment ending in '.' or a space",
    };
    Error::new(Kind::BadRequest, why)
}

impl<S: Session> Exchange<'_, S> {
    /// Brings the target's path to normal form (400 when it has none), keeping the
    /// query; `self.path` holds the normal path afterwards. Does nothing but compare when
    /// the path is the one normalised last.
    pub(super) fn normalize_target(&mut self) -> Result<(), End> {
        if !self.path.is_empty() && self.req.path().as_bytes() == &self.path[..] {
            return Ok(());
        }
        let rules = self.e.config.limits.path_rules();
        route::normalize_with(self.req.target.as_bytes(), rules, self.path)
            .map_err(|err| End::error(bad_path(err)))?;
        if self.req.path().as_bytes() != &self.path[..] {
            let query = self
                .req
                .target
                .find('?')
                .map_or("", |q| &self.req.target[q..]);
            // The normal form is ASCII: `normalize_with` escapes every other byte.
            let mut target = String::from_utf8_lossy(self.path).into_owned();
            target.push_str(query);
            self.req.target = target;
        }
        Ok(())
    }

    /// The target as it goes upstream: normalised again if the route's chain rewrote
    /// it, then less the route's `strip_prefix` (on a segment boundary; `/` when the
    /// path was the prefix itself), with the client's query.
    pub(super) fn upstream_target(&mut self) -> Result<(), End> {
        self.normalize_target()?;
        let e = self.e;
        let strip = self.cx.route.map(|i| &e.routes.list[i].strip_prefix);
        let Some(Some(prefix)) = strip else {
            return Ok(());
        };
        let Some(rest) = crate::engine::strip(self.path, prefix) else {
            return Ok(());
        };
        let query = self
            .req
            .target
            .find('?')
            .map_or("", |q| &self.req.target[q..]);
        let mut target = String::with_capacity(rest.len() + query.len());
        target.push_str(std::str::from_utf8(rest).unwrap_or("/"));
        target.push_str(query);
        self.req.target = target;
        Ok(())
    }
}

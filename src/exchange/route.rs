//! The route phase: which route, and so which upstream group, a request takes.
//!
//! Routing reads the request's head and where it came in (the [`route::Arrival`]: plain
//! or TLS, and which listener), so a route may hold only for `http://` requests or for
//! one listener.
//!
//! The global chain has run, so a middleware may have rewritten the host or path that
//! routing sees. The path is matched in its normal form (see [`crate::route`]), so no
//! spelling of `/admin` (`/%61dmin`, `/x/../admin`, `//admin`) reaches another route
//! than `/admin` does. What is forwarded is the target as the client sent it (as nginx
//! and HAProxy forward it), unless the route strips a prefix: then the rest of the
//! normalised path, with the original query.

use crate::error::{Error, Kind};
use crate::route::{self, NormalizeError};
use crate::upstream::group::Group;

use super::{End, Exchange, Intent, Stage};
use crate::middleware::Response;

fn bad_path(e: NormalizeError) -> Error {
    let why = match e {
        NormalizeError::NotOriginForm => "request path does not begin with '/'",
        NormalizeError::BadEscape => "request path has a '%' not followed by two hex digits",
        NormalizeError::AboveRoot => "request path climbs above the root with '..'",
        NormalizeError::Backslash => "request path has a raw '\\'",
    };
    Error::new(Kind::BadRequest, why)
}

impl<'a> Exchange<'a> {
    /// Finds the request's route; records it in the context and applies its rewrite.
    pub(super) fn route(&mut self, intent: &Intent) -> Result<&'a Group, End> {
        let e = self.e;
        let index = match e.routes.implicit {
            true => 0,
            false => self.match_route(intent)?,
        };
        let route = &e.routes.list[index];
        self.cx.route = Some(index);
        self.cx.group = route.group;
        self.route_chain = Some(&route.chain);
        if route.redirect_https && !self.client.is_tls() {
            return Err(self.redirect_https(intent));
        }
        if let Some(prefix) = &route.strip_prefix {
            self.strip_prefix(prefix);
        }
        Ok(&e.groups[route.group])
    }

    /// Normalises the path and looks the request up; 400 for a path that has no normal
    /// form, 404 when no route matches.
    fn match_route(&mut self, intent: &Intent) -> Result<usize, End> {
        let keep = intent.keep_after_error();
        route::normalize(self.req.target.as_bytes(), self.path)
            .map_err(|err| End::error(bad_path(err), keep))?;
        let request = route::Request {
            host: self.req.headers.get("host"),
            path: self.path,
            method: &self.req.method,
            headers: &self.req.headers,
            arrival: self.arrival(),
        };
        let found = self.e.routes.table.find(&request);
        found.ok_or_else(|| End::error(Error::new(Kind::NoRoute, "no route matches"), keep))
    }

    /// Where the request came in: the scheme from the client stream itself (no header
    /// can fake TLS), and the listener's index in the engine in force, looked up only
    /// when some route names listeners (a config without them pays nothing for it).
    #[inline]
    fn arrival(&self) -> route::Arrival {
        let scheme = route::Scheme::of_tls(self.client.is_tls());
        let listener = if self.e.routes.table.by_listener() {
            self.client.listener.and_then(|id| self.e.listener(id))
        } else {
            None
        };
        route::Arrival { scheme, listener }
    }

    /// A `308 Permanent Redirect` to the same host (less its port: https has its own)
    /// and target over https; 308 keeps the method and body, unlike 301. Answered as if
    /// by the route's chain before its first middleware: the global chain's
    /// `on_response` sees it.
    fn redirect_https(&mut self, intent: &Intent) -> End {
        let keep = intent.keep_after_error();
        let host = self.req.headers.get("host").and_then(route::host_part);
        let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
            let err = Error::new(Kind::BadRequest, "no Host to redirect to https");
            return End::error(err, keep);
        };
        let mut reply = Response::new(308);
        let location = format!("https://{host}{}", self.req.target);
        if reply.headers.set("Location", location.as_bytes()).is_err() {
            return End::error(Error::new(Kind::BadRequest, "bad Host"), keep);
        }
        End::Local {
            stage: Stage::Route,
            responder: 0,
            reply,
            keep,
        }
    }

    /// Replaces the target with the normalised path less `prefix`, keeping the query.
    fn strip_prefix(&mut self, prefix: &[u8]) {
        let Some(rest) = crate::engine::strip(self.path, prefix) else {
            return;
        };
        let query = self.req.target.find('?').map(|q| &self.req.target[q..]);
        let mut target = String::with_capacity(rest.len() + query.map_or(0, str::len));
        // The normal form is ASCII: `normalize` escapes every other byte.
        target.push_str(std::str::from_utf8(rest).unwrap_or("/"));
        target.push_str(query.unwrap_or(""));
        self.req.target = target;
    }
}

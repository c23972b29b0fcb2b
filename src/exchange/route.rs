//! The route phase: which route, and so which upstream group, a request takes.
//!
//! Routing reads the request's head and where it came in (the [`route::Arrival`]: plain
//! or TLS, and which listener), so a route may hold only for `http://` requests or for
//! one listener.
//!
//! The global chain has run, so a middleware may have rewritten the host or path that
//! routing sees. The path is matched in its normal form (see [`super::path`]), so no
//! spelling of `/admin` (`/%61dmin`, `/x/../admin`, `//admin`) reaches another route
//! than `/admin` does, and that normal form is what the route's chain reads and what is
//! forwarded.

use crate::downstream::Session;
use crate::error::{Error, Kind};
use crate::route;
use crate::upstream::group::Group;

use super::{End, Exchange, Stage};
use crate::middleware::Response;

impl<'a, S: Session> Exchange<'a, S> {
    /// Finds the request's route and records it in the context (its `strip_prefix`
    /// applies after its chain, in [`Exchange::upstream_target`]).
    pub(super) fn route(&mut self) -> Result<&'a Group, End> {
        let e = self.e;
        let index = match e.routes.implicit {
            true => 0,
            false => self.match_route()?,
        };
        let route = &e.routes.list[index];
        self.cx.route = Some(index);
        self.cx.group = route.group;
        self.route_chain = Some(&route.chain);
        if route.redirect_https && !self.client.is_tls() {
            return Err(self.redirect_https());
        }
        Ok(&e.groups[route.group])
    }

    /// Normalises the path again if the global chain rewrote it, and looks the request
    /// up; 400 for a path that has no normal form, 404 when no route matches.
    fn match_route(&mut self) -> Result<usize, End> {
        self.normalize_target()?;
        let request = route::Request {
            host: self.req.headers.get("host"),
            path: self.path,
            method: &self.req.method,
            headers: &self.req.headers,
            arrival: self.arrival(),
        };
        let found = self.e.routes.table.find(&request);
        found.ok_or_else(|| End::error(Error::new(Kind::NoRoute, "no route matches")))
    }

    /// Where the request came in: the scheme from the client stream itself (no header
    /// can fake TLS), and the listener's index in the engine in force, looked up only
    /// when some route names listeners (a config without them pays nothing for it).
    #[inline]
    fn arrival(&self) -> route::Arrival {
        let scheme = route::Scheme::of_tls(self.client.is_tls());
        let listener = if self.e.routes.table.by_listener() {
            self.client.listener().and_then(|id| self.e.listener(id))
        } else {
            None
        };
        route::Arrival { scheme, listener }
    }

    /// A `308 Permanent Redirect` to the same host (less its port: https has its own)
    /// and target over https; 308 keeps the method and body, unlike 301. Answered as if
    /// by the route's chain before its first middleware: the global chain's
    /// `on_response` sees it.
    fn redirect_https(&mut self) -> End {
        let host = self.req.headers.get("host").and_then(route::host_part);
        let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
            let err = Error::new(Kind::BadRequest, "no Host to redirect to https");
            return End::error(err);
        };
        let mut reply = Response::new(308);
        let location = format!("https://{host}{}", self.req.target);
        if reply.headers.set("Location", location.as_bytes()).is_err() {
            return End::error(Error::new(Kind::BadRequest, "bad Host"));
        }
        End::Local {
            stage: Stage::Route,
            responder: 0,
            reply,
        }
    }
}

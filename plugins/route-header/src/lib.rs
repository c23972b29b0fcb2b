//! route-header: a balancer through `choose_upstream`. The value of one request header
//! picks the upstream by index; requests without it (or with an unknown value) pass to
//! the next balancer in the chain, normally weir's round robin.
//!
//! Config: `{ header = "X-Route", routes = { blue = 0, green = 1 } }`. Indexes are checked
//! against the upstream list per request: one past the end passes.

use std::collections::HashMap;

use serde::Deserialize;
use weir_plugin::{Part, Plugin, Request};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    header: String,
    routes: HashMap<String, usize>,
}

pub struct RouteHeader(Config);

impl Plugin for RouteHeader {
    const NAME: &'static std::ffi::CStr = c"route-header";
    type Config = Config;
    type State = ();

    fn new(c: Config) -> Result<Self, String> {
        if c.routes.is_empty() {
            return Err("routes is empty: nothing to route".into());
        }
        Ok(RouteHeader(c))
    }

    fn choose_upstream(&self, _: &mut (), req: &Request<'_>) -> Option<usize> {
        let value = req.header_str(Part::Request, &self.0.header)?;
        let &i = self.0.routes.get(value.trim())?;
        (i < req.upstream_count()).then_some(i)
    }
}

weir_plugin::export!(RouteHeader);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::{FakeRequest, Harness};

    #[test]
    fn routes_by_header_and_passes_otherwise() {
        let config = r#"{"header":"X-Route","routes":{"blue":0,"green":1,"gone":7}}"#;
        let h = Harness::<RouteHeader>::new(config).unwrap();
        let pick = |req: &mut FakeRequest| h.choose_upstream(req).unwrap();
        assert_eq!(
            pick(&mut FakeRequest::get("/").with_header("x-route", "green")),
            Some(1)
        );
        assert_eq!(
            pick(&mut FakeRequest::get("/").with_header("X-Route", "blue")),
            Some(0)
        );
        assert_eq!(
            pick(&mut FakeRequest::get("/").with_header("X-Route", "red")),
            None
        );
        assert_eq!(
            pick(&mut FakeRequest::get("/").with_header("X-Route", "gone")),
            None
        );
        assert_eq!(pick(&mut FakeRequest::get("/")), None);
    }
}

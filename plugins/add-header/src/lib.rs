//! add-header: sets one header on every request (before it goes upstream) or every
//! response (before it goes to the client).
//!
//! Config: `{ header = "X-Name", value = "v", on = "request" | "response" }`.
//! The name and value are checked once, when the instance is made, so a typo stops
//! weir's start-up instead of failing every request.

use serde::Deserialize;
use weir_plugin::{Action, Fail, Part, Plugin, Request};

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum On {
    #[default]
    Request,
    Response,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    header: String,
    value: String,
    #[serde(default)]
    on: On,
}

pub struct AddHeader(Config);

impl Plugin for AddHeader {
    const NAME: &'static std::ffi::CStr = c"add-header";
    type Config = Config;
    type State = ();

    fn new(c: Config) -> Result<Self, String> {
        let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        if c.header.is_empty() || !c.header.bytes().all(token) {
            return Err(format!("header {:?} is not a valid header name", c.header));
        }
        if c.value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err("value must not contain CR, LF or NUL".into());
        }
        Ok(AddHeader(c))
    }

    fn on_request(&self, _: &mut (), req: &mut Request<'_>) -> Action {
        if self.0.on == On::Request
            && req
                .set_header(Part::Request, &self.0.header, &self.0.value)
                .is_err()
        {
            return Action::Fail;
        }
        Action::Continue
    }

    fn on_response(&self, _: &mut (), res: &mut Request<'_>) -> Result<(), Fail> {
        if self.0.on == On::Response {
            res.set_header(Part::Response, &self.0.header, &self.0.value)
                .map_err(|_| Fail)?;
        }
        Ok(())
    }
}

weir_plugin::export!(AddHeader);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::{FakeRequest, Harness, Outcome};

    #[test]
    fn sets_the_request_header() {
        let h = Harness::<AddHeader>::new(r#"{"header":"X-Env","value":"prod"}"#).unwrap();
        let mut req = FakeRequest::get("/").with_header("x-env", "dev");
        assert_eq!(h.on_request(&mut req), Outcome::Continue);
        assert_eq!(req.headers, [("X-Env".to_string(), "prod".to_string())]);
    }

    #[test]
    fn sets_the_response_header_only_on_response() {
        let config = r#"{"header":"X-Served-By","value":"weir","on":"response"}"#;
        let h = Harness::<AddHeader>::new(config).unwrap();
        let mut req = FakeRequest::get("/");
        assert_eq!(h.on_request(&mut req), Outcome::Continue);
        assert!(req.headers.is_empty());
        req.respond_with(200, &[]);
        assert_eq!(h.on_response(&mut req), Ok(()));
        assert_eq!(req.response_header("x-served-by"), Some("weir"));
    }

    #[test]
    fn refuses_bad_config() {
        let bad_name = Harness::<AddHeader>::new(r#"{"header":"A B","value":"v"}"#);
        assert!(bad_name.err().unwrap().contains("not a valid header name"));
        let crlf = Harness::<AddHeader>::new(r#"{"header":"A","value":"v\r\nX: y"}"#);
        assert!(crlf.err().unwrap().contains("CR, LF or NUL"));
        let unknown = Harness::<AddHeader>::new(r#"{"header":"A","value":"v","x":1}"#);
        assert!(unknown
            .err()
            .unwrap()
            .starts_with("bad config: x: unknown field `x`"));
    }
}

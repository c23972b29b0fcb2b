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

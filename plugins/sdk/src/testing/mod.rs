//! An in-process fake host (feature `testing`): unit-test a plugin's hooks without
//! building a .so or starting weir.
//!
//! The [`Harness`] drives the same `extern "C"` entry points weir calls, against a
//! [`FakeRequest`] whose fields you set and inspect, so a test exercises the real
//! boundary code (config parsing, state, panic catching), not a shortcut around it.
//!
//! ```
//! # use weir_plugin::{Action, Part, Plugin, Request};
//! # #[derive(serde::Deserialize)] struct Config { value: String }
//! # struct Hello(String);
//! # impl Plugin for Hello {
//! #     const NAME: &'static std::ffi::CStr = c"hello";
//! #     type Config = Config; type State = ();
//! #     fn new(c: Config) -> Result<Self, String> { Ok(Hello(c.value)) }
//! #     fn on_request(&self, _: &mut (), req: &mut Request<'_>) -> Action {
//! #         let _ = req.set_header(Part::Request, "X-Hello", &self.0); Action::Continue
//! #     }
//! # }
//! use weir_plugin::testing::{Harness, FakeRequest, Outcome};
//!
//! let h = Harness::<Hello>::new(r#"{"value": "world"}"#).unwrap();
//! let mut req = FakeRequest::get("/");
//! assert_eq!(h.on_request(&mut req), Outcome::Continue);
//! assert_eq!(req.header("x-hello"), Some("world"));
//! ```

mod host;

use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::ptr::null_mut;
use std::time::Duration;

use crate::abi::{self, RawRequest};
use crate::ffi::descriptor;
use crate::{Fail, Plugin, Summary};

/// A local reply recorded through `respond`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a hook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    Respond(Reply),
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Request,
    Choose,
    Response,
    Complete,
}

/// A request (and response) as a fake host holds it.
pub struct FakeRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The response status; 0 until [`FakeRequest::respond_with`].
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub client: IpAddr,
    pub upstreams: usize,
    /// The matched route and its upstream group (ABI 1.1); `None` before routing.
    pub route: Option<String>,
    pub upstream_group: Option<String>,
    /// The target as the client sent it (ABI 1.2); `None` means `target`.
    pub original_target: Option<String>,
    /// The HTTP version as ABI 1.3's `protocol` reports it; `HTTP/1.1` unless set.
    pub protocol: String,
    /// Lines the plugin logged.
    pub logs: Vec<String>,
    reply: Option<Reply>,
    phase: Phase,
    state: Option<*mut c_void>,
    path_buf: String,
}

impl FakeRequest {
    /// `GET target` from 127.0.0.1 with two upstreams.
    pub fn get(target: &str) -> Self {
        FakeRequest {
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            status: 0,
            response_headers: Vec::new(),
            client: IpAddr::from([127, 0, 0, 1]),
            upstreams: 2,
            route: None,
            upstream_group: None,
            original_target: None,
            protocol: "HTTP/1.1".into(),
            logs: Vec::new(),
            reply: None,
            phase: Phase::Request,
            state: None,
            path_buf: String::new(),
        }
    }

    /// Adds a request header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Gives the request an upstream response, for `on_response`.
    pub fn respond_with(&mut self, status: u16, headers: &[(&str, &str)]) {
        self.status = status;
        self.response_headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
    }

    /// The first request header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The first response header `name`.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }

    fn list(&self, part: u32) -> Option<&Vec<(String, String)>> {
        match (part, self.phase) {
            (abi::PART_REQUEST, _) => Some(&self.headers),
            (abi::PART_RESPONSE, Phase::Response | Phase::Complete) => Some(&self.response_headers),
            _ => None,
        }
    }

    fn list_mut(&mut self, part: u32) -> Option<&mut Vec<(String, String)>> {
        match (part, self.phase) {
            (abi::PART_REQUEST, Phase::Request) => Some(&mut self.headers),
            (abi::PART_RESPONSE, Phase::Response) => Some(&mut self.response_headers),
            _ => None,
        }
    }
}

fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Drives one instance of `P` through the real entry points.
pub struct Harness<P: Plugin> {
    desc: abi::Plugin,
    instance: *mut c_void,
    _p: PhantomData<P>,
}

impl<P: Plugin> Harness<P> {
    /// Makes an instance from `config_json`, as weir would from the entry's table.
    pub fn new(config_json: &str) -> Result<Self, String> {
        let desc = descriptor::<P>();
        let mut instance = null_mut();
        let mut err = [0u8; 512];
        let new = desc.instance_new.expect("the SDK always sets instance_new");
        // SAFETY: the fake host is static; the buffers are valid for their lengths.
        let rc = unsafe {
            new(
                &host::FAKE,
                config_json.as_ptr(),
                config_json.len(),
                &mut instance,
                err.as_mut_ptr().cast::<c_char>(),
                err.len(),
            )
        };
        if rc != abi::OK {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            return Err(String::from_utf8_lossy(&err[..end]).into_owned());
        }
        Ok(Harness {
            desc,
            instance,
            _p: PhantomData,
        })
    }

    fn state(&self, r: &mut FakeRequest) -> Result<*mut c_void, ()> {
        if let Some(s) = r.state {
            return Ok(s);
        }
        let Some(new) = self.desc.request_new else {
            return Ok(null_mut());
        };
        let mut s = null_mut();
        // SAFETY: a live instance and the fake request as the handle.
        let rc = unsafe { new(self.instance, raw(r), &mut s) };
        r.state = Some(s);
        if rc == abi::OK {
            Ok(s)
        } else {
            Err(())
        }
    }

    fn hook(&self, r: &mut FakeRequest, phase: Phase, hook: Option<abi::Hook>) -> i32 {
        r.phase = phase;
        let Ok(state) = self.state(r) else {
            return abi::FAIL;
        };
        match hook {
            // SAFETY: a live instance, this request's state, the fake request as handle.
            Some(h) => unsafe { h(self.instance, state, raw(r)) },
            None => abi::CONTINUE,
        }
    }

    pub fn on_request(&self, r: &mut FakeRequest) -> Outcome {
        r.reply = None;
        match self.hook(r, Phase::Request, self.desc.on_request) {
            abi::CONTINUE => Outcome::Continue,
            abi::RESPOND => r.reply.take().map_or(Outcome::Fail, Outcome::Respond),
            _ => Outcome::Fail,
        }
    }

    /// `Ok(Some(i))` picked, `Ok(None)` passed, `Err(Fail)` failed the request.
    pub fn choose_upstream(&self, r: &mut FakeRequest) -> Result<Option<usize>, Fail> {
        match self.hook(r, Phase::Choose, self.desc.choose_upstream) {
            i if i >= 0 => Ok(Some(i as usize)),
            abi::PASS => Ok(None),
            _ => Err(Fail),
        }
    }

    /// Call [`FakeRequest::respond_with`] first. `Err(Fail)`: the client would get 500.
    pub fn on_response(&self, r: &mut FakeRequest) -> Result<(), Fail> {
        match self.hook(r, Phase::Response, self.desc.on_response) {
            abi::CONTINUE => Ok(()),
            _ => Err(Fail),
        }
    }

    /// Runs `on_complete`, then frees the request's state.
    pub fn on_complete(&self, r: &mut FakeRequest, s: &Summary) {
        r.phase = Phase::Complete;
        let state = self.state(r).unwrap_or(null_mut());
        let raw_summary = abi::Summary {
            struct_size: std::mem::size_of::<abi::Summary>() as u32,
            status: u32::from(s.status),
            upstream: s.upstream.map_or(-1, |i| i as i32),
            reserved: 0,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            duration_us: s.duration.as_micros() as u64,
        };
        if let Some(h) = self.desc.on_complete {
            // SAFETY: a live instance, this request's state, the fake request as handle.
            unsafe { h(self.instance, state, raw(r), &raw_summary) };
        }
        if let (Some(free), false) = (self.desc.request_free, state.is_null()) {
            // SAFETY: the state came from this instance's request_new; freed once.
            unsafe { free(self.instance, state) };
        }
        r.state = None;
    }
}

/// A summary for a plain 200 from upstream 0.
pub fn ok_summary() -> Summary {
    Summary {
        status: 200,
        upstream: Some(0),
        bytes_in: 0,
        bytes_out: 0,
        duration: Duration::ZERO,
    }
}

impl<P: Plugin> Drop for Harness<P> {
    fn drop(&mut self) {
        if let Some(free) = self.desc.instance_free {
            // SAFETY: made by instance_new; no hook runs any more.
            unsafe { free(self.instance) };
        }
    }
}

fn raw(r: &mut FakeRequest) -> *mut RawRequest {
    (r as *mut FakeRequest).cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Request};

    /// Panics in every hook; keeps a per-request state so request_new/free run.
    struct Boom;

    impl Plugin for Boom {
        const NAME: &'static std::ffi::CStr = c"boom";
        type Config = ();
        type State = String;
        fn new((): ()) -> Result<Self, String> {
            Ok(Boom)
        }
        fn on_request(&self, _: &mut String, _: &mut Request<'_>) -> Action {
            panic!("boom in on_request")
        }
        fn choose_upstream(&self, _: &mut String, _: &Request<'_>) -> Option<usize> {
            panic!("boom in choose_upstream")
        }
    }

    /// Copies ABI 1.3's `protocol` into a request header (`-` when there is none).
    struct Version;

    impl Plugin for Version {
        const NAME: &'static std::ffi::CStr = c"version";
        type Config = ();
        type State = ();
        fn new((): ()) -> Result<Self, String> {
            Ok(Version)
        }
        fn on_request(&self, _: &mut (), req: &mut Request<'_>) -> Action {
            let seen = req.protocol().unwrap_or("-").to_string();
            let _ = req.set_header(crate::Part::Request, "X-Protocol", &seen);
            Action::Continue
        }
    }

    #[test]
    fn protocol_reads_the_hosts_text_and_none_when_empty() {
        let h = Harness::<Version>::new("null").unwrap();
        let mut r = FakeRequest::get("/");
        assert_eq!(h.on_request(&mut r), Outcome::Continue);
        assert_eq!(r.header("x-protocol"), Some("HTTP/1.1"));
        let mut r = FakeRequest::get("/");
        r.protocol = "HTTP/2.0".into();
        h.on_request(&mut r);
        assert_eq!(r.header("x-protocol"), Some("HTTP/2.0"));
        r.protocol.clear();
        h.on_request(&mut r);
        assert_eq!(r.header("x-protocol"), Some("-"));
    }

    /// Its per-request state cannot even be made.
    struct NoState;

    struct Unmakeable(#[allow(dead_code, reason = "a size makes it real state")] u8);

    impl Default for Unmakeable {
        fn default() -> Self {
            panic!("no state today")
        }
    }

    impl Plugin for NoState {
        const NAME: &'static std::ffi::CStr = c"no-state";
        type Config = ();
        type State = Unmakeable;
        fn new((): ()) -> Result<Self, String> {
            Ok(NoState)
        }
    }

    #[test]
    fn a_panic_making_request_state_fails_the_request() {
        let h = Harness::<NoState>::new("null").unwrap();
        let mut r = FakeRequest::get("/");
        assert_eq!(h.on_request(&mut r), Outcome::Fail);
        assert!(r.logs[0].contains("request_new panicked"), "{:?}", r.logs);
    }

    #[test]
    fn a_bad_config_is_refused_with_serdes_message() {
        let err = Harness::<NoState>::new("{\"x\": 1}").err().unwrap();
        assert!(err.starts_with("bad config: invalid type: map"), "{err}");
    }

    #[test]
    fn a_panic_becomes_a_failure_and_one_log_line() {
        let h = Harness::<Boom>::new("null").unwrap();
        let mut r = FakeRequest::get("/");
        assert_eq!(h.on_request(&mut r), Outcome::Fail);
        assert_eq!(h.choose_upstream(&mut r), Err(Fail));
        assert_eq!(r.logs.len(), 2);
        assert!(r.logs[0].contains("on_request panicked"), "{:?}", r.logs);
        assert!(r.logs[0].contains("boom in on_request"), "{:?}", r.logs);
        h.on_complete(&mut r, &ok_summary());
    }
}

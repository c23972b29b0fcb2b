//! [`Call`]: what one plugin hook may see and change, behind the `weir_request*` it gets.
//!
//! The adapter builds one on its stack per hook with exactly the heads the phase allows
//! (the request writable only in `on_request`, the response only in `on_response`), so
//! the host services can check the phase by looking at what is there.

use std::net::IpAddr;

use super::abi::{self, RawRequest};
use super::throttle::{Hook, LogThrottle};
use crate::http::{Headers, RequestHead, ResponseHead};
use crate::middleware::Response;

/// The request head as this phase may see it.
pub(super) enum Req<'a> {
    None,
    Read(&'a RequestHead),
    Write(&'a mut RequestHead),
}

/// What a plugin hook may see and change.
pub(super) struct Call<'a> {
    pub name: &'a str,
    pub req: Req<'a>,
    pub res: Option<&'a mut ResponseHead>,
    /// The status in `on_complete`, where there is no response head.
    pub status: u16,
    pub client: IpAddr,
    pub upstreams: usize,
    /// The matched route's name and its upstream group's (ABI 1.1); empty before routing.
    pub route: &'a str,
    pub upstream_group: &'a str,
    /// Set by `respond` in `on_request`.
    pub reply: Option<Response>,
    /// The instance's error-line throttle and the hook being called (`None`: never
    /// throttled).
    pub throttle: Option<(&'a LogThrottle, Hook)>,
}

impl Call<'_> {
    pub fn raw(&mut self) -> *mut RawRequest {
        (self as *mut Self).cast()
    }

    pub fn request(&self) -> Option<&RequestHead> {
        match &self.req {
            Req::None => None,
            Req::Read(r) => Some(r),
            Req::Write(r) => Some(r),
        }
    }

    pub fn headers(&self, part: u32) -> Option<&Headers> {
        match part {
            abi::PART_REQUEST => self.request().map(|r| &r.headers),
            abi::PART_RESPONSE => self.res.as_deref().map(|r| &r.headers),
            _ => None,
        }
    }

    pub fn headers_mut(&mut self, part: u32) -> Option<&mut Headers> {
        match (part, &mut self.req) {
            (abi::PART_REQUEST, Req::Write(r)) => Some(&mut r.headers),
            (abi::PART_RESPONSE, _) => self.res.as_deref_mut().map(|r| &mut r.headers),
            _ => None,
        }
    }
}

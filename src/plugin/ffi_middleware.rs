//! The adapter that makes one plugin instance a [`Middleware`].
//!
//! Each hook builds a `Call` on the stack with exactly what its phase may touch, hands
//! the plugin a pointer to it, and maps the plugin's answer back: `WEIR_RESPOND` into
//! [`Flow::Respond`], `WEIR_FAIL` (also what the SDK returns after a panic) into
//! [`Ctx::fail`], which weir answers with 500.

use std::ffi::{c_char, c_void};
use std::ptr::null_mut;
use std::sync::Arc;

use super::abi;
use super::call::{Call, Req};
use super::host::HOST;
use super::load::Library;
use super::throttle::{self, Hook, LogThrottle};
use crate::http::{RequestHead, ResponseHead};
use crate::middleware::{Ctx, Flow, Hooks, Middleware, Summary};
use crate::upstream::Upstreams;

/// One `[[middleware]] plugin = ...` entry.
pub struct FfiMiddleware {
    name: String,
    lib: &'static Library,
    instance: *mut c_void,
    /// This instance's index into [`Ctx`]'s per-request plugin states.
    slot: usize,
    upstreams: usize,
    /// Each route's name and its upstream group's name, by route index (ABI 1.1).
    routes: Arc<[(String, String)]>,
    /// Holds back repeated error lines (a hook panicking on every request).
    throttle: LogThrottle,
}

// SAFETY: the ABI requires instance hooks to be callable concurrently from any thread.
unsafe impl Send for FfiMiddleware {}
// SAFETY: as above; the adapter itself never mutates the instance pointer.
unsafe impl Sync for FfiMiddleware {}

impl FfiMiddleware {
    /// Creates an instance from `config_json`; `Err` carries the plugin's own message.
    pub fn new(
        lib: &'static Library,
        name: String,
        config_json: &str,
        slot: usize,
        upstreams: usize,
    ) -> Result<Self, String> {
        let new = lib.desc.instance_new.ok_or("instance_new is NULL")?;
        let mut instance = null_mut();
        let mut msg = [0u8; 512];
        // SAFETY: the loader checked the descriptor; the JSON and `msg` are valid for the
        // lengths passed; `instance` is a writable out-pointer.
        let rc = unsafe {
            new(
                &HOST,
                config_json.as_ptr(),
                config_json.len(),
                &mut instance,
                msg.as_mut_ptr().cast::<c_char>(),
                msg.len(),
            )
        };
        if rc != abi::OK {
            let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
            let why = String::from_utf8_lossy(&msg[..end]).into_owned();
            return Err(if why.is_empty() {
                "the plugin refused its config".into()
            } else {
                why
            });
        }
        Ok(FfiMiddleware {
            name,
            lib,
            instance,
            slot,
            upstreams,
            routes: Arc::from([]),
            throttle: LogThrottle::new(throttle::SUMMARY_EVERY),
        })
    }

    /// Gives the instance the names of the routes and their groups, for the ABI 1.1
    /// `route` and `upstream_group` services (empty without: every name reads "").
    pub fn with_routes(mut self, routes: Arc<[(String, String)]>) -> Self {
        self.routes = routes;
        self
    }

    fn call<'a>(
        &'a self,
        hook: Hook,
        cx: &Ctx,
        req: Req<'a>,
        res: Option<&'a mut ResponseHead>,
    ) -> Call<'a> {
        let names = cx.route.and_then(|i| self.routes.get(i));
        Call {
            route: names.map_or("", |(route, _)| route),
            upstream_group: names.map_or("", |(_, group)| group),
            name: &self.name,
            req,
            res,
            status: 0,
            client: cx.client.ip(),
            upstreams: self.upstreams,
            reply: None,
            throttle: Some((&self.throttle, hook)),
        }
    }

    /// This request's state, made on first use. `Err` when `request_new` failed.
    fn state(&self, cx: &mut Ctx, call: &mut Call<'_>) -> Result<*mut c_void, ()> {
        let Some(new) = self.lib.desc.request_new else {
            return Ok(null_mut());
        };
        if let Some(s) = cx.plugins.get(self.slot) {
            return Ok(s);
        }
        let mut state = null_mut();
        // SAFETY: a live instance, the hook's Call, a writable out-pointer.
        let rc = unsafe { new(self.instance, call.raw(), &mut state) };
        cx.plugins
            .insert(self.slot, state, self.lib.desc.request_free, self.instance);
        if rc == abi::OK {
            Ok(state)
        } else {
            Err(())
        }
    }

    fn warn(&self, call: &mut Call<'_>, msg: &str) {
        // SAFETY: the host's own log service with a valid Call and message.
        unsafe { (HOST.log)(call.raw(), abi::LOG_ERROR, msg.as_ptr(), msg.len()) };
    }
}

impl Drop for FfiMiddleware {
    fn drop(&mut self) {
        if let Some(free) = self.lib.desc.instance_free {
            // SAFETY: the chain, and so every hook of this instance, is gone.
            unsafe { free(self.instance) };
        }
    }
}

impl Middleware for FfiMiddleware {
    fn name(&self) -> &str {
        &self.name
    }

    /// The hooks whose pointers are set; a plugin with per-request state also runs
    /// `on_request` and `on_response` without them, since those make the state (and
    /// fail the request when `request_new` does), and `on_complete` frees it.
    fn hooks(&self) -> Hooks {
        let d = &self.lib.desc;
        let state = d.request_new.is_some();
        Hooks::NONE
            .with_if(Hooks::ON_REQUEST, d.on_request.is_some() || state)
            .with_if(Hooks::SELECT_UPSTREAM, d.choose_upstream.is_some())
            .with_if(Hooks::ON_RESPONSE, d.on_response.is_some() || state)
            .with_if(Hooks::ON_COMPLETE, d.on_complete.is_some() || state)
    }

    fn on_request(&self, cx: &mut Ctx, req: &mut RequestHead) -> Flow {
        let mut call = self.call(Hook::OnRequest, cx, Req::Write(req), None);
        let Ok(state) = self.state(cx, &mut call) else {
            cx.fail();
            return Flow::Continue;
        };
        let Some(hook) = self.lib.desc.on_request else {
            return Flow::Continue;
        };
        // SAFETY: live instance and state, the Call outlives the hook.
        let rc = unsafe { hook(self.instance, state, call.raw()) };
        match (rc, call.reply.take()) {
            (abi::CONTINUE, _) => return Flow::Continue,
            (abi::RESPOND, Some(reply)) => return Flow::Respond(reply),
            (abi::RESPOND, None) => self.warn(&mut call, "RESPOND without host->respond"),
            (abi::FAIL, _) => {}
            _ => self.warn(&mut call, "on_request returned an unknown result"),
        }
        cx.fail();
        Flow::Continue
    }

    fn select_upstream(
        &self,
        cx: &mut Ctx,
        req: &RequestHead,
        upstreams: &Upstreams,
    ) -> Option<usize> {
        let hook = self.lib.desc.choose_upstream?;
        let mut call = self.call(Hook::ChooseUpstream, cx, Req::Read(req), None);
        call.upstreams = upstreams.len();
        let Ok(state) = self.state(cx, &mut call) else {
            cx.fail();
            return None;
        };
        // SAFETY: live instance and state, the Call outlives the hook.
        let rc = unsafe { hook(self.instance, state, call.raw()) };
        match rc {
            abi::PASS => None,
            i if i >= 0 && (i as usize) < upstreams.len() => Some(i as usize),
            i if i >= 0 => {
                self.warn(&mut call, "choose_upstream: index out of range; passing");
                None
            }
            _ => {
                cx.fail();
                None
            }
        }
    }

    fn on_response(&self, cx: &mut Ctx, res: &mut ResponseHead) {
        let mut call = self.call(Hook::OnResponse, cx, Req::None, Some(res));
        let Ok(state) = self.state(cx, &mut call) else {
            return cx.fail();
        };
        let Some(hook) = self.lib.desc.on_response else {
            return;
        };
        // SAFETY: live instance and state, the Call outlives the hook.
        if unsafe { hook(self.instance, state, call.raw()) } != abi::CONTINUE {
            cx.fail();
        }
    }

    fn on_complete(&self, cx: &Ctx, summary: &Summary<'_>) {
        let d = &self.lib.desc;
        if d.on_complete.is_none() && d.request_new.is_none() {
            return;
        }
        let mut call = self.call(Hook::OnComplete, cx, Req::Read(summary.request), None);
        call.status = summary.status;
        let state = match (cx.plugins.take(self.slot), d.request_new) {
            (Some(s), _) => s,
            (None, None) => null_mut(),
            (None, Some(new)) => {
                // No earlier hook reached this plugin: it still gets one balanced pair.
                let mut s = null_mut();
                // SAFETY: live instance, the Call, a writable out-pointer.
                unsafe { new(self.instance, call.raw(), &mut s) };
                s
            }
        };
        if let Some(hook) = d.on_complete {
            let raw = abi::Summary {
                struct_size: std::mem::size_of::<abi::Summary>() as u32,
                status: u32::from(summary.status),
                upstream: cx.upstream.map_or(-1, |i| i as i32),
                reserved: 0,
                bytes_in: summary.bytes_in,
                bytes_out: summary.bytes_out,
                duration_us: summary.duration.as_micros() as u64,
            };
            // SAFETY: live instance and state; Call and summary outlive the hook.
            unsafe { hook(self.instance, state, call.raw(), &raw) };
        }
        if let (Some(free), false) = (d.request_free, state.is_null()) {
            // SAFETY: `state` came from this instance's `request_new`; `take` removed it
            // from the Ctx, so nothing frees it twice.
            unsafe { free(self.instance, state) };
        }
    }
}

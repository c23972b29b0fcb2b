//! [`Request`]: the safe view of the host's request handle during one hook.
//!
//! Views it returns borrow the `Request`, so the borrow checker enforces the ABI's
//! lifetime rule: a header value cannot be held across a change to the head.

use std::marker::PhantomData;
use std::net::IpAddr;

use crate::abi::{self, Host, RawRequest, Str};

/// Which head a header operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Request,
    Response,
}

impl Part {
    fn raw(self) -> u32 {
        match self {
            Part::Request => abi::PART_REQUEST,
            Part::Response => abi::PART_RESPONSE,
        }
    }
}

/// Log levels for [`Request::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
}

/// Why the host refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// A bad name, a value with CR/LF/NUL, a bad path or status.
    Invalid,
    /// Not possible in this phase (e.g. the request head after it was forwarded).
    WrongPhase,
}

fn check(rc: i32) -> Result<(), HostError> {
    match rc {
        abi::EPHASE => Err(HostError::WrongPhase),
        r if r < 0 => Err(HostError::Invalid),
        _ => Ok(()),
    }
}

/// Proof that [`Request::respond`] recorded a reply; only it makes one.
#[derive(Debug)]
pub struct Responded(());

/// What [`crate::Plugin::on_request`] decides.
#[derive(Debug)]
pub enum Action {
    /// Go on to the next middleware.
    Continue,
    /// Send the reply recorded by [`Request::respond`].
    Respond(Responded),
    /// Fail the request with 500.
    Fail,
}

/// The request (and, in `on_response`, the response) one hook may see.
pub struct Request<'a> {
    host: &'static Host,
    raw: *mut RawRequest,
    _hook: PhantomData<&'a mut RawRequest>,
}

impl Request<'_> {
    /// # Safety
    /// `raw` must be the handle the host passed to the running hook.
    pub(crate) unsafe fn new(host: &'static Host, raw: *mut RawRequest) -> Self {
        Request {
            host,
            raw,
            _hook: PhantomData,
        }
    }

    fn text(&self, s: Str) -> &str {
        if s.len == 0 || s.ptr.is_null() {
            return "";
        }
        // SAFETY: the host's view is valid until the hook returns or the head changes;
        // the result borrows `self`, and changes need `&mut self`.
        let b = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
        std::str::from_utf8(b).unwrap_or("")
    }

    /// The method, e.g. `GET`. Empty in `on_response`.
    pub fn method(&self) -> &str {
        // SAFETY: the hook's handle (every host call below relies on the same fact).
        self.text(unsafe { (self.host.method)(self.raw) })
    }

    /// The target: path and query. The path is in weir's normal form (what routes
    /// matched and the upstream is sent, before a route's `strip_prefix`). Empty in
    /// `on_response`.
    pub fn target(&self) -> &str {
        // SAFETY: the hook's handle.
        self.text(unsafe { (self.host.target)(self.raw) })
    }

    /// The path, without the query, in weir's normal form: decide on this one. Empty in
    /// `on_response`.
    pub fn path(&self) -> &str {
        // SAFETY: the hook's handle.
        self.text(unsafe { (self.host.path)(self.raw) })
    }

    /// Replaces the path and keeps the query (in `on_request`).
    pub fn set_path(&mut self, path: &str) -> Result<(), HostError> {
        // SAFETY: the hook's handle; `path` is readable for its length.
        check(unsafe { (self.host.set_path)(self.raw, path.as_ptr(), path.len()) })
    }

    /// The `index`-th value of header `name`.
    fn nth(&self, part: Part, name: &str, index: usize) -> Option<&[u8]> {
        let mut out = Str {
            ptr: std::ptr::null(),
            len: 0,
        };
        // SAFETY: the hook's handle; `name` readable; `out` writable.
        let found = unsafe {
            (self.host.header_get)(
                self.raw,
                part.raw(),
                name.as_ptr(),
                name.len(),
                index,
                &mut out,
            )
        };
        if found != 1 {
            return None;
        }
        if out.len == 0 || out.ptr.is_null() {
            return Some(&[]);
        }
        // SAFETY: as in `text`.
        Some(unsafe { std::slice::from_raw_parts(out.ptr, out.len) })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, part: Part, name: &str) -> Option<&[u8]> {
        self.nth(part, name, 0)
    }

    /// The first value of header `name`, if it is UTF-8.
    pub fn header_str(&self, part: Part, name: &str) -> Option<&str> {
        self.header(part, name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of header `name`, in order.
    pub fn header_all<'s>(
        &'s self,
        part: Part,
        name: &'s str,
    ) -> impl Iterator<Item = &'s [u8]> + 's {
        (0..).map_while(move |i| self.nth(part, name, i))
    }

    /// Replaces every value of `name` with `value`.
    pub fn set_header(
        &mut self,
        part: Part,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), HostError> {
        let v = value.as_ref();
        // SAFETY: the hook's handle; both views readable for their lengths.
        check(unsafe {
            let n = name.as_ptr();
            (self.host.header_set)(self.raw, part.raw(), n, name.len(), v.as_ptr(), v.len())
        })
    }

    /// Appends `name: value`.
    pub fn add_header(
        &mut self,
        part: Part,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), HostError> {
        let v = value.as_ref();
        // SAFETY: the hook's handle; both views readable for their lengths.
        check(unsafe {
            let n = name.as_ptr();
            (self.host.header_add)(self.raw, part.raw(), n, name.len(), v.as_ptr(), v.len())
        })
    }

    /// Removes every value of `name`; returns how many there were.
    pub fn remove_header(&mut self, part: Part, name: &str) -> Result<usize, HostError> {
        // SAFETY: the hook's handle; `name` readable.
        let rc =
            unsafe { (self.host.header_remove)(self.raw, part.raw(), name.as_ptr(), name.len()) };
        check(rc).map(|()| rc as usize)
    }

    /// The response status (0 before there is a response).
    pub fn status(&self) -> u16 {
        // SAFETY: the hook's handle.
        unsafe { (self.host.status)(self.raw) as u16 }
    }

    /// Changes the response status (in `on_response`).
    pub fn set_status(&mut self, status: u16) -> Result<(), HostError> {
        // SAFETY: the hook's handle.
        check(unsafe { (self.host.set_status)(self.raw, u32::from(status)) })
    }

    /// Records a local reply (in `on_request`); return what this returns.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Action {
        let list: Vec<abi::Header> = headers
            .iter()
            .map(|(n, v)| abi::Header {
                name: n.as_ptr(),
                name_len: n.len(),
                value: v.as_ptr(),
                value_len: v.len(),
            })
            .collect();
        // SAFETY: the hook's handle; `list` and `body` are readable for their lengths and
        // outlive the call (the host copies them).
        let rc = unsafe {
            let h = self.host.respond;
            h(
                self.raw,
                u32::from(status),
                list.as_ptr(),
                list.len(),
                body.as_ptr(),
                body.len(),
            )
        };
        match check(rc) {
            Ok(()) => Action::Respond(Responded(())),
            Err(e) => {
                self.log(Level::Error, &format!("respond refused: {e:?}"));
                Action::Fail
            }
        }
    }

    /// The client's IP address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        let mut buf = [0u8; 64];
        // SAFETY: the hook's handle; `buf` writable for its length.
        let n = unsafe { (self.host.client_ip)(self.raw, buf.as_mut_ptr(), buf.len()) };
        std::str::from_utf8(buf.get(..n)?).ok()?.parse().ok()
    }

    /// How many upstreams [`crate::Plugin::choose_upstream`] may pick from: the servers
    /// of the request's upstream group.
    pub fn upstream_count(&self) -> usize {
        // SAFETY: the hook's handle.
        unsafe { (self.host.upstream_count)(self.raw) }
    }

    /// Whether the host's table reaches the 1.1 services (weir checks the plugin's
    /// version against its own, so this holds wherever a 1.1 plugin loads; checked all
    /// the same, as the header asks).
    fn has_1_1(&self) -> bool {
        self.host.struct_size as usize >= abi::HOST_1_1_SIZE
    }

    /// Whether the host's table reaches the 1.2 services.
    fn has_1_2(&self) -> bool {
        self.host.struct_size as usize >= abi::HOST_1_2_SIZE
    }

    /// Whether the host's table reaches the 1.3 services.
    fn has_1_3(&self) -> bool {
        self.host.struct_size as usize >= std::mem::size_of::<Host>()
    }

    /// The HTTP version the client's request arrived in (ABI 1.3), as the access log
    /// prints it: `"HTTP/1.0"`, `"HTTP/1.1"` or `"HTTP/2.0"`; a later weir may add
    /// others, so match the ones you handle and treat the rest as unknown. `None` in a
    /// 1.2 host, in `on_response`, and for a request whose head could not be parsed.
    pub fn protocol(&self) -> Option<&str> {
        if !self.has_1_3() {
            return None;
        }
        // SAFETY: the hook's handle; the table is long enough (checked above).
        Some(self.text(unsafe { (self.host.protocol)(self.raw) })).filter(|s| !s.is_empty())
    }

    /// The target exactly as the client sent it (ABI 1.2): for logs or a signature over
    /// the raw URL, never for a decision, which another spelling could pass (use
    /// [`Request::path`]). `None` in a 1.1 host and in `on_response`.
    pub fn original_target(&self) -> Option<&str> {
        if !self.has_1_2() {
            return None;
        }
        // SAFETY: the hook's handle; the table is long enough (checked above).
        let t = self.text(unsafe { (self.host.original_target)(self.raw) });
        Some(t).filter(|s| !s.is_empty())
    }

    /// The matched route's name (ABI 1.1): its `name`, `routes[i]`, or `default` when
    /// no routes are configured. `None` before routing: in `on_request` of the global
    /// chain.
    pub fn route(&self) -> Option<&str> {
        if !self.has_1_1() {
            return None;
        }
        // SAFETY: the hook's handle; the table is long enough (checked above).
        Some(self.text(unsafe { (self.host.route)(self.raw) })).filter(|s| !s.is_empty())
    }

    /// The request's upstream group (ABI 1.1): a `[upstreams.NAME]` name, or `default`.
    /// `None` before routing.
    pub fn upstream_group(&self) -> Option<&str> {
        if !self.has_1_1() {
            return None;
        }
        // SAFETY: the hook's handle; the table is long enough (checked above).
        Some(self.text(unsafe { (self.host.upstream_group)(self.raw) })).filter(|s| !s.is_empty())
    }

    /// Writes a line to weir's log, prefixed with this instance's name.
    pub fn log(&self, level: Level, msg: &str) {
        let level = match level {
            Level::Error => abi::LOG_ERROR,
            Level::Warn => abi::LOG_WARN,
            Level::Info => abi::LOG_INFO,
        };
        // SAFETY: the hook's handle; `msg` readable.
        unsafe { (self.host.log)(self.raw, level, msg.as_ptr(), msg.len()) }
    }
}
